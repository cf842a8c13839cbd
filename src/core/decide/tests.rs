use super::*;
use crate::core::jwks::Alg;
use crate::core::revocation::NoneRevoked;
use crate::core::test_keys::{all_jwks, b64, jwks_body, keys, mint, p256_jwk_for, signing_input};
use serde_json::{json, Value};

const ISS: &str = "https://idp.example.com";
const SA_ISS: &str = "https://kubernetes.default.svc";
const NOW: u64 = 1_800_000_000;

fn config(extra: Value) -> Config {
    let mut base = json!({
        "issuer": ISS, "idp_cluster": "idp", "client_id": "app", "client_secret": "s",
        "session_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
        "skip_auth_paths": ["/public"],
        "extra_issuers": [{"issuer": SA_ISS, "cluster": "k8s", "audiences": ["kubeflow"],
                           "jwks_uri": "https://kubernetes.default.svc/openid/v1/jwks", "userid_claim": "sub"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    Config::from_json(base.to_string().as_bytes(), &|_: &str| None).unwrap()
}

fn key_sets() -> Verifier {
    let mut verifier = Verifier::new(2);
    verifier.set_keys(0, KeySet::parse(&jwks_body(all_jwks())).unwrap());
    let sa_key = p256_jwk_for(&keys().p256_other, "sa-key");
    verifier.set_keys(1, KeySet::parse(&jwks_body(vec![sa_key])).unwrap());
    verifier
}

fn token(claims: Value) -> String {
    mint(
        Alg::Rs256,
        &json!({"alg": "RS256", "kid": "rsa", "typ": "JWT"}),
        &claims,
    )
}

/// A token signed by the service-account issuer's own (second) P-256 key.
fn sa_token(header: &Value, claims: &Value) -> String {
    use jwt_compact::{alg::Es256, Algorithm, AlgorithmSignature};
    let input = signing_input(header, claims);
    let signature = Es256.sign(&keys().p256_other, input.as_bytes());
    format!("{input}.{}", b64(&signature.as_bytes()))
}

fn alice() -> Value {
    json!({"iss": ISS, "aud": "app", "exp": NOW + 300, "iat": NOW, "sub": "u1",
           "email": "alice@example.com", "groups": ["dev", "ml-admin"]})
}

fn request(path: &str, authorization: &[&str]) -> Request {
    let mut headers: Vec<(&str, &[u8])> = vec![(":path", path.as_bytes())];
    headers.extend(
        authorization
            .iter()
            .map(|a| ("authorization", a.as_bytes())),
    );
    Request::from_headers(headers)
}

fn run(cfg: &Config, req: &Request) -> Decision {
    decide(
        cfg,
        req,
        &mut key_sets(),
        &NoneRevoked,
        NOW,
        OnUnknownKid::AwaitRefetch,
    )
}

fn denied(decision: &Decision) -> (u16, &'static str) {
    match decision {
        Decision::Deny(d) => (d.status, d.reason),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn a_valid_bearer_token_yields_the_identity() {
    let cfg = config(json!({}));
    let decision = run(
        &cfg,
        &request("/x", &[&format!("Bearer {}", token(alice()))]),
    );
    let expected = Identity {
        userid: "alice@example.com".into(),
        groups: vec!["dev".into(), "ml-admin".into()],
        sub: "u1".into(),
        issuer: 0,
        grants: Grants::default(),
        forward_token: None,
    };
    assert_eq!(
        decision,
        Decision::Allow {
            identity: Some(expected),
            reason: AllowReason::Bearer
        }
    );
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let cfg = config(json!({}));
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let auth = format!("{scheme} {}", token(alice()));
        assert!(
            matches!(run(&cfg, &request("/x", &[&auth])), Decision::Allow { .. }),
            "{scheme}"
        );
    }
}

#[test]
fn no_credential_is_a_plain_401() {
    let cfg = config(json!({}));
    for req in [request("/x", &[]), request("/x", &["Basic YTpi"])] {
        let d = run(&cfg, &req);
        assert_eq!(denied(&d), (401, "no_credential"));
        let Decision::Deny(deny) = d else {
            unreachable!()
        };
        assert_eq!(deny.www_authenticate, Some("Bearer"));
    }
}

#[test]
fn malformed_authorization_is_an_invalid_token() {
    let cfg = config(json!({}));
    let tok = token(alice());
    let cases = [
        (
            vec![format!("Bearer {tok} junk")],
            "malformed_authorization",
        ),
        (vec![format!("Bearer {tok}\t")], "malformed_authorization"),
        // Control characters anywhere: C0, DEL, and C1 (U+0085, two bytes in UTF-8).
        (
            vec![format!("Bearer {tok}\u{1}")],
            "malformed_authorization",
        ),
        (
            vec![format!("Bearer {tok}\u{7f}")],
            "malformed_authorization",
        ),
        (
            vec![format!("Bearer {}\u{85}{}", &tok[..10], &tok[10..])],
            "malformed_authorization",
        ),
        (vec!["Bearer ".to_string()], "malformed_authorization"),
        (
            vec![format!("Bearer {tok}"), format!("Bearer {tok}")],
            "several_authorization_headers",
        ),
        (
            vec![format!("Bearer {}", "a".repeat(60_000))],
            "token_too_large",
        ),
    ];
    for (headers, reason) in cases {
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let d = run(&cfg, &request("/x", &refs));
        assert_eq!(denied(&d), (401, reason));
        let Decision::Deny(deny) = d else {
            unreachable!()
        };
        assert_eq!(
            deny.www_authenticate,
            Some("Bearer error=\"invalid_token\"")
        );
        assert!(!deny.body().contains(&tok[..20]));
    }
    let non_utf8 = Request {
        path: b"/x".to_vec(),
        credentials: vec![(0, b"Bearer \xff\xfe".to_vec())],
        ..Request::default()
    };
    assert_eq!(
        denied(&run(&cfg, &non_utf8)),
        (401, "malformed_authorization")
    );
}

#[test]
fn skipped_paths_pass_without_identity_even_with_a_bad_token() {
    let cfg = config(json!({}));
    let d = run(&cfg, &request("/public/app.js", &["Bearer garbage"]));
    assert_eq!(
        d,
        Decision::Allow {
            identity: None,
            reason: AllowReason::Skipped
        }
    );
    assert_eq!(
        denied(&run(&cfg, &request("/publicity", &[]))),
        (401, "no_credential")
    );
}

#[test]
fn tokens_of_unconfigured_issuers_are_invalid_not_absent() {
    let cfg = config(json!({}));
    let claims =
        json!({"iss": "https://evil.example.com", "aud": "app", "exp": NOW + 60, "email": "e@x"});
    let d = run(
        &cfg,
        &request("/x", &[&format!("Bearer {}", token(claims))]),
    );
    assert_eq!(denied(&d), (401, "unknown_issuer"));
}

#[test]
fn missing_keys_hold_the_request() {
    let cfg = config(json!({}));
    let mut keys = Verifier::new(2);
    let req = request("/x", &[&format!("Bearer {}", token(alice()))]);
    assert_eq!(
        decide(
            &cfg,
            &req,
            &mut keys,
            &NoneRevoked,
            NOW,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::AwaitKeys { issuer: 0 }
    );
}

#[test]
fn an_unknown_kid_waits_for_one_refetch_then_fails() {
    let cfg = config(json!({}));
    let tok = mint(
        Alg::Rs256,
        &json!({"alg": "RS256", "kid": "rotated"}),
        &alice(),
    );
    let req = request("/x", &[&format!("Bearer {tok}")]);
    assert_eq!(
        decide(
            &cfg,
            &req,
            &mut key_sets(),
            &NoneRevoked,
            NOW,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::AwaitRefetch { issuer: 0 }
    );
    assert_eq!(
        denied(&decide(
            &cfg,
            &req,
            &mut key_sets(),
            &NoneRevoked,
            NOW,
            OnUnknownKid::Refuse
        )),
        (401, "unknown_kid")
    );
}

#[test]
fn extra_issuers_use_their_own_keys_and_claims() {
    let cfg = config(json!({}));
    let sa = json!({"iss": SA_ISS, "aud": ["kubeflow"], "exp": NOW + 60,
                    "sub": "system:serviceaccount:kubeflow:pipeline-runner"});
    let ok = sa_token(&json!({"alg": "ES256", "kid": "sa-key"}), &sa);
    let d = run(&cfg, &request("/x", &[&format!("Bearer {ok}")]));
    let Decision::Allow {
        identity: Some(id), ..
    } = d
    else {
        panic!("{d:?}")
    };
    assert_eq!(id.userid, "system:serviceaccount:kubeflow:pipeline-runner");

    // Claims issuer B, signed with issuer A's key: B's keys do not vouch for it.
    let forged = mint(Alg::Rs256, &json!({"alg": "RS256", "kid": "rsa"}), &sa);
    let req = request("/x", &[&format!("Bearer {forged}")]);
    assert_eq!(
        denied(&decide(
            &cfg,
            &req,
            &mut key_sets(),
            &NoneRevoked,
            NOW,
            OnUnknownKid::Refuse
        )),
        (401, "unknown_kid")
    );
    let forged_no_kid = mint(Alg::Es256, &json!({"alg": "ES256"}), &sa);
    let req = request("/x", &[&format!("Bearer {forged_no_kid}")]);
    assert_eq!(denied(&run(&cfg, &req)), (401, "bad_signature"));
}

#[test]
fn users_outside_the_allowlist_get_403() {
    let cfg = config(json!({"groups_allowlist": ["ml-admin"]}));
    let mut dev = alice();
    dev["groups"] = json!(["dev"]);
    assert_eq!(
        denied(&run(
            &cfg,
            &request("/x", &[&format!("Bearer {}", token(dev))])
        )),
        (403, "group_not_allowed")
    );
    let mut stringly = alice();
    stringly["groups"] = json!("ml-admin,dev");
    assert_eq!(
        denied(&run(
            &cfg,
            &request("/x", &[&format!("Bearer {}", token(stringly))])
        )),
        (403, "groups_claim_invalid")
    );
    assert!(matches!(
        run(
            &cfg,
            &request("/x", &[&format!("Bearer {}", token(alice()))])
        ),
        Decision::Allow { .. }
    ));
}

#[test]
fn a_token_without_the_userid_claim_is_invalid() {
    let cfg = config(json!({}));
    let mut anonymous = alice();
    anonymous.as_object_mut().unwrap().remove("email");
    assert_eq!(
        denied(&run(
            &cfg,
            &request("/x", &[&format!("Bearer {}", token(anonymous))])
        )),
        (401, "userid_claim_invalid")
    );
}

#[test]
fn a_token_in_the_query_string_is_refused() {
    let cfg = config(json!({}));
    let auth = format!("Bearer {}", token(alice()));
    for path in [
        "/x?access_token=abc",
        "/x?a=1&access_token=",
        "/x?access%5Ftoken=abc",
    ] {
        assert_eq!(
            denied(&run(&cfg, &request(path, &[&auth]))),
            (401, "token_in_query"),
            "{path}"
        );
    }
    for path in [
        "/x?my_access_token=1",
        "/x?q=access_token",
        "/x#access_token=1",
    ] {
        assert!(
            matches!(run(&cfg, &request(path, &[&auth])), Decision::Allow { .. }),
            "{path}"
        );
    }
}

fn session(refresh_token: Option<&str>, tokens_expire_at: u64) -> Session {
    Session {
        userid: "alice@example.com".into(),
        groups: vec!["dev".into()],
        sub: "u1".into(),
        sid: "sid1".into(),
        issued_at: NOW - 10,
        expires_at: NOW + 3600,
        refresh_token: refresh_token.map(String::from),
        id_token: None,
        tokens_expire_at,
        idp_sid: None,
        validated_at: 0,
        grants: Default::default(),
        forward_token: None,
    }
}

fn session_cookie(cfg: &Config, session: &Session) -> String {
    crate::core::test_keys::session_cookie_header(cfg, ISS, session)
}

fn browser(method: &str, path: &str, extra: &[(&str, &str)]) -> Request {
    let hints = [
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "same-origin"),
    ];
    fetch(method, path, &[&hints[..], extra].concat())
}

/// A request with only the headers given besides `:method` and `:path`.
fn fetch(method: &str, path: &str, extra: &[(&str, &str)]) -> Request {
    let mut headers: Vec<(&str, &[u8])> =
        vec![(":method", method.as_bytes()), (":path", path.as_bytes())];
    headers.extend(extra.iter().map(|(n, v)| (*n, v.as_bytes())));
    Request::from_headers(headers)
}

#[test]
fn navigations_without_credentials_go_to_login_and_api_calls_get_401() {
    let cfg = config(json!({}));
    assert_eq!(run(&cfg, &browser("GET", "/x", &[])), Decision::StartLogin);
    assert_eq!(run(&cfg, &browser("HEAD", "/x", &[])), Decision::StartLogin);
    let old_browser = fetch("GET", "/", &[("accept", "text/html,*/*")]);
    assert_eq!(run(&cfg, &old_browser), Decision::StartLogin);
    for not_navigation in [
        browser("POST", "/x", &[]),
        browser("GET", "/x", &[("x-requested-with", "XMLHttpRequest")]),
        fetch(
            "GET",
            "/",
            &[("sec-fetch-mode", "cors"), ("accept", "text/html")],
        ),
        fetch("GET", "/", &[("accept", "application/json")]),
    ] {
        assert_eq!(denied(&run(&cfg, &not_navigation)), (401, "no_credential"));
    }
}

#[test]
fn only_the_exact_callback_path_is_a_callback() {
    let cfg = config(json!({}));
    assert_eq!(
        run(
            &cfg,
            &browser("GET", "/authservice/oidc/callback?code=x&state=y", &[])
        ),
        Decision::Callback
    );
    assert_eq!(
        run(&cfg, &browser("GET", "/authservice/oidc/callback/x", &[])),
        Decision::StartLogin
    );
}

#[test]
fn sessions_pass_refresh_or_expire() {
    let cfg = config(json!({}));
    let fresh = session_cookie(&cfg, &session(Some("rt"), NOW + 600));
    let d = run(&cfg, &browser("GET", "/x", &[("cookie", &fresh)]));
    let expected = Identity {
        userid: "alice@example.com".into(),
        groups: vec!["dev".into()],
        sub: "u1".into(),
        issuer: 0,
        grants: Grants::default(),
        forward_token: None,
    };
    assert_eq!(
        d,
        Decision::Allow {
            identity: Some(expected),
            reason: AllowReason::Session
        }
    );

    let due = session(Some("rt"), NOW + 30);
    let d = run(
        &cfg,
        &browser("GET", "/x", &[("cookie", &session_cookie(&cfg, &due))]),
    );
    assert_eq!(
        d,
        Decision::Refresh {
            session: Box::new(due),
            redirect: true
        }
    );
    let no_refresh_token = session_cookie(&cfg, &session(None, NOW - 30));
    assert!(matches!(
        run(
            &cfg,
            &browser("GET", "/x", &[("cookie", &no_refresh_token)])
        ),
        Decision::Allow { .. }
    ));

    let mut expired = session(None, NOW);
    expired.expires_at = NOW;
    let cookie = session_cookie(&cfg, &expired);
    assert_eq!(
        run(&cfg, &browser("GET", "/x", &[("cookie", &cookie)])),
        Decision::StartLogin
    );
    let api = fetch("GET", "/x", &[("cookie", &cookie)]);
    assert_eq!(denied(&run(&cfg, &api)), (401, "session_expired"));
    let junk = fetch("GET", "/x", &[("cookie", "authservice_session=v1.AAAA")]);
    assert_eq!(denied(&run(&cfg, &junk)), (401, "session_invalid"));
}

#[test]
fn session_times_at_the_end_of_the_clock_do_not_overflow() {
    let cfg = config(json!({}));
    let mut s = session(Some("rt"), u64::MAX);
    s.expires_at = u64::MAX;
    let cookie = session_cookie(&cfg, &s);
    let req = browser("GET", "/x", &[("cookie", &cookie)]);
    let mut verifier = key_sets();
    assert!(matches!(
        decide(
            &cfg,
            &req,
            &mut verifier,
            &NoneRevoked,
            u64::MAX - 1,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::Refresh { .. }
    ));
    assert!(matches!(
        decide(
            &cfg,
            &req,
            &mut verifier,
            &NoneRevoked,
            u64::MAX - REFRESH_AHEAD_SECONDS - 1,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::Allow { .. }
    ));
}

#[test]
fn opened_sessions_are_cached_until_they_expire() {
    let cfg = config(json!({}));
    let mut verifier = key_sets();
    let mut s = session(None, NOW + 600);
    s.expires_at = NOW + 100;
    let cookie = session_cookie(&cfg, &s);
    let req = browser("GET", "/x", &[("cookie", &cookie)]);
    assert!(matches!(
        decide(
            &cfg,
            &req,
            &mut verifier,
            &NoneRevoked,
            NOW,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::Allow { .. }
    ));
    assert_eq!(verifier.sessions.len(), 1);
    assert!(matches!(
        decide(
            &cfg,
            &req,
            &mut verifier,
            &NoneRevoked,
            NOW + 99,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::Allow { .. }
    ));
    assert_eq!(
        decide(
            &cfg,
            &req,
            &mut verifier,
            &NoneRevoked,
            NOW + 100,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::StartLogin
    );
    // A tampered copy is a different key: it is opened (and refused), never served from cache.
    let tampered = cookie.replacen("v1.", "v1.A", 1);
    let req = browser("GET", "/x", &[("cookie", &tampered)]);
    assert_eq!(
        decide(
            &cfg,
            &req,
            &mut verifier,
            &NoneRevoked,
            NOW,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::StartLogin
    );
}

#[test]
fn a_narrowed_allowlist_applies_to_existing_sessions() {
    let cfg = config(json!({"groups_allowlist": ["ml-admin"]}));
    let cookie = session_cookie(&cfg, &session(None, NOW + 600));
    assert_eq!(
        denied(&run(&cfg, &browser("GET", "/x", &[("cookie", &cookie)]))),
        (403, "group_not_allowed")
    );
}

#[test]
fn logout_needs_a_same_site_navigation_or_the_dashboard_post() {
    let cfg = config(json!({}));
    let s = session(None, NOW + 600);
    let cookie = session_cookie(&cfg, &s);
    let value = cookie.split_once('=').unwrap().1.to_string();
    let path = "/authservice/logout";
    assert_eq!(
        run(&cfg, &browser("GET", path, &[("cookie", &cookie)])),
        Decision::Logout(Logout::Navigate(Some(Box::new(s.clone()))))
    );
    assert_eq!(
        run(&cfg, &browser("GET", path, &[])),
        Decision::Logout(Logout::Navigate(None))
    );
    let cross = fetch(
        "GET",
        path,
        &[
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-site", "cross-site"),
            ("cookie", &cookie),
        ],
    );
    assert_eq!(denied(&run(&cfg, &cross)), (403, "logout_cross_site"));
    let image = fetch(
        "GET",
        path,
        &[("sec-fetch-mode", "no-cors"), ("cookie", &cookie)],
    );
    assert_eq!(denied(&run(&cfg, &image)), (403, "logout_not_navigation"));
    let bearer = format!("Bearer {value}");
    let legacy = fetch("POST", path, &[("authorization", &bearer)]);
    assert_eq!(
        run(&cfg, &legacy),
        Decision::Logout(Logout::Api(Box::new(s)))
    );
    let anonymous = fetch("POST", path, &[]);
    assert_eq!(
        denied(&run(&cfg, &anonymous)),
        (401, "logout_without_session")
    );
}

#[test]
fn verified_tokens_are_cached_until_expiry_and_dropped_with_new_keys() {
    let cfg = config(json!({}));
    let mut verifier = key_sets();
    let mut claims = alice();
    claims["exp"] = json!(NOW + 10);
    let req = request("/x", &[&format!("Bearer {}", token(claims))]);
    assert!(matches!(
        decide(
            &cfg,
            &req,
            &mut verifier,
            &NoneRevoked,
            NOW,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::Allow { .. }
    ));
    assert_eq!(verifier.cache.len(), 1);
    // A hit needs no keys: remove them and the cached verdict still answers...
    verifier.keys[0] = None;
    assert!(matches!(
        decide(
            &cfg,
            &req,
            &mut verifier,
            &NoneRevoked,
            NOW + 5,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::Allow { .. }
    ));
    // ...but never after exp + skew,
    assert_eq!(
        decide(
            &cfg,
            &req,
            &mut verifier,
            &NoneRevoked,
            NOW + 10 + 60,
            OnUnknownKid::AwaitRefetch
        ),
        Decision::AwaitKeys { issuer: 0 }
    );
    // and new keys drop every verdict.
    verifier.cache.insert(
        "x",
        Verdict {
            issuer: 0,
            identity: Err(IdentityError::MissingUserid),
        },
        0,
        u64::MAX,
    );
    verifier.set_keys(0, KeySet::parse(&jwks_body(all_jwks())).unwrap());
    assert!(verifier.cache.is_empty());
}

#[test]
fn header_list_parsing_keeps_repeated_authorization_apart() {
    let req = Request::from_headers([
        (":path", &b"/a?b"[..]),
        ("authorization", b"x"),
        ("authorization", b"y"),
    ]);
    assert_eq!(req.credentials, [(0, b"x".to_vec()), (0, b"y".to_vec())]);
    assert_eq!(req.path, b"/a?b");
}

#[test]
fn a_bare_cors_preflight_passes_only_when_allowed() {
    let preflight = |extra: &[(&str, &str)]| {
        let base = [
            ("origin", "https://other.example.com"),
            ("access-control-request-method", "POST"),
        ];
        fetch("OPTIONS", "/api/x", &[&base[..], extra].concat())
    };
    let allowed = config(json!({"allow_cors_preflight": true}));
    assert_eq!(
        run(&allowed, &preflight(&[])),
        Decision::Allow {
            identity: None,
            reason: AllowReason::CorsPreflight
        }
    );
    // Off by default: a preflight is a request without a credential.
    assert_eq!(
        denied(&run(&config(json!({})), &preflight(&[]))),
        (401, "no_credential")
    );
    // Not a preflight: no Origin, no Access-Control-Request-Method, another method.
    for request in [
        fetch(
            "OPTIONS",
            "/api/x",
            &[("access-control-request-method", "POST")],
        ),
        fetch(
            "OPTIONS",
            "/api/x",
            &[("origin", "https://other.example.com")],
        ),
        fetch(
            "POST",
            "/api/x",
            &[
                ("origin", "https://o.example.com"),
                ("access-control-request-method", "POST"),
            ],
        ),
    ] {
        assert_eq!(denied(&run(&allowed, &request)).0, 401, "{request:?}");
    }
    // One carrying a credential is checked as usual.
    let bad_token = preflight(&[("authorization", "Bearer not.a.jwt")]);
    assert_eq!(denied(&run(&allowed, &bad_token)).0, 401);
    let forged = preflight(&[("cookie", "authservice_session=forged")]);
    assert_eq!(denied(&run(&allowed, &forged)), (401, "session_invalid"));
}

fn policy_config() -> Config {
    config(json!({"rules": [
        {"path_prefix": "/docs/secret", "action": "deny"},
        {"path_prefix": "/docs", "action": "allow"},
        {"path_prefix": "/pipeline", "groups_allowlist": ["ml-admin"], "required_scopes": ["pipelines"]},
        {"path_prefix": "/admin", "required_claims": {"realm_access.roles": ["admin"]}},
        {"hosts": ["api.example.com"], "unauthenticated": "401"},
        {"path_prefix": "/login-only", "unauthenticated": "redirect"}
    ]}))
}

#[test]
fn rules_deny_allow_and_add_requirements_to_bearer_tokens() {
    let cfg = policy_config();
    let bad = "Bearer not-a-token";
    assert_eq!(
        denied(&run(&cfg, &request("/docs/secret/x", &[bad]))),
        (403, "denied_by_rule")
    );
    assert!(matches!(
        run(&cfg, &request("/docs/x", &[bad])),
        Decision::Allow {
            identity: None,
            reason: AllowReason::Skipped
        }
    ));

    let mut claims = alice();
    claims["scope"] = json!("openid pipelines");
    claims["realm_access"] = json!({"roles": ["admin"]});
    let full = format!("Bearer {}", token(claims));
    for path in ["/pipeline/runs", "/admin/x", "/other"] {
        assert!(
            matches!(run(&cfg, &request(path, &[&full])), Decision::Allow { .. }),
            "{path}"
        );
    }
    let plain = format!("Bearer {}", token(alice()));
    match run(&cfg, &request("/pipeline/runs", &[&plain])) {
        Decision::Deny(d) => {
            assert_eq!((d.status, d.reason), (403, "insufficient_scope"));
            assert_eq!(
                d.www_authenticate,
                Some("Bearer error=\"insufficient_scope\"")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        denied(&run(&cfg, &request("/admin/x", &[&plain]))),
        (403, "claim_not_accepted")
    );
    let mut outsider = alice();
    outsider["groups"] = json!(["dev"]);
    outsider["scope"] = json!("pipelines");
    let outsider = format!("Bearer {}", token(outsider));
    assert_eq!(
        denied(&run(&cfg, &request("/pipeline/runs", &[&outsider]))),
        (403, "group_not_allowed")
    );
}

#[test]
fn rules_apply_to_sessions_with_their_granted_scopes_and_claims() {
    let cfg = policy_config();
    let mut granted = session(Some("rt"), NOW + 3600);
    granted.groups = vec!["ml-admin".into()];
    granted.grants = Grants {
        scopes: vec!["openid".into(), "pipelines".into()],
        claims: vec![("realm_access.roles".into(), vec!["admin".into()])],
    };
    let mut plain = granted.clone();
    plain.grants = Grants::default();
    let cookie = |s: &Session| session_cookie(&cfg, s);
    let get = |path: &str, s: &Session| fetch("GET", path, &[("cookie", &cookie(s))]);
    assert!(matches!(
        run(&cfg, &get("/pipeline/x", &granted)),
        Decision::Allow { .. }
    ));
    assert!(matches!(
        run(&cfg, &get("/admin", &granted)),
        Decision::Allow { .. }
    ));
    assert_eq!(
        denied(&run(&cfg, &get("/pipeline/x", &plain))),
        (403, "insufficient_scope")
    );
    assert_eq!(
        denied(&run(&cfg, &get("/admin", &plain))),
        (403, "claim_not_accepted")
    );
}

#[test]
fn a_rule_can_override_how_requests_without_credentials_are_answered() {
    let cfg = policy_config();
    let mut on_api = browser("GET", "/x", &[]);
    on_api.authority = b"api.example.com".to_vec();
    assert_eq!(denied(&run(&cfg, &on_api)), (401, "no_credential"));
    let xhr = fetch("GET", "/login-only/x", &[]);
    assert_eq!(run(&cfg, &xhr), Decision::StartLogin);
    let post = fetch("POST", "/login-only/x", &[]);
    assert_eq!(denied(&run(&cfg, &post)), (401, "no_credential"));
    assert_eq!(
        run(&cfg, &browser("GET", "/elsewhere", &[])),
        Decision::StartLogin
    );
}

/// A request with these headers besides `:path`, read with `cfg`'s token headers.
fn with_headers(cfg: &Config, headers: &[(&str, &str)]) -> Request {
    let mut all: Vec<(&str, &[u8])> = vec![(":path", b"/api")];
    all.extend(headers.iter().map(|(n, v)| (*n, v.as_bytes())));
    Request::read(all, &cfg.token_headers)
}

#[test]
fn tokens_are_read_from_every_configured_header_and_must_agree() {
    let cfg = config(json!({"token_headers": [
        "authorization", "flyte-authorization", {"name": "x-api-token", "scheme": ""}
    ]}));
    let tok = token(alice());
    let bearer = format!("Bearer {tok}");
    let allowed = |headers: &[(&str, &str)]| {
        matches!(
            run(&cfg, &with_headers(&cfg, headers)),
            Decision::Allow {
                identity: Some(_),
                ..
            }
        )
    };
    assert!(allowed(&[("flyte-authorization", &bearer)]));
    assert!(allowed(&[(
        "flyte-authorization",
        &format!("bearer {tok}")
    )]));
    assert!(allowed(&[("x-api-token", &tok)]));
    assert!(allowed(&[
        ("authorization", &bearer),
        ("flyte-authorization", &bearer)
    ]));
    // Basic in Authorization is not ours to judge; the Flyte header still counts.
    assert!(allowed(&[
        ("authorization", "Basic dTpw"),
        ("flyte-authorization", &bearer)
    ]));

    let mut other = alice();
    other["email"] = json!("mallory@example.com");
    let other = format!("Bearer {}", token(other));
    let conflict = run(
        &cfg,
        &with_headers(
            &cfg,
            &[("authorization", &other), ("flyte-authorization", &bearer)],
        ),
    );
    assert_eq!(denied(&conflict), (400, "conflicting_credentials"));
    let twice = run(
        &cfg,
        &with_headers(
            &cfg,
            &[
                ("flyte-authorization", &bearer),
                ("flyte-authorization", &bearer),
            ],
        ),
    );
    assert_eq!(denied(&twice), (401, "several_authorization_headers"));
    let broken = run(
        &cfg,
        &with_headers(&cfg, &[("flyte-authorization", "Bearer ")]),
    );
    assert_eq!(denied(&broken), (401, "malformed_authorization"));
    // Headers not configured carry nothing.
    let unconfigured = config(json!({}));
    let ignored = run(
        &unconfigured,
        &with_headers(&unconfigured, &[("flyte-authorization", &bearer)]),
    );
    assert_eq!(denied(&ignored), (401, "no_credential"));
}

#[test]
fn grpc_calls_are_never_sent_to_the_idp_whatever_their_headers_say() {
    let cfg = policy_config();
    let grpc = [("content-type", "application/grpc")];
    let grpc_web = [("content-type", "application/grpc-web-text+proto")];
    for request in [
        fetch("POST", "/pkg.Svc/Call", &grpc),
        // What would make it a navigation, in a browser's headers or a client's metadata.
        fetch(
            "GET",
            "/x",
            &[&grpc[..], &[("accept", "text/html")]].concat(),
        ),
        browser("GET", "/x", &grpc_web),
        browser("POST", "/pkg.Svc/Call", &grpc_web),
        // A rule that sends every GET to the IdP.
        fetch("GET", "/login-only/pkg.Svc/Call", &grpc),
    ] {
        assert!(request.grpc.is_some(), "{request:?}");
        assert_eq!(denied(&run(&cfg, &request)), (401, "no_credential"));
    }
    let due = session_cookie(&cfg, &session(Some("rt"), NOW + 30));
    let with_due_session = browser("GET", "/x", &[("cookie", &due), grpc_web[0]]);
    assert!(matches!(
        run(&cfg, &with_due_session),
        Decision::Refresh {
            redirect: false,
            ..
        }
    ));
}
