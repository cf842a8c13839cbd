use serde_json::{json, Value};

use crate::config::tests::{minimal, no_env, with};
use crate::config::{Config, ConfigError};

fn check_all(config: &Value) -> Vec<ConfigError> {
    Config::check_all(config.to_string().as_bytes(), &no_env)
}

fn fields(errors: &[ConfigError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn a_valid_configuration_has_no_errors() {
    assert_eq!(check_all(&minimal()), vec![]);
}

#[test]
fn independent_errors_are_all_reported_with_every_unknown_key() {
    let config = with(json!({
        "colour": "blue",
        "isuer": "https://typo.example.com",
        "session_same_site": "Sometimes",
        "mode": "strict",
        "clock_skew_seconds": 9999,
    }));
    let errors = check_all(&config);
    assert_eq!(
        fields(&errors),
        [
            "colour",
            "isuer",
            "session_same_site",
            "mode",
            "clock_skew_seconds"
        ]
    );
    assert_eq!(errors[1].reason, "unknown key (did you mean \"issuer\"?)");
}

#[test]
fn missing_secrets_and_a_missing_issuer_are_each_named() {
    let config = with(json!({
        "issuer": null,
        "client_secret": null,
        "client_secret_env": "OIDC_CLIENT_SECRET",
        "session_keys": null,
        "session_keys_env": "OIDC_SESSION_KEYS",
    }));
    let errors = check_all(&config);
    assert_eq!(
        fields(&errors),
        ["issuer", "client_secret_env", "session_keys_env"]
    );
}

#[test]
fn claim_settings_are_checked_without_a_client_id() {
    // The client id is only the default audience: its absence must not invent an audience error.
    let config = with(json!({"client_id": null, "userid_claim": ".email"}));
    assert_eq!(fields(&check_all(&config)), ["client_id", "userid_claim"]);
}

#[test]
fn unreadable_input_is_one_error() {
    let errors = Config::check_all(b"{\"issuer\": ", &no_env);
    assert_eq!(fields(&errors), ["configuration"]);
    assert_eq!(
        fields(&Config::check_all(b"[1]", &no_env)),
        ["configuration"]
    );
}

#[test]
fn the_filter_s_own_error_is_always_among_them() {
    let cases = [
        json!({"issuer": "https://idp.example.com/"}),
        json!({"extra_issuers": [{"issuer": "https://idp.example.com", "cluster": "c", "audiences": ["a"]}]}),
        json!({"rules": [{"action": "allow"}], "mode": "x"}),
        json!({"forward_token": {"session": "both"}, "userid_header": "cookie"}),
        json!({"login_path": "/authservice/logout"}),
        json!({"token_headers": ["cookie"], "opaque_tokens": "guess"}),
        json!({"idp_clusters": {"a": 1}, "token_endpoint_auth_method": "none"}),
    ];
    for changes in cases {
        let config = with(changes.clone());
        let first = Config::from_json(config.to_string().as_bytes(), &no_env).unwrap_err();
        let all = check_all(&config);
        assert!(all.contains(&first), "{changes}: {first:?} not in {all:?}");
    }
}
