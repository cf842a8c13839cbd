//! The session cookie: a [`Session`] sealed for its cookie name and issuer, in one cookie when
//! it fits and in up to [`MAX_SESSION_CHUNKS`] chunk cookies when it does not.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::core::claims::Grants;

use super::seal::{open, seal, sealed_len, Purpose, SealContext, VERSION_PREFIX};
use super::{MAX_COOKIE_VALUE_BYTES, MAX_SEALED_BYTES, MAX_SESSION_CHUNKS};

/// `v1.<count>.` in front of the first chunk; the count is one digit.
const CHUNK_HEADER_BYTES: usize = VERSION_PREFIX.len() + 2;
// The chunk count is one digit, and the largest chunked session, reassembled, still opens.
const _: () = assert!(MAX_SESSION_CHUNKS <= 9);
const _: () = assert!(
    VERSION_PREFIX.len() + MAX_SESSION_CHUNKS * MAX_COOKIE_VALUE_BYTES - CHUNK_HEADER_BYTES
        <= MAX_SEALED_BYTES
);

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
    /// The IdP's session id (the id_token's `sid`), which back-channel logout names.
    #[serde(rename = "is", default, skip_serializing_if = "Option::is_none")]
    pub idp_sid: Option<String>,
    /// When the IdP last confirmed the session (its login or last refresh); sessions sealed
    /// before this field existed read 0, and count from `issued_at`.
    #[serde(rename = "va", default)]
    pub validated_at: u64,
    /// Granted scopes and the claims the rules named at login.
    #[serde(rename = "gr", default, skip_serializing_if = "Grants::is_empty")]
    pub grants: Grants,
    /// The token upstreams get (`forward_token.session`): the access token or the id_token.
    #[serde(rename = "ft", default, skip_serializing_if = "Option::is_none")]
    pub forward_token: Option<String>,
}

impl Session {
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    /// When the IdP last confirmed the session.
    pub fn validated_at(&self) -> u64 {
        self.validated_at.max(self.issued_at)
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
            .field("idp_sid", &self.idp_sid)
            .field("validated_at", &self.validated_at)
            .field("grants", &self.grants)
            .field("forward_token", &self.forward_token.as_ref().map(|_| "***"))
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

/// Whether the session fits its cookies as it is, every token kept.
pub fn fits(session: &Session) -> bool {
    serde_json::to_vec(session).is_ok_and(|p| chunk_count(sealed_len(p.len())).is_some())
}

/// The session's JSON, shed of tokens until it fits: the forwarded token first, then the
/// id_token, then the refresh token. Sizes are computed before sealing, so one nonce seals
/// exactly one plaintext.
fn fitting_plaintext(session: &Session) -> Result<Vec<u8>, SessionTooLarge> {
    let mut candidate = session.clone();
    loop {
        // Strings and integers always serialize; an error would still fail closed.
        let plaintext = serde_json::to_vec(&candidate).map_err(|_| SessionTooLarge)?;
        if chunk_count(sealed_len(plaintext.len())).is_some() {
            return Ok(plaintext);
        }
        if candidate.forward_token.is_some() {
            candidate.forward_token = None;
        } else if candidate.id_token.is_some() {
            candidate.id_token = None;
        } else if candidate.refresh_token.is_some() {
            candidate.refresh_token = None;
        } else {
            return Err(SessionTooLarge);
        }
    }
}

/// How many cookies a sealed value of `len` bytes needs, if it fits at all.
pub(super) fn chunk_count(len: usize) -> Option<usize> {
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
pub(super) fn chunk_name(base: &str, index: usize) -> String {
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
