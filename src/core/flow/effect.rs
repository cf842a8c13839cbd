//! What the flows ask the filter to do.

use crate::core::decide::Request;
use crate::core::identity::{Identity, Token};
use crate::core::opaque::Checked;
use crate::core::refresh_board::Outcome;
use crate::core::revocation::Entry;

use super::key_wait::{Parked, Until, Wait};

#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// Answer the request here.
    Reply(Reply),
    /// Send the request upstream.
    Pass(Pass),
    /// Call the login issuer; the answer comes back as `Event::CallAnswered`, or
    /// `Event::CallNotSent` at once.
    Call(Call),
    /// Hold the request until keys, a key fetch or a session refresh let it be answered.
    Park(Box<Parked>),
    /// Claim the refresh of a session on the refresh board; the claim comes back at once as
    /// `Event::Claimed`.
    ClaimRefresh {
        sid: String,
        tokens_expire_at: u64,
        lease_ms: u64,
    },
    /// Record on the refresh board how this request's refresh ended (`None`: it failed
    /// transiently or was abandoned, and the next request retries after a backoff).
    FinishRefresh {
        sid: String,
        holder: u64,
        outcome: Option<Outcome>,
    },
    /// Add `entry` to the revocation list, in the slot of `slot_key` (`core::revocation`).
    Revoke {
        entry: Entry,
        slot_key: String,
    },
    /// Revoke a token at the IdP (RFC 7009): sent by the root context, so the request that
    /// asked (a logout) never waits for it, and its answer changes nothing but a counter.
    RevokeAtIdp(Call),
    /// Record a logout token's `jti` until `until`; whether it was new comes back at once as
    /// `Event::Recorded`.
    RecordLogoutToken {
        jti: String,
        until: u64,
    },
    /// The call about an opaque token ended: keep what it concluded for the worker's later
    /// requests (`None`: nothing; the next request asks again).
    SettleOpaque {
        token: Token,
        checked: Option<Checked>,
    },
    /// Bring the issuer's next key fetch forward (a `kid` we lack was seen).
    ExpediteKeyFetch {
        issuer: usize,
    },
    /// Count `<prefix>.<label>` (`<prefix>` alone when the label is empty).
    Count {
        prefix: &'static str,
        label: &'static str,
    },
    Log(Level, String),
}

impl Effect {
    pub fn park(request: Request, wait: Wait, until: Until) -> Effect {
        Effect::Park(Box::new(Parked {
            request,
            wait,
            until,
        }))
    }

    pub fn count(prefix: &'static str, label: &'static str) -> Effect {
        Effect::Count { prefix, label }
    }

    pub fn warn(message: String) -> Effect {
        Effect::Log(Level::Warn, message)
    }
}

/// A request going upstream: with these identity headers (none: a path that needs no
/// credential), without the filter's own cookies; `set_cookies` go on its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    pub identity: Option<Identity>,
    /// The `Cookie` header to send instead of the request's (`Some(None)`: none at all),
    /// when it carried cookies of the filter's own.
    pub cookie: Option<Option<Vec<u8>>>,
    pub set_cookies: Vec<String>,
    /// Audit mode: what enforce mode would have answered, for a response header.
    pub audit: Option<String>,
    /// Remove the token headers: a bearer request under `forward_token.bearer: "strip"`.
    pub strip_tokens: bool,
}

/// A local reply. Header names are ours; values may be built from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// An HTTP call to the login issuer, routed like every IdP call (`core::callout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

/// An IdP call's answer: `status` is `None` when there was none (timeout, reset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallResponse {
    pub status: Option<Vec<u8>>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}
