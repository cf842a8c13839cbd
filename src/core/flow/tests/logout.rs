//! Both logout styles.

use serde_json::json;

use crate::core::flow::Effect;

use super::*;

fn logout_request(method: &str, cookie: &str) -> Request {
    Request::from_headers([
        (":method", method.as_bytes()),
        (":scheme", b"https"),
        (":authority", b"gate.example.com"),
        (":path", b"/authservice/logout"),
        ("sec-fetch-mode", b"navigate"),
        ("sec-fetch-site", b"same-origin"),
        ("cookie", cookie.as_bytes()),
    ])
}

#[test]
fn a_logout_navigation_clears_the_session_and_ends_it_at_the_idp() {
    let world = World::new();
    let cookie = session_cookie(&world.config, &session(NOW + 999));
    let step = world.arrive(logout_request("GET", &cookie));
    assert!(is_idle(&step) && counted(&step, "logout", ""));
    let reply = reply(&step);
    assert_eq!(reply.status, 302);
    let idp = location(reply);
    assert_eq!(idp.path(), "/logout");
    assert_eq!(query_param(&idp, "id_token_hint"), "old-id-token");
    assert_eq!(query_param(&idp, "client_id"), "app");
    assert!(query_param(&idp, "post_logout_redirect_uri").starts_with("https://gate.example.com"));
    let cleared = header(reply, "set-cookie");
    assert!(!cleared.is_empty() && cleared.iter().all(|c| c.contains("Max-Age=0;")));
}

#[test]
fn without_an_end_session_endpoint_logout_goes_to_after_logout_url() {
    let mut world = World::with(config_with(json!({"after_logout_url": "/bye"})));
    world.discovery.as_mut().unwrap().end_session_endpoint = None;
    let cookie = session_cookie(&world.config, &session(NOW + 999));
    let step = world.arrive(logout_request("GET", &cookie));
    assert_eq!(header(reply(&step), "location"), vec!["/bye"]);
}

#[test]
fn the_dashboard_api_logout_is_answered_201_with_where_to_go() {
    let world = World::new();
    let cookie = session_cookie(&world.config, &session(NOW + 999));
    let mut request = logout_request("POST", &cookie);
    request.navigation = false;
    let step = world.arrive(request);
    let reply = reply(&step);
    assert_eq!(reply.status, 201);
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        body["afterLogoutURL"],
        world.config.logout.after_logout_url.as_str()
    );
    assert!(header(reply, "set-cookie")
        .iter()
        .all(|c| c.contains("Max-Age=0;")));
}

fn revoke_at_idp(step: &Step) -> Option<&crate::core::flow::Call> {
    step.effects.iter().find_map(|e| match e {
        Effect::RevokeAtIdp(call) => Some(call),
        _ => None,
    })
}

#[test]
fn both_logout_styles_revoke_the_session_here_and_its_refresh_token_at_the_idp() {
    for method in ["GET", "POST"] {
        let mut world = World::new();
        world.discovery.as_mut().unwrap().revocation_endpoint = Some(format!("{ISS}/revoke"));
        let session = session(NOW + 999);
        let cookie = session_cookie(&world.config, &session);
        let mut request = logout_request(method, &cookie);
        request.navigation = method == "GET";
        let step = world.arrive(request);
        let call = revoke_at_idp(&step).expect("a revocation call");
        assert_eq!(
            (call.method, call.url.as_str()),
            ("POST", "https://idp.example.com/revoke")
        );
        let body = call.body.as_deref().unwrap();
        assert!(body.contains("token=rt-1") && body.contains("token_type_hint=refresh_token"));
        assert!(call
            .headers
            .iter()
            .any(|(n, v)| *n == "authorization" && v.starts_with("Basic ")));
        // The copied cookie is refused afterwards.
        world.revoked.apply(&step.effects, NOW);
        let replay = world.arrive(api_call("/api", Some(&cookie)));
        assert_eq!(reply(&replay).status, 401, "{method}");
        assert!(counted(&replay, "denied", "session_revoked"));
    }
}

#[test]
fn no_revocation_call_when_turned_off_or_not_offered() {
    let mut off = World::with(config_with(json!({"revoke_tokens_on_logout": false})));
    off.discovery.as_mut().unwrap().revocation_endpoint = Some(format!("{ISS}/revoke"));
    let cookie = session_cookie(&off.config, &session(NOW + 999));
    let step = off.arrive(logout_request("GET", &cookie));
    assert!(revoke_at_idp(&step).is_none());
    assert!(
        step.effects
            .iter()
            .any(|e| matches!(e, Effect::Revoke { .. })),
        "still revoked here"
    );
    let world = World::new();
    let step = world.arrive(logout_request("GET", &cookie));
    assert!(
        revoke_at_idp(&step).is_none(),
        "the IdP has no revocation_endpoint"
    );
}
