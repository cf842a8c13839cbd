//! Reading claims by name, and what a credential grants beyond who it is.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A claim by name: the name itself (namespaced claims such as `https://x.io/roles` contain
/// dots), else a dotted path into nested objects (`realm_access.roles`).
pub fn at<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A claim's values as strings: a string, or each string of a list; numbers and booleans as
/// written. Objects and `null` hold none.
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Null | Value::Object(_) => Vec::new(),
    }
}

/// What a credential grants beyond who it is: its scopes, and the values of the claims the
/// rules name. Sessions keep it (short field names: it rides in the cookie).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(rename = "c", default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<(String, Vec<String>)>,
}

impl Grants {
    /// The grants of verified claims: scopes from `scope` (space-separated) or `scp` (a list
    /// or space-separated), and the claims named in `names`.
    pub fn of(claims: &Map<String, Value>, names: &[impl AsRef<str>]) -> Grants {
        let scopes = ["scope", "scp"]
            .iter()
            .filter_map(|name| claims.get(*name))
            .flat_map(strings)
            .flat_map(|s| s.split(' ').map(str::to_string).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect();
        let claims = names
            .iter()
            .map(AsRef::as_ref)
            .filter_map(|name| Some((name.to_string(), strings(at(claims, name)?))))
            .collect();
        Grants { scopes, claims }
    }

    /// Takes the claims `newer` carries, keeping those it does not (a refresh's id_token may
    /// lack what userinfo said at login).
    pub fn update_claims(&mut self, newer: Grants) {
        for (name, values) in newer.claims {
            match self.claims.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 = values,
                None => self.claims.push((name, values)),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty() && self.claims.is_empty()
    }

    /// The values of a claim the rules name; empty when the credential has none.
    pub fn claim(&self, name: &str) -> &[String] {
        self.claims
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, values)| values.as_slice())
    }
}

#[cfg(test)]
mod tests;
