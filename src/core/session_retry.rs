//! Sessions whose refresh failed for a reason that says nothing about the grant: the IdP is
//! down, slow, or answered garbage. Such a session keeps working with the identity it has
//! (never past its own expiry), and its refresh is tried again with backoff. An IdP outage so
//! costs the IdP one call per session per backoff step per worker, and logs nobody out.

use rustc_hash::FxHashMap;

use crate::core::refresh::{BASE_BACKOFF_MS, MAX_BACKOFF_MS};

/// Sessions tracked per worker. When full, expired sessions go first, then the one retried
/// soonest; a session dropped early is only retried sooner than its backoff says.
pub const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retry {
    failures: u32,
    next_attempt_ms: u64,
    session_expires_at_s: u64,
}

#[derive(Debug, Default)]
pub struct SessionRetries {
    by_sid: FxHashMap<String, Retry>,
}

impl SessionRetries {
    /// May this session's refresh be tried now?
    pub fn due(&self, sid: &str, now_ms: u64) -> bool {
        !matches!(self.by_sid.get(sid), Some(retry) if now_ms < retry.next_attempt_ms)
    }

    /// A refresh of `sid` failed transiently at `now_ms`: back off before the next one.
    pub fn failed(&mut self, sid: &str, session_expires_at_s: u64, now_ms: u64) {
        let failures = self.by_sid.get(sid).map_or(0, |r| r.failures) + 1;
        if !self.by_sid.contains_key(sid) && self.by_sid.len() >= MAX_TRACKED {
            self.make_room(now_ms);
        }
        let retry = Retry {
            failures,
            next_attempt_ms: now_ms.saturating_add(backoff_ms(failures)),
            session_expires_at_s,
        };
        self.by_sid.insert(sid.to_string(), retry);
    }

    /// The refresh succeeded, or the grant was refused: nothing left to retry.
    pub fn forget(&mut self, sid: &str) {
        self.by_sid.remove(sid);
    }

    pub fn len(&self) -> usize {
        self.by_sid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_sid.is_empty()
    }

    fn make_room(&mut self, now_ms: u64) {
        let now_s = now_ms / 1000;
        self.by_sid.retain(|_, r| r.session_expires_at_s > now_s);
        if self.by_sid.len() >= MAX_TRACKED {
            let soonest = self
                .by_sid
                .iter()
                .min_by_key(|(_, r)| r.next_attempt_ms)
                .map(|(sid, _)| sid.clone());
            if let Some(sid) = soonest {
                self.by_sid.remove(&sid);
            }
        }
    }
}

/// 1 s, 2 s, 4 s … doubling per failure, at most a minute.
fn backoff_ms(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(16);
    BASE_BACKOFF_MS
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_refresh_waits_out_a_growing_backoff() {
        let mut retries = SessionRetries::default();
        assert!(retries.due("s", 0), "never failed: due at once");
        let mut now = 10_000;
        let mut waits = Vec::new();
        for _ in 0..9 {
            retries.failed("s", 1_000_000, now);
            let mut wait = 0;
            while !retries.due("s", now + wait) {
                wait += 500;
            }
            waits.push(wait);
            now += wait;
        }
        assert_eq!(
            waits,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        assert!(
            retries.due("other", now),
            "other sessions are not held back"
        );
        retries.forget("s");
        assert!(retries.due("s", now - 1));
        assert!(retries.is_empty());
    }

    #[test]
    fn the_table_is_bounded_and_drops_expired_sessions_first() {
        let mut retries = SessionRetries::default();
        for i in 0..MAX_TRACKED {
            // Every other session expired at t=5 s.
            let expires = if i % 2 == 0 { 5 } else { 1_000 };
            retries.failed(&format!("s{i}"), expires, 1_000);
        }
        assert_eq!(retries.len(), MAX_TRACKED);
        retries.failed("new", 1_000, 10_000);
        assert_eq!(retries.len(), MAX_TRACKED / 2 + 1);
        assert!(!retries.due("new", 10_000));
        assert!(
            !retries.due("s1", 1_500),
            "live sessions keep their backoff"
        );
    }

    #[test]
    fn a_full_table_of_live_sessions_drops_the_one_retried_soonest() {
        let mut retries = SessionRetries::default();
        for i in 0..MAX_TRACKED {
            retries.failed(&format!("s{i}"), u64::MAX, i as u64);
        }
        retries.failed("new", u64::MAX, 50_000);
        assert_eq!(retries.len(), MAX_TRACKED);
        assert!(retries.due("s0", 0), "s0 was due soonest and was dropped");
        assert!(!retries.due("s1", 1_000));
    }

    #[test]
    fn huge_times_saturate() {
        let mut retries = SessionRetries::default();
        retries.failed("s", u64::MAX, u64::MAX - 1);
        assert!(!retries.due("s", u64::MAX - 1));
        assert!(retries.due("s", u64::MAX));
    }
}
