//! The fetch state every worker shares (shared data other plugins can write), then the
//! scheduling steps applied to it at fuzzed times.
//! Input: `<state JSON>\n` then steps, one a line: `a|s|f|e|w <now_ms>` (acquire, succeeded,
//! failed, expedite, wait bound); each step's result is the next state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::key_fetch::{FetchState, Schedule, KID_REFETCH_COOLDOWN_MS, MAX_AHEAD_MS};
use oidc_gate_fuzz::split_line;

/// The longest schedule the configuration allows.
const S: Schedule = Schedule {
    period_ms: 86_400_000,
    call_timeout_ms: 60_000,
};
const LEASE_MS: u64 = 2 * 60_000 + 1_000;

fuzz_target!(|data: &[u8]| {
    let (state, steps) = split_line(data);
    let mut state = FetchState::decode(Some(state));
    for step in steps.split(|&b| b == b'\n') {
        let Some((&op, now)) = step.split_first() else {
            continue;
        };
        let now_ms = std::str::from_utf8(now)
            .ok()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        let ahead = now_ms.saturating_add(MAX_AHEAD_MS);
        match op {
            b'a' => {
                if let Some(next) = state.acquire(9, now_ms, S) {
                    assert_eq!(next.holder, 9);
                    assert!(next.lease_until_ms >= now_ms && next.lease_until_ms <= ahead);
                    state = next;
                }
            }
            b's' => {
                state = state.succeeded(now_ms, S);
                assert_eq!(state.next_attempt_ms, now_ms.saturating_add(S.period_ms));
            }
            b'f' => {
                state = state.failed(now_ms, S);
                assert!(state.next_attempt_ms >= now_ms && state.next_attempt_ms <= ahead);
            }
            b'e' => {
                if let Some(next) = state.expedite(now_ms) {
                    assert!(next.next_attempt_ms < state.next_attempt_ms);
                    assert!(next.next_attempt_ms <= ahead.saturating_add(KID_REFETCH_COOLDOWN_MS));
                    state = next;
                }
            }
            _ => {
                let bound = state.refetch_wait_bound_ms(now_ms, S);
                assert!(
                    bound <= MAX_AHEAD_MS + KID_REFETCH_COOLDOWN_MS + LEASE_MS,
                    "{bound}"
                );
            }
        }
        assert_eq!(FetchState::decode(Some(&state.encode())), state);
    }
});
