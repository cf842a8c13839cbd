//! What an operator sees: every metric from the start, a debug line per refusal, call and
//! wait latencies, and error replies naming their request.

use super::*;
use crate::core::metrics::{self, CallKind, KEY_WAIT_HISTOGRAM};
use crate::filter::host::MetricKind;

#[test]
fn every_metric_exists_at_zero_before_any_request() {
    let envoy = Envoy::new(2);
    for (prefix, label) in metrics::counters() {
        let name = metrics::counter_name(prefix, label, crate::config::Mode::Enforce);
        assert_eq!(
            envoy.host.defined.get(&name),
            Some(&MetricKind::Counter),
            "{name}"
        );
    }
    for name in [
        "denied.reason.expired.mode.enforce",
        "allowed.reason.session.mode.enforce",
        "issuer.idp_example_com.jwks_fetch_failed",
    ] {
        assert!(envoy.host.defined.contains_key(name), "{name}");
    }
    assert_eq!(
        envoy.host.defined.get("issuer.idp_example_com.jwks_keys"),
        Some(&MetricKind::Gauge)
    );
    for name in CallKind::ALL
        .map(CallKind::histogram)
        .into_iter()
        .chain([KEY_WAIT_HISTOGRAM])
    {
        assert_eq!(
            envoy.host.defined.get(name),
            Some(&MetricKind::Histogram),
            "{name}"
        );
    }
    assert!(envoy.host.counters.is_empty(), "{:?}", envoy.host.counters);
}

#[test]
fn audit_mode_is_a_tag_of_the_request_counters() {
    let mut config = plugin_config();
    config["mode"] = json!("audit");
    let envoy = Envoy::configured(1, &config, &|_: &str| None);
    assert!(envoy
        .host
        .defined
        .contains_key("denied.reason.no_credential.mode.audit"));
    assert!(!envoy
        .host
        .defined
        .contains_key("denied.reason.no_credential.mode.enforce"));
}

fn refused_bearer(envoy: &mut Envoy) -> String {
    envoy.fetch_keys(0);
    let claims = json!({"iss": ISS, "aud": "app", "sub": "u1", "exp": NOW - 600, "email": "a@x"});
    let token = mint(Alg::Rs256, &json!({"alg": "RS256", "kid": "rsa"}), &claims);
    let headers = [
        (":path", "/api"),
        ("authorization", &format!("Bearer {token}")),
        ("x-request-id", "7d3c1e0a-5f1b-4c1e-9a8e-1b2c3d4e5f60"),
    ];
    envoy.send(0, 2, &headers);
    token
}

#[test]
fn a_refused_request_is_logged_at_debug_level_by_reason_issuer_and_request_id() {
    let mut envoy = Envoy::new(1);
    envoy.host.debug = true;
    let token = refused_bearer(&mut envoy);
    let debug: Vec<&String> = envoy
        .host
        .logs
        .iter()
        .filter(|(level, _)| *level == Level::Debug)
        .map(|(_, line)| line)
        .collect();
    assert_eq!(
        debug,
        ["request refused: reason=expired issuer=idp_example_com request_id=7d3c1e0a-5f1b-4c1e-9a8e-1b2c3d4e5f60"]
    );
    assert!(envoy
        .host
        .logs
        .iter()
        .all(|(_, line)| !line.contains(&token[..20])));
}

#[test]
fn nothing_is_logged_per_refusal_when_envoy_is_not_at_debug_level() {
    let mut envoy = Envoy::new(1);
    refused_bearer(&mut envoy);
    assert_eq!(envoy.host.counter("denied.expired"), 1);
    assert!(envoy
        .host
        .logs
        .iter()
        .all(|(level, _)| *level != Level::Debug));
}

#[test]
fn a_bearer_refusal_says_why_and_names_its_request() {
    let mut envoy = Envoy::new(1);
    refused_bearer(&mut envoy);
    let reply = &envoy.host.replies[&2];
    assert_eq!(reply.status, 401);
    assert_eq!(envoy.host.counter("error_replies.401"), 1);
    let challenge = reply.headers.iter().find(|(n, _)| *n == "www-authenticate");
    assert_eq!(
        challenge.map(|(_, v)| v.as_str()),
        Some("Bearer error=\"invalid_token\", error_description=\"the token has expired\"")
    );
    assert!(
        reply
            .body
            .ends_with("request id: 7d3c1e0a-5f1b-4c1e-9a8e-1b2c3d4e5f60\n"),
        "{}",
        reply.body
    );
}

#[test]
fn key_fetch_calls_and_the_wait_for_keys_are_timed() {
    let mut envoy = Envoy::new(1);
    envoy.send(
        0,
        2,
        &[(":path", "/api"), ("authorization", &bearer("a@x"))],
    );
    envoy.tick(0);
    envoy.host.now_ms += 40;
    envoy.answer_root_call(0, ok(discovery_body()));
    envoy.host.now_ms += 25;
    envoy.answer_root_call(0, ok(jwks_body(all_jwks())));
    let recorded = |name: &str| envoy.host.histograms.get(name).cloned().unwrap_or_default();
    assert_eq!(recorded(CallKind::Discovery.histogram()), [40]);
    assert_eq!(recorded(CallKind::Jwks.histogram()), [25]);
    assert_eq!(recorded(KEY_WAIT_HISTOGRAM), [65]);
    assert_eq!(envoy.host.resumed, [2]);
}
