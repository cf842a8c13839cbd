//! The refresh board (`core::refresh_board`) in shared data: reads, and compare-and-swap
//! writes that retry a few times when another worker wrote the slot first.

use proxy_wasm::hostcalls;

use crate::core::refresh_board::{slot_of, Claim, Outcome, Slot};

/// Attempts at a compare-and-swap before giving up; each lost race means another worker
/// changed the same slot at that very moment.
const CAS_ATTEMPTS: usize = 4;

fn key(prefix: &str, sid: &str) -> String {
    format!("{prefix}|refresh|{}", slot_of(sid))
}

fn read(key: &str) -> (Slot, Option<u32>) {
    let (bytes, cas) = hostcalls::get_shared_data(key).unwrap_or((None, None));
    (Slot::decode(bytes.as_deref()), cas)
}

/// The outcome recorded for `sid`, if any.
pub fn lookup(prefix: &str, sid: &str, now_ms: u64) -> Option<Outcome> {
    read(&key(prefix, sid)).0.lookup(sid, now_ms).cloned()
}

/// Claims the refresh of `sid` for `me`; `None` when the slot kept changing under us (the
/// caller then serves the still-valid session without refreshing).
pub fn claim(
    prefix: &str,
    sid: &str,
    tokens_expire_at: u64,
    me: u64,
    now_ms: u64,
    lease_ms: u64,
) -> Option<Claim> {
    let key = key(prefix, sid);
    for _ in 0..CAS_ATTEMPTS {
        let (slot, cas) = read(&key);
        match slot.claim(sid, tokens_expire_at, me, now_ms, lease_ms) {
            Claim::Mine(next) => {
                if hostcalls::set_shared_data(&key, Some(&next.encode()), cas).is_ok() {
                    return Some(Claim::Mine(next));
                }
            }
            other => return Some(other),
        }
    }
    None
}

/// Records how `me`'s refresh of `sid` ended (see `Slot::finish`).
pub fn finish(prefix: &str, sid: &str, me: u64, outcome: Option<Outcome>, now_ms: u64) {
    let key = key(prefix, sid);
    for _ in 0..CAS_ATTEMPTS {
        let (slot, cas) = read(&key);
        let next = slot.finish(sid, me, outcome.clone(), now_ms);
        if next == slot || hostcalls::set_shared_data(&key, Some(&next.encode()), cas).is_ok() {
            return;
        }
    }
}
