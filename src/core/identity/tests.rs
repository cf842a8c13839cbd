use super::*;
use serde_json::json;

fn config(extra: Value) -> Config {
    let mut base = json!({
        "issuer": "https://idp.example.com",
        "idp_cluster": "idp",
        "client_id": "app",
        "client_secret": "s",
        "session_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    Config::from_json(base.to_string().as_bytes(), &|_: &str| None).unwrap()
}

fn claims(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn run(cfg: &Config, value: Value) -> Result<Identity, IdentityError> {
    identify(&claims(value), LOGIN_ISSUER, cfg)
}

#[test]
fn email_and_groups_by_default() {
    let cfg = config(json!({}));
    let id = run(&cfg, json!({"email": "bob@x.io", "groups": ["a", "b"]})).unwrap();
    assert_eq!(id.userid, "bob@x.io");
    assert_eq!(id.groups, vec!["a", "b"]);
}

#[test]
fn missing_or_mistyped_userid_is_refused() {
    let cfg = config(json!({}));
    for bad in [
        json!({}),
        json!({"email": 5}),
        json!({"email": ""}),
        json!({"email": "a\nb"}),
    ] {
        assert_eq!(run(&cfg, bad), Err(IdentityError::MissingUserid));
    }
}

#[test]
fn prefix_and_first_matching_transformer_apply() {
    let cfg = config(json!({
        "userid_prefix": "oidc:",
        "userid_transformers": [
            {"matches": "^(.*)@corp\\.example$", "replaces": "$1"},
            {"matches": "^(.*)$", "replaces": "never-$1"},
        ],
    }));
    assert_eq!(
        run(&cfg, json!({"email": "ann@corp.example"}))
            .unwrap()
            .userid,
        "oidc:ann"
    );
    assert_eq!(
        run(&cfg, json!({"email": "x@y"})).unwrap().userid,
        "oidc:never-x@y"
    );
}

#[test]
fn groups_must_be_a_list_of_strings() {
    let cfg = config(json!({}));
    for bad in [json!("ml-admin,dev"), json!([1]), json!({"a": 1})] {
        assert_eq!(
            run(&cfg, json!({"email": "a@b", "groups": bad})),
            Err(IdentityError::GroupsNotAList)
        );
    }
    assert_eq!(
        run(&cfg, json!({"email": "a@b"})).unwrap().groups,
        Vec::<String>::new()
    );
}

#[test]
fn group_names_that_would_forge_others_are_dropped() {
    let cfg = config(json!({}));
    let id = run(
        &cfg,
        json!({"email": "a@b", "groups": ["dev", "admin,ops", ""]}),
    )
    .unwrap();
    assert_eq!(id.groups, vec!["dev"]);
}

#[test]
fn allowlist_matches_exactly() {
    let cfg = config(json!({"groups_allowlist": ["ml-admin"]}));
    let denied = [
        json!(["dev"]),
        json!(["ML-Admin"]),
        json!([]),
        json!(["ml-admin,dev"]),
    ];
    for groups in denied {
        assert_eq!(
            run(&cfg, json!({"email": "a@b", "groups": groups})),
            Err(IdentityError::NotInAllowedGroups)
        );
    }
    assert_eq!(
        run(&cfg, json!({"email": "a@b", "groups": "ml-admin,dev"})),
        Err(IdentityError::GroupsNotAList)
    );
    let id = run(&cfg, json!({"email": "a@b", "groups": ["dev", "ml-admin"]})).unwrap();
    assert_eq!(
        id.groups,
        vec!["dev", "ml-admin"],
        "the header carries the token's groups, not the allowlist"
    );
}

#[test]
fn the_identity_names_its_issuer_and_subject() {
    let sa = json!({"issuer": "https://kubernetes.default.svc", "cluster": "k8s",
        "jwks_uri": "https://kubernetes.default.svc/openid/v1/jwks", "audiences": ["kubeflow"],
        "userid_claim": "sub"});
    let cfg = config(json!({"extra_issuers": [sa]}));
    let login = run(&cfg, json!({"email": "bob@x.io", "sub": "CgNib2I"})).unwrap();
    assert_eq!(
        (login.sub.as_str(), login.issuer),
        ("CgNib2I", LOGIN_ISSUER)
    );
    let claims = claims(json!({"sub": "system:serviceaccount:ns:runner"}));
    let robot = identify(&claims, 1, &cfg).unwrap();
    assert_eq!(robot.userid, "system:serviceaccount:ns:runner");
    assert_eq!(
        (robot.sub.as_str(), robot.issuer),
        (robot.userid.as_str(), 1)
    );
    let no_sub = run(&cfg, json!({"email": "bob@x.io", "sub": 7})).unwrap();
    assert_eq!(no_sub.sub, "", "a sub that is not a string is not an id");
}

#[test]
fn the_user_id_is_the_first_claim_present_of_a_fallback_list_of_names_and_paths() {
    let cfg = config(json!({"userid_claim": ["email", "preferred_username", "ext.login", "sub"]}));
    for (token, expected) in [
        (
            json!({"email": "a@x.io", "preferred_username": "a", "sub": "s"}),
            "a@x.io",
        ),
        (
            json!({"email": "", "preferred_username": "a", "sub": "s"}),
            "a",
        ),
        (
            json!({"email": 7, "ext": {"login": "robot"}, "sub": "s"}),
            "robot",
        ),
        (
            json!({"sub": "client-credentials-app"}),
            "client-credentials-app",
        ),
    ] {
        assert_eq!(
            run(&cfg, token.clone()).unwrap().userid,
            expected,
            "{token}"
        );
    }
    assert_eq!(
        run(&cfg, json!({"ext": {}})),
        Err(IdentityError::MissingUserid)
    );
}

#[test]
fn groups_merge_from_several_claims_and_nested_paths() {
    let cfg = config(json!({
        "groups_claim": ["groups", "realm_access.roles", "resource_access.kubeflow.roles"]
    }));
    let id = run(
        &cfg,
        json!({
            "email": "a@x.io",
            "groups": ["dev"],
            "realm_access": {"roles": ["admin", "dev"]},
            "resource_access": {"kubeflow": {"roles": ["editor"]}, "other": {"roles": ["x"]}}
        }),
    )
    .unwrap();
    assert_eq!(id.groups, ["dev", "admin", "editor"]);
    let none = run(&cfg, json!({"email": "a@x.io"})).unwrap();
    assert!(none.groups.is_empty());
    let bad = run(
        &cfg,
        json!({"email": "a@x.io", "realm_access": {"roles": "admin"}}),
    );
    assert_eq!(bad, Err(IdentityError::GroupsNotAList));
}

#[test]
fn service_account_tokens_get_the_groups_kubernetes_gives_them() {
    let sa = json!({"issuer": "https://kubernetes.default.svc", "cluster": "k8s",
        "jwks_uri": "https://kubernetes.default.svc/openid/v1/jwks", "audiences": ["kubeflow"],
        "userid_claim": "sub", "serviceaccount_groups": true});
    let cfg =
        config(json!({"extra_issuers": [sa], "groups_allowlist": ["system:serviceaccounts:ml"]}));
    let token = claims(json!({"sub": "system:serviceaccount:ml:pipeline-runner"}));
    let robot = identify(&token, 1, &cfg).unwrap();
    assert_eq!(
        robot.groups,
        ["system:serviceaccounts", "system:serviceaccounts:ml"]
    );
    for sub in [
        "system:serviceaccount:other:x",
        "system:serviceaccount:ml",
        "alice",
    ] {
        let token = claims(json!({ "sub": sub }));
        assert_eq!(
            identify(&token, 1, &cfg),
            Err(IdentityError::NotInAllowedGroups),
            "{sub}"
        );
    }
    // The login issuer does not synthesise them unless told to.
    let plain = config(json!({"userid_claim": "sub"}));
    let id = run(&plain, json!({"sub": "system:serviceaccount:ml:x"})).unwrap();
    assert!(id.groups.is_empty());
}

#[test]
fn claim_headers_carry_their_claims_values_comma_joined_and_never_a_forged_one() {
    let cfg = config(json!({"claim_headers": {
        "x-auth-request-email": "email",
        "x-auth-request-preferred-username": "preferred_username",
        "x-roles": "realm_access.roles"
    }}));
    let id = run(
        &cfg,
        json!({"email": "a@x.io", "preferred_username": "a",
        "realm_access": {"roles": ["admin", "a,b", "line\nbreak", "dev"]}}),
    )
    .unwrap();
    assert_eq!(id.claim_header("email").as_deref(), Some("a@x.io"));
    assert_eq!(id.claim_header("preferred_username").as_deref(), Some("a"));
    assert_eq!(
        id.claim_header("realm_access.roles").as_deref(),
        Some("admin,dev")
    );
    let bare = run(&cfg, json!({"email": "a@x.io"})).unwrap();
    assert_eq!(bare.claim_header("preferred_username"), None);
    assert_eq!(
        cfg.identity_headers,
        [
            "kubeflow-userid",
            "kubeflow-groups",
            "x-auth-request-email",
            "x-auth-request-preferred-username",
            "x-roles"
        ]
    );
}
