//! Verified claims -> the identity handed to upstreams, and the groups allowlist.

use serde_json::{Map, Value};

use crate::config::Config;

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
    let sub = match claims.get("sub") {
        Some(Value::String(sub)) => sub.clone(),
        _ => String::new(),
    };
    Ok(Identity {
        userid,
        groups,
        sub,
        issuer: issuer_index,
    })
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
mod tests;
