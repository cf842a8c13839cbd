//! The debug line logged for each refused request: why, which issuer, which request. It
//! never holds the token, a cookie or a code, only fixed labels and configured names.

use crate::config::Config;
use crate::core::decide::{Request, RequestId};
use crate::core::identity::LOGIN_ISSUER;
use crate::core::jwt;

#[cfg(test)]
mod tests;

/// The configured issuer a refused request was about, as far as it tells: the issuer its
/// bearer token names (unverified, but only a configured one is ever named), the login
/// issuer for a browser with the filter's cookies or on the callback, none otherwise.
pub fn issuer_of(request: &Request, config: &Config) -> Option<usize> {
    if let Some((_, value)) = request.credentials.first() {
        let text = std::str::from_utf8(value).ok()?;
        let token = text.rsplit(' ').next().unwrap_or(text);
        let named = jwt::parse(token).ok()?.issuer().map(str::to_string);
        return match named {
            Some(iss) => config.issuers.iter().position(|i| i.issuer == iss),
            None => config.opaque_tokens.as_ref().map(|_| LOGIN_ISSUER),
        };
    }
    let base = &config.session.cookie_name;
    let own_cookie = request
        .cookies()
        .iter()
        .any(|(name, _)| crate::core::session::is_own_cookie(name, base));
    let callback = request.path_only() == config.callback_path.as_bytes();
    (own_cookie || callback).then_some(LOGIN_ISSUER)
}

/// `request refused: reason=expired issuer=dex request_id=5f0c…`; `-` for what is unknown.
pub fn line(reason: &str, issuer: Option<&str>, request_id: Option<&RequestId>) -> String {
    format!(
        "request refused: reason={reason} issuer={} request_id={}",
        issuer.unwrap_or("-"),
        request_id.map_or("-", RequestId::as_str)
    )
}
