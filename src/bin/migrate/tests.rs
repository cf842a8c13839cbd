use serde_json::json;

use super::*;

#[test]
fn a_refused_setting_is_dropped_with_the_filters_reason_and_its_source_named() {
    let mut c = Conversion::default();
    c.issuer(Some("https://idp.example:8443/realms/kf"), "OIDC_PROVIDER");
    c.client_id(Some("kf"), "CLIENT_ID");
    c.secrets("x", "y");
    c.set("session_same_site", "None", "SESSION_SAME_SITE");
    c.set("session_cookie_secure", false, "cookie_secure");
    let c = c.finish().expect("valid once the refused key is gone");
    assert_eq!(c.config["idp_cluster"], "outbound|8443||idp.example");
    assert!(!c.config.contains_key("session_same_site"));
    let (setting, why) = &c.dropped[0];
    assert_eq!(setting, "SESSION_SAME_SITE");
    assert!(
        why.starts_with("the filter refuses session_same_site"),
        "{why}"
    );
}

#[test]
fn rules_the_filter_refuses_are_reported_one_by_one() {
    let mut c = Conversion::default();
    c.issuer(Some("https://idp.example"), "issuer");
    c.client_id(None, "CLIENT_ID");
    c.secrets("x", "y");
    c.rule(
        json!({"path_glob": "/**/a/**/b/**", "action": "allow"}),
        "skip_auth_routes r1",
    );
    c.rule(json!({"path_prefix": "/ok", "action": "deny"}), "r2");
    let c = c.finish().expect("valid");
    assert_eq!(
        c.config["rules"],
        json!([{"path_prefix": "/ok", "action": "deny"}])
    );
    assert_eq!(c.dropped[0].0, "skip_auth_routes r1");
    assert!(c.dropped[0].1.contains("at most 2"), "{}", c.dropped[0].1);
}

#[test]
fn the_report_is_one_line_per_item_starting_with_its_kind() {
    let mut c = Conversion::default();
    c.variable("A", "from b");
    c.check("k", "look");
    c.drop("S", "why");
    assert_eq!(
        c.report(),
        "set A: from b\ncheck k: look\nnot carried over S: why\n"
    );
}
