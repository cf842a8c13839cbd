//! Opaque bearer tokens: the call that judges one, its answer kept for the worker, and the
//! requests that wait for it.

use serde_json::{json, Value};

use super::*;
use crate::core::flow::key_wait::{resume, Held, Progress, Until, Wait};

const TOKEN: &str = "Qm9wYXF1ZS10b2tlbi0x";

fn opaque_world(opaque: Value) -> World {
    let mut discovery = discovery();
    discovery.introspection_endpoint = Some(format!("{ISS}/token/introspection"));
    World {
        discovery: Some(discovery),
        ..World::with(config_with(json!({
            "opaque_tokens": opaque, "userid_claim": ["email", "sub"],
            "rules": [{"path_prefix": "/admin", "groups_allowlist": ["admins"]}],
        })))
    }
}

fn with_token(path: &str, token: &str) -> Request {
    let value = format!("Bearer {token}");
    Request::from_headers([
        (":method", &b"GET"[..]),
        (":authority", b"gate.example.com"),
        (":path", path.as_bytes()),
        ("authorization", value.as_bytes()),
    ])
}

/// The worker's verifier, with the login issuer's keys.
fn verifier(world: &World) -> Verifier {
    let mut verifier = Verifier::new(1);
    verifier.set_keys(0, world.keys.clone().unwrap());
    verifier
}

fn arrive(world: &World, verifier: &mut Verifier, request: Request) -> Step {
    let decision = decide(
        &world.config,
        &request,
        verifier,
        &world.revoked,
        world.now_ms / 1000,
        OnUnknownKid::AwaitRefetch,
    );
    world.step(Flow::Idle, Event::Decided { decision, request })
}

/// Carries out the step's `SettleOpaque` as the worker would.
fn keep(verifier: &mut Verifier, step: &Step) {
    for effect in &step.effects {
        if let Effect::SettleOpaque { token, checked } = effect {
            verifier.opaque.settle(&token.0, checked.clone());
        }
    }
}

fn introspected(body: Value) -> Event {
    answer(b"200", body.to_string().as_bytes())
}

#[test]
fn an_opaque_token_is_introspected_as_the_client_and_the_answer_names_the_user() {
    let world = opaque_world(json!("introspection"));
    let mut verifier = verifier(&world);
    let step = arrive(&world, &mut verifier, with_token("/api", TOKEN));
    let sent = call(&step);
    assert_eq!(
        (sent.method, sent.url.as_str()),
        ("POST", "https://idp.example.com/token/introspection")
    );
    assert_eq!(
        sent.body.as_deref(),
        Some(format!("token={TOKEN}&token_type_hint=access_token").as_str())
    );
    assert!(sent
        .headers
        .iter()
        .any(|(n, v)| *n == "authorization" && v.starts_with("Basic ")));
    let step = world.step(
        step.flow,
        introspected(json!({"active": true, "sub": "u7", "email": "ann@example.com"})),
    );
    assert_eq!(
        pass(&step).identity.as_ref().unwrap().userid,
        "ann@example.com"
    );
    assert!(counted(&step, "opaque_check", "active"));
    keep(&mut verifier, &step);
    // The next request with the token is answered from what the IdP said: no call.
    let again = arrive(&world, &mut verifier, with_token("/api/2", TOKEN));
    assert!(again.effects.iter().all(|e| !matches!(e, Effect::Call(_))));
    assert_eq!(
        pass(&again).identity.as_ref().unwrap().userid,
        "ann@example.com"
    );
    // The rules still apply to it.
    let admin = arrive(&world, &mut verifier, with_token("/admin", TOKEN));
    assert_eq!(reply(&admin).status, 403);
}

#[test]
fn a_dead_token_is_refused_and_not_asked_about_again() {
    let world = opaque_world(json!("introspection"));
    let mut verifier = verifier(&world);
    let step = arrive(&world, &mut verifier, with_token("/api", TOKEN));
    let step = world.step(step.flow, introspected(json!({"active": false})));
    assert_eq!(reply(&step).status, 401);
    assert!(counted(&step, "denied", "token_inactive"));
    keep(&mut verifier, &step);
    let again = arrive(&world, &mut verifier, with_token("/api", TOKEN));
    assert_eq!(reply(&again).status, 401);
    assert!(again.effects.iter().all(|e| !matches!(e, Effect::Call(_))));
}

#[test]
fn an_idp_that_does_not_answer_gets_the_client_503_and_nothing_is_remembered() {
    let world = opaque_world(json!("introspection"));
    let mut verifier = verifier(&world);
    for event in [
        no_answer(),
        answer(b"500", b"{}"),
        Event::CallNotSent("no cluster".into()),
    ] {
        let step = arrive(&world, &mut verifier, with_token("/api", TOKEN));
        let step = world.step(step.flow, event);
        assert_eq!(reply(&step).status, 503);
        assert!(counted(&step, "denied", "token_check_unavailable"));
        keep(&mut verifier, &step);
    }
}

#[test]
fn userinfo_is_called_with_the_token_as_its_bearer() {
    let world = opaque_world(json!("userinfo"));
    let mut verifier = verifier(&world);
    let step = arrive(&world, &mut verifier, with_token("/api", TOKEN));
    let sent = call(&step);
    assert_eq!(
        (sent.method, sent.url.as_str()),
        ("GET", "https://idp.example.com/userinfo")
    );
    assert_eq!(sent.headers, [("authorization", format!("Bearer {TOKEN}"))]);
    let step = world.step(step.flow, answer(b"401", b""));
    assert_eq!(reply(&step).status, 401);
}

#[test]
fn a_token_shaped_like_a_jwt_or_outside_rfc_6750_never_reaches_the_idp() {
    let world = opaque_world(json!("introspection"));
    let mut verifier = verifier(&world);
    for token in ["a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x\"y", "a=b"] {
        let step = arrive(&world, &mut verifier, with_token("/api", token));
        assert_eq!(reply(&step).status, 401, "{token}");
        assert!(step.effects.iter().all(|e| !matches!(e, Effect::Call(_))));
    }
}

#[test]
fn without_opaque_tokens_a_token_that_is_not_a_jwt_is_refused_as_before() {
    let world = World::new();
    let mut verifier = verifier(&world);
    let step = arrive(&world, &mut verifier, with_token("/api", TOKEN));
    assert_eq!(reply(&step).status, 401);
    assert!(counted(&step, "denied", "malformed"));
}

#[test]
fn an_idp_that_names_no_introspection_endpoint_gets_503_and_a_warning() {
    let mut world = opaque_world(json!("introspection"));
    world.discovery = Some(discovery());
    let mut verifier = verifier(&world);
    let step = arrive(&world, &mut verifier, with_token("/api", TOKEN));
    assert_eq!(reply(&step).status, 503);
    assert!(step.effects.iter().any(|e| matches!(e,
        Effect::Log(_, m) if m.contains("no introspection_endpoint"))));
    // A configured endpoint needs no discovery entry.
    let world = World {
        discovery: Some(discovery()),
        ..opaque_world(json!({"method": "introspection", "endpoint": "https://idp.example.com/i"}))
    };
    let step = arrive(&world, &mut verifier, with_token("/api", "other"));
    assert_eq!(call(&step).url, "https://idp.example.com/i");
}

fn held(token: &str, deadline_ms: u64) -> Held {
    Held {
        request: with_token("/api", token),
        wait: Wait::OpaqueToken,
        deadline_ms,
    }
}

fn settle(world: &World, verifier: &mut Verifier, held: &Held) -> Option<Step> {
    resume(
        held,
        Progress::default(),
        verifier,
        &world.revoked,
        &world.inputs(),
        &mut Counter(0),
    )
}

#[test]
fn requests_with_a_token_in_flight_wait_for_its_answer() {
    let world = opaque_world(json!("introspection"));
    let mut verifier = verifier(&world);
    let leader = arrive(&world, &mut verifier, with_token("/api", TOKEN));
    let follower = arrive(&world, &mut verifier, with_token("/api", TOKEN));
    match &follower.effects[..] {
        [Effect::Park(parked)] => {
            assert_eq!(
                (&parked.wait, parked.until),
                (&Wait::OpaqueToken, Until::IdpTimeout)
            )
        }
        other => panic!("{other:?}"),
    }
    let waiting = held(TOKEN, NOW_MS + 5_000);
    assert!(
        settle(&world, &mut verifier, &waiting).is_none(),
        "still in flight"
    );
    let answered = world.step(
        leader.flow,
        introspected(json!({"active": true, "email": "ann@example.com"})),
    );
    keep(&mut verifier, &answered);
    let step = settle(&world, &mut verifier, &waiting).unwrap();
    assert_eq!(
        pass(&step).identity.as_ref().unwrap().userid,
        "ann@example.com"
    );
}

#[test]
fn a_waiting_request_whose_leader_got_no_answer_asks_itself_or_gives_up_at_its_deadline() {
    let world = opaque_world(json!("introspection"));
    let mut verifier = verifier(&world);
    let leader = arrive(&world, &mut verifier, with_token("/api", TOKEN));
    let failed = world.step(leader.flow, no_answer());
    keep(&mut verifier, &failed);
    let step = settle(&world, &mut verifier, &held(TOKEN, NOW_MS + 5_000)).unwrap();
    assert!(
        matches!(step.flow, Flow::CheckingToken(_)),
        "it asks: {:?}",
        step.effects
    );
    assert_eq!(
        call(&step).url,
        "https://idp.example.com/token/introspection"
    );
    // The token is in flight for it now; past its deadline another request gives up.
    let late = settle(&world, &mut verifier, &held(TOKEN, NOW_MS)).unwrap();
    assert_eq!(reply(&late).status, 503);
    // Its abandoned call leaves nothing in flight.
    keep(&mut verifier, &Step::done(step.flow.abandon()));
    let late = settle(&world, &mut verifier, &held(TOKEN, NOW_MS)).unwrap();
    assert_eq!(reply(&late).status, 503);
    assert!(late
        .effects
        .iter()
        .any(|e| matches!(e, Effect::SettleOpaque { checked: None, .. })));
}

#[test]
fn an_opaque_token_before_the_idp_is_known_waits_for_its_keys() {
    let mut world = opaque_world(json!("introspection"));
    world.keys = None;
    let step = arrive(&world, &mut Verifier::new(1), with_token("/api", TOKEN));
    assert!(matches!(&step.effects[..], [Effect::Park(p)] if p.wait == Wait::Keys));
}

#[test]
fn audit_mode_lets_a_dead_opaque_token_pass_without_identity_and_says_why() {
    let mut world = opaque_world(json!("introspection"));
    world.config.mode = crate::config::Mode::Audit;
    let mut verifier = verifier(&world);
    let step = arrive(&world, &mut verifier, with_token("/api", TOKEN));
    let step = world.step(step.flow, introspected(json!({"active": false})));
    let passed = pass(&step);
    assert!(passed.identity.is_none());
    assert_eq!(passed.audit.as_deref(), Some("401 token_inactive"));
    assert!(step.effects.iter().all(|e| !matches!(e, Effect::Reply(_))));
}
