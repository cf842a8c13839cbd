//! Audit mode, and the login path.

use serde_json::json;

use crate::core::flow::Effect;

use super::*;

fn audit_world() -> World {
    World::with(config_with(json!({"mode": "audit", "rules": [
        {"path_prefix": "/admin", "groups_allowlist": ["ops"]}
    ]})))
}

fn no_reply(step: &Step) -> bool {
    !step.effects.iter().any(|e| matches!(e, Effect::Reply(_)))
}

#[test]
fn what_enforce_mode_would_refuse_or_redirect_passes_without_identity_and_says_so() {
    let world = audit_world();
    let foreign = "authservice_session=forged; theme=dark";
    for (request, note) in [
        (api_call("/api", None), "401 no_credential"),
        (navigation("/page", None), "302 login"),
        (api_call("/api", Some(foreign)), "401 session_invalid"),
    ] {
        let step = world.arrive(request);
        assert!(no_reply(&step), "{note}");
        let passed = pass(&step);
        assert_eq!(
            (passed.identity.as_ref(), passed.audit.as_deref()),
            (None, Some(note))
        );
        assert!(counted(&step, "audit", "passed_instead"), "{note}");
    }
    // The filter's own cookies never reach the upstream, even in audit mode.
    let step = world.arrive(api_call("/api", Some(foreign)));
    assert_eq!(pass(&step).cookie, Some(Some(b"theme=dark".to_vec())));
    assert!(
        counted(&step, "denied", "session_invalid"),
        "counted as in enforce mode"
    );
}

#[test]
fn audit_mode_sets_identity_when_the_request_authenticates_and_notes_a_rule_refusal() {
    let world = audit_world();
    let cookie = session_cookie(&world.config, &session(NOW + 3600));
    let step = world.arrive(api_call("/api", Some(&cookie)));
    let passed = pass(&step);
    assert_eq!(
        passed.identity.as_ref().map(|i| i.userid.as_str()),
        Some("alice@example.com")
    );
    assert_eq!(passed.audit, None);

    let step = world.arrive(api_call("/admin/x", Some(&cookie)));
    assert_eq!(pass(&step).identity, None);
    assert_eq!(pass(&step).audit.as_deref(), Some("403 group_not_allowed"));
}

#[test]
fn the_filters_own_endpoints_work_as_in_enforce_mode() {
    let world = audit_world();
    let step = world.arrive(navigation("/authservice/logout", None));
    assert_eq!(reply(&step).status, 302);
    let step = world.arrive(navigation(
        "/authservice/oidc/callback?code=x&state=y",
        None,
    ));
    assert!(!no_reply(&step));
    let step = world.arrive(navigation("/authservice/login?rd=/notebooks", None));
    assert_eq!(reply(&step).status, 302);
}

/// Where the login a reply starts comes back to, from its flow cookie.
fn return_to(world: &World, login: &Reply) -> String {
    let jar = cookies_set(login);
    let cookies: Vec<(&str, &str)> = jar.split("; ").filter_map(|c| c.split_once('=')).collect();
    let config = &world.config;
    let state = query_param(&location(login), "state");
    let opened = crate::core::session::open_login_state(
        &cookies,
        &config.session.keys,
        &config.session.cookie_name,
        ISS,
        &state,
        NOW,
    );
    opened.unwrap().return_to
}

#[test]
fn the_login_path_starts_a_login_that_returns_to_a_same_origin_rd() {
    let world = World::new();
    for (rd, back_to) in [
        ("?rd=%2Fnotebooks%2Fx%3Fa%3D1", "/notebooks/x?a=1"),
        ("", "/"),
        ("?rd=https%3A%2F%2Fevil.example", "/"),
        ("?rd=%2F%2Fevil.example", "/"),
        ("?rd=%2F%5Cevil.example", "/"),
    ] {
        let step = world.arrive(navigation(&format!("/authservice/login{rd}"), None));
        let login = reply(&step);
        assert_eq!(login.status, 302, "{rd}");
        assert!(
            location(login)
                .as_str()
                .starts_with("https://idp.example.com/auth"),
            "{rd}"
        );
        assert_eq!(return_to(&world, login), back_to, "{rd}");
    }
    let post = Request::from_headers([(":method", &b"POST"[..]), (":path", b"/authservice/login")]);
    assert_eq!(reply(&world.arrive(post)).status, 405);
}

#[test]
fn enforce_mode_has_no_audit_note() {
    let step = World::new().arrive(api_call("/api", None));
    assert_eq!(reply(&step).status, 401);
    assert!(!counted(&step, "audit", "passed_instead"));
}
