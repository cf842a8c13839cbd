//! One refresh per session per Envoy process, and its outcome for the requests that still
//! carry the session's old cookie.
//!
//! With refresh-token rotation (Dex, Okta, Auth0, django-oauth-toolkit) a refresh token works
//! once: a second refresh with it is refused, and many IdPs then revoke the whole grant. So the
//! workers of a process agree through shared data on who refreshes a session, and keep the
//! outcome for a grace period: a request with the old cookie (sent before the browser had the
//! new one, or whose response carrying it was lost) passes with the refreshed session and gets
//! its cookies, instead of refreshing again with a spent token.
//!
//! A refresh that fails for a reason that says nothing about the grant (the IdP is down, slow
//! or answered garbage) leaves a `Deferred` entry: until its backoff (1 s, doubling to a
//! minute) runs out, every worker passes the session as it is, and then one tries again. An
//! outage so costs the IdP one call per session per backoff step, and logs nobody out.
//!
//! Sessions hash into a fixed number of shared-data slots, each a short list of entries, so
//! shared memory stays bounded however many sessions there are. A slot that reads as garbage
//! (another plugin version) reads as empty: the worst outcome is one refresh too many.

use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;
use serde::{Deserialize, Serialize};

use crate::core::stored;

use crate::core::claims::Grants;
use crate::core::identity::Token;
use crate::core::identity::{Identity, LOGIN_ISSUER};
use crate::core::key_fetch::backoff_ms;
use crate::core::session::Session;

/// Shared-data slots; a session's slot is a hash of its id.
pub const SLOTS: u64 = 256;
/// Entries one slot keeps; beyond this the entry that ends first goes.
pub const ENTRIES_PER_SLOT: usize = 8;
/// How long a refresh's outcome answers requests that carry the old cookie.
pub const GRACE_MS: u64 = 120_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// `holder` is refreshing the session; `failures` transient ones came before.
    InFlight { holder: u64, failures: u32 },
    /// The last `failures` refreshes failed transiently: the session passes as it is until the
    /// entry ends, then is refreshed again.
    Deferred { failures: u32 },
    /// Refreshed: the identity to pass with, and the new session's `Set-Cookie` values. A
    /// session whose tokens expire before `tokens_expire_at` is the old one.
    Refreshed {
        userid: String,
        groups: Vec<String>,
        /// Absent from entries an earlier version wrote (read as empty): a waiting request
        /// still passes, rather than the whole slot reading as garbage.
        #[serde(default)]
        sub: String,
        #[serde(default)]
        grants: Grants,
        /// The refreshed session's token for the upstream, for the requests that take it.
        #[serde(default)]
        forward_token: Option<Token>,
        set_cookies: Vec<String>,
        tokens_expire_at: u64,
    },
    /// The IdP refused the refresh token: the session is over.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    sid: String,
    /// The entry is ignored from then on: the end of a lease, or of the grace period.
    until_ms: u64,
    outcome: Outcome,
}

/// One slot's entries, as kept in shared data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    entries: Vec<Entry>,
}

/// What a request whose session is due for a refresh should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Refresh it, after installing this slot (compare-and-swap) to tell the other workers.
    Mine(Slot),
    /// Another request is refreshing it: wait for the outcome until `until_ms`.
    Wait { until_ms: u64 },
    /// Decided within the grace period.
    Decided(Outcome),
}

/// The shared-data slot index of a session.
pub fn slot_of(sid: &str) -> u64 {
    let mut hasher = FxHasher::default();
    sid.hash(&mut hasher);
    hasher.finish() % SLOTS
}

impl Slot {
    pub fn decode(bytes: Option<&[u8]>) -> Slot {
        stored::decode(bytes)
    }

    pub fn encode(&self) -> Vec<u8> {
        stored::encode(self)
    }

    /// The live outcome recorded for `sid`, if any.
    pub fn lookup(&self, sid: &str, now_ms: u64) -> Option<&Outcome> {
        self.live(sid, now_ms).map(|e| &e.outcome)
    }

    fn live(&self, sid: &str, now_ms: u64) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.sid == sid && now_ms < e.until_ms)
    }

    /// `me` wants to refresh `sid`, whose tokens (as the request's cookie has them) expire at
    /// `tokens_expire_at`; a lease lasts `lease_ms` (the call's timeout and a margin).
    pub fn claim(
        &self,
        sid: &str,
        tokens_expire_at: u64,
        me: u64,
        now_ms: u64,
        lease_ms: u64,
    ) -> Claim {
        let Some(entry) = self.live(sid, now_ms) else {
            return self.mine(sid, me, self.past_failures(sid), now_ms, lease_ms);
        };
        match &entry.outcome {
            Outcome::InFlight { .. } => Claim::Wait {
                until_ms: entry.until_ms,
            },
            // The request carries the refreshed session itself (or a newer one), which is due
            // again: refresh that.
            Outcome::Refreshed {
                tokens_expire_at: renewed,
                ..
            } if tokens_expire_at >= *renewed => self.mine(sid, me, 0, now_ms, lease_ms),
            decided => Claim::Decided(decided.clone()),
        }
    }

    fn mine(&self, sid: &str, me: u64, failures: u32, now_ms: u64, lease_ms: u64) -> Claim {
        let lease = Outcome::InFlight {
            holder: me,
            failures,
        };
        Claim::Mine(self.with(sid, now_ms, now_ms.saturating_add(lease_ms), lease))
    }

    /// The slot after `me`'s refresh of `sid` ended: with its outcome kept for the grace
    /// period, or (`None`: a failure that says nothing about the session) deferred for a
    /// backoff. A lease that is no longer `me`'s is left alone.
    pub fn finish(&self, sid: &str, me: u64, outcome: Option<Outcome>, now_ms: u64) -> Slot {
        let failures = match self.lookup(sid, now_ms) {
            Some(Outcome::InFlight { holder, failures }) if *holder == me => *failures,
            _ => return self.clone(),
        };
        match outcome {
            Some(outcome) => self.with(sid, now_ms, now_ms.saturating_add(GRACE_MS), outcome),
            None => {
                let failures = failures.saturating_add(1);
                let until = now_ms.saturating_add(backoff_ms(failures));
                self.with(sid, now_ms, until, Outcome::Deferred { failures })
            }
        }
    }

    /// Transient failures recorded for `sid` by a deferral that has run out.
    fn past_failures(&self, sid: &str) -> u32 {
        match self.entries.iter().find(|e| e.sid == sid) {
            Some(Entry {
                outcome: Outcome::Deferred { failures },
                ..
            }) => *failures,
            _ => 0,
        }
    }

    /// This slot with `sid`'s entry replaced, dead entries dropped, and at most
    /// [`ENTRIES_PER_SLOT`] kept: the new entry, and of the others those that end last.
    fn with(&self, sid: &str, now_ms: u64, until_ms: u64, outcome: Outcome) -> Slot {
        let mut next = self.without(sid, now_ms);
        while next.entries.len() >= ENTRIES_PER_SLOT {
            next.drop_first_to_end();
        }
        next.entries.push(Entry {
            sid: sid.to_string(),
            until_ms,
            outcome,
        });
        next
    }

    /// Drops the entry that ends first (of those ending together, the last one). Found by a
    /// scan, not a sort: a slot holds a handful of entries, and a sort instantiation for them
    /// is ~5 KB of the module.
    fn drop_first_to_end(&mut self) {
        let first = (0..self.entries.len())
            .rev()
            .min_by_key(|&i| self.entries[i].until_ms);
        if let Some(i) = first {
            self.entries.remove(i);
        }
    }

    /// This slot without `sid`'s entry and without dead entries (a deferral that ran out is
    /// kept until replaced, for its failure count).
    fn without(&self, sid: &str, now_ms: u64) -> Slot {
        Slot {
            entries: self
                .entries
                .iter()
                .filter(|e| e.sid != sid && (now_ms < e.until_ms || e.is_deferral()))
                .cloned()
                .collect(),
        }
    }
}

impl Entry {
    fn is_deferral(&self) -> bool {
        matches!(self.outcome, Outcome::Deferred { .. })
    }
}

impl Outcome {
    pub fn refreshed(session: &Session, set_cookies: Vec<String>) -> Outcome {
        Outcome::Refreshed {
            userid: session.userid.clone(),
            groups: session.groups.clone(),
            sub: session.sub.clone(),
            grants: session.grants.clone(),
            forward_token: session.forward_token.clone().map(Token),
            set_cookies,
            tokens_expire_at: session.tokens_expire_at,
        }
    }

    /// A refreshed session's identity and `Set-Cookie` values.
    pub fn into_refreshed(self) -> Option<(Identity, Vec<String>)> {
        match self {
            Outcome::Refreshed {
                userid,
                groups,
                sub,
                grants,
                forward_token,
                set_cookies,
                ..
            } => {
                let issuer = LOGIN_ISSUER;
                let identity = Identity {
                    userid,
                    groups,
                    sub,
                    issuer,
                    grants,
                    forward_token,
                };
                Some((identity, set_cookies))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
