use serde_json::json;

use super::*;

fn claims(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[test]
fn a_claim_is_found_by_its_own_name_first_then_by_a_dotted_path() {
    let c = claims(json!({
        "realm_access": {"roles": ["admin", "viewer"]},
        "https://example.com/roles": ["ops"],
        "a": {"b": 1}
    }));
    assert_eq!(
        strings(at(&c, "realm_access.roles").unwrap()),
        ["admin", "viewer"]
    );
    assert_eq!(
        strings(at(&c, "https://example.com/roles").unwrap()),
        ["ops"]
    );
    assert_eq!(strings(at(&c, "a.b").unwrap()), ["1"]);
    assert_eq!(at(&c, "a.b.c"), None);
    assert_eq!(at(&c, "realm_access.missing"), None);
    assert_eq!(strings(at(&c, "a").unwrap()), Vec::<String>::new());
}

#[test]
fn scopes_come_from_scope_or_scp_in_either_form() {
    for token in [
        json!({"scope": "openid  pipelines:read"}),
        json!({"scp": ["openid", "pipelines:read"]}),
        json!({"scp": "openid pipelines:read"}),
    ] {
        let grants = Grants::of(&claims(token.clone()), &[] as &[&str]);
        assert_eq!(grants.scopes, ["openid", "pipelines:read"], "{token}");
    }
}

#[test]
fn grants_keep_only_the_claims_named() {
    let c = claims(json!({"tier": "gold", "dept": ["a", "b"], "secret": "x"}));
    let grants = Grants::of(&c, &["tier", "dept", "absent"]);
    assert_eq!(grants.claim("tier"), ["gold"]);
    assert_eq!(grants.claim("dept"), ["a", "b"]);
    assert!(grants.claim("absent").is_empty());
    assert!(grants.claim("secret").is_empty());
}
