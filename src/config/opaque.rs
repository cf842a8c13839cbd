//! `opaque_tokens`: bearer tokens that are not JWTs, checked by the login issuer itself.

use super::fields::{Fields, StrOrObject};
use super::{check_http_url, error, ConfigError};

const OPAQUE_KEYS: &[&str] = &["method", "endpoint", "cache_seconds", "calls_per_second"];

/// How the IdP is asked about a token that is not a JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpaqueMethod {
    /// RFC 7662 token introspection, authenticated as the login client.
    Introspection,
    /// The userinfo endpoint, with the token as its bearer (as oidc-authservice did).
    Userinfo,
}

/// `opaque_tokens`: `"introspection"`, `"userinfo"`, or an object with `method` and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueTokens {
    pub method: OpaqueMethod,
    /// Where to ask; `None`: the endpoint the discovery document names.
    pub endpoint: Option<String>,
    /// An answer is reused for at most this long (and never past the token's `exp`).
    pub cache_seconds: u64,
    /// Calls one worker sends at most per second, so random tokens cannot flood the IdP.
    pub calls_per_second: u32,
}

pub(super) fn opaque_tokens(f: &mut Fields) -> Result<Option<OpaqueTokens>, ConfigError> {
    let field = f.path("opaque_tokens");
    let mut fields = match f.optional_str_or_object("opaque_tokens", OPAQUE_KEYS)? {
        None => return Ok(None),
        Some(StrOrObject::Str(method)) => {
            return Ok(Some(OpaqueTokens {
                method: method_named(&field, &method)?,
                endpoint: None,
                cache_seconds: DEFAULT_CACHE_SECONDS,
                calls_per_second: DEFAULT_CALLS_PER_SECOND,
            }))
        }
        Some(StrOrObject::Object(fields)) => fields,
    };
    let method = fields.required_str("method")?;
    let method = method_named(&fields.path("method"), &method)?;
    let endpoint = fields.optional_str("endpoint")?;
    if let Some(endpoint) = &endpoint {
        check_http_url(&fields.path("endpoint"), endpoint)?;
    }
    let cache_seconds = fields.u64_in("cache_seconds", DEFAULT_CACHE_SECONDS, 1..=3600)?;
    let calls = fields.u64_in(
        "calls_per_second",
        DEFAULT_CALLS_PER_SECOND.into(),
        1..=10_000,
    )?;
    Ok(Some(OpaqueTokens {
        method,
        endpoint,
        cache_seconds,
        calls_per_second: u32::try_from(calls).unwrap_or(u32::MAX),
    }))
}

const DEFAULT_CACHE_SECONDS: u64 = 60;
const DEFAULT_CALLS_PER_SECOND: u32 = 20;

fn method_named(field: &str, name: &str) -> Result<OpaqueMethod, ConfigError> {
    match name {
        "introspection" => Ok(OpaqueMethod::Introspection),
        "userinfo" => Ok(OpaqueMethod::Userinfo),
        other => Err(error(
            field,
            format!("{other:?}: \"introspection\" or \"userinfo\""),
        )),
    }
}
