//! A refresh-board slot (shared data other plugins can write), then claims and ends of
//! refreshes applied to it at fuzzed times.
//! Input: `<slot JSON>\n` then steps, one a line: `<op><sid> <now_ms>`, op one of c (claim
//! with the old session), n (claim with the refreshed one), r (finish: refreshed), x (finish:
//! refused), t (finish: transient failure), l (lookup); sid one byte. Holder 7 claims and ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::refresh_board::{Claim, Outcome, Slot, ENTRIES_PER_SLOT, GRACE_MS};
use oidc_gate_fuzz::split_line;

const LEASE_MS: u64 = 61_000;
const ME: u64 = 7;

fuzz_target!(|data: &[u8]| {
    let (slot, steps) = split_line(data);
    let mut slot = Slot::decode(Some(slot));
    for step in steps.split(|&b| b == b'\n') {
        let [op, sid, now @ ..] = step else {
            continue;
        };
        let sid = (*sid as char).to_string();
        let now_ms = std::str::from_utf8(now)
            .ok()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        match op {
            b'c' | b'n' => {
                let expires = if *op == b'c' { 100 } else { 400 };
                match slot.claim(&sid, expires, ME, now_ms, LEASE_MS) {
                    Claim::Mine(next) => {
                        assert!(
                            matches!(
                                next.lookup(&sid, now_ms),
                                Some(Outcome::InFlight { holder: ME, .. })
                            ) || now_ms.saturating_add(LEASE_MS) == now_ms
                        );
                        slot = next;
                    }
                    Claim::Wait { until_ms } => assert!(until_ms > now_ms),
                    Claim::Decided(outcome) => {
                        assert!(!matches!(outcome, Outcome::InFlight { .. }))
                    }
                }
            }
            b'r' | b'x' | b't' => {
                let outcome = match op {
                    b'r' => Some(Outcome::Refreshed {
                        userid: "u".into(),
                        groups: vec![],
                        sub: "s".into(),
                        grants: Default::default(),
                        forward_token: None,
                        set_cookies: vec!["s=1".into()],
                        tokens_expire_at: 400,
                    }),
                    b'x' => Some(Outcome::Refused),
                    _ => None,
                };
                let next = slot.finish(&sid, ME, outcome, now_ms);
                if next != slot && now_ms < u64::MAX - GRACE_MS {
                    assert!(next.lookup(&sid, now_ms).is_some());
                }
                slot = next;
            }
            _ => {
                let _ = slot.lookup(&sid, now_ms);
            }
        }
        assert_eq!(Slot::decode(Some(&slot.encode())), slot);
        assert!(
            slot.encode().len() <= 2 + ENTRIES_PER_SLOT * 256,
            "{}",
            slot.encode().len()
        );
    }
});
