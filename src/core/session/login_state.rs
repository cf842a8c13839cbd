//! Login-flow cookies: each login started in a browser keeps its [`LoginState`] sealed in its
//! own cookie, `<base>_flow_<id>`, until the callback redeems it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::seal::{open, seal, sealed_len, Purpose, SealContext};
use super::MAX_COOKIE_VALUE_BYTES;

/// Flow cookies a browser may hold at once (one per login started in some tab).
pub const MAX_FLOW_COOKIES: usize = 4;

/// What the callback needs to finish one login, kept in that login's own cookie.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    #[serde(rename = "s")]
    pub state: String,
    #[serde(rename = "n")]
    pub nonce: String,
    #[serde(rename = "v")]
    pub code_verifier: String,
    /// Where to send the user afterwards; taken only from here, never from the callback URL.
    #[serde(rename = "r")]
    pub return_to: String,
    #[serde(rename = "ea")]
    pub expires_at: u64,
}

/// The PKCE verifier is a secret until the code is redeemed.
impl fmt::Debug for LoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginState")
            .field("state", &self.state)
            .field("nonce", &self.nonce)
            .field("code_verifier", &"***")
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The sealed login state does not fit one cookie (in practice: a very long `return_to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginStateTooLarge;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStateError {
    /// No flow cookie for this state: the callback was not started in this browser (login
    /// CSRF), was already used, or its cookie was evicted.
    Missing,
    /// Forged, tampered, duplicated, or sealed for another state.
    Invalid,
    /// Genuine but older than its `expires_at`.
    Expired,
}

/// Characters of `state` that name its flow cookie: enough to tell concurrent logins apart;
/// the full state is compared inside the seal.
const FLOW_ID_CHARS: usize = 8;

/// The flow cookie of the login with this `state`: `<base>_flow_<first 8 chars of state>`.
/// The callback's `state` is attacker-controlled and this name may be echoed in a clearing
/// `Set-Cookie`, so anything but base64url characters becomes `_`.
pub fn flow_cookie_name(base: &str, state: &str) -> String {
    let id: String = state
        .bytes()
        .take(FLOW_ID_CHARS)
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect();
    format!("{}{id}", flow_prefix(base))
}

fn flow_prefix(base: &str) -> String {
    format!("{base}_flow_")
}

/// True for the flow cookies of the session cookie `base`.
pub fn is_flow_cookie(name: &str, base: &str) -> bool {
    name.strip_prefix(base)
        .is_some_and(|rest| rest.starts_with("_flow_"))
}

/// The `(name, value)` flow cookie for `login`; give it `Max-Age`
/// [`LOGIN_TTL_SECONDS`](crate::core::login::LOGIN_TTL_SECONDS).
pub fn seal_login_state(
    login: &LoginState,
    key: &[u8; 32],
    base: &str,
    issuer: &str,
    nonce: &[u8; 24],
) -> Result<(String, String), LoginStateTooLarge> {
    let plaintext = serde_json::to_vec(login).map_err(|_| LoginStateTooLarge)?;
    if sealed_len(plaintext.len()) > MAX_COOKIE_VALUE_BYTES {
        return Err(LoginStateTooLarge);
    }
    let name = flow_cookie_name(base, &login.state);
    let value = seal(key, &flow_context(&name, issuer), &plaintext, nonce);
    Ok((name, value))
}

/// The login state for the callback's `state`: its flow cookie must be present once, open, hold
/// exactly this `state`, and not be expired.
pub fn open_login_state(
    cookies: &[(&str, &str)],
    keys: &[[u8; 32]],
    base: &str,
    issuer: &str,
    state: &str,
    now: u64,
) -> Result<LoginState, LoginStateError> {
    let name = flow_cookie_name(base, state);
    let mut values = cookies.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v);
    let value = values.next().ok_or(LoginStateError::Missing)?;
    if values.next().is_some() {
        return Err(LoginStateError::Invalid);
    }
    let login = open_flow_cookie(keys, &name, issuer, value).ok_or(LoginStateError::Invalid)?;
    if login.state != state {
        return Err(LoginStateError::Invalid);
    }
    if now >= login.expires_at {
        return Err(LoginStateError::Expired);
    }
    Ok(login)
}

fn open_flow_cookie(
    keys: &[[u8; 32]],
    name: &str,
    issuer: &str,
    value: &str,
) -> Option<LoginState> {
    let plaintext = open(keys, &flow_context(name, issuer), value).ok()?;
    serde_json::from_slice(&plaintext).ok()
}

fn flow_context<'a>(name: &'a str, issuer: &'a str) -> SealContext<'a> {
    SealContext {
        purpose: Purpose::LoginState,
        cookie_name: name,
        issuer,
    }
}

/// Names of the flow cookies to clear before a new login adds its own, so that at most
/// [`MAX_FLOW_COOKIES`] remain and tabs cannot grow the cookie jar without bound. Unreadable and
/// expired ones always go (they can never complete); of the live ones, the oldest (earliest
/// `expires_at`) go first.
pub fn flow_cookies_to_evict(
    cookies: &[(&str, &str)],
    keys: &[[u8; 32]],
    base: &str,
    issuer: &str,
    now: u64,
) -> Vec<String> {
    let mut dead: Vec<&str> = Vec::new();
    let mut live: Vec<(u64, &str)> = Vec::new();
    for (name, value) in cookies.iter().filter(|(n, _)| is_flow_cookie(n, base)) {
        match open_flow_cookie(keys, name, issuer, value) {
            Some(login) if now < login.expires_at => live.push((login.expires_at, name)),
            _ => dead.push(name),
        }
    }
    let excess = (live.len() + 1).saturating_sub(MAX_FLOW_COOKIES);
    let mut evict: Vec<String> = Vec::new();
    for name in dead.into_iter().chain(oldest(live, excess)) {
        if !evict.iter().any(|e| e == name) {
            evict.push(name.to_string());
        }
    }
    evict
}

/// The names of the `count` earliest-expiring cookies, earliest first. Picked one at a time
/// rather than sorted: usually `count` is 0 or 1, the quadratic worst case is cheap next to
/// opening each cookie, and a sort instantiation for these pairs is ~7 KB of the module.
fn oldest(mut live: Vec<(u64, &str)>, count: usize) -> Vec<&str> {
    let mut picked = Vec::new();
    while picked.len() < count {
        let Some(first) = (0..live.len()).min_by_key(|&i| live[i]) else {
            break;
        };
        picked.push(live.swap_remove(first).1);
    }
    picked
}
