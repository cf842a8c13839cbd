//! OpenID Provider metadata (`/.well-known/openid-configuration`).

use serde_json::Value;

use super::http_url;

/// The largest discovery document we accept; real ones are a few KiB.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    /// RFC 8414 / 7662: where opaque tokens are checked (`opaque_tokens: "introspection"`).
    pub introspection_endpoint: Option<String>,
    /// RFC 9207: the IdP sends `iss` on the authorization response.
    pub iss_parameter_supported: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    TooLarge,
    NotJson,
    /// OIDC Discovery 4.3: the document's issuer must equal the configured one exactly.
    IssuerMismatch(String),
    BadEndpoint(&'static str),
}

impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiscoveryError::TooLarge => {
                write!(f, "document larger than {MAX_DISCOVERY_BYTES} bytes")
            }
            DiscoveryError::NotJson => f.write_str("not a JSON object"),
            DiscoveryError::IssuerMismatch(got) => {
                write!(f, "issuer {got:?} differs from the configured issuer")
            }
            DiscoveryError::BadEndpoint(name) => write!(f, "{name} missing or not an http(s) URL"),
        }
    }
}

pub fn parse(body: &[u8], expected_issuer: &str) -> Result<Discovery, DiscoveryError> {
    if body.len() > MAX_DISCOVERY_BYTES {
        return Err(DiscoveryError::TooLarge);
    }
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
        return Err(DiscoveryError::NotJson);
    };
    let issuer = doc
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if issuer != expected_issuer {
        return Err(DiscoveryError::IssuerMismatch(
            issuer.chars().take(200).collect(),
        ));
    }
    let endpoint = |name: &'static str| -> Result<Option<String>, DiscoveryError> {
        match doc.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(url)) if is_http_url(url) => Ok(Some(url.clone())),
            Some(_) => Err(DiscoveryError::BadEndpoint(name)),
        }
    };
    Ok(Discovery {
        issuer: issuer.to_string(),
        jwks_uri: endpoint("jwks_uri")?.ok_or(DiscoveryError::BadEndpoint("jwks_uri"))?,
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
        userinfo_endpoint: endpoint("userinfo_endpoint")?,
        end_session_endpoint: endpoint("end_session_endpoint")?,
        revocation_endpoint: endpoint("revocation_endpoint")?,
        introspection_endpoint: endpoint("introspection_endpoint")?,
        iss_parameter_supported: doc
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// The value is kept as written (it ends up in a `Location` header); `http_url` accepts only
/// URLs every parser reads the same way.
fn is_http_url(value: &str) -> bool {
    http_url::parse(value).is_ok()
}

#[cfg(test)]
mod tests;
