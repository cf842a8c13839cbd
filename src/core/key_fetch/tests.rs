use super::*;

const S: Schedule = Schedule {
    period_ms: 600_000,
    call_timeout_ms: 5_000,
};

#[test]
fn only_one_worker_wins_the_lease() {
    let fresh = FetchState::default();
    let mine = fresh.acquire(1, 1_000, S).unwrap();
    assert_eq!(mine.holder, 1);
    assert_eq!(
        mine.acquire(2, 1_500, S),
        None,
        "a live lease blocks others"
    );
    let expired = mine.lease_until_ms + 1;
    assert_eq!(
        mine.acquire(2, expired, S).unwrap().holder,
        2,
        "a dead holder is replaced"
    );
}

#[test]
fn success_schedules_the_next_refresh() {
    let done = FetchState::default()
        .acquire(1, 0, S)
        .unwrap()
        .succeeded(2_000, S);
    assert_eq!(done.holder, 0);
    assert_eq!(done.next_attempt_ms, 602_000);
    assert_eq!(done.acquire(1, 601_999, S), None);
    assert!(done.acquire(1, 602_000, S).is_some());
}

#[test]
fn failures_back_off_exponentially_with_a_cap() {
    let mut state = FetchState::default();
    let mut delays = Vec::new();
    let mut now = 0;
    for _ in 0..10 {
        state = state.acquire(1, now, S).unwrap().failed(now, S);
        delays.push(state.next_attempt_ms - now);
        now = state.next_attempt_ms;
    }
    assert_eq!(
        &delays[..7],
        &[1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000]
    );
    assert!(delays.iter().all(|&d| d <= MAX_BACKOFF_MS));
    assert_eq!(state.failures, 10);
    assert_eq!(
        state.acquire(1, now, S).unwrap().succeeded(now, S).failures,
        0
    );
}

#[test]
fn unknown_kid_refetches_are_rate_limited() {
    let done = FetchState::default()
        .acquire(1, 0, S)
        .unwrap()
        .succeeded(100, S);
    let soon = done.expedite(3_000).unwrap();
    assert_eq!(
        soon.next_attempt_ms, KID_REFETCH_COOLDOWN_MS,
        "3 s after a fetch waits out the cooldown"
    );
    assert_eq!(soon.expedite(3_100), None, "already expedited");
    let later = done.expedite(45_000).unwrap();
    assert_eq!(
        later.next_attempt_ms, 45_000,
        "after the cooldown, immediately"
    );
    assert!(done.refetch_wait_bound_ms(3_000, S) <= 2_000 + S.lease_ms());
}

fn poisoned(time: u64) -> Vec<FetchState> {
    let base = FetchState {
        holder: 7,
        failures: u32::MAX,
        ..Default::default()
    };
    vec![
        FetchState {
            lease_until_ms: time,
            ..base.clone()
        },
        FetchState {
            next_attempt_ms: time,
            ..base.clone()
        },
        FetchState {
            last_attempt_ms: time,
            ..base.clone()
        },
        FetchState {
            last_success_ms: time,
            last_completed_ms: time,
            ..base
        },
    ]
}

#[test]
fn huge_times_in_the_shared_state_neither_overflow_nor_block_fetching() {
    let now = 1_000_000;
    for time in [u64::MAX, u64::MAX - 1, now + MAX_AHEAD_MS + 1] {
        for state in poisoned(time) {
            let mine = state
                .acquire(1, now, S)
                .expect("a poisoned state is replaced");
            assert_eq!(mine.holder, 1);
            assert!(mine.lease_until_ms <= now + S.lease_ms(), "{state:?}");
            assert!(mine.failed(now, S).next_attempt_ms <= now + MAX_BACKOFF_MS);
            assert_eq!(state.succeeded(now, S).next_attempt_ms, now + S.period_ms);
            assert!(state.failed(now, S).next_attempt_ms <= now + MAX_BACKOFF_MS);
            assert!(state.refetch_wait_bound_ms(now, S) <= KID_REFETCH_COOLDOWN_MS + S.lease_ms());
            assert_eq!(state.expedite(now), None, "a fresh state is due already");
        }
    }
}

#[test]
fn times_at_the_edge_of_the_clock_saturate() {
    let huge = Schedule {
        period_ms: u64::MAX,
        call_timeout_ms: u64::MAX,
    };
    let end = u64::MAX;
    let mine = FetchState::default().acquire(1, end, huge).unwrap();
    assert_eq!(mine.lease_until_ms, u64::MAX);
    assert_eq!(mine.succeeded(end, huge).next_attempt_ms, u64::MAX);
    assert_eq!(mine.failed(end, S).next_attempt_ms, u64::MAX);
    assert_eq!(mine.refetch_wait_bound_ms(end, huge), u64::MAX);
    assert_eq!(mine.expedite(end), None);
}

#[test]
fn a_genuine_state_a_refresh_period_ahead_is_kept() {
    let long = Schedule {
        period_ms: 86_400_000,
        call_timeout_ms: 60_000,
    };
    let done = FetchState::default()
        .acquire(1, 0, long)
        .unwrap()
        .succeeded(0, long);
    assert_eq!(done.acquire(2, 1_000, long), None, "not due for a day");
    assert!(done.expedite(KID_REFETCH_COOLDOWN_MS).is_some());
}

#[test]
fn garbage_state_reads_as_default() {
    assert_eq!(FetchState::decode(Some(b"\xff{")), FetchState::default());
    let s = FetchState {
        failures: 3,
        ..Default::default()
    };
    assert_eq!(FetchState::decode(Some(&s.encode())), s);
}
