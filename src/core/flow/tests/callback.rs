//! Login start, callback, code exchange, id_token checks, userinfo merge, session issue.

use serde_json::{json, Value};

use super::*;
use crate::core::flow::{Effect, Level};

const CALLBACK: &str = "/authservice/oidc/callback";

/// A login started from `/app?x=1`: the browser's cookies and the IdP URL it was sent to.
fn started(world: &World) -> (String, url::Url) {
    let step = world.arrive(navigation("/app?x=1", None));
    assert!(is_idle(&step) && counted(&step, "login", "started"));
    let reply = reply(&step);
    assert_eq!(reply.status, 302);
    (cookies_set(reply), location(reply))
}

fn claims(nonce: &str) -> Value {
    json!({"iss": ISS, "aud": "app", "sub": "u1", "iat": NOW, "exp": NOW + 300,
           "nonce": nonce, "email": "alice@example.com", "groups": ["staff"]})
}

/// The browser comes back with `code=c1` and the flow's state, and the code is sent.
fn exchanging(world: &World) -> (Flow, String) {
    let (cookies, idp) = started(world);
    let state = query_param(&idp, "state");
    let callback = navigation(&format!("{CALLBACK}?code=c1&state={state}"), Some(&cookies));
    let step = world.arrive(callback);
    assert!(matches!(step.flow, Flow::Exchanging(_)), "{step:?}");
    (step.flow, query_param(&idp, "nonce"))
}

fn tokens(id_token: &str) -> Event {
    token_answer(
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300,
                        "refresh_token": "rt", "id_token": id_token}),
    )
}

#[test]
fn a_navigation_is_sent_to_the_idp_with_pkce_and_a_sealed_flow_cookie() {
    let world = World::new();
    let (cookies, idp) = started(&world);
    assert_eq!(idp.path(), "/authorize");
    assert_eq!(query_param(&idp, "code_challenge_method"), "S256");
    assert_eq!(
        query_param(&idp, "redirect_uri"),
        format!("https://gate.example.com{CALLBACK}")
    );
    assert!(cookies.starts_with("authservice_session_flow_") || cookies.contains("flow"));
    assert!(
        !cookies.contains(&query_param(&idp, "nonce")),
        "the flow cookie is sealed"
    );
}

#[test]
fn a_login_that_cannot_start_says_why() {
    let mut world = World::new();
    world.discovery = None;
    // No authorization endpoint yet: the request waits for discovery.
    let step = world.arrive(navigation("/app", None));
    assert!(matches!(step.effects[..], [Effect::Park(_)]), "{step:?}");
    let world = World::new();
    let bad_host = Request::from_headers([
        (":method", &b"GET"[..]),
        (":authority", b"a b"),
        (":path", b"/"),
        ("sec-fetch-mode", b"navigate"),
    ]);
    assert_eq!(reply(&world.arrive(bad_host)).status, 400);
    let no_random = crate::core::flow::login_start::start(
        &world.inputs(),
        &navigation("/", None),
        &mut NoRandom,
    );
    let step = Step::done(no_random);
    assert_eq!(reply(&step).status, 503);
}

#[test]
fn the_code_is_exchanged_with_the_flow_verifier_and_a_session_is_issued() {
    let world = World::new();
    let (flow, nonce) = exchanging(&world);
    let step = world.step(flow, tokens(&id_token(claims(&nonce))));
    assert!(is_idle(&step) && counted(&step, "login", "completed"));
    let reply = reply(&step);
    assert_eq!(
        (reply.status, header(reply, "location")),
        (302, vec!["/app?x=1"])
    );
    let session = crate::core::decide::read_session(
        &world.config,
        &cookies::parse_cookies([cookies_set(reply).as_bytes()]),
        NOW,
    )
    .unwrap();
    assert_eq!(session.userid, "alice@example.com");
    assert_eq!(session.groups, ["staff"]);
    assert_eq!(session.refresh_token.as_deref(), Some("rt"));
    assert_eq!(session.tokens_expire_at, NOW + 300);
}

#[test]
fn the_token_request_carries_code_verifier_and_client_credentials() {
    let world = World::new();
    let (cookies, idp) = started(&world);
    let state = query_param(&idp, "state");
    let step = world.arrive(navigation(
        &format!("{CALLBACK}?code=c1&state={state}"),
        Some(&cookies),
    ));
    let call = call(&step);
    assert_eq!(
        (call.method, call.url.as_str()),
        ("POST", "https://idp.example.com/token")
    );
    let body = call.body.as_deref().unwrap();
    assert!(body.contains("grant_type=authorization_code") && body.contains("code=c1"));
    assert!(body.contains("code_verifier="));
    assert!(call
        .headers
        .iter()
        .any(|(n, v)| *n == "authorization" && v.starts_with("Basic ")));
}

#[test]
fn callbacks_that_do_not_belong_to_a_flow_of_this_browser_are_refused() {
    let world = World::new();
    let (cookies, idp) = started(&world);
    let state = query_param(&idp, "state");
    let cases = [
        (
            format!("{CALLBACK}?code=c1"),
            Some(cookies.as_str()),
            400,
            "callback_missing_state",
        ),
        (
            format!("{CALLBACK}?code=c1&state=other"),
            Some(cookies.as_str()),
            400,
            "callback_state_mismatch",
        ),
        (
            format!("{CALLBACK}?code=c1&state={state}"),
            None,
            400,
            "callback_state_mismatch",
        ),
        (
            format!("{CALLBACK}?code=c1&code=c2&state={state}"),
            Some(cookies.as_str()),
            400,
            "callback_duplicate_parameter",
        ),
        (
            format!("{CALLBACK}?error=access_denied&state={state}"),
            Some(cookies.as_str()),
            401,
            "idp_error",
        ),
    ];
    for (path, cookie, status, reason) in cases {
        let step = world.arrive(navigation(&path, cookie));
        assert!(is_idle(&step), "{path}");
        assert_eq!(reply(&step).status, status, "{path}");
        assert!(counted(&step, "denied", reason), "{path}: {step:?}");
        assert!(
            !step.effects.iter().any(|e| matches!(e, Effect::Call(_))),
            "{path}"
        );
    }
}

#[test]
fn an_expired_flow_is_refused_and_a_signed_in_browser_just_goes_on() {
    let mut world = World::new();
    let (cookies, idp) = started(&world);
    let state = query_param(&idp, "state");
    let path = format!("{CALLBACK}?code=c1&state={state}");
    world.now_ms += 601_000;
    let step = world.arrive(navigation(&path, Some(&cookies)));
    assert!(counted(&step, "denied", "callback_expired"));
    let signed_in = format!(
        "{}; {}",
        cookies,
        session_cookie(&world.config, &session(NOW + 9_999))
    );
    let step = world.arrive(navigation(&path, Some(&signed_in)));
    let reply = reply(&step);
    assert_eq!((reply.status, header(reply, "location")), (302, vec!["/"]));
}

#[test]
fn the_idp_issuer_parameter_is_checked_when_it_says_it_sends_one() {
    let mut world = World::new();
    world.discovery.as_mut().unwrap().iss_parameter_supported = true;
    let (cookies, idp) = started(&world);
    let state = query_param(&idp, "state");
    for iss in ["", "&iss=https%3A%2F%2Fevil.example.com"] {
        let step = world.arrive(navigation(
            &format!("{CALLBACK}?code=c1&state={state}{iss}"),
            Some(&cookies),
        ));
        assert_eq!(reply(&step).status, 400, "{iss:?}");
    }
    let good = format!("{CALLBACK}?code=c1&state={state}&iss=https%3A%2F%2Fidp.example.com");
    assert!(matches!(
        world.arrive(navigation(&good, Some(&cookies))).flow,
        Flow::Exchanging(_)
    ));
}

#[test]
fn a_callback_before_discovery_is_answered_503() {
    let world = World::new();
    let (cookies, idp) = started(&world);
    let mut early = World::new();
    early.discovery = None;
    early.config.authorization_endpoint = Some(format!("{ISS}/authorize"));
    let state = query_param(&idp, "state");
    let step = early.arrive(navigation(
        &format!("{CALLBACK}?code=c1&state={state}"),
        Some(&cookies),
    ));
    assert_eq!(reply(&step).status, 503);
}

#[test]
fn every_failed_exchange_ends_in_a_page_never_in_a_session() {
    let world = World::new();
    let (_, nonce) = exchanging(&world);
    let good = id_token(claims(&nonce));
    let other_nonce = claims("other");
    let cases: Vec<(&str, Event, u16, &str)> = vec![
        ("timeout", no_answer(), 502, "token_endpoint_status"),
        (
            "not sent",
            Event::CallNotSent("no cluster".into()),
            502,
            "token_endpoint_unreachable",
        ),
        ("500", answer(b"500", b"oops"), 502, "token_endpoint_status"),
        (
            "garbage",
            answer(b"200", b"<html>"),
            502,
            "token_response_not_json",
        ),
        (
            "refused",
            answer(b"400", br#"{"error":"invalid_grant"}"#),
            400,
            "token_refused",
        ),
        (
            "no id_token",
            token_answer(json!({"access_token": "at", "token_type": "Bearer"})),
            502,
            "token_missing_id_token",
        ),
        (
            "wrong nonce",
            tokens(&id_token(other_nonce)),
            502,
            "id_token_nonce_mismatch",
        ),
        (
            "bad signature",
            tokens(&format!("{}x", &good[..good.len() - 1])),
            502,
            "id_token_invalid",
        ),
    ];
    for (case, event, status, reason) in cases {
        let (flow, _) = exchanging(&world);
        let step = world.step(flow, event);
        assert!(is_idle(&step), "{case}");
        assert_eq!(reply(&step).status, status, "{case}: {step:?}");
        assert!(counted(&step, "denied", reason), "{case}: {step:?}");
        assert!(!counted(&step, "login", "completed"), "{case}");
        let cleared = header(reply(&step), "set-cookie");
        assert!(
            cleared.iter().all(|c| c.contains("Max-Age=0;")),
            "{case}: {cleared:?}"
        );
    }
}

#[test]
fn an_id_token_signed_with_a_key_not_fetched_yet_brings_the_key_fetch_forward() {
    let world = World::new();
    let (flow, nonce) = exchanging(&world);
    let token = mint(
        crate::core::jwks::Alg::Rs256,
        &json!({"alg": "RS256", "kid": "rotated"}),
        &claims(&nonce),
    );
    let step = world.step(flow, tokens(&token));
    assert_eq!(reply(&step).status, 502);
    assert!(step
        .effects
        .contains(&Effect::ExpediteKeyFetch { issuer: 0 }));
}

#[test]
fn a_replayed_code_in_a_signed_in_browser_goes_back_where_it_was() {
    let world = World::new();
    let (cookies, idp) = started(&world);
    let state = query_param(&idp, "state");
    let signed_in = format!(
        "{}; {}",
        cookies,
        session_cookie(&world.config, &session(NOW + 9_999))
    );
    let step = world.arrive(navigation(
        &format!("{CALLBACK}?code=c1&state={state}"),
        Some(&signed_in),
    ));
    let step = world.step(step.flow, answer(b"400", br#"{"error":"invalid_grant"}"#));
    let reply = reply(&step);
    assert_eq!(
        (reply.status, header(reply, "location")),
        (302, vec!["/app?x=1"])
    );
}

#[test]
fn missing_identity_claims_are_fetched_from_userinfo_for_the_same_subject() {
    let world = World::new();
    let (flow, nonce) = exchanging(&world);
    let mut bare = claims(&nonce);
    bare.as_object_mut().unwrap().remove("groups");
    let step = world.step(flow, tokens(&id_token(bare.clone())));
    assert!(matches!(step.flow, Flow::FetchingUserinfo(_)));
    let call = call(&step);
    assert_eq!(
        (call.method, call.url.as_str()),
        ("GET", "https://idp.example.com/userinfo")
    );
    assert!(call
        .headers
        .contains(&("authorization", "Bearer at".to_string())));

    let info = |sub: &str| {
        answer(
            b"200",
            json!({"sub": sub, "groups": ["admins"]})
                .to_string()
                .as_bytes(),
        )
    };
    let done = world.step(step.flow, info("u1"));
    let page = reply(&done);
    assert_eq!(page.status, 302);
    let cookie = cookies_set(page);
    let session = crate::core::decide::read_session(
        &world.config,
        &cookies::parse_cookies([cookie.as_bytes()]),
        NOW,
    )
    .unwrap();
    assert_eq!(session.groups, ["admins"]);

    for (case, event, reason) in [
        ("other subject", info("u2"), "userinfo_sub_mismatch"),
        ("timeout", no_answer(), "token_endpoint_status"),
        (
            "not sent",
            Event::CallNotSent("x".into()),
            "token_endpoint_status",
        ),
    ] {
        let (flow, nonce) = exchanging(&world);
        let mut bare = claims(&nonce);
        bare.as_object_mut().unwrap().remove("groups");
        let waiting = world.step(flow, tokens(&id_token(bare)));
        let step = world.step(waiting.flow, event);
        assert_eq!(reply(&step).status, 502, "{case}");
        assert!(counted(&step, "denied", reason), "{case}: {step:?}");
    }
}

#[test]
fn accounts_without_an_identity_or_outside_the_allowed_groups_get_no_session() {
    let world = World::with(config_with(json!({"groups_allowlist": ["admins"]})));
    let (flow, nonce) = exchanging(&world);
    let step = world.step(flow, tokens(&id_token(claims(&nonce))));
    assert_eq!(reply(&step).status, 403);
    let world = World::new();
    let (flow, nonce) = exchanging(&world);
    let mut anonymous = claims(&nonce);
    anonymous.as_object_mut().unwrap().remove("email");
    let mut world = world;
    world.discovery.as_mut().unwrap().userinfo_endpoint = None;
    let step = world.step(flow, tokens(&id_token(anonymous)));
    assert_eq!(reply(&step).status, 502);
    assert!(cookies_set(reply(&step)).is_empty());
}

#[test]
fn no_randomness_means_no_session() {
    let world = World::new();
    let (flow, nonce) = exchanging(&world);
    let step = flow.step(
        tokens(&id_token(claims(&nonce))),
        &world.inputs(),
        &mut NoRandom,
    );
    assert_eq!(reply(&step).status, 503);
}

use crate::core::cookies;

/// The session a completed login in `world` issues.
fn logged_in(world: &World, answer: Value) -> (Step, crate::core::session::Session) {
    let (flow, nonce) = exchanging(world);
    let mut answer = answer;
    answer["id_token"] = json!(id_token(claims(&nonce)));
    let step = world.step(flow, token_answer(answer));
    let jar = cookies_set(reply(&step));
    let session = crate::core::decide::read_session(
        &world.config,
        &cookies::parse_cookies([jar.as_bytes()]),
        NOW,
    )
    .unwrap();
    (step, session)
}

#[test]
fn the_session_keeps_the_token_it_forwards_and_drops_it_with_a_warning_when_it_cannot_fit() {
    let tokens = json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 300,
                        "refresh_token": "rt"});
    let none = World::new();
    assert_eq!(logged_in(&none, tokens.clone()).1.forward_token, None);

    let access = World::with(config_with(
        json!({"forward_token": {"session": "access_token"}}),
    ));
    let (_, session) = logged_in(&access, tokens.clone());
    assert_eq!(session.forward_token.as_deref(), Some("at-1"));
    let id = World::with(config_with(
        json!({"forward_token": {"session": "id_token"}}),
    ));
    let (_, session) = logged_in(&id, tokens.clone());
    assert!(session
        .forward_token
        .as_deref()
        .is_some_and(|t| t.starts_with("ey")));

    let mut huge = tokens;
    huge["access_token"] = json!("a".repeat(20_000));
    let (step, session) = logged_in(&access, huge);
    assert_eq!(session.forward_token, None);
    assert!(counted(&step, "session", "forward_token_dropped"));
    assert!(step
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Log(Level::Warn, _))));
    assert_eq!(
        session.refresh_token.as_deref(),
        Some("rt"),
        "the rest of the session stays"
    );
}
