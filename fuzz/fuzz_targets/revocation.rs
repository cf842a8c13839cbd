//! The revocation list: a slot as stored in shared data (other plugins can write it), then
//! revocations added at fuzzed times. Whatever the slot held and however full it gets, a
//! session revoked stays refused until it expires.
//! Input: `<slot JSON>\n` then steps, one a line: `<sid byte><issued_at> <now>`; the clock
//! never goes back (every worker reads the same one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::revocation::{Entry, Slot};
use oidc_gate::core::session::Session;
use oidc_gate_fuzz::split_line;

fn session(sid: u8, issued_at: u64) -> Session {
    Session {
        userid: "u".into(),
        groups: vec![],
        sub: "one subject".into(),
        sid: format!("s{sid}"),
        issued_at,
        expires_at: issued_at.saturating_add(1000),
        refresh_token: None,
        id_token: None,
        tokens_expire_at: issued_at,
        idp_sid: None,
        validated_at: 0,
        grants: Default::default(),
        forward_token: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let (slot, steps) = split_line(data);
    let mut slot = Slot::decode(Some(slot));
    let mut revoked: Vec<Session> = Vec::new();
    let mut clock = 0;
    for step in steps.split(|&b| b == b'\n') {
        let [sid, rest @ ..] = step else {
            continue;
        };
        let numbers: Vec<u64> = std::str::from_utf8(rest)
            .unwrap_or_default()
            .split(' ')
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        let [issued_at, now] = numbers[..] else {
            continue;
        };
        clock = clock.max(now);
        let now = clock;
        let s = session(*sid, issued_at);
        slot = slot.with(Entry::session(&s), now).0;
        revoked.push(s);
        for s in revoked.iter().filter(|s| !s.is_expired(now)) {
            assert!(slot.refuses(s), "{} came back", s.sid);
        }
        assert_eq!(Slot::decode(Some(&slot.encode())), slot);
    }
});
