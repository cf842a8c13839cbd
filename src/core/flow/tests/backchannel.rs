//! Back-channel logout: the body, the token's checks, the record of seen tokens, and the
//! sessions it ends.

use serde_json::{json, Value};

use super::*;
use crate::core::logout_token::BACKCHANNEL_EVENT;
use crate::core::revocation::is_revoked;

fn world() -> World {
    World::with(config_with(
        json!({"backchannel_logout_path": "/authservice/backchannel-logout"}),
    ))
}

fn post(body: &str) -> (Request, Event) {
    let request = Request::from_headers([
        (":method", &b"POST"[..]),
        (":path", b"/authservice/backchannel-logout"),
        ("content-type", b"application/x-www-form-urlencoded"),
    ]);
    (request, Event::Body(Some(body.as_bytes().to_vec())))
}

fn logout_token(claims: Value) -> String {
    crate::core::test_keys::mint(
        crate::core::jwks::Alg::Rs256,
        &json!({"alg": "RS256", "kid": "rsa", "typ": "logout+jwt"}),
        &claims,
    )
}

/// A token typed as an id_token, not a logout token.
fn id_typed(claims: Value) -> String {
    crate::core::test_keys::mint(
        crate::core::jwks::Alg::Rs256,
        &json!({"alg": "RS256", "kid": "rsa", "typ": "JWT"}),
        &claims,
    )
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": "app", "iat": NOW, "exp": NOW + 120, "jti": "j1",
           "sid": "idp-1", "events": {BACKCHANNEL_EVENT: {}}})
}

/// The IdP posts `body`; the record of seen tokens says `fresh`. Returns the last step.
fn deliver(world: &World, body: &str, fresh: bool) -> Step {
    let (request, event) = post(body);
    let reading = world.arrive(request);
    assert!(matches!(reading.flow, Flow::ReadingLogoutToken) && reading.effects.is_empty());
    let step = world.step(reading.flow, event);
    if !matches!(step.flow, Flow::RecordingLogoutToken(_)) {
        return step;
    }
    assert!(
        matches!(&step.effects[..], [Effect::RecordLogoutToken { jti, until }]
        if jti == "j1" && *until == NOW + 120 + 60)
    );
    world.step(step.flow, Event::Recorded { fresh })
}

fn user(sid: &str, idp_sid: Option<&str>, sub: &str) -> Session {
    Session {
        sid: sid.into(),
        sub: sub.into(),
        idp_sid: idp_sid.map(str::to_string),
        ..session(NOW + 300)
    }
}

#[test]
fn a_valid_logout_token_ends_the_idp_session_here_and_is_answered_200() {
    let mut world = world();
    let step = deliver(
        &world,
        &format!("logout_token={}", logout_token(claims())),
        true,
    );
    let reply = reply(&step);
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    assert_eq!(header(reply, "cache-control"), ["no-store"]);
    assert!(header(reply, "location").is_empty());
    world.revoked.apply(&step.effects, NOW);
    assert!(is_revoked(&world.revoked, &user("a", Some("idp-1"), "u1")));
    assert!(
        !is_revoked(&world.revoked, &user("b", Some("idp-2"), "u1")),
        "another IdP session"
    );
    assert!(!is_revoked(&world.revoked, &user("c", None, "u1")));
}

#[test]
fn a_subject_alone_ends_all_its_sessions() {
    let mut world = world();
    let mut by_sub = claims();
    by_sub.as_object_mut().unwrap().remove("sid");
    by_sub["sub"] = json!("u1");
    let step = deliver(
        &world,
        &format!("logout_token={}", logout_token(by_sub)),
        true,
    );
    assert_eq!(reply(&step).status, 200);
    world.revoked.apply(&step.effects, NOW);
    assert!(is_revoked(&world.revoked, &user("a", Some("idp-9"), "u1")));
    assert!(is_revoked(&world.revoked, &user("b", None, "u1")));
    assert!(!is_revoked(&world.revoked, &user("c", None, "u2")));
}

#[test]
fn a_revoked_session_is_refused_like_no_session() {
    let mut world = world();
    let step = deliver(
        &world,
        &format!("logout_token={}", logout_token(claims())),
        true,
    );
    world.revoked.apply(&step.effects, NOW);
    let cookie = session_cookie(&world.config, &user("a", Some("idp-1"), "u1"));
    let api = world.arrive(api_call("/api", Some(&cookie)));
    assert_eq!(super::reply(&api).status, 401);
    assert!(counted(&api, "denied", "session_revoked"));
    let page = world.arrive(navigation("/app", Some(&cookie)));
    assert!(
        counted(&page, "login", "started"),
        "a navigation signs in again"
    );
}

#[test]
fn a_replayed_token_is_refused_and_ends_nothing() {
    let world = world();
    let step = deliver(
        &world,
        &format!("logout_token={}", logout_token(claims())),
        false,
    );
    assert_eq!(reply(&step).status, 400);
    assert!(counted(
        &step,
        "backchannel_logout",
        "logout_token_replayed"
    ));
    assert!(!step
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Revoke { .. })));
}

#[test]
fn bad_requests_get_400_with_a_reason_and_end_nothing() {
    let world = world();
    let good = logout_token(claims());
    let mut nonce = claims();
    nonce["nonce"] = json!("n");
    let bodies = [
        String::new(),
        "token=x".to_string(),
        format!("logout_token={good}&logout_token={good}"),
        format!("logout_token={}", logout_token(nonce)),
        format!("logout_token={}x", &good[..good.len() - 1]),
        format!("logout_token={}", id_typed(claims())),
    ];
    for body in &bodies {
        let step = deliver(&world, body, true);
        let reply = reply(&step);
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(header(reply, "cache-control"), ["no-store"], "{body}");
        let answer: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(answer["error"], "invalid_request", "{body}");
        let reason = answer["error_description"].as_str().unwrap_or_default();
        assert!(!reason.is_empty(), "{body}: {}", reply.body);
        assert_eq!(answer.as_object().map(|o| o.len()), Some(2), "{body}");
        assert!(
            !step
                .effects
                .iter()
                .any(|e| matches!(e, Effect::Revoke { .. })),
            "{body}"
        );
    }
    let (request, _) = post("");
    let too_large = world.step(world.arrive(request).flow, Event::Body(None));
    assert_eq!(reply(&too_large).status, 400);
}

#[test]
fn only_a_post_reaches_it() {
    let world = world();
    for method in ["GET", "HEAD", "PUT", "OPTIONS"] {
        let request = Request::from_headers([
            (":method", method.as_bytes()),
            (":path", &b"/authservice/backchannel-logout"[..]),
            ("sec-fetch-mode", b"navigate"),
        ]);
        let step = world.arrive(request);
        assert_eq!(reply(&step).status, 405, "{method}");
    }
    // Off by default: the path is an ordinary protected path.
    let plain = World::new();
    let (request, _) = post("");
    assert_eq!(reply(&plain.arrive(request)).status, 401);
}

#[test]
fn without_keys_yet_the_idp_is_told_to_retry() {
    let mut world = world();
    world.keys = None;
    let step = deliver(
        &world,
        &format!("logout_token={}", logout_token(claims())),
        true,
    );
    assert_eq!(reply(&step).status, 503);
}

#[test]
fn only_a_form_is_read() {
    let world = world();
    for content_type in [
        "text/plain",
        "application/json",
        "multipart/form-data; boundary=x",
        "",
    ] {
        let request = Request::from_headers([
            (":method", &b"POST"[..]),
            (":path", b"/authservice/backchannel-logout"),
            ("content-type", content_type.as_bytes()),
        ]);
        let step = world.arrive(request);
        assert!(is_idle(&step), "{content_type}");
        assert_eq!(reply(&step).status, 400, "{content_type}");
    }
    for content_type in [
        "Application/X-WWW-Form-Urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
    ] {
        let request = Request::from_headers([
            (":method", &b"POST"[..]),
            (":path", b"/authservice/backchannel-logout"),
            ("content-type", content_type.as_bytes()),
        ]);
        assert!(
            matches!(world.arrive(request).flow, Flow::ReadingLogoutToken),
            "{content_type}"
        );
    }
}
