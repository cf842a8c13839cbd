use super::*;

const LEASE: u64 = 7_000;

/// The old session's tokens expire at 100, the refreshed one's at 400.
const OLD: u64 = 100;

fn refreshed(user: &str) -> Outcome {
    Outcome::Refreshed {
        userid: user.into(),
        groups: vec!["dev".into()],
        sub: format!("sub-{user}"),
        grants: Default::default(),
        forward_token: None,
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
fn an_outcome_written_before_it_carried_sub_still_reads() {
    let old = br#"{"entries":[{"sid":"s","until_ms":50,"outcome":{"Refreshed":{"userid":"bob","groups":[],"set_cookies":["c=1"],"tokens_expire_at":400}}}]}"#;
    let (identity, cookies) = Slot::decode(Some(old))
        .lookup("s", 10)
        .cloned()
        .and_then(Outcome::into_refreshed)
        .unwrap();
    assert_eq!(
        (identity.userid.as_str(), identity.sub.as_str()),
        ("bob", "")
    );
    assert_eq!(cookies, ["c=1"]);
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
