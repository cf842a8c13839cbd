use serde_json::json;

use super::*;

use crate::migrate::{accepted, dropped_settings as dropped};

fn converted(text: &str) -> Conversion {
    accepted(convert(text))
}

#[test]
fn the_guides_kubeflow_parameters_become_its_plugin_configuration() {
    let c = converted(include_str!(
        "../../../../tests/fixtures/migrate/authservice-kubeflow.env"
    ));
    let expected = json!({
        "issuer": "http://dex.auth.svc.cluster.local:5556/dex",
        "idp_cluster": "outbound|5556||dex.auth.svc.cluster.local",
        "authorization_endpoint": "/dex/auth",
        "scopes": ["openid", "profile", "email", "groups"],
        "redirect_uri": "/authservice/oidc/callback",
        "skip_auth_paths": ["/dex"],
        "after_logout_url": "/",
        "logout_path": "/authservice/logout",
        "userid_header": "kubeflow-userid",
        "userid_prefix": "",
        "userid_claim": "email",
        "client_id": "REPLACE-WITH-CLIENT-ID",
        "client_secret_env": "OIDC_CLIENT_SECRET",
        "session_keys_env": "OIDC_SESSION_KEYS",
    });
    assert_eq!(Value::Object(c.config.clone()), expected);
    assert_eq!(
        dropped(&c),
        [
            "KUBERNETES_AUTHN_ENABLED (on by default)",
            "PORT",
            "STORE_PATH"
        ]
    );
    let checked: Vec<&str> = c.checks.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(checked, ["idp_cluster", "client_id"]);
}

#[test]
fn secrets_are_named_never_copied() {
    let c =
        converted("OIDC_PROVIDER=https://idp.example\nCLIENT_ID=kf\nCLIENT_SECRET=s3cr3t-value\n");
    assert_eq!(c.config["client_secret_env"], "OIDC_CLIENT_SECRET");
    let report = c.report();
    assert!(!report.contains("s3cr3t-value"), "{report}");
    assert!(!serde_json::to_string(&c.config)
        .expect("json")
        .contains("s3cr3t-value"));
    assert!(
        report.contains("set OIDC_CLIENT_SECRET: the value of CLIENT_SECRET"),
        "{report}"
    );
    assert!(
        report.contains("set OIDC_SESSION_KEYS: new keys"),
        "{report}"
    );
}

#[test]
fn env_files_take_export_quotes_comments_and_the_last_line_wins() {
    let c = converted(
        "# comment\nexport OIDC_PROVIDER='https://idp.example/'\nCLIENT_ID=\"kf\"\n\
         USERID_CLAIM=sub # inline\nUSERID_CLAIM=preferred_username\n",
    );
    assert_eq!(c.config["issuer"], "https://idp.example");
    assert_eq!(c.config["idp_cluster"], "outbound|443||idp.example");
    assert_eq!(c.config["client_id"], "kf");
    assert_eq!(c.config["userid_claim"], "preferred_username");
    assert!(convert("not a setting\n").is_err());
    assert!(convert("BAD KEY=1\n").is_err());
}

#[test]
fn the_url_prefix_gives_the_paths_and_is_no_skip_path() {
    let c = converted(
        "OIDC_PROVIDER=https://idp.example\nAUTHSERVICE_URL_PREFIX=https://kf.example/auth\n\
         SKIP_AUTH_URLS=/auth/,/public/,/\nSKIP_AUTH_URI=/static /healthz\n",
    );
    assert_eq!(c.config["redirect_uri"], "/auth/oidc/callback");
    assert_eq!(c.config["logout_path"], "/auth/logout");
    assert_eq!(
        c.config["skip_auth_paths"],
        json!(["/public", "/static", "/healthz"])
    );
    let why = |setting: &str| {
        c.dropped
            .iter()
            .find(|(s, _)| s == setting)
            .map(|(_, w)| w.clone())
            .unwrap_or_default()
    };
    assert!(why("SKIP_AUTH_URLS /auth/").contains("own prefix"));
    assert!(why("SKIP_AUTH_URLS /").contains("the filter refuses"));
}

#[test]
fn sessions_identity_and_authorization_carry_over() {
    let c = converted(
        "OIDC_PROVIDER=https://idp.example\nSESSION_MAX_AGE=3600\nSESSION_SAME_SITE=strict\n\
         STRICT_SESSION_VALIDATION=true\nGROUPS_ALLOWLIST=admins, ml\nGROUPS_CLAIM=roles\n\
         USERID_TRANSFORMERS=[{\"matches\": \"@example\\\\.com$\", \"replaces\": \"\"}]\n\
         ACCESS_TOKEN_AUTHN=opaque\nKUBERNETES_AUTHN_ENABLED=false\nCA_BUNDLE=/ca.pem\nWHATEVER=1\n",
    );
    assert_eq!(c.config["session_max_age_seconds"], 3600);
    assert_eq!(c.config["session_same_site"], "Strict");
    assert_eq!(c.config["session_revalidate_seconds"], 300);
    assert_eq!(c.config["groups_allowlist"], json!(["admins", "ml"]));
    assert_eq!(c.config["groups_claim"], "roles");
    assert_eq!(
        c.config["userid_transformers"][0]["matches"],
        "@example\\.com$"
    );
    assert_eq!(c.config["scopes"], json!(["openid", "email"]));
    assert_eq!(c.config["opaque_tokens"], "userinfo");
    assert_eq!(dropped(&c), ["CA_BUNDLE", "WHATEVER"]);
}

#[test]
fn a_value_the_filter_refuses_is_reported_not_printed() {
    let c = converted("OIDC_PROVIDER=https://idp.example\nSESSION_MAX_AGE=5\n");
    assert!(!c.config.contains_key("session_max_age_seconds"));
    let (setting, why) = &c.dropped[1];
    assert_eq!(setting, "SESSION_MAX_AGE");
    assert!(
        why.contains("the filter refuses session_max_age_seconds"),
        "{why}"
    );
}
