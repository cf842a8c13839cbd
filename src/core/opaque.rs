//! Opaque access tokens (`opaque_tokens`). A bearer token that is not a JWT can only be judged
//! by the login issuer, by a call (RFC 7662 introspection, or userinfo). This module keeps
//! what such calls answered, per worker, and decides when another call may be sent:
//!
//! - an answer naming a user is reused until `min(exp, cache_seconds)`;
//! - a refusal is remembered too (in its own cache, so that random tokens cannot push good
//!   answers out), so repeating a dead token costs no call;
//! - one call per token at a time: requests that carry a token being checked wait for it;
//! - at most `calls_per_second` calls per worker, so a flood of random tokens reaches the IdP
//!   as a trickle (beyond it, requests with unknown tokens get 503).

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;
use serde_json::{Map, Value};

use crate::config::{Config, OpaqueMethod, OpaqueTokens};
use crate::core::identity::{identify, LOGIN_ISSUER};
use crate::core::token_cache::{TokenCache, Verdict, MAX_CACHED_TOKEN_BYTES};

/// The largest answer read; real ones are well under 4 KiB.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Tokens being checked at most per worker (calls in flight): a bound on memory whatever
/// `calls_per_second` and `idp_timeout_ms` are.
const MAX_IN_FLIGHT: usize = 1024;

/// What is known of a token, and whether a call may be sent for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The issuer said whose it is.
    Known(Verdict),
    /// The issuer said it is not live (or never was).
    Refused,
    /// A call for it is in flight: wait for its answer.
    InFlight,
    /// The worker sent as many calls as it may this second.
    Limited,
    /// Send a call; the token is now in flight.
    Ask,
}

/// What one call concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Live, and whose: reused until `until_s`.
    Active { verdict: Verdict, until_s: u64 },
    /// Not live: refused until `until_s` without another call.
    Inactive { until_s: u64 },
}

/// One worker's answers and calls in flight.
#[derive(Default)]
pub struct OpaqueState {
    known: TokenCache,
    refused: TokenCache<()>,
    /// Tokens whose call is in flight, with the second after which it is presumed lost.
    in_flight: HashMap<Box<str>, u64, FxBuildHasher>,
    /// The current second, and the calls sent in it.
    window: (u64, u32),
}

impl OpaqueState {
    /// What is known of `token` at `now_s`; when a call should be sent, counts it and marks
    /// the token in flight until `lost_after_s`.
    pub fn lookup(
        &mut self,
        token: &str,
        settings: &OpaqueTokens,
        now_s: u64,
        lost_after_s: u64,
    ) -> Lookup {
        if let Some(verdict) = self.known.get(token, now_s) {
            return Lookup::Known(verdict);
        }
        if self.refused.get(token, now_s).is_some() {
            return Lookup::Refused;
        }
        if self.in_flight.get(token).is_some_and(|&lost| now_s <= lost) {
            return Lookup::InFlight;
        }
        if self.window.0 != now_s {
            self.window = (now_s, 0);
        }
        if self.window.1 >= settings.calls_per_second || !self.has_room(now_s) {
            return Lookup::Limited;
        }
        self.window.1 += 1;
        self.in_flight.insert(token.into(), lost_after_s);
        Lookup::Ask
    }

    /// Room for one more call in flight, after forgetting calls presumed lost.
    fn has_room(&mut self, now_s: u64) -> bool {
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            self.in_flight.retain(|_, lost| now_s <= *lost);
        }
        self.in_flight.len() < MAX_IN_FLIGHT
    }

    /// The call for `token` ended: with what it concluded, or `None` (no answer, or an answer
    /// that said nothing about the token), after which the next request asks again.
    pub fn settle(&mut self, token: &str, checked: Option<Checked>) {
        self.in_flight.remove(token);
        match checked {
            Some(Checked::Active { verdict, until_s }) => {
                self.known.insert(token, verdict, 0, until_s)
            }
            Some(Checked::Inactive { until_s }) => self.refused.insert(token, (), 0, until_s),
            None => {}
        }
    }
}

/// RFC 6750's `b64token` and at most what the caches keep: anything else is not sent to the
/// IdP, which would refuse it anyway.
pub fn is_sendable(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && token.len() <= MAX_CACHED_TOKEN_BYTES
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Why an answer says nothing about the token (the IdP failed, or refused us).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unanswered(pub String);

/// Reads the IdP's answer about a token, at `now_s`.
pub fn read_answer(
    config: &Config,
    settings: &OpaqueTokens,
    status: Option<&[u8]>,
    body: &[u8],
    now_s: u64,
) -> Result<Checked, Unanswered> {
    let refused_until = now_s.saturating_add(settings.cache_seconds);
    let inactive = Checked::Inactive {
        until_s: refused_until,
    };
    let claims = match (settings.method, status) {
        (_, Some(b"200")) => json_object(body)?,
        // Userinfo refuses a dead token itself (RFC 6750 3.1).
        (OpaqueMethod::Userinfo, Some(b"401" | b"403")) => return Ok(inactive),
        (_, status) => {
            let shown = status.map(String::from_utf8_lossy).unwrap_or("none".into());
            return Err(Unanswered(format!("HTTP status {shown}")));
        }
    };
    let live_until = match settings.method {
        OpaqueMethod::Introspection => match live_until(config, &claims, now_s) {
            Some(until) => until,
            None => return Ok(inactive),
        },
        OpaqueMethod::Userinfo => u64::MAX,
    };
    let verdict = Verdict {
        issuer: LOGIN_ISSUER,
        identity: identify(&claims, LOGIN_ISSUER, config),
    };
    Ok(Checked::Active {
        verdict,
        until_s: live_until.min(now_s.saturating_add(settings.cache_seconds)),
    })
}

/// An introspection answer's token is live until this second (its `exp` and the clock skew),
/// or `None` when it is not: `active` is not `true`, it is expired or not yet valid, another
/// issuer's, or a refresh token (some IdPs introspect those too, and they are not bearers).
fn live_until(config: &Config, claims: &Map<String, Value>, now_s: u64) -> Option<u64> {
    let skew = config.clock_skew_seconds;
    let number = |name| claims.get(name).and_then(Value::as_f64).map(|n| n as u64);
    let text = |name| claims.get(name).and_then(Value::as_str);
    let issuer = &config.login_issuer().issuer;
    let refresh = text("token_type").is_some_and(|t| t.to_ascii_lowercase().contains("refresh"));
    let ok = claims.get("active") == Some(&Value::Bool(true))
        && text("iss").map_or(true, |iss| iss == issuer)
        && !refresh
        && number("nbf").map_or(true, |nbf| nbf <= now_s.saturating_add(skew));
    let until = number("exp").map_or(u64::MAX, |exp| exp.saturating_add(skew));
    (ok && now_s < until).then_some(until)
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, Unanswered> {
    if body.len() > MAX_ANSWER_BYTES {
        return Err(Unanswered("answer too large".into()));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Unanswered("answer is not a JSON object".into())),
    }
}

#[cfg(test)]
mod tests;
