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
    identify(&claims(value), &cfg.issuers[0], cfg)
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
