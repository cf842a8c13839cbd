//! The refresh board (`core::refresh_board`) in shared data: reads, and compare-and-swap
//! writes that retry a few times when another worker wrote the slot first.

use crate::core::refresh_board::{slot_of, Claim, Outcome, Slot};
use crate::filter::host::Host;

/// Attempts at a compare-and-swap before giving up; each lost race means another worker
/// changed the same slot at that very moment.
const CAS_ATTEMPTS: usize = 4;

fn key(prefix: &str, sid: &str) -> String {
    format!("{prefix}|refresh|{}", slot_of(sid))
}

fn read(host: &impl Host, key: &str) -> (Slot, Option<u32>) {
    let (bytes, cas) = host.shared_get(key);
    (Slot::decode(bytes.as_deref()), cas)
}

/// The outcome recorded for `sid`, if any.
pub fn lookup(host: &impl Host, prefix: &str, sid: &str, now_ms: u64) -> Option<Outcome> {
    read(host, &key(prefix, sid)).0.lookup(sid, now_ms).cloned()
}

/// A claim on the refresh of one session.
pub struct ClaimRequest<'a> {
    pub sid: &'a str,
    pub tokens_expire_at: u64,
    pub holder: u64,
    pub lease_ms: u64,
}

/// Claims the refresh of a session; `None` when the slot kept changing under us (the caller
/// then serves the still-valid session without refreshing).
pub fn claim(host: &mut impl Host, prefix: &str, request: &ClaimRequest) -> Option<Claim> {
    let key = key(prefix, request.sid);
    let now_ms = host.now_ms();
    for _ in 0..CAS_ATTEMPTS {
        let (slot, cas) = read(host, &key);
        let ClaimRequest {
            sid,
            tokens_expire_at,
            holder,
            lease_ms,
        } = *request;
        match slot.claim(sid, tokens_expire_at, holder, now_ms, lease_ms) {
            Claim::Mine(next) => {
                if host.shared_set(&key, &next.encode(), cas) {
                    return Some(Claim::Mine(next));
                }
            }
            other => return Some(other),
        }
    }
    None
}

/// Records how `holder`'s refresh of `sid` ended (see `Slot::finish`).
pub fn finish(
    host: &mut impl Host,
    prefix: &str,
    sid: &str,
    holder: u64,
    outcome: Option<Outcome>,
) {
    let key = key(prefix, sid);
    let now_ms = host.now_ms();
    for _ in 0..CAS_ATTEMPTS {
        let (slot, cas) = read(host, &key);
        let next = slot.finish(sid, holder, outcome.clone(), now_ms);
        if next == slot || host.shared_set(&key, &next.encode(), cas) {
            return;
        }
    }
}
