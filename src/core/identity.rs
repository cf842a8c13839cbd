//! Verified claims -> the identity handed to upstreams, and the groups allowlist.

use serde_json::{Map, Value};

use crate::config::Config;
use crate::core::claims::{self, Grants};

/// The index in `config.issuers` of the login issuer (`Config::login_issuer`), whose identities
/// every session carries.
pub const LOGIN_ISSUER: usize = 0;

/// Who the request is from, as upstreams (and Envoy's own filters and access log) will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub userid: String,
    /// Comma-joined into one header; names with a ',' are dropped so they cannot forge others.
    pub groups: Vec<String>,
    /// The token's `sub` claim, as the issuer sent it (empty when a bearer token has none).
    pub sub: String,
    /// Who vouched for it: an index into `config.issuers`.
    pub issuer: usize,
    /// Its scopes and the claims the configuration keeps (rules, claim headers).
    pub grants: Grants,
    /// The session's token for the upstream (`forward_token`); never for a bearer request,
    /// whose own token goes on as it came.
    pub forward_token: Option<Token>,
}

/// A token handed to the upstream: never printed.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Identity {
    /// The value of a claim header: the claim's values, comma-joined, without any that holds
    /// a ',' or a control character; `None` when none is left.
    pub fn claim_header(&self, claim: &str) -> Option<String> {
        let values: Vec<&str> = self
            .grants
            .claim(claim)
            .iter()
            .map(String::as_str)
            .filter(|v| !v.is_empty() && !v.contains(',') && is_header_safe(v))
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }
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

/// Builds the identity from claims verified for `config.issuers[issuer_index]` and applies the
/// allowlist.
pub fn identify(
    claims: &Map<String, Value>,
    issuer_index: usize,
    config: &Config,
) -> Result<Identity, IdentityError> {
    let issuer = &config.issuers[issuer_index];
    let raw_userid = issuer
        .userid_claims
        .iter()
        .find_map(|name| match claims::at(claims, name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        })
        .ok_or(IdentityError::MissingUserid)?;
    let userid = format!("{}{}", issuer.userid_prefix, transform(raw_userid, config));
    if !is_header_safe(&userid) {
        return Err(IdentityError::MissingUserid);
    }
    let sub = match claims.get("sub") {
        Some(Value::String(sub)) => sub.clone(),
        _ => String::new(),
    };
    let mut groups = Vec::new();
    for name in &issuer.groups_claims {
        for group in groups_of(claims::at(claims, name))? {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
    }
    if issuer.serviceaccount_groups {
        groups.extend(serviceaccount_groups(&sub));
    }
    if let Some(allowed) = &config.groups_allowlist {
        if !groups.iter().any(|g| allowed.contains(g)) {
            return Err(IdentityError::NotInAllowedGroups);
        }
    }
    Ok(Identity {
        userid,
        groups,
        sub,
        issuer: issuer_index,
        grants: Grants::of(claims, &config.kept_claims),
        forward_token: None,
    })
}

/// The groups Kubernetes puts a service account in, for a `sub` of
/// `system:serviceaccount:<namespace>:<name>`; none for any other `sub`.
fn serviceaccount_groups(sub: &str) -> Vec<String> {
    let Some(rest) = sub.strip_prefix("system:serviceaccount:") else {
        return Vec::new();
    };
    match rest.split_once(':') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && is_group_safe(namespace) =>
        {
            vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
            ]
        }
        _ => Vec::new(),
    }
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

fn groups_of(claim: Option<&Value>) -> Result<Vec<String>, IdentityError> {
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
        if is_group_safe(name) {
            groups.push(name.clone());
        }
    }
    Ok(groups)
}

/// A group name that cannot forge others in the comma-joined header.
fn is_group_safe(name: &str) -> bool {
    !name.is_empty() && !name.contains(',') && is_header_safe(name)
}

/// Header values may not carry control characters; Envoy would refuse them anyway.
fn is_header_safe(value: &str) -> bool {
    !value.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests;
