use super::*;
use crate::core::flow::tests::config_with;
use serde_json::json;

#[test]
fn reason_issuer_and_mode_are_tags_of_the_name() {
    assert_eq!(
        counter_name("denied", "expired", Mode::Enforce),
        "denied.reason.expired.mode.enforce"
    );
    assert_eq!(
        counter_name("allowed", "bearer", Mode::Audit),
        "allowed.reason.bearer.mode.audit"
    );
    assert_eq!(
        counter_name("backchannel_logout", "accepted", Mode::Enforce),
        "backchannel_logout.reason.accepted"
    );
    assert_eq!(
        counter_name("login", "started", Mode::Enforce),
        "login.started"
    );
    assert_eq!(counter_name("logout", "", Mode::Enforce), "logout");
    let dex = IssuerMetrics::new("dex");
    assert_eq!(dex.fetch_ok, "issuer.dex.jwks_fetch_ok");
    assert_eq!(dex.age_seconds, "issuer.dex.jwks_age_seconds");
    assert_eq!(CallKind::Token.histogram(), "idp_call_ms.kind.token");
}

#[test]
fn every_counter_has_its_own_name() {
    let names: Vec<String> = counters()
        .into_iter()
        .map(|(prefix, label)| counter_name(prefix, label, Mode::Enforce))
        .collect();
    for (i, name) in names.iter().enumerate() {
        assert!(!names[..i].contains(name), "{name} twice");
    }
    assert!(names.contains(&"denied.reason.unknown_kid.mode.enforce".to_string()));
    assert!(names.contains(&"backchannel_logout.reason.bad_signature".to_string()));
}

#[test]
fn issuers_are_named_by_configuration_or_host() {
    let extra = json!({"issuer_name": "dex", "extra_issuers": [
        {"issuer": "https://K8s.example:6443/x", "cluster": "k", "audiences": ["a"]},
        {"issuer": "https://k8s.example:6443/y", "cluster": "k", "audiences": ["a"]}]});
    let names: Vec<String> = IssuerMetrics::of(&config_with(extra))
        .into_iter()
        .map(|m| m.keys)
        .collect();
    assert_eq!(
        names,
        [
            "issuer.dex.jwks_keys",
            "issuer.k8s_example_6443.jwks_keys",
            "issuer.k8s_example_6443_3.jwks_keys"
        ]
    );
}

/// The Prometheus name of a metric once Envoy's shipped stats tags took its tags out.
fn prometheus_name(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let mut kept = vec!["oidc_gate"];
    let mut i = 0;
    while i < parts.len() {
        match parts[i] {
            "reason" | "mode" | "status" | "kind" | "issuer" => i += 2,
            part => {
                kept.push(part);
                i += 1;
            }
        }
    }
    kept.join("_")
}

#[test]
fn the_readme_lists_every_metric() {
    let readme = include_str!("../../../README.md");
    let metrics = IssuerMetrics::new("x");
    let names = counters()
        .into_iter()
        .map(|(prefix, label)| counter_name(prefix, label, Mode::Enforce))
        .chain([
            metrics.fetch_ok,
            metrics.fetch_failed,
            metrics.keys,
            metrics.age_seconds,
        ])
        .chain(CallKind::ALL.map(|kind| kind.histogram().to_string()))
        .chain([
            KEY_WAIT_HISTOGRAM.to_string(),
            REVOCATION_ENTRIES.to_string(),
        ]);
    for name in names {
        let shown = prometheus_name(&name);
        assert!(
            readme.contains(&format!("`{shown}`")),
            "README lacks {shown} ({name})"
        );
    }
}
