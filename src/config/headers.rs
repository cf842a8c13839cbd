//! `claim_headers` (extra identity headers) and `token_headers` (where bearer tokens are
//! read from).

use crate::core::header_names;

use super::fields::Fields;
use super::{
    check_identity_header, error, is_token_char, ConfigError, ForwardToken, IdentityRules,
    SessionToken, TokenHeader,
};

const FORWARD_KEYS: &[&str] = &["session", "bearer", "header", "scheme"];

/// Token headers a request is read from at most; each costs a lookup per request header.
const MAX_TOKEN_HEADERS: usize = 4;

/// Headers that carry other things than a token (`cookie`: the session is read from it).
const NOT_TOKEN_HEADERS: &[&str] = &["cookie", "host", "content-type", "content-length"];

/// `{"x-auth-request-email": "email", ...}`: each header distinct from the identity headers
/// and from each other, as upstreams fold names.
pub(super) fn claim_headers(
    f: &mut Fields,
    taken: &[&str],
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, claims) in f.string_list_map("claim_headers")? {
        let field = f.path(&format!("claim_headers.{name}"));
        let name = name.to_ascii_lowercase();
        check_identity_header(&field, &name)?;
        let clash = |other: &str| header_names::folds_to(&name, other);
        if taken.iter().any(|t| clash(t)) || headers.iter().any(|(h, _)| clash(h)) {
            return Err(error(
                field,
                "an identity header of that name is set already",
            ));
        }
        let [claim] = claims.as_slice() else {
            return Err(error(
                field,
                "one claim (a name or a dotted path) per header",
            ));
        };
        headers.push((name, claim.clone()));
    }
    Ok(headers)
}

/// The user id and groups headers, and the claim headers.
pub(super) fn identity_headers(identity: &IdentityRules) -> Vec<String> {
    let claim_headers = identity.claim_headers.iter().map(|(h, _)| h.clone());
    [
        identity.userid_header.clone(),
        identity.groups_header.clone(),
    ]
    .into_iter()
    .chain(claim_headers)
    .collect()
}

/// `["authorization", "flyte-authorization", {"name": "x-api-token", "scheme": ""}]`: a
/// string is a header whose value is `Bearer <token>`; an object names its scheme (`""`: the
/// whole value is the token).
pub(super) fn token_headers(f: &mut Fields) -> Result<Vec<TokenHeader>, ConfigError> {
    let Some(list) = f.optional_value_list("token_headers")? else {
        return Ok(vec![TokenHeader::authorization()]);
    };
    let field = f.path("token_headers");
    if list.is_empty() || list.len() > MAX_TOKEN_HEADERS {
        return Err(error(field, format!("1 to {MAX_TOKEN_HEADERS} headers")));
    }
    let mut headers: Vec<TokenHeader> = Vec::new();
    for (i, entry) in list.into_iter().enumerate() {
        let field = format!("{field}[{i}]");
        let header = token_header(&field, entry)?;
        if headers.iter().any(|h| h.name == header.name) {
            return Err(error(field, format!("{:?} is listed twice", header.name)));
        }
        headers.push(header);
    }
    Ok(headers)
}

fn token_header(field: &str, entry: serde_json::Value) -> Result<TokenHeader, ConfigError> {
    let (name, scheme) = match entry {
        serde_json::Value::String(name) => (name, Some("Bearer".to_string())),
        serde_json::Value::Object(mut map) => {
            let name = map
                .remove("name")
                .and_then(|n| n.as_str().map(String::from));
            let scheme = map.remove("scheme").map(|s| s.as_str().map(String::from));
            match (name, scheme, map.is_empty()) {
                (Some(name), None, true) => (name, Some("Bearer".to_string())),
                (Some(name), Some(Some(scheme)), true) => {
                    (name, Some(scheme).filter(|s| !s.is_empty()))
                }
                _ => return Err(error(field, "{\"name\": header, \"scheme\": word or \"\"}")),
            }
        }
        _ => {
            return Err(error(
                field,
                "a header name, or {\"name\": ..., \"scheme\": ...}",
            ))
        }
    };
    let name = name.to_ascii_lowercase();
    if name.is_empty()
        || !name.bytes().all(is_token_char)
        || NOT_TOKEN_HEADERS.contains(&name.as_str())
        || name.starts_with(':')
    {
        return Err(error(field, format!("{name:?} cannot carry a token")));
    }
    if let Some(scheme) = &scheme {
        if !scheme.bytes().all(is_token_char) {
            return Err(error(field, format!("scheme {scheme:?} must be one word")));
        }
    }
    Ok(TokenHeader { name, scheme })
}

/// `{"session": "access_token" | "id_token" | "none", "bearer": "pass" | "strip",
/// "header": "authorization", "scheme": "Bearer"}`.
pub(super) fn forward_token(
    f: &mut Fields,
    identity_headers: &[String],
) -> Result<ForwardToken, ConfigError> {
    let Some(mut fields) = f.optional_object("forward_token", FORWARD_KEYS)? else {
        return Ok(ForwardToken {
            session: SessionToken::None,
            strip_bearer: false,
            header: "authorization".to_string(),
            scheme: Some("Bearer".to_string()),
        });
    };
    let session = match fields.str_or("session", "none")?.as_str() {
        "none" => SessionToken::None,
        "access_token" => SessionToken::AccessToken,
        "id_token" => SessionToken::IdToken,
        other => {
            let reason = format!("{other:?}: \"access_token\", \"id_token\" or \"none\"");
            return Err(error(fields.path("session"), reason));
        }
    };
    let strip_bearer = match fields.str_or("bearer", "pass")?.as_str() {
        "pass" => false,
        "strip" => true,
        other => {
            let reason = format!("{other:?}: \"pass\" (as the client sent it) or \"strip\"");
            return Err(error(fields.path("bearer"), reason));
        }
    };
    let header = fields
        .str_or("header", "authorization")?
        .to_ascii_lowercase();
    if header.is_empty()
        || !header.bytes().all(is_token_char)
        || NOT_TOKEN_HEADERS.contains(&header.as_str())
    {
        return Err(error(
            fields.path("header"),
            format!("{header:?} cannot carry a token"),
        ));
    }
    if identity_headers
        .iter()
        .any(|h| header_names::folds_to(&header, h))
    {
        let reason = format!("{header:?} is an identity header");
        return Err(error(fields.path("header"), reason));
    }
    let scheme = Some(fields.str_or("scheme", "Bearer")?).filter(|s| !s.is_empty());
    if scheme
        .as_ref()
        .is_some_and(|s| !s.bytes().all(is_token_char))
    {
        return Err(error(fields.path("scheme"), "one word, or \"\""));
    }
    Ok(ForwardToken {
        session,
        strip_bearer,
        header,
        scheme,
    })
}
