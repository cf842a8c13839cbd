//! When to fetch an issuer's discovery document and JWKS, and who does it.
//!
//! Every worker VM of an Envoy process sees the same [`FetchState`] (kept in shared data).
//! A worker fetches only after winning a compare-and-swap that installs itself as the lease
//! holder, so one Envoy process makes one fetch per period however many workers it has.
//! The state also carries the backoff after failures and the cooldown that bounds
//! unknown-`kid` refetches, so a storm of random kids costs the IdP at most one call per
//! cooldown window.

use serde::{Deserialize, Serialize};

/// Minimum time between two fetches triggered by unknown `kid`s.
pub const KID_REFETCH_COOLDOWN_MS: u64 = 5_000;
/// First retry delay after a failure; doubles per failure up to [`MAX_BACKOFF_MS`].
const BASE_BACKOFF_MS: u64 = 1_000;
pub const MAX_BACKOFF_MS: u64 = 60_000;
/// The wait after `failures` failures in a row: 1 s, 2 s, 4 s … at most a minute.
pub fn backoff_ms(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(16);
    BASE_BACKOFF_MS
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF_MS)
}

/// No time a genuine state holds lies further ahead of now than a fetch period (at most a
/// day by configuration) plus a lease and the cooldown; this is that with margin. A state
/// beyond it is corrupt or poisoned (shared data is writable by every plugin in the process),
/// and is read as "never fetched", so it cannot hold fetching off for ever.
pub const MAX_AHEAD_MS: u64 = 2 * 86_400_000;

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time between two scheduled fetches (the `jwks_refresh_seconds` setting).
    pub period_ms: u64,
    /// Bound of one dispatched call; a lease covers discovery plus JWKS.
    pub call_timeout_ms: u64,
}

impl Schedule {
    fn lease_ms(self) -> u64 {
        self.call_timeout_ms.saturating_mul(2).saturating_add(1_000)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchState {
    /// The VM currently fetching (0: nobody).
    pub holder: u64,
    pub lease_until_ms: u64,
    pub next_attempt_ms: u64,
    pub failures: u32,
    pub last_success_ms: u64,
    pub last_attempt_ms: u64,
    /// When the last attempt finished, well or badly; requests parked on a refetch wait for it.
    pub last_completed_ms: u64,
}

impl FetchState {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Unreadable state (another plugin version, corruption) reads as "never fetched".
    pub fn decode(bytes: Option<&[u8]>) -> FetchState {
        bytes
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default()
    }

    /// This state, or the default when any of its times is implausibly far ahead of `now_ms`.
    fn current(&self, now_ms: u64) -> FetchState {
        let limit = now_ms.saturating_add(MAX_AHEAD_MS);
        let times = [
            self.lease_until_ms,
            self.next_attempt_ms,
            self.last_success_ms,
            self.last_attempt_ms,
            self.last_completed_ms,
        ];
        if times.iter().all(|&t| t <= limit) {
            self.clone()
        } else {
            FetchState::default()
        }
    }

    fn lease_is_live(&self, now_ms: u64) -> bool {
        self.holder != 0 && now_ms < self.lease_until_ms
    }

    /// The state to install (by CAS) if `me` should start a fetch now.
    pub fn acquire(&self, me: u64, now_ms: u64, schedule: Schedule) -> Option<FetchState> {
        let current = self.current(now_ms);
        if current.lease_is_live(now_ms) || now_ms < current.next_attempt_ms {
            return None;
        }
        Some(FetchState {
            holder: me,
            lease_until_ms: now_ms.saturating_add(schedule.lease_ms()),
            last_attempt_ms: now_ms,
            ..current
        })
    }

    pub fn succeeded(&self, now_ms: u64, schedule: Schedule) -> FetchState {
        FetchState {
            holder: 0,
            lease_until_ms: 0,
            next_attempt_ms: now_ms.saturating_add(schedule.period_ms),
            failures: 0,
            last_success_ms: now_ms,
            last_attempt_ms: self.current(now_ms).last_attempt_ms,
            last_completed_ms: now_ms,
        }
    }

    pub fn failed(&self, now_ms: u64, schedule: Schedule) -> FetchState {
        let current = self.current(now_ms);
        let failures = current.failures.saturating_add(1);
        let backoff = backoff_ms(failures).min(schedule.period_ms);
        FetchState {
            holder: 0,
            lease_until_ms: 0,
            next_attempt_ms: now_ms.saturating_add(backoff),
            failures,
            last_completed_ms: now_ms,
            ..current
        }
    }

    /// Brings the next attempt forward because a token named an unknown `kid`; `None` when
    /// an attempt is already due soon enough or under way.
    pub fn expedite(&self, now_ms: u64) -> Option<FetchState> {
        let current = self.current(now_ms);
        let earliest = current.earliest_refetch_ms(now_ms);
        if current.lease_is_live(now_ms) || current.next_attempt_ms <= earliest {
            return None;
        }
        Some(FetchState {
            next_attempt_ms: earliest,
            ..current
        })
    }

    fn earliest_refetch_ms(&self, now_ms: u64) -> u64 {
        now_ms.max(self.last_attempt_ms.saturating_add(KID_REFETCH_COOLDOWN_MS))
    }

    /// How long a request parked on an unknown `kid` at `now_ms` may have to wait.
    pub fn refetch_wait_bound_ms(&self, now_ms: u64, schedule: Schedule) -> u64 {
        let earliest = self.current(now_ms).earliest_refetch_ms(now_ms);
        (earliest - now_ms).saturating_add(schedule.lease_ms())
    }
}

#[cfg(test)]
mod tests;
