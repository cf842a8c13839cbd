//! Session refresh: the claim on the refresh board, the token call, and every outcome.

use serde_json::json;

use super::*;
use crate::core::flow::key_wait::{Until, Wait};
use crate::core::flow::Pass;
use crate::core::refresh_board::{Claim, Outcome, Slot};

/// A session whose tokens are due, as an API call or a navigation.
fn due(world: &World, navigation_request: bool) -> (Step, Session) {
    let session = session(NOW + 30);
    let cookie = session_cookie(&world.config, &session);
    let request = if navigation_request {
        navigation("/app", Some(&cookie))
    } else {
        api_call("/api", Some(&cookie))
    };
    (world.arrive(request), session)
}

/// The refresh claimed by this request, its call sent.
fn refreshing(world: &World, navigation_request: bool) -> Step {
    let (claiming, _) = due(world, navigation_request);
    let step = world.step(claiming.flow, claimed(Some(Claim::Mine(Slot::default()))));
    assert!(matches!(step.flow, Flow::Refreshing(_)), "{step:?}");
    step
}

/// The session a passed request's `Set-Cookie`s carry.
fn renewed_session(world: &World, pass: &Pass) -> Session {
    let cookie = pass
        .set_cookies
        .iter()
        .map(|c| c.split(';').next().unwrap())
        .collect::<Vec<_>>()
        .join("; ");
    let cookies = crate::core::cookies::parse_cookies([cookie.as_bytes()]);
    crate::core::decide::read_session(&world.config, &cookies, NOW).unwrap()
}

fn claimed(claim: Option<Claim>) -> Event {
    Event::Claimed { claim, holder: 42 }
}

fn finished(step: &Step) -> Option<Option<Outcome>> {
    step.effects.iter().find_map(|e| match e {
        Effect::FinishRefresh {
            sid,
            holder: 42,
            outcome,
        } if sid == "sid-1" => Some(outcome.clone()),
        _ => None,
    })
}

#[test]
fn a_due_session_claims_its_refresh_first() {
    let world = World::new();
    let (step, _) = due(&world, false);
    assert!(matches!(step.flow, Flow::ClaimingRefresh(_)));
    assert!(
        matches!(&step.effects[..], [Effect::ClaimRefresh { sid, lease_ms, .. }]
        if sid == "sid-1" && *lease_ms == world.config.idp_timeout_ms + 1_000)
    );
}

#[test]
fn the_refresh_token_goes_to_the_token_endpoint() {
    let world = World::new();
    let step = refreshing(&world, false);
    let call = call(&step);
    assert_eq!(
        (call.method, call.url.as_str()),
        ("POST", "https://idp.example.com/token")
    );
    let body = call.body.as_deref().unwrap();
    assert!(body.contains("grant_type=refresh_token") && body.contains("refresh_token=rt-1"));
}

#[test]
fn a_refreshed_session_passes_with_new_cookies_and_tells_the_board() {
    let world = World::new();
    let step = refreshing(&world, false);
    let groups_token = id_token(
        json!({"iss": ISS, "aud": "app", "sub": "u1", "iat": NOW, "email": "alice@example.com",
                                       "exp": NOW + 600, "groups": ["admins"]}),
    );
    let done = world.step(
        step.flow,
        token_answer(json!({
        "access_token": "at2", "token_type": "Bearer", "expires_in": 900,
        "refresh_token": "rt-2", "id_token": groups_token})),
    );
    assert!(is_idle(&done) && counted(&done, "session", "refreshed"));
    let pass = pass(&done);
    assert_eq!(pass.identity.as_ref().unwrap().groups, ["admins"]);
    assert!(!pass.set_cookies.is_empty());
    let renewed = renewed_session(&world, pass);
    assert_eq!(
        (renewed.sid.as_str(), renewed.refresh_token.as_deref()),
        ("sid-1", Some("rt-2"))
    );
    assert_eq!(renewed.tokens_expire_at, NOW + 900);
    assert!(matches!(
        finished(&done),
        Some(Some(Outcome::Refreshed { .. }))
    ));
}

#[test]
fn an_idp_outage_never_signs_anyone_out() {
    let world = World::new();
    for (case, event) in [
        ("timeout", no_answer()),
        ("not sent", Event::CallNotSent("no cluster".into())),
        ("500", answer(b"500", br#"{"error":"invalid_grant"}"#)),
        ("503 html", answer(b"503", b"<html>down</html>")),
        ("garbage", answer(b"200", b"\x00\xff")),
        (
            "temporarily_unavailable",
            answer(b"400", br#"{"error":"temporarily_unavailable"}"#),
        ),
    ] {
        let step = refreshing(&world, false);
        let done = world.step(step.flow, event);
        let pass = pass(&done);
        assert_eq!(
            pass.identity.as_ref().unwrap().userid,
            "alice@example.com",
            "{case}"
        );
        assert!(pass.set_cookies.is_empty(), "{case}");
        assert_eq!(
            finished(&done),
            Some(None),
            "{case}: retried after a backoff"
        );
        assert!(
            !done.effects.iter().any(|e| matches!(e, Effect::Reply(_))),
            "{case}"
        );
    }
}

#[test]
fn a_refused_grant_ends_the_session_and_tells_the_board() {
    let world = World::new();
    let refused = || answer(b"400", br#"{"error":"invalid_grant"}"#);
    let done = world.step(refreshing(&world, false).flow, refused());
    assert_eq!(finished(&done), Some(Some(Outcome::Refused)));
    let page = reply(&done);
    assert_eq!(page.status, 401);
    assert!(header(page, "set-cookie")
        .iter()
        .all(|c| c.contains("Max-Age=0;")));
    assert!(counted(&done, "session", "refresh_failed"));
    // A navigation signs in again instead.
    let done = world.step(refreshing(&world, true).flow, refused());
    assert_eq!(reply(&done).status, 302);
    assert!(counted(&done, "login", "started"));
}

#[test]
fn a_new_id_token_for_another_subject_is_refused() {
    let world = World::new();
    let other =
        id_token(json!({"iss": ISS, "aud": "app", "sub": "u2", "iat": NOW, "exp": NOW + 600}));
    let done = world.step(
        refreshing(&world, false).flow,
        token_answer(json!({
        "access_token": "at2", "token_type": "Bearer", "id_token": other})),
    );
    assert_eq!(finished(&done), Some(Some(Outcome::Refused)));
    assert_eq!(reply(&done).status, 401);
}

#[test]
fn an_id_token_with_an_unknown_kid_defers_and_fetches_keys() {
    let world = World::new();
    let token = crate::core::test_keys::mint(
        crate::core::jwks::Alg::Rs256,
        &json!({"alg": "RS256", "kid": "rotated"}),
        &json!({"iss": ISS, "aud": "app", "sub": "u1", "iat": NOW, "exp": NOW + 600}),
    );
    let done = world.step(
        refreshing(&world, false).flow,
        token_answer(json!({
        "access_token": "at2", "token_type": "Bearer", "id_token": token})),
    );
    assert_eq!(finished(&done), Some(None));
    assert!(done
        .effects
        .contains(&Effect::ExpediteKeyFetch { issuer: 0 }));
    assert!(counted(&done, "session", "refresh_deferred"));
}

#[test]
fn other_requests_wait_for_the_refresh_or_take_its_outcome() {
    let world = World::new();
    let (claiming, session) = due(&world, false);
    let step = world.step(
        claiming.flow,
        claimed(Some(Claim::Wait {
            until_ms: NOW_MS + 500,
        })),
    );
    match &step.effects[..] {
        [Effect::Park(parked)] => {
            assert_eq!(parked.until, Until::At(NOW_MS + 500));
            assert_eq!(parked.wait, Wait::Refresh(Box::new(session.clone())));
        }
        other => panic!("{other:?}"),
    }
    let refreshed = Outcome::Refreshed {
        userid: "alice@example.com".into(),
        groups: vec!["new".into()],
        sub: "u1".into(),
        grants: Default::default(),
        forward_token: None,
        set_cookies: vec!["c=1".into()],
        tokens_expire_at: NOW + 900,
    };
    let (claiming, _) = due(&world, false);
    let step = world.step(claiming.flow, claimed(Some(Claim::Decided(refreshed))));
    assert_eq!(pass(&step).set_cookies, ["c=1"]);
    let identity = pass(&step).identity.clone().unwrap();
    assert_eq!(identity.groups, ["new"]);
    assert_eq!((identity.sub.as_str(), identity.issuer), ("u1", 0));
    let (claiming, _) = due(&world, false);
    let step = world.step(
        claiming.flow,
        claimed(Some(Claim::Decided(Outcome::Refused))),
    );
    assert_eq!(reply(&step).status, 401);
    // The board kept changing under us: the still-valid session passes as it is.
    let (claiming, _) = due(&world, false);
    let step = world.step(claiming.flow, claimed(None));
    assert_eq!(pass(&step).identity.as_ref().unwrap().groups, ["staff"]);
}

#[test]
fn a_refreshing_request_that_goes_away_releases_its_claim() {
    let world = World::new();
    let step = refreshing(&world, false);
    let effects = step.flow.abandon();
    assert!(matches!(
        &effects[..],
        [Effect::FinishRefresh {
            outcome: None,
            holder: 42,
            ..
        }]
    ));
    assert!(Flow::Idle.abandon().is_empty());
}

#[test]
fn a_session_unconfirmed_for_session_revalidate_seconds_is_refreshed_first() {
    let world = World::with(config_with(json!({"session_revalidate_seconds": 300})));
    let mut fresh = session(NOW + 3600);
    fresh.issued_at = NOW - 1000;
    fresh.validated_at = NOW - 299;
    let cookie = session_cookie(&world.config, &fresh);
    assert!(matches!(
        world.arrive(api_call("/api", Some(&cookie))).effects[0],
        Effect::Pass(_)
    ));
    let mut stale = fresh.clone();
    stale.validated_at = NOW - 300;
    let cookie = session_cookie(&world.config, &stale);
    let step = world.arrive(api_call("/api", Some(&cookie)));
    assert!(matches!(step.flow, Flow::ClaimingRefresh(_)), "{step:?}");
    // Refreshed: confirmed now.
    let step = world.step(step.flow, claimed(Some(Claim::Mine(Slot::default()))));
    let done = world.step(step.flow, refreshed_tokens());
    let renewed = renewed_session(&world, pass(&done));
    assert_eq!(renewed.validated_at, NOW);
}

#[test]
fn a_session_that_cannot_be_revalidated_ends_when_due() {
    let world = World::with(config_with(json!({"session_revalidate_seconds": 300})));
    let mut stale = session(NOW + 3600);
    stale.issued_at = NOW - 1000;
    stale.validated_at = NOW - 301;
    stale.refresh_token = None;
    let cookie = session_cookie(&world.config, &stale);
    let api = world.arrive(api_call("/api", Some(&cookie)));
    assert_eq!(reply(&api).status, 401);
    assert!(counted(&api, "denied", "session_not_revalidated"));
    assert!(counted(
        &world.arrive(navigation("/app", Some(&cookie))),
        "login",
        "started"
    ));
    // Off (the default): it passes.
    let plain = World::new();
    let cookie = session_cookie(&plain.config, &stale);
    assert!(matches!(
        plain.arrive(api_call("/api", Some(&cookie))).effects[0],
        Effect::Pass(_)
    ));
}

fn refreshed_tokens() -> Event {
    token_answer(
        json!({"access_token": "at2", "token_type": "Bearer", "expires_in": 900,
                        "refresh_token": "rt-2"}),
    )
}
