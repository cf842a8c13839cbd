//! Verified claims -> the identity handed to upstreams, and the groups allowlist.

use serde_json::{Map, Value};

use crate::config::{Config, IssuerConfig};

/// Who the request is from, as upstreams will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub userid: String,
    /// Comma-joined into one header; names with a ',' are dropped so they cannot forge others.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityError {
    /// The user id claim is missing, not a string, empty, or unsafe in a header.
    MissingUserid,
    /// The groups claim is present but not an array of strings.
    GroupsNotAList,
    /// Authenticated, but in none of the allowed groups.
    NotInAllowedGroups,
}

impl IdentityError {
    pub fn reason(self) -> &'static str {
        match self {
            IdentityError::MissingUserid => "userid_claim_invalid",
            IdentityError::GroupsNotAList => "groups_claim_invalid",
            IdentityError::NotInAllowedGroups => "group_not_allowed",
        }
    }
}

/// Builds the identity from verified claims and applies the allowlist.
pub fn identify(
    claims: &Map<String, Value>,
    issuer: &IssuerConfig,
    config: &Config,
) -> Result<Identity, IdentityError> {
    let raw_userid = match claims.get(&issuer.userid_claim) {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => return Err(IdentityError::MissingUserid),
    };
    let userid = format!("{}{}", issuer.userid_prefix, transform(raw_userid, config));
    if !is_header_safe(&userid) {
        return Err(IdentityError::MissingUserid);
    }
    let groups = groups(claims.get(&issuer.groups_claim))?;
    if let Some(allowed) = &config.groups_allowlist {
        if !groups.iter().any(|g| allowed.contains(g)) {
            return Err(IdentityError::NotInAllowedGroups);
        }
    }
    Ok(Identity { userid, groups })
}

/// The first transformer whose pattern matches rewrites the id; later ones are not tried.
fn transform(userid: &str, config: &Config) -> String {
    config
        .userid_transformers
        .iter()
        .find(|t| t.matches.is_match(userid))
        .map(|t| t.matches.replace(userid, t.replaces.as_str()).into_owned())
        .unwrap_or_else(|| userid.to_string())
}

fn groups(claim: Option<&Value>) -> Result<Vec<String>, IdentityError> {
    let items = match claim {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(IdentityError::GroupsNotAList),
    };
    let mut groups = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(name) = item else {
            return Err(IdentityError::GroupsNotAList);
        };
        if !name.is_empty() && !name.contains(',') && is_header_safe(name) {
            groups.push(name.clone());
        }
    }
    Ok(groups)
}

/// Header values may not carry control characters; Envoy would refuse them anyway.
fn is_header_safe(value: &str) -> bool {
    !value.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
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
}
