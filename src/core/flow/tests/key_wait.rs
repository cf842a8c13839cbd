//! Requests held for keys, a key refetch, or another request's refresh.

use serde_json::json;

use super::*;
use crate::core::flow::key_wait::{resume, Held, Progress, Until, Wait};
use crate::core::refresh_board::Outcome;

fn bearer(kid: &str) -> Request {
    let token = crate::core::test_keys::mint(
        crate::core::jwks::Alg::Rs256,
        &json!({"alg": "RS256", "kid": kid}),
        &json!({"iss": ISS, "aud": "app", "sub": "u1", "exp": NOW + 600, "email": "bob@example.com"}),
    );
    let value = format!("Bearer {token}");
    Request::from_headers([
        (":method", &b"GET"[..]),
        (":path", b"/api"),
        ("authorization", value.as_bytes()),
    ])
}

fn held(request: Request, wait: Wait, deadline_ms: u64) -> Held {
    Held {
        request,
        wait,
        deadline_ms,
    }
}

fn verifier(world: &World) -> Verifier {
    let mut verifier = Verifier::new(1);
    if let Some(keys) = &world.keys {
        verifier.set_keys(0, keys.clone());
    }
    verifier
}

fn settle(world: &World, held: &Held, progress: Progress) -> Option<Step> {
    let mut verifier = verifier(world);
    resume(
        held,
        progress,
        &mut verifier,
        &world.revoked,
        &world.inputs(),
        &mut Counter(0),
    )
}

fn status(step: &Step) -> Option<u16> {
    step.effects.iter().find_map(|e| match e {
        Effect::Reply(r) => Some(r.status),
        Effect::Pass(_) => Some(200),
        _ => None,
    })
}

#[test]
fn a_bearer_request_before_keys_waits_for_them_within_the_idp_timeout() {
    let mut world = World::new();
    world.keys = None;
    let step = world.arrive(bearer("rsa"));
    match &step.effects[..] {
        [Effect::Park(parked)] => assert_eq!(
            (&parked.wait, parked.until),
            (&Wait::Keys, Until::IdpTimeout)
        ),
        other => panic!("{other:?}"),
    }
    let waiting = held(bearer("rsa"), Wait::Keys, NOW_MS + 1_000);
    assert!(
        settle(&world, &waiting, Progress::default()).is_none(),
        "still no keys"
    );
    world.now_ms += 1_000;
    assert_eq!(
        status(&settle(&world, &waiting, Progress::default()).unwrap()),
        Some(503)
    );
    let world = World::new();
    assert_eq!(
        status(&settle(&world, &waiting, Progress::default()).unwrap()),
        Some(200)
    );
}

#[test]
fn an_unknown_kid_waits_for_one_early_fetch_and_is_then_refused() {
    let world = World::new();
    let step = world.arrive(bearer("rotated"));
    assert!(matches!(&step.effects[..],
        [Effect::ExpediteKeyFetch { issuer: 0 }, Effect::Park(p)] if p.until == Until::KeysRefetched(0)));
    let waiting = held(
        bearer("rotated"),
        Wait::Refetch {
            issuer: 0,
            since_ms: NOW_MS,
        },
        NOW_MS + 5_000,
    );
    let before = Progress {
        fetch_completed_ms: NOW_MS - 1,
        refresh: None,
    };
    assert!(settle(&world, &waiting, before).is_none());
    let after = Progress {
        fetch_completed_ms: NOW_MS + 10,
        refresh: None,
    };
    let step = settle(&world, &waiting, after).unwrap();
    assert_eq!(status(&step), Some(401));
    assert!(counted(&step, "denied", "unknown_kid"));
    // The key arrived with the fetch: the request passes.
    let known = held(
        bearer("rsa"),
        Wait::Refetch {
            issuer: 0,
            since_ms: NOW_MS,
        },
        NOW_MS + 5_000,
    );
    let after = Progress {
        fetch_completed_ms: NOW_MS + 10,
        refresh: None,
    };
    assert_eq!(status(&settle(&world, &known, after).unwrap()), Some(200));
}

#[test]
fn a_navigation_waits_for_discovery_then_signs_in() {
    let mut world = World::new();
    world.discovery = None;
    let waiting = held(navigation("/app", None), Wait::Keys, NOW_MS + 1_000);
    assert!(settle(&world, &waiting, Progress::default()).is_none());
    world.now_ms += 1_000;
    assert_eq!(
        status(&settle(&world, &waiting, Progress::default()).unwrap()),
        Some(503)
    );
    let world = World::new();
    let step = settle(&world, &waiting, Progress::default()).unwrap();
    assert_eq!(status(&step), Some(302));
}

#[test]
fn a_request_waiting_on_a_refresh_takes_its_outcome() {
    let world = World::new();
    let session = session(NOW + 30);
    let cookie = session_cookie(&world.config, &session);
    let waiting = |nav: bool, deadline_ms| {
        let request = if nav {
            navigation("/app", Some(&cookie))
        } else {
            api_call("/api", Some(&cookie))
        };
        held(
            request,
            Wait::Refresh(Box::new(session.clone())),
            deadline_ms,
        )
    };
    let in_flight = || Progress {
        fetch_completed_ms: 0,
        refresh: Some(Outcome::InFlight {
            holder: 1,
            failures: 0,
        }),
    };
    assert!(settle(&world, &waiting(false, NOW_MS + 1), in_flight()).is_none());
    // Never finished by the deadline: the still-valid session passes as it is.
    let step = settle(&world, &waiting(false, NOW_MS), in_flight()).unwrap();
    assert_eq!(status(&step), Some(200));
    let refreshed = Progress {
        fetch_completed_ms: 0,
        refresh: Some(Outcome::Refreshed {
            userid: "alice@example.com".into(),
            groups: vec!["new".into()],
            sub: "u1".into(),
            grants: Default::default(),
            forward_token: None,
            set_cookies: vec!["c=1".into()],
            tokens_expire_at: NOW + 900,
        }),
    };
    let step = settle(&world, &waiting(false, NOW_MS + 1), refreshed).unwrap();
    assert!(matches!(&step.effects[0], Effect::Pass(p) if p.set_cookies == ["c=1"]));
    let refused = || Progress {
        fetch_completed_ms: 0,
        refresh: Some(Outcome::Refused),
    };
    assert_eq!(
        status(&settle(&world, &waiting(false, NOW_MS + 1), refused()).unwrap()),
        Some(401)
    );
    assert_eq!(
        status(&settle(&world, &waiting(true, NOW_MS + 1), refused()).unwrap()),
        Some(302)
    );
    let deferred = Progress {
        fetch_completed_ms: 0,
        refresh: Some(Outcome::Deferred { failures: 1 }),
    };
    assert_eq!(
        status(&settle(&world, &waiting(false, NOW_MS + 1), deferred).unwrap()),
        Some(200)
    );
}
