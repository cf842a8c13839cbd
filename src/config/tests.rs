use super::*;
use crate::core::policy::{Action, HostPattern, PathPattern, Unauthenticated};
use serde_json::json;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

pub(crate) fn minimal() -> Value {
    json!({
        "issuer": "https://idp.example.com",
        "idp_cluster": "idp",
        "client_id": "app",
        "client_secret": "s3cret",
        "session_keys": [KEY],
    })
}

pub(crate) fn no_env(_: &str) -> Option<String> {
    None
}

pub(crate) fn with(changes: Value) -> Value {
    let mut config = minimal();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            config.as_object_mut().unwrap().remove(k);
        } else {
            config[k] = v.clone();
        }
    }
    config
}

fn load(config: &Value) -> Result<Config, ConfigError> {
    Config::from_json(config.to_string().as_bytes(), &no_env)
}

/// The field named by the error for `changes` applied to a valid config.
fn failing_field(changes: Value) -> String {
    load(&with(changes)).unwrap_err().field
}

#[test]
fn minimal_config_gets_the_documented_defaults() {
    let c = load(&minimal()).unwrap();
    assert_eq!(c.issuers.len(), 1);
    assert_eq!(c.issuers[0].audiences, vec!["app"]);
    assert_eq!(c.issuers[0].userid_claims, ["email"]);
    assert_eq!(c.issuers[0].groups_claims, ["groups"]);
    assert_eq!(c.redirect_uri, "/authservice/oidc/callback");
    assert_eq!(c.scopes, vec!["openid", "email", "profile", "groups"]);
    assert_eq!(c.session.cookie_name, "authservice_session");
    assert_eq!(c.session.max_age_seconds, 86_400);
    assert_eq!(c.session.same_site, SameSite::Lax);
    assert!(c.session.secure);
    assert_eq!(
        (c.userid_header.as_str(), c.groups_header.as_str()),
        ("kubeflow-userid", "kubeflow-groups")
    );
    assert_eq!(c.groups_allowlist, None);
    assert_eq!(c.logout.path, "/authservice/logout");
    assert_eq!(c.logout.after_logout_url, "/");
    assert_eq!(
        (
            c.jwks_refresh_seconds,
            c.clock_skew_seconds,
            c.idp_timeout_ms
        ),
        (600, 60, 5000)
    );
}

#[test]
fn empty_configuration_reads_as_an_empty_object() {
    for raw in [&b""[..], b"  \n", b"{}"] {
        let e = Config::from_json(raw, &no_env).unwrap_err();
        assert_eq!(e.field, "issuer");
        assert_eq!(e.to_string(), "invalid configuration: issuer: required");
    }
}

#[test]
fn malformed_json_is_reported() {
    let e = Config::from_json(b"{\"issuer\": ", &no_env).unwrap_err();
    assert_eq!(e.field, "configuration");
    assert!(e.reason.starts_with("not valid JSON"));
    assert_eq!(
        Config::from_json(b"[1]", &no_env).unwrap_err().reason,
        "must be a JSON object"
    );
}

#[test]
fn each_required_field_is_named_when_missing() {
    for key in [
        "issuer",
        "idp_cluster",
        "client_id",
        "client_secret",
        "session_keys",
    ] {
        assert_eq!(failing_field(json!({ key: null })), key);
    }
}

#[test]
fn unknown_keys_are_named_with_a_hint() {
    let e = load(&with(json!({"isuer": "x"}))).unwrap_err();
    assert_eq!(e.field, "isuer");
    assert_eq!(e.reason, "unknown key (did you mean \"issuer\"?)");
    let e = load(&with(json!({"extra_issuers": [{"issuer": "https://k", "cluster": "k", "audiences": ["a"], "aud": 1}]}))).unwrap_err();
    assert_eq!(e.field, "extra_issuers[0].aud");
    assert_eq!(
        load(&with(json!({"zzzzzzzz": 1}))).unwrap_err().reason,
        "unknown key"
    );
}

#[test]
fn wrong_types_name_the_field() {
    assert_eq!(failing_field(json!({"issuer": 5})), "issuer");
    assert_eq!(failing_field(json!({"scopes": "openid"})), "scopes");
    assert_eq!(failing_field(json!({"scopes": ["openid", 3]})), "scopes[1]");
    assert_eq!(
        failing_field(json!({"session_cookie_secure": "yes"})),
        "session_cookie_secure"
    );
    assert_eq!(
        failing_field(json!({"idp_clusters": ["a"]})),
        "idp_clusters"
    );
    assert_eq!(
        failing_field(json!({"idp_clusters": {"h": ""}})),
        "idp_clusters.h"
    );
    assert_eq!(failing_field(json!({"extra_issuers": {}})), "extra_issuers");
    assert_eq!(
        failing_field(json!({"extra_issuers": [1]})),
        "extra_issuers[0]"
    );
}

#[test]
fn urls_and_paths_are_checked() {
    for bad in [
        "idp.example.com",
        "ftp://idp",
        "https://idp/?x=1",
        "https://idp.example.com/",
    ] {
        assert_eq!(failing_field(json!({"issuer": bad})), "issuer", "{bad}");
    }
    assert_eq!(
        failing_field(json!({"redirect_uri": "callback"})),
        "redirect_uri"
    );
    assert_eq!(
        failing_field(json!({"authorization_endpoint": "//evil/auth"})),
        "authorization_endpoint"
    );
    assert_eq!(
        failing_field(json!({"logout_path": "logout"})),
        "logout_path"
    );
    assert_eq!(
        failing_field(json!({"after_logout_url": "javascript:alert(1)"})),
        "after_logout_url"
    );
    let ok = load(&with(
        json!({"authorization_endpoint": "/dex/auth", "redirect_uri": "https://app/cb"}),
    ))
    .unwrap();
    assert_eq!(ok.authorization_endpoint.as_deref(), Some("/dex/auth"));
    assert_eq!(ok.callback_path, "/cb");
}

/// URLs are used as written, so what a browser would rewrite is refused, naming the reason.
#[test]
fn urls_parsers_would_rewrite_are_refused_with_the_reason() {
    for (field, bad, why) in [
        ("issuer", "https://user@idp.example.com", "user name"),
        ("issuer", "https://bücher.example", "punycode"),
        ("issuer", "https://idp.example.com/a b", "space"),
        ("redirect_uri", "https://app\\evil/cb", "backslash"),
        ("after_logout_url", "https://app/x/../y", "'..'"),
        (
            "authorization_endpoint",
            "http://2130706433/auth",
            "dotted-decimal",
        ),
    ] {
        let error = load(&with(json!({ field: bad }))).unwrap_err();
        assert_eq!(error.field, field, "{bad}");
        assert!(error.reason.contains(why), "{bad}: {}", error.reason);
    }
}

#[test]
fn numbers_are_range_checked_and_accept_istio_doubles() {
    assert_eq!(
        failing_field(json!({"jwks_refresh_seconds": 0})),
        "jwks_refresh_seconds"
    );
    assert_eq!(
        failing_field(json!({"clock_skew_seconds": -1})),
        "clock_skew_seconds"
    );
    assert_eq!(
        failing_field(json!({"idp_timeout_ms": 1.5})),
        "idp_timeout_ms"
    );
    assert_eq!(
        failing_field(json!({"idp_timeout_ms": "5000"})),
        "idp_timeout_ms"
    );
    assert_eq!(
        failing_field(json!({"session_max_age_seconds": 10})),
        "session_max_age_seconds"
    );
    assert_eq!(
        load(&with(json!({"jwks_refresh_seconds": 900.0})))
            .unwrap()
            .jwks_refresh_seconds,
        900
    );
    assert_eq!(load(&minimal()).unwrap().credential_cache_entries, 4096);
    let large = load(&with(json!({"credential_cache_entries": 200_000}))).unwrap();
    assert_eq!(large.credential_cache_entries, 200_000);
    for bad in [json!(0), json!(15), json!(1_000_001)] {
        let field = failing_field(json!({"credential_cache_entries": bad}));
        assert_eq!(field, "credential_cache_entries");
    }
}

#[test]
fn secrets_come_inline_or_from_the_vm_environment() {
    let env = |name: &str| (name == "OIDC_SECRET").then(|| "from-env".to_string());
    let config = with(json!({"client_secret": null, "client_secret_env": "OIDC_SECRET"}));
    let c = Config::from_json(config.to_string().as_bytes(), &env).unwrap();
    assert_eq!(c.client_secret.expose(), "from-env");
    assert_eq!(format!("{:?}", c.client_secret), "Secret(***)");
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("from-env") && debug.contains("[1 keys]"),
        "{debug}"
    );

    let unset = with(json!({"client_secret": null, "client_secret_env": "NOPE"}));
    let e = Config::from_json(unset.to_string().as_bytes(), &env).unwrap_err();
    assert_eq!(e.field, "client_secret_env");
    assert!(e.reason.contains("\"NOPE\""));
    assert_eq!(
        failing_field(json!({"client_secret_env": "OIDC_SECRET"})),
        "client_secret"
    );
    assert_eq!(failing_field(json!({"client_secret": ""})), "client_secret");
}

#[test]
fn session_keys_must_be_32_bytes_of_base64() {
    assert_eq!(
        failing_field(json!({"session_keys": ["not base64!"]})),
        "session_keys[0]"
    );
    assert_eq!(
        failing_field(json!({"session_keys": [KEY, "c2hvcnQ="]})),
        "session_keys[1]"
    );
    assert_eq!(failing_field(json!({"session_keys": []})), "session_keys");
    let e = load(&with(json!({"session_keys": ["c2hvcnQ="]}))).unwrap_err();
    assert_eq!(e.reason, "decodes to 5 bytes; a key must be exactly 32");

    let env = |name: &str| (name == "KEYS").then(|| format!("{KEY}, {KEY}"));
    let config = with(json!({"session_keys": null, "session_keys_env": "KEYS"}));
    let c = Config::from_json(config.to_string().as_bytes(), &env).unwrap();
    assert_eq!(c.session.keys.len(), 2);
    let bad_env = |_: &str| Some("c2hvcnQ=".to_string());
    let e = Config::from_json(config.to_string().as_bytes(), &bad_env).unwrap_err();
    assert_eq!(e.field, "session_keys_env[0]");
}

#[test]
fn session_attributes_are_validated() {
    assert_eq!(
        failing_field(json!({"session_same_site": "lax"})),
        "session_same_site"
    );
    assert_eq!(
        failing_field(json!({"session_same_site": "None", "session_cookie_secure": false})),
        "session_same_site"
    );
    assert_eq!(
        failing_field(json!({"session_cookie_name": "x".repeat(65)})),
        "session_cookie_name"
    );
    assert_eq!(
        failing_field(json!({"session_cookie_name": "__Host-s", "session_cookie_secure": false})),
        "session_cookie_name"
    );
    assert_eq!(
        failing_field(json!({"session_cookie_name": "a b"})),
        "session_cookie_name"
    );
}

#[test]
fn identity_settings_are_validated() {
    assert_eq!(
        failing_field(json!({"userid_header": "bad header"})),
        "userid_header"
    );
    assert_eq!(
        failing_field(json!({"userid_header": "Authorization"})),
        "userid_header"
    );
    assert_eq!(
        failing_field(json!({"groups_header": "kubeflow-userid"})),
        "groups_header"
    );
    // Names an upstream could read as another header, or drop.
    for ambiguous in [
        "kubeflow_userid",
        "x.user",
        "x--user",
        "-x",
        "x~u",
        "\u{e9}",
    ] {
        assert_eq!(
            failing_field(json!({"userid_header": ambiguous})),
            "userid_header",
            "{ambiguous}"
        );
    }
    for reserved in [
        "Content-Length",
        "transfer-encoding",
        "accept",
        "x-requested-with",
    ] {
        assert_eq!(
            failing_field(json!({"groups_header": reserved})),
            "groups_header",
            "{reserved}"
        );
    }
    assert_eq!(
        failing_field(json!({"userid_transformers": [{"matches": "(", "replaces": ""}]})),
        "userid_transformers[0].matches"
    );
    assert_eq!(
        failing_field(json!({"userid_transformers": [{"matches": "a"}]})),
        "userid_transformers[0].replaces"
    );
    assert_eq!(
        failing_field(json!({"groups_allowlist": []})),
        "groups_allowlist"
    );
    assert_eq!(
        failing_field(json!({"groups_allowlist": ["a,b"]})),
        "groups_allowlist"
    );
    assert_eq!(failing_field(json!({"audiences": []})), "audiences");
    let c = load(&with(
        json!({"userid_header": "X-User", "groups_allowlist": ["admins"]}),
    ))
    .unwrap();
    assert_eq!(c.userid_header, "x-user");
    assert_eq!(c.groups_allowlist, Some(vec!["admins".to_string()]));
}

#[test]
fn skip_paths_must_be_plain_prefixes() {
    assert_eq!(
        failing_field(json!({"skip_auth_paths": ["/"]})),
        "skip_auth_paths[0]"
    );
    assert_eq!(
        failing_field(json!({"skip_auth_paths": ["/ok", "/a/../b"]})),
        "skip_auth_paths[1]"
    );
    assert_eq!(
        failing_field(json!({"skip_auth_paths": ["public"]})),
        "skip_auth_paths[0]"
    );
    assert_eq!(
        failing_field(json!({"skip_auth_paths": ["/public;x"]})),
        "skip_auth_paths[0]"
    );
    let c = load(&with(json!({"skip_auth_paths": ["/public/"]}))).unwrap();
    assert_eq!(
        c.rules.rules[0].path,
        Some(PathPattern::Prefix("/public".into()))
    );
    assert_eq!(c.rules.rules[0].label, "skip_auth_paths[0]");
}

#[test]
fn rules_compile_after_the_skip_paths_and_errors_name_the_rule_and_field() {
    let c = load(&with(json!({
        "skip_auth_paths": ["/healthz"],
        "rules": [
            {"hosts": ["*.Example.com", "api.example.org."], "path_glob": "/a/**/*.js",
             "methods": ["get"], "action": "allow"},
            {"path_prefix": "/admin", "groups_allowlist": ["ops"], "required_scopes": ["admin"],
             "required_claims": {"realm_access.roles": "admin"}, "unauthenticated": "401"},
            {"path_exact": "/metrics", "action": "deny"}
        ]
    })))
    .unwrap();
    let rules = &c.rules.rules;
    assert_eq!(rules.len(), 4);
    assert_eq!(rules[1].label, "rules[0]");
    assert_eq!(
        rules[1].hosts,
        [
            HostPattern::Subdomains(".example.com".into()),
            HostPattern::Exact("api.example.org".into())
        ]
    );
    assert_eq!(rules[1].methods, ["GET"]);
    assert_eq!(
        rules[1].path,
        Some(PathPattern::Glob(vec![
            "a".into(),
            "**".into(),
            "*.js".into()
        ]))
    );
    let Action::Authenticate(requirements) = &rules[2].action else {
        panic!("{:?}", rules[2].action)
    };
    assert_eq!(requirements.unauthenticated, Unauthenticated::Refuse);
    assert_eq!(requirements.required_claims[0].accepted, ["admin"]);
    assert_eq!(rules[3].action, Action::Deny);

    for (rule, field) in [
        (
            json!({"path_prefix": "/a", "path_exact": "/b"}),
            "rules[0].path_exact",
        ),
        (json!({"path_glob": "/a**"}), "rules[0].path_glob"),
        (json!({"path_glob": "/**/a/**/b/**"}), "rules[0].path_glob"),
        (json!({"path_prefix": "/a/../b"}), "rules[0].path_prefix"),
        (json!({"path_prefix": "/"}), "rules[0].path_prefix"),
        (json!({"path_exact": "/a%2fb"}), "rules[0].path_exact"),
        (json!({"hosts": ["a.*.com"]}), "rules[0].hosts"),
        (json!({"hosts": ["a.com:8080"]}), "rules[0].hosts"),
        (json!({"methods": ["GE T"]}), "rules[0].methods"),
        (json!({"action": "permit"}), "rules[0].action"),
        (json!({"action": "allow"}), "rules[0].action"),
        (
            json!({"path_prefix": "/a", "action": "deny", "groups_allowlist": ["x"]}),
            "rules[0].action",
        ),
        (
            json!({"unauthenticated": "login"}),
            "rules[0].unauthenticated",
        ),
        (
            json!({"required_claims": {"x": []}}),
            "rules[0].required_claims.x",
        ),
        (
            json!({"required_scopes": ["a b"]}),
            "rules[0].required_scopes",
        ),
        (json!({"groups_allowlist": []}), "rules[0].groups_allowlist"),
        (json!({"path_prefx": "/a"}), "rules[0].path_prefx"),
    ] {
        let config = json!({"rules": [rule]});
        assert_eq!(failing_field(config.clone()), field, "{config}");
    }
}

#[test]
fn extra_issuers_inherit_claims_and_must_be_distinct() {
    let sa = json!({"issuer": "https://kubernetes.default.svc", "cluster": "k8s",
        "jwks_uri": "https://kubernetes.default.svc/openid/v1/jwks", "audiences": ["kubeflow"], "userid_claim": "sub"});
    let c = load(&with(
        json!({"extra_issuers": [sa.clone()], "groups_claim": "roles"}),
    ))
    .unwrap();
    assert_eq!(c.issuers[1].userid_claims, ["sub"]);
    assert_eq!(c.issuers[1].groups_claims, ["roles"]);
    assert_eq!(
        c.issuers[1].jwks_uri.as_deref(),
        Some("https://kubernetes.default.svc/openid/v1/jwks")
    );
    let mut dup = sa.clone();
    dup["issuer"] = json!("https://idp.example.com");
    assert_eq!(
        failing_field(json!({"extra_issuers": [dup]})),
        "extra_issuers[0].issuer"
    );
    let mut no_aud = sa.clone();
    no_aud.as_object_mut().unwrap().remove("audiences");
    assert_eq!(
        failing_field(json!({"extra_issuers": [no_aud]})),
        "extra_issuers[0].audiences"
    );
    let mut bad_uri = sa;
    bad_uri["jwks_uri"] = json!("file:///x");
    assert_eq!(
        failing_field(json!({"extra_issuers": [bad_uri]})),
        "extra_issuers[0].jwks_uri"
    );
}

#[test]
fn openid_scope_is_always_sent() {
    let c = load(&with(json!({"scopes": ["email"]}))).unwrap();
    assert_eq!(c.scopes, vec!["openid", "email"]);
}

#[test]
fn token_headers_claim_headers_and_claim_lists_are_checked() {
    let c = load(&with(json!({
        "token_headers": ["Flyte-Authorization", {"name": "x-api-token", "scheme": ""},
                          {"name": "x-other", "scheme": "Token"}],
        "claim_headers": {"X-Auth-Request-Email": "email"},
        "userid_claim": ["email", "preferred_username"],
        "groups_claim": "realm_access.roles",
    })))
    .unwrap();
    let headers: Vec<(&str, Option<&str>)> = c
        .token_headers
        .iter()
        .map(|t| (t.name.as_str(), t.scheme.as_deref()))
        .collect();
    assert_eq!(
        headers,
        [
            ("flyte-authorization", Some("Bearer")),
            ("x-api-token", None),
            ("x-other", Some("Token"))
        ]
    );
    assert_eq!(
        c.claim_headers,
        [("x-auth-request-email".to_string(), "email".to_string())]
    );
    assert_eq!(c.issuers[0].userid_claims, ["email", "preferred_username"]);
    assert_eq!(c.issuers[0].groups_claims, ["realm_access.roles"]);
    assert_eq!(
        load(&minimal()).unwrap().token_headers,
        [TokenHeader::authorization()]
    );

    for (bad, field) in [
        (json!({"token_headers": []}), "token_headers"),
        (
            json!({"token_headers": ["a", "b", "c", "d", "e"]}),
            "token_headers",
        ),
        (json!({"token_headers": ["cookie"]}), "token_headers[0]"),
        (json!({"token_headers": ["a b"]}), "token_headers[0]"),
        (json!({"token_headers": ["x", "X"]}), "token_headers[1]"),
        (
            json!({"token_headers": [{"name": "x", "schema": "y"}]}),
            "token_headers[0]",
        ),
        (
            json!({"token_headers": [{"name": "x", "scheme": "two words"}]}),
            "token_headers[0]",
        ),
        (
            json!({"claim_headers": {"kubeflow_userid": "email"}}),
            "claim_headers.kubeflow_userid",
        ),
        (
            json!({"claim_headers": {"x_email": "email"}}),
            "claim_headers.x_email",
        ),
        (
            json!({"claim_headers": {"authorization": "email"}}),
            "claim_headers.authorization",
        ),
        (
            json!({"claim_headers": {"x-a": ["email", "sub"]}}),
            "claim_headers.x-a",
        ),
        (json!({"userid_claim": []}), "userid_claim"),
        (json!({"userid_claim": ["email", 7]}), "userid_claim[1]"),
        (json!({"groups_claim": ".roles"}), "groups_claim"),
    ] {
        assert_eq!(failing_field(bad.clone()), field, "{bad}");
    }
}

#[test]
fn forward_token_is_checked() {
    let c = load(&with(json!({"forward_token": {"session": "id_token", "bearer": "strip",
                                                "header": "X-Forwarded-Access-Token", "scheme": ""}})))
    .unwrap();
    let forward = &c.forward_token;
    assert_eq!(
        (
            forward.session,
            forward.strip_bearer,
            forward.header.as_str(),
            forward.scheme.as_deref()
        ),
        (
            SessionToken::IdToken,
            true,
            "x-forwarded-access-token",
            None
        )
    );
    let default = load(&minimal()).unwrap().forward_token;
    assert_eq!(
        (default.session, default.strip_bearer),
        (SessionToken::None, false)
    );
    for (bad, field) in [
        (json!({"forward_token": "access_token"}), "forward_token"),
        (
            json!({"forward_token": {"session": "refresh_token"}}),
            "forward_token.session",
        ),
        (
            json!({"forward_token": {"bearer": "drop"}}),
            "forward_token.bearer",
        ),
        (
            json!({"forward_token": {"header": "cookie"}}),
            "forward_token.header",
        ),
        (
            json!({"forward_token": {"header": "kubeflow_userid"}}),
            "forward_token.header",
        ),
        (
            json!({"forward_token": {"scheme": "two words"}}),
            "forward_token.scheme",
        ),
        (
            json!({"forward_token": {"sesion": "id_token"}}),
            "forward_token.sesion",
        ),
    ] {
        assert_eq!(failing_field(bad.clone()), field, "{bad}");
    }
}

#[test]
fn opaque_tokens_take_a_method_or_an_object_and_errors_name_the_field() {
    use crate::config::{OpaqueMethod, OpaqueTokens};
    assert_eq!(load(&minimal()).unwrap().opaque_tokens, None);
    let short = load(&with(json!({"opaque_tokens": "userinfo"}))).unwrap();
    assert_eq!(
        short.opaque_tokens,
        Some(OpaqueTokens {
            method: OpaqueMethod::Userinfo,
            endpoint: None,
            cache_seconds: 60,
            calls_per_second: 20,
        })
    );
    let full = json!({"opaque_tokens": {"method": "introspection", "cache_seconds": 300,
                      "endpoint": "https://idp.example.com/introspect", "calls_per_second": 5}});
    let full = load(&with(full)).unwrap().opaque_tokens.unwrap();
    assert_eq!(
        (
            full.method,
            full.endpoint.as_deref(),
            full.cache_seconds,
            full.calls_per_second
        ),
        (
            OpaqueMethod::Introspection,
            Some("https://idp.example.com/introspect"),
            300,
            5
        )
    );
    for (bad, field) in [
        (json!({"opaque_tokens": "jwt"}), "opaque_tokens"),
        (json!({"opaque_tokens": true}), "opaque_tokens"),
        (json!({"opaque_tokens": {}}), "opaque_tokens.method"),
        (
            json!({"opaque_tokens": {"method": "introspect"}}),
            "opaque_tokens.method",
        ),
        (
            json!({"opaque_tokens": {"method": "userinfo", "endpoint": "/userinfo"}}),
            "opaque_tokens.endpoint",
        ),
        (
            json!({"opaque_tokens": {"method": "userinfo", "cache_seconds": 0}}),
            "opaque_tokens.cache_seconds",
        ),
        (
            json!({"opaque_tokens": {"method": "userinfo", "calls_per_second": 0}}),
            "opaque_tokens.calls_per_second",
        ),
        (
            json!({"opaque_tokens": {"method": "userinfo", "cache": 5}}),
            "opaque_tokens.cache",
        ),
    ] {
        assert_eq!(failing_field(bad.clone()), field, "{bad}");
    }
}

#[test]
fn issuer_names_are_label_safe_and_distinct() {
    assert_eq!(
        failing_field(json!({"issuer_name": "dex.prod"})),
        "issuer_name"
    );
    assert_eq!(failing_field(json!({"issuer_name": ""})), "issuer_name");
    let extra = json!({"issuer": "https://k", "cluster": "k", "audiences": ["a"], "name": "dex"});
    assert_eq!(
        failing_field(json!({"issuer_name": "dex", "extra_issuers": [extra]})),
        "extra_issuers[0].name"
    );
    let config = load(&with(json!({"issuer_name": "dex-prod_1"}))).unwrap();
    assert_eq!(config.issuers[0].name, "dex-prod_1");
}
