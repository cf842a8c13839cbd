//! Both logout styles.

use serde_json::json;

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
        world.config.after_logout_url.as_str()
    );
    assert!(header(reply, "set-cookie")
        .iter()
        .all(|c| c.contains("Max-Age=0;")));
}
