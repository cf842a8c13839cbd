use serde_json::json;

use super::*;

use crate::migrate::{accepted, dropped_settings as dropped};

fn converted(text: &str) -> Conversion {
    accepted(convert(text))
}

#[test]
fn kubeflows_oauth2_proxy_cfg_becomes_the_guides_configuration() {
    let c = converted(include_str!(
        "../../../../tests/fixtures/migrate/oauth2-proxy-kubeflow.cfg"
    ));
    let expected = json!({
        "issuer": "http://dex.auth.svc.cluster.local:5556/dex",
        "idp_cluster": "outbound|5556||dex.auth.svc.cluster.local",
        "authorization_endpoint": "/dex/auth",
        "scopes": ["openid", "profile", "email", "groups"],
        "redirect_uri": "/oauth2/callback",
        "logout_path": "/oauth2/sign_out",
        "login_path": "/oauth2/start",
        "skip_auth_paths": ["/dex"],
        "rules": [
            {"path_glob": "/**/api/**", "unauthenticated": "401"},
            {"path_glob": "/**/apis/**", "unauthenticated": "401"},
            {"path_glob": "/ml_metadata*/**", "unauthenticated": "401"},
        ],
        "claim_headers": {
            "x-auth-request-user": "sub",
            "x-auth-request-email": "email",
            "x-auth-request-groups": "groups",
            "x-auth-request-preferred-username": "preferred_username",
        },
        "session_cookie_name": "oauth2_proxy_kubeflow",
        "session_max_age_seconds": 86400,
        "client_id": "REPLACE-WITH-CLIENT-ID",
        "client_secret_env": "OIDC_CLIENT_SECRET",
        "session_keys_env": "OIDC_SESSION_KEYS",
    });
    assert_eq!(Json::Object(c.config.clone()), expected);
    assert_eq!(
        dropped(&c),
        [
            "skip_oidc_discovery",
            "redeem_url",
            "oidc_jwks_url",
            "upstreams",
            "skip_provider_button",
            "provider_display_name",
            "custom_sign_in_logo",
            "banner",
            "footer",
            "prompt",
            "set_authorization_header",
            "code_challenge_method",
        ]
    );
}

#[test]
fn skip_routes_become_allow_rules_and_regexes_without_one_are_reported() {
    let c = converted(
        "oidc_issuer_url = \"https://idp.example\"\nprovider = \"oidc\"\n\
         skip_auth_routes = [\"^/assets/\", \"GET=^/favicon\", \"\\\\.bundle\\\\.js$\", \
         \"^/(a|b)/\", \"^/x.y$\"]\n",
    );
    assert_eq!(c.config["skip_auth_paths"], json!(["/assets"]));
    assert_eq!(
        c.config["rules"],
        json!([
            {"path_glob": "/favicon*/**", "methods": ["GET"], "action": "allow"},
            {"path_glob": "/**/*.bundle.js", "action": "allow"},
        ])
    );
    let (setting, why) = &c.dropped[0];
    assert_eq!(setting, "skip_auth_routes \"^/(a|b)/\"");
    assert!(why.contains("one reading of the path"), "{why}");
    let (setting, why) = &c.dropped[1];
    assert_eq!(setting, "skip_auth_routes \"^/x.y$\"");
    assert!(
        why.contains(r#"close: {"action":"allow","path_exact":"/x.y"}"#),
        "{why}"
    );
}

#[test]
fn flags_read_like_the_file() {
    let c = converted(
        "- --provider=oidc\n- --oidc-issuer-url=https://idp.example\n- --client-id=kf\n\
         --client-secret=s3cr3t --cookie-secure=false --skip-auth-route=^/a/\n\
         - --skip-auth-route=^/b/\n- --allowed-group=ml --allowed-group=admins\n\
         - --cookie-expire=1h30m --cookie-refresh=5m --cookie-samesite=strict\n\
         - --email-domain=example.com --skip-jwt-bearer-tokens=true\n\
         - --extra-jwt-issuers=https://kubernetes.default.svc=api\n",
    );
    assert_eq!(c.config["client_id"], "kf");
    assert_eq!(c.config["skip_auth_paths"], json!(["/a", "/b"]));
    assert_eq!(c.config["groups_allowlist"], json!(["ml", "admins"]));
    assert_eq!(c.config["session_cookie_secure"], false);
    assert_eq!(c.config["session_max_age_seconds"], 5400);
    assert_eq!(c.config["session_revalidate_seconds"], 300);
    assert_eq!(c.config["session_same_site"], "Strict");
    assert_eq!(
        c.config["extra_issuers"],
        json!([{"issuer": "https://kubernetes.default.svc", "cluster": "outbound|443||kubernetes.default.svc",
                "audiences": ["api"], "userid_claim": "sub"}])
    );
    assert_eq!(dropped(&c), ["email_domains [\"example.com\"]"]);
    assert!(!c.report().contains("s3cr3t"));
}

#[test]
fn quoted_flag_values_keep_their_spaces() {
    let c = converted(
        "- --provider=oidc\n- --oidc-issuer-url=https://idp.example\n- --client-id=kf\n\
         - --scope=\"email groups\" --cookie-samesite='lax'\n\
         - \"--allowed-group=ml team\" --allowed-group=admins\n",
    );
    assert_eq!(c.config["scopes"], json!(["openid", "email", "groups"]));
    assert_eq!(c.config["session_same_site"], "Lax");
    assert_eq!(c.config["groups_allowlist"], json!(["ml team", "admins"]));
    assert!(dropped(&c).is_empty(), "{:?}", dropped(&c));
}

#[test]
fn go_durations_in_seconds() {
    assert_eq!(go_duration_seconds("24h"), Some(86400));
    assert_eq!(go_duration_seconds("168h0m0s"), Some(604_800));
    assert_eq!(go_duration_seconds("0"), Some(0));
    assert_eq!(go_duration_seconds("1.5h"), None);
    assert_eq!(go_duration_seconds("10"), None);
}
