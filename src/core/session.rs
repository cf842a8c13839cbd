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
/// `v1.<count>.` in front of the first chunk; the count is one digit.
const CHUNK_HEADER_BYTES: usize = VERSION_PREFIX.len() + 2;

/// Largest cookie value we send. Browsers keep name + value up to 4096 bytes (RFC 6265 §6.1);
/// the rest is left for the name.
pub const MAX_COOKIE_VALUE_BYTES: usize = 4000;
/// Most cookies one session may span: `name`, `name_1`, `name_2`, `name_3`.
pub const MAX_SESSION_CHUNKS: usize = 4;
/// Longest sealed value [`open`] looks at; checked before any decoding, so a huge cookie costs
/// nothing. The session chunks together stay below it.
pub const MAX_SEALED_BYTES: usize = MAX_SESSION_CHUNKS * MAX_COOKIE_VALUE_BYTES;
// The chunk count is one digit, and the largest chunked session, reassembled, still opens.
const _: () = assert!(MAX_SESSION_CHUNKS <= 9);
const _: () = assert!(
    VERSION_PREFIX.len() + MAX_SESSION_CHUNKS * MAX_COOKIE_VALUE_BYTES - CHUNK_HEADER_BYTES
        <= MAX_SEALED_BYTES
);
/// Flow cookies a browser may hold at once (one per login started in some tab).
pub const MAX_FLOW_COOKIES: usize = 4;

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
        if candidate.id_token.is_some() {
            candidate.id_token = None;
        } else if candidate.refresh_token.is_some() {
            candidate.refresh_token = None;
        } else {
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
    // The first chunk also carries the `v1.<count>.` header.
    let framed = body + CHUNK_HEADER_BYTES;
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
        // An empty value is a cleared cookie some client still sends: it carries nothing.
        let Some(index) = chunk_index(name, base).filter(|_| !value.is_empty()) else {
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const K1: [u8; 32] = [1; 32];
    const K2: [u8; 32] = [2; 32];
    const BASE: &str = "authservice_session";
    const ISSUER: &str = "https://idp.example.com";

    fn nonce() -> [u8; 24] {
        rand::random()
    }

    fn ctx(purpose: Purpose, cookie_name: &str) -> SealContext<'_> {
        SealContext {
            purpose,
            cookie_name,
            issuer: ISSUER,
        }
    }

    fn session_ctx() -> SealContext<'static> {
        ctx(Purpose::Session, BASE)
    }

    fn sealed(plaintext: &[u8]) -> String {
        seal(&K1, &session_ctx(), plaintext, &nonce())
    }

    fn open_k1(value: &str) -> Result<Vec<u8>, OpenError> {
        open(&[K1], &session_ctx(), value)
    }

    fn decoded(value: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD
            .decode(value.strip_prefix(VERSION_PREFIX).unwrap())
            .unwrap()
    }

    fn encoded(raw: &[u8]) -> String {
        format!("{VERSION_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    fn flip_bit(value: &str, byte: usize, bit: u8) -> String {
        let mut raw = decoded(value);
        raw[byte] ^= 1 << bit;
        encoded(&raw)
    }

    // --- seal / open ---------------------------------------------------------------------

    #[test]
    fn seal_then_open_round_trips() {
        for plaintext in [&b""[..], b"x", b"{\"u\":\"alice\"}", &[0u8; 5000][..]] {
            assert_eq!(open_k1(&sealed(plaintext)).unwrap(), plaintext);
        }
    }

    #[test]
    fn sealed_format_is_prefix_and_base64url_of_nonce_ciphertext_tag() {
        let n = nonce();
        let value = seal(&K1, &session_ctx(), b"hello", &n);
        assert!(value.starts_with("v1."));
        let raw = decoded(&value);
        assert_eq!(raw.len(), NONCE_BYTES + 5 + TAG_BYTES);
        assert_eq!(raw[..NONCE_BYTES], n);
        assert!(value[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn predicted_length_matches_the_sealed_length() {
        for len in 0..200 {
            assert_eq!(sealed(&vec![b'a'; len]).len(), sealed_len(len), "{len}");
        }
    }

    #[test]
    fn tampering_any_region_gives_the_same_error() {
        let value = sealed(b"{\"u\":\"alice@example.com\"}");
        let raw_len = decoded(&value).len();
        let regions = [
            ("nonce", 0),
            ("nonce end", NONCE_BYTES - 1),
            ("ciphertext", NONCE_BYTES),
            ("ciphertext end", raw_len - TAG_BYTES - 1),
            ("tag", raw_len - TAG_BYTES),
            ("tag end", raw_len - 1),
        ];
        for (region, byte) in regions {
            for bit in 0..8 {
                assert_eq!(
                    open_k1(&flip_bit(&value, byte, bit)),
                    Err(OpenError),
                    "{region} bit {bit}"
                );
            }
        }
        for (i, replacement) in [(0, "w"), (0, "V"), (1, "2"), (1, "0"), (2, "_")] {
            let mut prefix_tampered = value.clone();
            prefix_tampered.replace_range(i..i + 1, replacement);
            assert_eq!(open_k1(&prefix_tampered), Err(OpenError), "prefix {i}");
        }
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let value = sealed(b"{\"u\":\"bob\",\"g\":[\"a\"]}");
        let raw_len = decoded(&value).len();
        for byte in 0..raw_len {
            for bit in 0..8 {
                assert_eq!(open_k1(&flip_bit(&value, byte, bit)), Err(OpenError));
            }
        }
    }

    #[test]
    fn every_character_substitution_is_rejected() {
        let value = sealed(b"{\"u\":\"carol\"}");
        for i in 0..value.len() {
            for replacement in ["A", "z", "0", "-", "_", ".", "=", "+", "/", " "] {
                if &value[i..i + 1] == replacement {
                    continue;
                }
                let mut mutated = value.clone();
                mutated.replace_range(i..i + 1, replacement);
                assert_eq!(open_k1(&mutated), Err(OpenError), "at {i}: {replacement}");
            }
        }
    }

    #[test]
    fn truncation_and_extension_are_rejected() {
        let value = sealed(b"{\"u\":\"dave\"}");
        for end in 0..value.len() {
            assert_eq!(open_k1(&value[..end]), Err(OpenError), "cut at {end}");
        }
        for suffix in ["A", "AA", "AAAA", "=", "=="] {
            assert_eq!(open_k1(&format!("{value}{suffix}")), Err(OpenError));
        }
        assert_eq!(open_k1(&value[3..]), Err(OpenError), "without prefix");
    }

    #[test]
    fn empty_and_malformed_values_are_rejected() {
        let just_short = encoded(&[0; NONCE_BYTES + TAG_BYTES - 1]);
        let inputs = [
            "",
            "v1.",
            "v1",
            "v2.AAAA",
            "v1.!!!!",
            "v1.AAAA====",
            "v1.AA AA",
            "v1.AA+/",
            "v1.\u{e9}\u{e9}",
            just_short.as_str(),
        ];
        for input in inputs {
            assert_eq!(open_k1(input), Err(OpenError), "{input:?}");
        }
    }

    #[test]
    fn non_canonical_base64_is_rejected() {
        // With 43 raw bytes the last character carries 2 data bits and 4 unused ones. Setting
        // an unused bit decodes to the same bytes leniently; strict decoding refuses it, so a
        // cookie has exactly one spelling.
        let value = sealed(b"abc");
        assert_eq!(decoded(&value).len() % 3, 1);
        const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let (head, last) = value.split_at(value.len() - 1);
        let index = ALPHABET.find(last).unwrap();
        assert_eq!(index % 16, 0);
        let sibling = &ALPHABET[index + 1..index + 2];
        assert_eq!(open_k1(&format!("{head}{sibling}")), Err(OpenError));
        assert!(open_k1(&value).is_ok());
    }

    #[test]
    fn oversized_values_are_rejected_before_decoding() {
        let huge = format!("v1.{}", "A".repeat(MAX_SEALED_BYTES));
        assert_eq!(open_k1(&huge), Err(OpenError));
        let huge_but_valid = seal(&K1, &session_ctx(), &[7; MAX_SEALED_BYTES], &nonce());
        assert_eq!(open_k1(&huge_but_valid), Err(OpenError));
    }

    #[test]
    fn no_keys_opens_nothing() {
        assert_eq!(open(&[], &session_ctx(), &sealed(b"x")), Err(OpenError));
    }

    #[test]
    fn same_plaintext_seals_to_distinct_values() {
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            assert!(seen.insert(sealed(b"{\"u\":\"alice@example.com\",\"g\":[]}")));
        }
    }

    #[test]
    fn key_rotation_phases() {
        let ctx = session_ctx();
        let old = seal(&K1, &ctx, b"old", &nonce());
        // Phase 1: K1 only.
        assert_eq!(open(&[K1], &ctx, &old).unwrap(), b"old");
        // Phase 2: K2 primary, K1 decrypt-only: old cookies still open.
        assert_eq!(open(&[K2, K1], &ctx, &old).unwrap(), b"old");
        let new = seal(&K2, &ctx, b"new", &nonce());
        assert_eq!(open(&[K2, K1], &ctx, &new).unwrap(), b"new");
        // Phase 3: K1 removed: old cookies fail, new ones open with K2 alone.
        assert_eq!(open(&[K2], &ctx, &old), Err(OpenError));
        assert_eq!(open(&[K2], &ctx, &new).unwrap(), b"new");
        assert_eq!(open(&[K1], &ctx, &new), Err(OpenError));
    }

    #[test]
    fn context_is_bound_to_purpose_name_and_issuer() {
        let value = seal(&K1, &session_ctx(), b"x", &nonce());
        let others = [
            ctx(Purpose::LoginState, BASE),
            ctx(Purpose::Session, "other_session"),
            ctx(Purpose::Session, "authservice_session_1"),
            SealContext {
                issuer: "https://idp.example.com/",
                ..session_ctx()
            },
        ];
        for other in others {
            assert_eq!(open(&[K1], &other, &value), Err(OpenError), "{other:?}");
        }
    }

    #[test]
    fn context_fields_cannot_be_shifted_into_each_other() {
        let a = SealContext {
            purpose: Purpose::Session,
            cookie_name: "ab",
            issuer: "c",
        };
        let b = SealContext {
            cookie_name: "a",
            issuer: "bc",
            ..a
        };
        assert_ne!(associated_data(&a), associated_data(&b));
        assert_eq!(
            open(&[K1], &b, &seal(&K1, &a, b"x", &nonce())),
            Err(OpenError)
        );
    }

    // --- sessions ------------------------------------------------------------------------

    const NOW: u64 = 1_700_000_000;

    fn session(groups: usize, group_len: usize) -> Session {
        Session {
            userid: "alice@example.com".into(),
            groups: (0..groups)
                .map(|i| format!("{i:03}{}", "g".repeat(group_len.saturating_sub(3))))
                .collect(),
            sub: "CgVhbGljZRIFbG9jYWw".into(),
            sid: "sid-123".into(),
            issued_at: NOW,
            expires_at: NOW + 86_400,
            refresh_token: Some("refresh".into()),
            id_token: Some("eyJ.id.token".into()),
            tokens_expire_at: NOW + 300,
        }
    }

    fn write(s: &Session) -> Vec<(String, String)> {
        session_cookies(s, &K1, BASE, ISSUER, &nonce()).unwrap()
    }

    fn borrowed(cookies: &[(String, String)]) -> Vec<(&str, &str)> {
        cookies
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    fn read(cookies: &[(String, String)]) -> Result<Session, SessionError> {
        read_session(&borrowed(cookies), &[K1], BASE, ISSUER, NOW)
    }

    #[test]
    fn small_session_is_one_cookie() {
        let s = session(3, 10);
        let cookies = write(&s);
        assert_eq!(cookies.len(), 1);
        assert_eq!(cookies[0].0, BASE);
        assert!(cookies[0].1.starts_with("v1."));
        assert_eq!(cookies[0].1.matches('.').count(), 1);
        assert_eq!(read(&cookies).unwrap(), s);
    }

    #[test]
    fn session_json_uses_compact_names_and_omits_absent_tokens() {
        let mut s = session(1, 3);
        s.id_token = None;
        let cookies = write(&s);
        let plaintext = open(&[K1], &session_ctx(), &cookies[0].1).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&plaintext).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        assert_eq!(keys, ["ea", "g", "i", "ia", "rt", "s", "te", "u"]);
        assert_eq!(read(&cookies).unwrap().id_token, None);
    }

    #[test]
    fn large_session_is_chunked_and_reassembled() {
        let s = session(30, 200);
        let cookies = write(&s);
        assert!(cookies.len() > 1 && cookies.len() <= MAX_SESSION_CHUNKS);
        let names: Vec<&str> = cookies.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, session_cookie_names(BASE)[..cookies.len()]);
        assert!(cookies[0].1.starts_with(&format!("v1.{}.", cookies.len())));
        assert!(cookies
            .iter()
            .all(|(_, v)| v.len() <= MAX_COOKIE_VALUE_BYTES));
        assert_eq!(read(&cookies).unwrap(), s);
        // The order of the cookies in the request does not matter; their names do.
        let mut reversed = cookies.clone();
        reversed.reverse();
        assert_eq!(read(&reversed).unwrap(), s);
    }

    #[test]
    fn chunk_boundaries_round_trip() {
        let mut s = session(0, 0);
        s.id_token = None;
        s.refresh_token = None;
        s.userid.clear();
        let empty_len = serde_json::to_vec(&s).unwrap().len();
        // Userid lengths whose sealed value lands just below and above each chunk limit.
        let limits = [4000, 2 * 4000 - 5, 3 * 4000 - 5, 4 * 4000 - 5];
        for limit in limits {
            let around =
                (0..20_000).filter(|&k| sealed_len(empty_len + k).abs_diff(limit + 3) <= 8);
            for k in around {
                s.userid = "u".repeat(k);
                let len = sealed_len(empty_len + k);
                match session_cookies(&s, &K1, BASE, ISSUER, &nonce()) {
                    Ok(cookies) => {
                        assert_eq!(Some(cookies.len()), chunk_count(len));
                        assert!(cookies
                            .iter()
                            .all(|(_, v)| v.len() <= MAX_COOKIE_VALUE_BYTES));
                        assert_eq!(read(&cookies).unwrap(), s, "sealed length {len}");
                    }
                    Err(SessionTooLarge) => assert!(len - 3 > limits[3], "{len}"),
                }
            }
        }
        assert_eq!(chunk_count(4000), Some(1));
        assert_eq!(chunk_count(4001), Some(2));
        assert_eq!(chunk_count(3 + 7995), Some(2));
        assert_eq!(chunk_count(3 + 7996), Some(3));
        assert_eq!(chunk_count(3 + 15995), Some(4));
        assert_eq!(chunk_count(3 + 15996), None);
    }

    #[test]
    fn tampered_chunks_are_rejected() {
        let cookies = write(&session(30, 200));
        let n = cookies.len();
        assert!(n >= 3, "the test needs at least three chunks");
        let mut cases: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for i in 0..n {
            let mut missing = cookies.clone();
            missing.remove(i);
            cases.push((format!("chunk {i} missing"), missing));
            let mut duplicated = cookies.clone();
            duplicated.push(cookies[i].clone());
            cases.push((format!("chunk {i} twice"), duplicated));
            let mut flipped = cookies.clone();
            let value = &mut flipped[i].1;
            let at = value.len() - 10;
            let c = if &value[at..at + 1] == "A" { "B" } else { "A" };
            value.replace_range(at..at + 1, c);
            cases.push((format!("chunk {i} altered"), flipped));
            let mut cut = cookies.clone();
            let cut_len = cut[i].1.len() - 4;
            cut[i].1.truncate(cut_len);
            cases.push((format!("chunk {i} truncated"), cut));
        }
        let mut swapped = cookies.clone();
        let (a, b) = (swapped[1].1.clone(), swapped[2].1.clone());
        swapped[1].1 = b;
        swapped[2].1 = a;
        cases.push(("chunks 1 and 2 swapped".into(), swapped));
        let mut extra = cookies.clone();
        extra.push((chunk_name(BASE, n), "AAAA".into()));
        cases.push(("extra chunk past the count".into(), extra));
        for count in ["1", "3", "5", "9", "0", "33", "x", ""] {
            let mut recounted = cookies.clone();
            recounted[0].1 =
                recounted[0]
                    .1
                    .replacen(&format!("v1.{n}."), &format!("v1.{count}."), 1);
            if count != n.to_string() {
                cases.push((format!("count {count:?}"), recounted));
            }
        }
        let mut unframed = cookies.clone();
        unframed[0].1 = unframed[0].1.replacen(&format!("v1.{n}."), "v1.", 1);
        cases.push(("count removed".into(), unframed));
        let mut oversized = cookies.clone();
        oversized[1].1.push('A');
        oversized[1].1.push_str(&"A".repeat(MAX_COOKIE_VALUE_BYTES));
        cases.push(("chunk over the size limit".into(), oversized));
        for (label, case) in cases {
            assert_eq!(read(&case), Err(SessionError::Invalid), "{label}");
        }
    }

    #[test]
    fn chunks_moved_to_another_base_name_fail() {
        let cookies = write(&session(30, 200));
        let moved: Vec<(String, String)> = cookies
            .iter()
            .map(|(n, v)| (n.replacen(BASE, "other", 1), v.clone()))
            .collect();
        let moved = borrowed(&moved);
        assert_eq!(
            read_session(&moved, &[K1], "other", ISSUER, NOW),
            Err(SessionError::Invalid)
        );
        assert_eq!(
            read_session(&moved, &[K1], BASE, ISSUER, NOW),
            Err(SessionError::Absent)
        );
    }

    #[test]
    fn stale_chunk_next_to_a_single_cookie_fails() {
        let mut cookies = write(&session(1, 3));
        cookies.push((format!("{BASE}_1"), "AAAA".into()));
        assert_eq!(read(&cookies), Err(SessionError::Invalid));
    }

    #[test]
    fn over_the_cap_drops_the_id_token_then_the_refresh_token() {
        let mut s = session(30, 200);
        s.id_token = Some("i".repeat(8_000));
        let kept = read(&write(&s)).unwrap();
        assert_eq!(kept.id_token, None);
        assert_eq!(kept.refresh_token, s.refresh_token);
        assert_eq!(kept.groups, s.groups);

        s.refresh_token = Some("r".repeat(8_000));
        let kept = read(&write(&s)).unwrap();
        assert_eq!((kept.id_token, kept.refresh_token), (None, None));
        assert_eq!(kept.userid, s.userid);

        s.id_token = Some("i".repeat(100));
        let kept = read(&write(&s)).unwrap();
        assert_eq!(
            kept.refresh_token, None,
            "the id token alone was not enough"
        );
    }

    #[test]
    fn session_too_large_even_without_tokens_fails() {
        let s = session(100, 200);
        assert_eq!(
            session_cookies(&s, &K1, BASE, ISSUER, &nonce()),
            Err(SessionTooLarge)
        );
    }

    #[test]
    fn absent_expired_and_foreign_cookies() {
        assert_eq!(read(&[]), Err(SessionError::Absent));
        let foreign = vec![
            ("other".to_string(), "x".to_string()),
            (format!("{BASE}x"), "y".to_string()),
            (format!("{BASE}_flow_abcdefgh"), "z".to_string()),
        ];
        assert_eq!(read(&foreign), Err(SessionError::Absent));
        let s = session(1, 3);
        let cookies = write(&s);
        let at = |now| read_session(&borrowed(&cookies), &[K1], BASE, ISSUER, now);
        assert!(at(s.expires_at - 1).is_ok());
        assert_eq!(at(s.expires_at), Err(SessionError::Expired));
        assert!(s.is_expired(s.expires_at) && !s.is_expired(s.expires_at - 1));
    }

    #[test]
    fn rotation_applies_to_session_cookies() {
        let s = session(30, 200);
        let old = write(&s);
        let at = |keys: &[[u8; 32]]| read_session(&borrowed(&old), keys, BASE, ISSUER, NOW);
        assert_eq!(at(&[K2, K1]).unwrap(), s);
        assert_eq!(at(&[K2]), Err(SessionError::Invalid));
    }

    #[test]
    fn session_cookie_names_and_predicates() {
        assert_eq!(
            session_cookie_names("s"),
            ["s", "s_1", "s_2", "s_3"].map(String::from)
        );
        for own in ["s", "s_1", "s_3"] {
            assert!(
                is_session_cookie(own, "s") && is_own_cookie(own, "s"),
                "{own}"
            );
        }
        for foreign in [
            "s_0", "s_4", "s_01", "s_", "s1", "sx", "x_1", "S", "_s", "s_1 ",
        ] {
            assert!(!is_session_cookie(foreign, "s"), "{foreign}");
        }
        assert!(is_own_cookie("s_flow_abc", "s") && !is_session_cookie("s_flow_abc", "s"));
        assert!(!is_own_cookie("s_flowx", "s"));
    }

    #[test]
    fn own_cookies_are_found_in_and_stripped_from_request_headers() {
        use crate::core::cookies::{parse_cookies, without_cookies};
        let s = session(30, 200);
        let cookies = write(&s);
        let mut header: Vec<u8> = b"theme=dark; lang=\xff".to_vec();
        for (name, value) in &cookies {
            header.extend_from_slice(format!("; {name}={value}").as_bytes());
        }
        header.extend_from_slice(format!("; {BASE}_flow_abcdefgh=v1.x; z=1").as_bytes());
        let parsed = parse_cookies([header.as_slice()]);
        assert_eq!(read_session(&parsed, &[K1], BASE, ISSUER, NOW).unwrap(), s);
        let upstream = without_cookies([header.as_slice()], |n| is_own_cookie(n, BASE));
        assert_eq!(
            upstream.as_deref(),
            Some(b"theme=dark; lang=\xff; z=1".as_slice())
        );
    }

    #[test]
    fn debug_output_hides_tokens() {
        let s = session(1, 3);
        let printed = format!("{s:?}");
        assert!(!printed.contains("refresh\"") && !printed.contains("eyJ"));
        assert!(printed.contains("alice@example.com"));
        let printed = format!("{:?}", login("abcdefghij", NOW + 10));
        assert!(!printed.contains("verifier-secret"));
    }

    // --- login state ---------------------------------------------------------------------

    fn login(state: &str, expires_at: u64) -> LoginState {
        LoginState {
            state: state.into(),
            nonce: "n0nce".into(),
            code_verifier: "verifier-secret".into(),
            return_to: "/notebooks/?tab=1".into(),
            expires_at,
        }
    }

    fn seal_login(l: &LoginState) -> (String, String) {
        seal_login_state(l, &K1, BASE, ISSUER, &nonce()).unwrap()
    }

    fn open_login(
        cookies: &[(String, String)],
        state: &str,
        now: u64,
    ) -> Result<LoginState, LoginStateError> {
        open_login_state(&borrowed(cookies), &[K2, K1], BASE, ISSUER, state, now)
    }

    const STATE: &str = "Qm9vdHN0cmFwcGVkU3RhdGVWYWx1ZQ";

    #[test]
    fn login_state_round_trips_in_its_flow_cookie() {
        let l = login(STATE, NOW + crate::core::login::LOGIN_TTL_SECONDS);
        let cookie = seal_login(&l);
        assert_eq!(cookie.0, format!("{BASE}_flow_Qm9vdHN0"));
        assert_eq!(cookie.0, flow_cookie_name(BASE, STATE));
        assert!(is_flow_cookie(&cookie.0, BASE) && is_own_cookie(&cookie.0, BASE));
        assert_eq!(open_login(&[cookie], STATE, NOW).unwrap(), l);
    }

    #[test]
    fn login_state_failures() {
        let l = login(STATE, NOW + 600);
        let cookie = seal_login(&l);
        let one = [cookie.clone()];
        assert_eq!(open_login(&[], STATE, NOW), Err(LoginStateError::Missing));
        assert_eq!(
            open_login(&one, "Qm9vdHN0-other-state", NOW),
            Err(LoginStateError::Invalid),
            "same 8-character prefix, different state"
        );
        assert_eq!(
            open_login(&one, "other-state", NOW),
            Err(LoginStateError::Missing)
        );
        assert_eq!(
            open_login(&one, STATE, NOW + 600),
            Err(LoginStateError::Expired)
        );
        assert_eq!(
            open_login(&[cookie.clone(), cookie.clone()], STATE, NOW),
            Err(LoginStateError::Invalid)
        );
        let mut tampered = cookie.clone();
        tampered.1 = flip_bit(&tampered.1, 30, 0);
        assert_eq!(
            open_login(&[tampered], STATE, NOW),
            Err(LoginStateError::Invalid)
        );
    }

    #[test]
    fn login_state_and_session_cannot_stand_in_for_each_other() {
        let (_, flow_value) = seal_login(&login(STATE, NOW + 600));
        let as_session = vec![(BASE.to_string(), flow_value.clone())];
        assert_eq!(read(&as_session), Err(SessionError::Invalid));

        let session_value = write(&session(1, 3)).remove(0).1;
        let as_flow = vec![(flow_cookie_name(BASE, STATE), session_value)];
        assert_eq!(
            open_login(&as_flow, STATE, NOW),
            Err(LoginStateError::Invalid)
        );

        // A flow cookie moved under another flow's name, with the matching state, fails too.
        let other = "ZZZZZZZZ-other";
        let moved = vec![(flow_cookie_name(BASE, other), flow_value)];
        assert_eq!(
            open_login(&moved, other, NOW),
            Err(LoginStateError::Invalid)
        );
    }

    #[test]
    fn flow_cookie_names_are_always_cookie_safe() {
        assert_eq!(flow_cookie_name("s", "ab;c=d e"), "s_flow_ab_c_d_e");
        assert_eq!(flow_cookie_name("s", "x\r\nSet"), "s_flow_x__Set");
        assert_eq!(flow_cookie_name("s", "\u{e9}abcdefg"), "s_flow___abcdef");
        assert_eq!(flow_cookie_name("s", "ab"), "s_flow_ab");
        assert_eq!(flow_cookie_name("s", ""), "s_flow_");
    }

    #[test]
    fn login_state_with_a_huge_return_url_is_refused() {
        let mut l = login(STATE, NOW + 600);
        l.return_to = format!("/{}", "a".repeat(MAX_COOKIE_VALUE_BYTES));
        assert_eq!(
            seal_login_state(&l, &K1, BASE, ISSUER, &nonce()),
            Err(LoginStateTooLarge)
        );
    }

    fn flow(state: &str, expires_at: u64) -> (String, String) {
        seal_login(&login(state, expires_at))
    }

    fn evict(cookies: &[(String, String)]) -> Vec<String> {
        flow_cookies_to_evict(&borrowed(cookies), &[K1], BASE, ISSUER, NOW)
    }

    #[test]
    fn few_flows_are_not_evicted() {
        let cookies = vec![flow("aaaaaaaa1", NOW + 100), flow("bbbbbbbb1", NOW + 50)];
        assert!(evict(&cookies).is_empty());
        assert!(evict(&[]).is_empty());
    }

    #[test]
    fn oldest_flows_are_evicted_to_make_room() {
        let cookies = vec![
            flow("cccccccc", NOW + 300),
            flow("aaaaaaaa", NOW + 100),
            flow("dddddddd", NOW + 400),
            flow("bbbbbbbb", NOW + 200),
            flow("eeeeeeee", NOW + 500),
            ("session_unrelated".to_string(), "x".to_string()),
        ];
        let names = |states: &[&str]| -> Vec<String> {
            states.iter().map(|s| flow_cookie_name(BASE, s)).collect()
        };
        // Five live flows, room for four including the new one: the two oldest go.
        assert_eq!(evict(&cookies), names(&["aaaaaaaa", "bbbbbbbb"]));
    }

    #[test]
    fn unreadable_and_expired_flows_are_evicted_first() {
        let mut garbage = flow("gggggggg", NOW + 900);
        garbage.1.push('A');
        let cookies = vec![
            flow("aaaaaaaa", NOW + 100),
            garbage,
            (flow_cookie_name(BASE, "hhhhhhhh"), "not-sealed".into()),
            flow("xxxxxxxx", NOW - 1),
            flow("bbbbbbbb", NOW + 200),
            flow("cccccccc", NOW + 300),
            flow("dddddddd", NOW + 400),
        ];
        let expected: Vec<String> = ["gggggggg", "hhhhhhhh", "xxxxxxxx", "aaaaaaaa"]
            .iter()
            .map(|s| flow_cookie_name(BASE, s))
            .collect();
        assert_eq!(evict(&cookies), expected);
    }
}
