use serde_json::{json, Value};

use crate::config::{Config, ConfigError};

const SECRET: &str = "a-datahub-token-signing-key-of-48-bytes-00000000";

fn env(name: &str) -> Option<String> {
    match name {
        "DATAHUB_SECRET" => Some(SECRET.to_string()),
        "SHORT_SECRET" => Some(SECRET[..31].to_string()),
        _ => None,
    }
}

/// A valid configuration with `extra` as its one extra issuer.
fn load(extra: Value) -> Result<Config, ConfigError> {
    let raw = json!({
        "issuer": "https://idp.example.com", "idp_cluster": "idp", "client_id": "app",
        "client_secret": "s", "session_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
        "extra_issuers": [extra],
    });
    Config::from_json(raw.to_string().as_bytes(), &env)
}

fn datahub() -> Value {
    json!({"issuer": "datahub-metadata-service", "hs256_secret_env": "DATAHUB_SECRET",
           "userid_claim": "actorId"})
}

fn with(mut object: Value, key: &str, value: Value) -> Value {
    object[key] = value;
    object
}

#[test]
fn a_pinned_issuer_needs_no_url_cluster_jwks_or_audiences() {
    let config = load(datahub()).unwrap();
    let issuer = &config.issuers[1];
    assert_eq!(issuer.issuer, "datahub-metadata-service");
    assert!(issuer.hs256_secret.is_some());
    assert!(issuer.audiences.is_empty());
    assert_eq!(issuer.jwks_uri, None);
    assert_eq!(issuer.userid_claims, ["actorId"]);
    assert!(config.issuers[0].hs256_secret.is_none());
    let with_audiences = load(with(datahub(), "audiences", json!(["datahub"]))).unwrap();
    assert_eq!(with_audiences.issuers[1].audiences, ["datahub"]);
}

#[test]
fn the_secret_never_shows_in_the_configuration_debug_output() {
    let config = load(datahub()).unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains(SECRET), "{printed}");
    assert!(!printed.contains("signing-key"), "{printed}");
}

#[test]
fn an_inline_secret_is_refused_naming_the_field_not_the_value() {
    for value in [json!(SECRET), json!(""), json!(42), json!({"k": SECRET})] {
        let error = load(with(datahub(), "hs256_secret", value)).unwrap_err();
        assert_eq!(error.field, "extra_issuers[0].hs256_secret");
        assert!(
            error.reason.contains("hs256_secret_env"),
            "{}",
            error.reason
        );
        assert!(!error.to_string().contains(SECRET));
    }
}

#[test]
fn a_missing_or_short_secret_is_refused_naming_the_field_not_the_value() {
    for name in ["NO_SUCH_VARIABLE", "SHORT_SECRET"] {
        let error = load(with(datahub(), "hs256_secret_env", json!(name))).unwrap_err();
        assert_eq!(error.field, "extra_issuers[0].hs256_secret_env");
        assert!(error.reason.contains(name), "{}", error.reason);
        assert!(!error.to_string().contains(&SECRET[..31]), "{error}");
    }
    let error = load(with(datahub(), "hs256_secret_env", json!(7))).unwrap_err();
    assert_eq!(error.field, "extra_issuers[0].hs256_secret_env");
}

#[test]
fn nothing_to_fetch_is_configurable_for_a_pinned_issuer() {
    for (key, value) in [
        ("cluster", json!("datahub")),
        ("jwks_uri", json!("https://datahub.example.com/jwks")),
        ("audiences", json!([])),
        ("audiences", json!([""])),
        ("issuer", json!("")),
    ] {
        let error = load(with(datahub(), key, value)).unwrap_err();
        assert_eq!(error.field, format!("extra_issuers[0].{key}"));
    }
}

#[test]
fn jwks_issuers_still_need_a_url_a_cluster_and_audiences() {
    let jwks = json!({"issuer": "https://k8s.example", "cluster": "k8s", "audiences": ["a"]});
    assert!(load(jwks.clone()).is_ok());
    for (key, value) in [
        ("issuer", json!("datahub-metadata-service")),
        ("cluster", Value::Null),
        ("audiences", Value::Null),
    ] {
        let error = load(with(jwks.clone(), key, value)).unwrap_err();
        assert_eq!(error.field, format!("extra_issuers[0].{key}"), "{key}");
    }
}
