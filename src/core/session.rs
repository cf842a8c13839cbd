//! Sealed cookies: the browser session and the per-login flow state, with no server-side store.
//!
//! A value is sealed with XChaCha20-Poly1305: its 192-bit nonces are safe to draw at random
//! (no counter to keep across workers and gateways), and it is constant-time and fast in
//! software, which matters in Wasm where there are no AES instructions. The associated data
//! binds the format version, the purpose, the cookie name and the issuer, so a sealed value is
//! only ever accepted where it was issued: a login-state cookie is not a session, and a cookie
//! moved to another name or gateway fails.
//!
//! Sealed format: `v1.` + base64url-no-pad(nonce[24] || ciphertext || tag[16]).
//!
//! Every way a sealed value can be wrong ends in the same [`OpenError`], and tags are compared
//! in constant time by the AEAD, so the answer to a forged cookie tells nothing about it.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

/// Prefix of every sealed value; a new format gets a new prefix (and new associated data).
const VERSION_PREFIX: &str = "v1.";
/// The version as it enters the associated data.
const VERSION_LABEL: &str = "oidc-gate/v1";
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;

/// Largest cookie value we send. Browsers keep name + value up to 4096 bytes (RFC 6265 §6.1);
/// the rest is left for the name.
pub const MAX_COOKIE_VALUE_BYTES: usize = 4000;
/// Most cookies one session may span: `name`, `name_1`, `name_2`, `name_3`.
pub const MAX_SESSION_CHUNKS: usize = 4;
/// Longest sealed value [`open`] looks at; checked before any decoding, so a huge cookie costs
/// nothing. The session chunks together stay below it.
pub const MAX_SEALED_BYTES: usize = MAX_SESSION_CHUNKS * MAX_COOKIE_VALUE_BYTES;
/// Flow cookies a browser may hold at once (one per login started in some tab).
pub const MAX_FLOW_COOKIES: usize = 4;
/// How long a login may take from redirect to callback; also the flow cookie's `Max-Age`.
pub const LOGIN_STATE_TTL_SECONDS: u64 = 600;

/// What a sealed value is for; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Session,
    LoginState,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Session => "session",
            Purpose::LoginState => "login-state",
        }
    }
}

/// Where a sealed value belongs. Opening with any other context fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealContext<'a> {
    pub purpose: Purpose,
    pub cookie_name: &'a str,
    pub issuer: &'a str,
}

/// A sealed value did not open. Deliberately carries no reason: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError;

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sealed value rejected")
    }
}

/// Seals `plaintext` under `key`. `nonce` must come from a CSPRNG, fresh for every call.
pub fn seal(key: &[u8; 32], context: &SealContext, plaintext: &[u8], nonce: &[u8; 24]) -> String {
    let aad = associated_data(context);
    let payload = Payload {
        msg: plaintext,
        aad: &aad,
    };
    // Encryption fails only for plaintexts over 256 GiB. Should it ever fail, the value is a
    // bare nonce, which `open` rejects as too short: a broken cookie, never an unsealed one.
    let ciphertext = XChaCha20Poly1305::new(&(*key).into())
        .encrypt(&XNonce::from(*nonce), payload)
        .unwrap_or_default();
    let mut raw = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
    raw.extend_from_slice(nonce);
    raw.extend_from_slice(&ciphertext);
    format!("{VERSION_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
}

/// Opens a value sealed by [`seal`] under any of `keys` (the first seals; the others are kept
/// to open cookies issued before a rotation).
pub fn open(keys: &[[u8; 32]], context: &SealContext, sealed: &str) -> Result<Vec<u8>, OpenError> {
    if sealed.len() > MAX_SEALED_BYTES {
        return Err(OpenError);
    }
    let encoded = sealed.strip_prefix(VERSION_PREFIX).ok_or(OpenError)?;
    let raw = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| OpenError)?;
    if raw.len() < NONCE_BYTES + TAG_BYTES {
        return Err(OpenError);
    }
    let (nonce, ciphertext) = raw.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| OpenError)?;
    let nonce = XNonce::from(nonce);
    let aad = associated_data(context);
    keys.iter()
        .find_map(|key| {
            let payload = Payload {
                msg: ciphertext,
                aad: &aad,
            };
            XChaCha20Poly1305::new(&(*key).into())
                .decrypt(&nonce, payload)
                .ok()
        })
        .ok_or(OpenError)
}

/// Length of the sealed form of `plaintext_len` bytes, known before sealing.
fn sealed_len(plaintext_len: usize) -> usize {
    let raw = NONCE_BYTES + plaintext_len + TAG_BYTES;
    VERSION_PREFIX.len() + (raw * 4).div_ceil(3)
}

/// Each field length-prefixed, so no two contexts share an encoding (`a` + `bc` ≠ `ab` + `c`).
fn associated_data(context: &SealContext) -> Vec<u8> {
    let fields = [
        VERSION_LABEL,
        context.purpose.label(),
        context.cookie_name,
        context.issuer,
    ];
    let mut aad = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for field in fields {
        aad.extend_from_slice(&(field.len() as u32).to_be_bytes());
        aad.extend_from_slice(field.as_bytes());
    }
    aad
}

/// A logged-in browser. The JSON field names are short because every byte rides in a cookie.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "u")]
    pub userid: String,
    #[serde(rename = "g")]
    pub groups: Vec<String>,
    #[serde(rename = "s")]
    pub sub: String,
    /// Session id, for logout and a revocation list.
    #[serde(rename = "i")]
    pub sid: String,
    #[serde(rename = "ia")]
    pub issued_at: u64,
    /// Sealed with the rest, so the browser cannot extend it (the cookie's `Max-Age` is only a
    /// hint to the browser).
    #[serde(rename = "ea")]
    pub expires_at: u64,
    #[serde(rename = "rt", default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(rename = "it", default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// When the IdP's tokens expire (refresh is due).
    #[serde(rename = "te")]
    pub tokens_expire_at: u64,
}

impl Session {
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

/// Tokens are secrets: a debug print must not put them in a log.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("userid", &self.userid)
            .field("groups", &self.groups)
            .field("sub", &self.sub)
            .field("sid", &self.sid)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("id_token", &self.id_token.as_ref().map(|_| "***"))
            .field("tokens_expire_at", &self.tokens_expire_at)
            .finish()
    }
}

/// Even without its tokens the session does not fit in [`MAX_SESSION_CHUNKS`] cookies
/// (typically: far too many groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTooLarge;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// None of the session cookies is present: an ordinary logged-out browser.
    Absent,
    /// Present but unusable (forged, tampered, from a removed key, chunks missing, duplicated
    /// or out of order). One variant on purpose: the reason is not told.
    Invalid,
    /// Genuine, but past `expires_at`.
    Expired,
}

/// The `(name, value)` cookies that carry `session`, sealed under `key` for the session cookie
/// `base` of `issuer`.
///
/// One cookie `base` when the sealed value fits [`MAX_COOKIE_VALUE_BYTES`]; otherwise chunks
/// `base`, `base_1`, … where the first value is `v1.<count>.<part>` and the others hold the
/// following parts of the base64 text. When even [`MAX_SESSION_CHUNKS`] are too few, the
/// `id_token` is left out, then the `refresh_token` too (logout then has no `id_token_hint`,
/// and the session cannot be refreshed). The caller should clear every name of
/// [`session_cookie_names`] it does not set, so no stale chunk is left behind.
pub fn session_cookies(
    session: &Session,
    key: &[u8; 32],
    base: &str,
    issuer: &str,
    nonce: &[u8; 24],
) -> Result<Vec<(String, String)>, SessionTooLarge> {
    let plaintext = fitting_plaintext(session)?;
    let context = session_context(base, issuer);
    let sealed = seal(key, &context, &plaintext, nonce);
    Ok(split_into_cookies(base, &sealed))
}

/// The session's JSON, shed of tokens until it fits. Sizes are computed before sealing, so one
/// nonce seals exactly one plaintext.
fn fitting_plaintext(session: &Session) -> Result<Vec<u8>, SessionTooLarge> {
    let mut candidate = session.clone();
    loop {
        // Strings and integers always serialize; an error would still fail closed.
        let plaintext = serde_json::to_vec(&candidate).map_err(|_| SessionTooLarge)?;
        if chunk_count(sealed_len(plaintext.len())).is_some() {
            return Ok(plaintext);
        }
        if candidate.id_token.take().is_none() && candidate.refresh_token.take().is_none() {
            return Err(SessionTooLarge);
        }
    }
}

/// How many cookies a sealed value of `len` bytes needs, if it fits at all.
fn chunk_count(len: usize) -> Option<usize> {
    if len <= MAX_COOKIE_VALUE_BYTES {
        return Some(1);
    }
    let body = len - VERSION_PREFIX.len();
    // The first chunk also carries the `v1.<count>.` header (the count is one digit).
    let framed = body + chunk_header(2).len();
    let count = framed.div_ceil(MAX_COOKIE_VALUE_BYTES);
    (count <= MAX_SESSION_CHUNKS).then_some(count)
}

fn chunk_header(count: usize) -> String {
    format!("{VERSION_PREFIX}{count}.")
}

fn split_into_cookies(base: &str, sealed: &str) -> Vec<(String, String)> {
    let count = chunk_count(sealed.len()).unwrap_or(1);
    if count == 1 {
        return vec![(base.to_string(), sealed.to_string())];
    }
    let body = sealed.get(VERSION_PREFIX.len()..).unwrap_or_default();
    let header = chunk_header(count);
    let first_len = MAX_COOKIE_VALUE_BYTES - header.len();
    let (first, rest) = body.split_at(first_len.min(body.len()));
    let mut cookies = vec![(base.to_string(), format!("{header}{first}"))];
    // base64url is ASCII, so byte chunks are whole characters.
    for (i, part) in rest.as_bytes().chunks(MAX_COOKIE_VALUE_BYTES).enumerate() {
        let part = String::from_utf8_lossy(part).into_owned();
        cookies.push((chunk_name(base, i + 1), part));
    }
    cookies
}

/// Name of chunk `index` (0 is the base name itself).
fn chunk_name(base: &str, index: usize) -> String {
    if index == 0 {
        base.to_string()
    } else {
        format!("{base}_{index}")
    }
}

/// Every cookie name a session may use: `base`, `base_1`, … `base_{MAX_SESSION_CHUNKS-1}`.
pub fn session_cookie_names(base: &str) -> Vec<String> {
    (0..MAX_SESSION_CHUNKS)
        .map(|i| chunk_name(base, i))
        .collect()
}

/// True for the session cookie `base` and each of its chunk names.
pub fn is_session_cookie(name: &str, base: &str) -> bool {
    chunk_index(name, base).is_some()
}

/// True for any cookie of ours (session chunks and login flows): none of them goes upstream.
pub fn is_own_cookie(name: &str, base: &str) -> bool {
    is_session_cookie(name, base) || is_flow_cookie(name, base)
}

fn chunk_index(name: &str, base: &str) -> Option<usize> {
    let rest = name.strip_prefix(base)?;
    if rest.is_empty() {
        return Some(0);
    }
    let digit = rest.strip_prefix('_')?;
    let index = match digit.as_bytes() {
        [d @ b'1'..=b'9'] => usize::from(d - b'0'),
        _ => return None,
    };
    (index < MAX_SESSION_CHUNKS).then_some(index)
}

/// Reassembles and opens the session from the request's cookies, and checks its expiry.
pub fn read_session(
    cookies: &[(&str, &str)],
    keys: &[[u8; 32]],
    base: &str,
    issuer: &str,
    now: u64,
) -> Result<Session, SessionError> {
    let sealed = reassemble(cookies, base)?;
    let plaintext =
        open(keys, &session_context(base, issuer), &sealed).map_err(|_| SessionError::Invalid)?;
    let session: Session = serde_json::from_slice(&plaintext).map_err(|_| SessionError::Invalid)?;
    if session.is_expired(now) {
        return Err(SessionError::Expired);
    }
    Ok(session)
}

/// The sealed value spread over the session cookies. Strict: each chunk exactly once, all
/// present, none beyond the count. A browser holding duplicates (e.g. a cookie planted for a
/// parent domain) is not guessed about.
fn reassemble(cookies: &[(&str, &str)], base: &str) -> Result<String, SessionError> {
    let mut chunks: [Option<&str>; MAX_SESSION_CHUNKS] = [None; MAX_SESSION_CHUNKS];
    for (name, value) in cookies {
        let Some(index) = chunk_index(name, base) else {
            continue;
        };
        let slot = chunks.get_mut(index).ok_or(SessionError::Invalid)?;
        if slot.replace(value).is_some() || value.len() > MAX_COOKIE_VALUE_BYTES {
            return Err(SessionError::Invalid);
        }
    }
    if chunks.iter().all(Option::is_none) {
        return Err(SessionError::Absent);
    }
    let first = chunks[0].ok_or(SessionError::Invalid)?;
    let (count, first_part) = parse_first_chunk(first)?;
    let present = chunks.iter().filter(|c| c.is_some()).count();
    if present != count || chunks[..count].iter().any(Option::is_none) {
        return Err(SessionError::Invalid);
    }
    let mut sealed = String::with_capacity(count * MAX_COOKIE_VALUE_BYTES);
    sealed.push_str(VERSION_PREFIX);
    sealed.push_str(first_part);
    chunks[1..count]
        .iter()
        .flatten()
        .for_each(|part| sealed.push_str(part));
    Ok(sealed)
}

/// `v1.<b64>` is a whole sealed value (count 1); `v1.<count>.<b64>` starts `count` chunks.
fn parse_first_chunk(first: &str) -> Result<(usize, &str), SessionError> {
    let body = first
        .strip_prefix(VERSION_PREFIX)
        .ok_or(SessionError::Invalid)?;
    let Some((count, part)) = body.split_once('.') else {
        return Ok((1, body));
    };
    match count.as_bytes() {
        [d @ b'2'..=b'9'] if usize::from(d - b'0') <= MAX_SESSION_CHUNKS => {
            Ok((usize::from(d - b'0'), part))
        }
        _ => Err(SessionError::Invalid),
    }
}

fn session_context<'a>(base: &'a str, issuer: &'a str) -> SealContext<'a> {
    SealContext {
        purpose: Purpose::Session,
        cookie_name: base,
        issuer,
    }
}

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

/// The `(name, value)` flow cookie for `login`; give it `Max-Age` [`LOGIN_STATE_TTL_SECONDS`].
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
    live.sort();
    let excess = (live.len() + 1).saturating_sub(MAX_FLOW_COOKIES);
    let mut evict: Vec<String> = Vec::new();
    for name in dead
        .into_iter()
        .chain(live.into_iter().take(excess).map(|(_, n)| n))
    {
        if !evict.iter().any(|e| e == name) {
            evict.push(name.to_string());
        }
    }
    evict
}
