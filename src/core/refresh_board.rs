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

use crate::core::identity::Identity;
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
        bytes
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
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
        if next.entries.len() >= ENTRIES_PER_SLOT {
            next.entries.sort_by_key(|e| std::cmp::Reverse(e.until_ms));
            next.entries.truncate(ENTRIES_PER_SLOT - 1);
        }
        next.entries.push(Entry {
            sid: sid.to_string(),
            until_ms,
            outcome,
        });
        next
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
                set_cookies,
                ..
            } => Some((Identity { userid, groups }, set_cookies)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: u64 = 7_000;

    /// The old session's tokens expire at 100, the refreshed one's at 400.
    const OLD: u64 = 100;

    fn refreshed(user: &str) -> Outcome {
        Outcome::Refreshed {
            userid: user.into(),
            groups: vec!["dev".into()],
            set_cookies: vec![format!("s={user}; Path=/")],
            tokens_expire_at: 400,
        }
    }

    fn installed(claim: Claim) -> Slot {
        match claim {
            Claim::Mine(slot) => slot,
            other => panic!("expected to win the refresh, got {other:?}"),
        }
    }

    #[test]
    fn one_refresh_per_session_others_wait_then_see_its_outcome() {
        let empty = Slot::default();
        let slot = installed(empty.claim("s1", OLD, 1, 1_000, LEASE));
        assert_eq!(
            slot.claim("s1", OLD, 2, 1_500, LEASE),
            Claim::Wait { until_ms: 8_000 },
            "another worker waits for the lease"
        );
        assert_eq!(
            slot.claim("s1", OLD, 1, 1_500, LEASE),
            Claim::Wait { until_ms: 8_000 },
            "so does another request of the same worker"
        );
        assert!(
            matches!(slot.claim("s2", OLD, 2, 1_500, LEASE), Claim::Mine(_)),
            "other sessions are independent"
        );
        let done = slot.finish("s1", 1, Some(refreshed("alice")), 2_000);
        assert_eq!(
            done.claim("s1", OLD, 2, 2_100, LEASE),
            Claim::Decided(refreshed("alice"))
        );
        assert_eq!(
            done.claim("s1", OLD, 2, 2_000 + GRACE_MS - 1, LEASE),
            Claim::Decided(refreshed("alice")),
            "a request with the old cookie late in the grace period"
        );
        assert!(
            matches!(
                done.claim("s1", OLD, 2, 2_000 + GRACE_MS, LEASE),
                Claim::Mine(_)
            ),
            "after the grace period a refresh is due again"
        );
        assert!(
            matches!(done.claim("s1", 400, 2, 2_100, LEASE), Claim::Mine(_)),
            "the refreshed session, due again, is refreshed again"
        );
    }

    #[test]
    fn a_refusal_is_kept_for_the_grace_period() {
        let slot = installed(Slot::default().claim("s", OLD, 1, 0, LEASE));
        let refused = slot.finish("s", 1, Some(Outcome::Refused), 100);
        assert_eq!(
            refused.claim("s", OLD, 2, 200, LEASE),
            Claim::Decided(Outcome::Refused)
        );
    }

    #[test]
    fn transient_failures_defer_the_next_refresh_with_a_growing_backoff() {
        let mut slot = Slot::default();
        let mut now = 10_000;
        let mut waits = Vec::new();
        for failures in 1..=9 {
            slot = installed(slot.claim("s", OLD, 7, now, LEASE)).finish("s", 7, None, now);
            assert_eq!(
                slot.claim("s", OLD, 8, now, LEASE),
                Claim::Decided(Outcome::Deferred { failures }),
                "every worker passes the session as it is"
            );
            let mut wait = 0;
            while !matches!(slot.claim("s", OLD, 8, now + wait, LEASE), Claim::Mine(_)) {
                wait += 500;
            }
            waits.push(wait);
            now += wait;
        }
        assert_eq!(
            waits,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        let refreshed = installed(slot.claim("s", OLD, 7, now, LEASE)).finish(
            "s",
            7,
            Some(refreshed("alice")),
            now,
        );
        let again = installed(refreshed.claim("s", 400, 7, now + GRACE_MS, LEASE)).finish(
            "s",
            7,
            None,
            now + GRACE_MS,
        );
        assert_eq!(
            again.lookup("s", now + GRACE_MS),
            Some(&Outcome::Deferred { failures: 1 }),
            "a success starts the count again"
        );
    }

    #[test]
    fn a_failure_never_frees_someone_elses_lease() {
        let slot = installed(Slot::default().claim("s", OLD, 1, 0, LEASE));
        let untouched = slot.finish("s", 2, None, 100);
        assert_eq!(untouched, slot);
    }

    #[test]
    fn a_dead_holder_is_replaced_when_its_lease_ends() {
        let slot = installed(Slot::default().claim("s", OLD, 1, 0, LEASE));
        let taken = installed(slot.claim("s", OLD, 2, LEASE, LEASE));
        assert_eq!(
            taken.lookup("s", LEASE),
            Some(&Outcome::InFlight {
                holder: 2,
                failures: 0
            })
        );
    }

    #[test]
    fn slots_are_bounded_and_keep_the_entries_that_end_last() {
        let mut slot = Slot::default();
        for i in 0..(ENTRIES_PER_SLOT as u64 + 5) {
            slot = installed(slot.claim(&format!("s{i}"), OLD, 1, i, LEASE));
        }
        assert_eq!(slot.entries.len(), ENTRIES_PER_SLOT);
        assert_eq!(slot.lookup("s0", 10), None, "the first to end went first");
        assert!(slot
            .lookup(&format!("s{}", ENTRIES_PER_SLOT + 4), 10)
            .is_some());
        let later = installed(slot.claim("new", OLD, 1, 1_000_000, LEASE));
        assert_eq!(later.entries.len(), 1, "dead entries are dropped");
    }

    #[test]
    fn a_new_entry_is_kept_even_when_the_others_end_later() {
        // Found by fuzzing: a full slot of long-lived outcomes evicted the lease just taken,
        // so a second worker could refresh the same session.
        let mut slot = Slot::default();
        for i in 0..ENTRIES_PER_SLOT {
            let sid = format!("s{i}");
            slot = installed(slot.claim(&sid, OLD, 1, 0, LEASE)).finish(
                &sid,
                1,
                Some(Outcome::Refused),
                0,
            );
        }
        let mine = installed(slot.claim("new", OLD, 1, 10, LEASE));
        assert_eq!(mine.entries.len(), ENTRIES_PER_SLOT);
        assert_eq!(
            mine.claim("new", OLD, 2, 20, LEASE),
            Claim::Wait {
                until_ms: 10 + LEASE
            }
        );
    }

    #[test]
    fn encoding_round_trips_and_garbage_reads_as_empty() {
        let slot = installed(Slot::default().claim("s", OLD, 1, 0, LEASE)).finish(
            "s",
            1,
            Some(refreshed("bob")),
            10,
        );
        assert_eq!(Slot::decode(Some(&slot.encode())), slot);
        assert_eq!(Slot::decode(Some(b"\xff{")), Slot::default());
        assert_eq!(Slot::decode(None), Slot::default());
    }

    #[test]
    fn slot_indices_are_stable_and_spread() {
        assert_eq!(slot_of("abc"), slot_of("abc"));
        let used: std::collections::HashSet<u64> =
            (0..1000).map(|i| slot_of(&format!("sid{i}"))).collect();
        assert!(used.len() > SLOTS as usize / 2, "{}", used.len());
        assert!(used.iter().all(|&s| s < SLOTS));
    }

    #[test]
    fn huge_times_saturate() {
        let slot = installed(Slot::default().claim("s", OLD, 1, u64::MAX - 1, LEASE));
        assert!(matches!(
            slot.claim("s", OLD, 2, u64::MAX - 1, LEASE),
            Claim::Wait { .. }
        ));
        let done = slot.finish("s", 1, Some(Outcome::Refused), u64::MAX - 1);
        assert_eq!(done.lookup("s", u64::MAX - 1), Some(&Outcome::Refused));
    }
}
