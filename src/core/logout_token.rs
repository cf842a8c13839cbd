//! OIDC Back-Channel Logout 1.0: the IdP's `POST` of a logout token, checked as its section
//! 2.6 says, and the record of the tokens seen (a `jti` is accepted once).

use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;
use serde::{Deserialize, Serialize};

use crate::core::stored;
use serde_json::Value;

use crate::config::Config;
use crate::core::jwks::KeySet;
use crate::core::jwt::{self, ClaimRules, JwtError};

/// The `events` member that makes a JWT a back-channel logout token (section 2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token issued longer ago than this (plus the clock skew) is refused: it is sent
/// when the session ends, not kept for later.
pub const MAX_AGE_SECONDS: u64 = 600;
/// The form body of the IdP's request is read up to this size.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest `jti`, `sid` or `sub` accepted.
const MAX_ID_BYTES: usize = 255;

/// A logout token that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    pub jti: String,
    /// The IdP's session id: ends every session of ours made from it.
    pub sid: Option<String>,
    /// The subject: ends all its sessions, when no `sid` narrows it.
    pub sub: Option<String>,
    pub exp: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutTokenError {
    /// The body is not a form with exactly one `logout_token`.
    BadForm,
    Jwt(JwtError),
    IssuedTooLongAgo,
    MissingJti,
    NotALogoutEvent,
    NoSessionOrSubject,
    HasNonce,
    Replayed,
}

impl LogoutTokenError {
    pub fn reason(self) -> &'static str {
        match self {
            LogoutTokenError::BadForm => "logout_token_missing",
            LogoutTokenError::Jwt(e) => e.reason(),
            LogoutTokenError::IssuedTooLongAgo => "logout_token_too_old",
            LogoutTokenError::MissingJti => "logout_token_missing_jti",
            LogoutTokenError::NotALogoutEvent => "logout_token_missing_event",
            LogoutTokenError::NoSessionOrSubject => "logout_token_missing_sid_and_sub",
            LogoutTokenError::HasNonce => "logout_token_has_nonce",
            LogoutTokenError::Replayed => "logout_token_replayed",
        }
    }
}

/// The `logout_token` of a form body; a second one is as bad as none.
pub fn from_form(body: &[u8]) -> Result<String, LogoutTokenError> {
    let mut tokens = form_urlencoded::parse(body)
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned());
    match (tokens.next(), tokens.next()) {
        (Some(token), None) if !token.is_empty() => Ok(token),
        _ => Err(LogoutTokenError::BadForm),
    }
}

/// Checks a logout token from the login issuer against its keys (section 2.6).
pub fn validate(
    config: &Config,
    keys: &KeySet,
    token: &str,
    now: u64,
) -> Result<LogoutToken, LogoutTokenError> {
    let parsed = jwt::parse_logout_token(token).map_err(LogoutTokenError::Jwt)?;
    let audiences = [config.client_id.clone()];
    let rules = ClaimRules {
        issuer: &config.login_issuer().issuer,
        audiences: &audiences,
        clock_skew_seconds: config.clock_skew_seconds,
        require_iat: true,
        require_sub: false,
    };
    let verified = jwt::verify(&parsed, keys, &rules, now).map_err(LogoutTokenError::Jwt)?;
    let claims = &verified.claims;
    let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
    let fresh_until = iat
        .saturating_add(MAX_AGE_SECONDS)
        .saturating_add(config.clock_skew_seconds);
    if fresh_until < now {
        return Err(LogoutTokenError::IssuedTooLongAgo);
    }
    let id = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && v.len() <= MAX_ID_BYTES)
            .map(str::to_string)
    };
    let jti = id("jti").ok_or(LogoutTokenError::MissingJti)?;
    let is_logout_event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_EVENT))
        .is_some_and(Value::is_object);
    if !is_logout_event {
        return Err(LogoutTokenError::NotALogoutEvent);
    }
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::HasNonce);
    }
    let (sid, sub) = (id("sid"), id("sub"));
    if sid.is_none() && sub.is_none() {
        return Err(LogoutTokenError::NoSessionOrSubject);
    }
    Ok(LogoutToken {
        jti,
        sid,
        sub,
        exp: verified.exp,
    })
}

/// Slots of the record of seen `jti`s, each holding at most [`JTIS_PER_SLOT`].
pub const JTI_SLOTS: u64 = 64;
pub const JTIS_PER_SLOT: usize = 16;

/// The slot index of a `jti`.
pub fn jti_slot_of(jti: &str) -> u64 {
    let mut hasher = FxHasher::default();
    jti.hash(&mut hasher);
    hasher.finish() % JTI_SLOTS
}

/// One slot of the record of seen `jti`s, as stored in shared data. A `jti` is remembered
/// until its token expires (after that the token is refused anyway). When a slot is full the
/// one closest to expiry goes: a replay of that token would only end the same sessions again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JtiSlot {
    #[serde(rename = "j")]
    seen: Vec<(String, u64)>,
}

impl JtiSlot {
    pub fn decode(bytes: Option<&[u8]>) -> JtiSlot {
        stored::decode(bytes)
    }

    pub fn encode(&self) -> Vec<u8> {
        stored::encode(self)
    }

    /// The slot with `jti` recorded until `until`; `None` when it was seen already.
    pub fn record(&self, jti: &str, until: u64, now: u64) -> Option<JtiSlot> {
        if self.seen.iter().any(|(j, u)| j == jti && *u > now) {
            return None;
        }
        let mut next = self.clone();
        next.seen.retain(|(_, u)| *u > now);
        while next.seen.len() >= JTIS_PER_SLOT {
            let soonest = (0..next.seen.len()).min_by_key(|&i| next.seen[i].1)?;
            next.seen.remove(soonest);
        }
        next.seen.push((jti.to_string(), until));
        Some(next)
    }
}

#[cfg(test)]
mod tests;
