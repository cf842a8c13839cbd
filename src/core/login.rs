//! The authorization code flow with PKCE: the redirect to the IdP, the callback checks, the
//! token request and response, and the id_token checks that come on top of `jwt::verify`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::config::{ClientAuth, Config};
use crate::core::jwks::{Alg, KeySet};
use crate::core::jwt::{self, ClaimRules, JwtError, TokenAlg, VerifiedClaims};

/// A login (its flow cookie, from redirect to callback) lives at most this long, like
/// mod_auth_openidc's state timeout.
pub const LOGIN_TTL_SECONDS: u64 = 600;
/// Return paths longer than this are replaced by `/` rather than carried through the IdP.
const MAX_RETURN_PATH: usize = 2048;
/// Token and userinfo responses larger than this are refused.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;
/// A token endpoint's `expires_in` above this (one year) is read as this: the value is added
/// to the clock, and no IdP means a longer lifetime.
pub const MAX_EXPIRES_IN_SECONDS: u64 = 365 * 86_400;

/// Source of randomness; the filter reads WASI `random_get`, tests pass their own. `false`
/// means no randomness could be had, and nothing may be generated from it.
pub trait Random {
    fn fill(&mut self, bytes: &mut [u8]) -> bool;
}

/// `n` random bytes as base64url (no padding).
pub fn random_token(random: &mut dyn Random, n: usize) -> Option<String> {
    let mut bytes = vec![0u8; n];
    random
        .fill(&mut bytes)
        .then(|| URL_SAFE_NO_PAD.encode(bytes))
}

/// The per-flow secrets that go into the sealed login-state cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSecrets {
    /// 128 bits, also the `state` parameter.
    pub state: String,
    pub nonce: String,
    /// RFC 7636: 43 characters from 32 random bytes.
    pub code_verifier: String,
}

impl FlowSecrets {
    pub fn generate(random: &mut dyn Random) -> Option<FlowSecrets> {
        Some(FlowSecrets {
            state: random_token(random, 16)?,
            nonce: random_token(random, 16)?,
            code_verifier: random_token(random, 32)?,
        })
    }
}

pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What a browser needs to know about the request's own origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub authority: String,
}

impl Origin {
    /// From `:scheme` and `:authority`; `None` when the authority is not a plain host[:port]
    /// (no userinfo, path or spaces can be smuggled into URLs built from it).
    pub fn from_request(scheme: &[u8], authority: &[u8]) -> Option<Origin> {
        let scheme = match scheme {
            b"http" => "http",
            b"https" => "https",
            _ => return None,
        };
        let valid = !authority.is_empty()
            && authority.len() <= 255
            && authority
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
        let authority = std::str::from_utf8(authority).ok().filter(|_| valid)?;
        Some(Origin {
            scheme: scheme.to_string(),
            authority: authority.to_ascii_lowercase(),
        })
    }

    /// A configured value that is a path becomes an absolute URL on this origin.
    pub fn absolute(&self, url_or_path: &str) -> String {
        if url_or_path.starts_with('/') {
            format!("{}://{}{url_or_path}", self.scheme, self.authority)
        } else {
            url_or_path.to_string()
        }
    }
}

/// The path (with query) to come back to after login: only ever a same-origin path.
pub fn return_path(raw_path: &[u8]) -> String {
    let safe = raw_path.len() <= MAX_RETURN_PATH
        && raw_path.first() == Some(&b'/')
        && !matches!(raw_path.get(1), Some(b'/' | b'\\'))
        && raw_path.iter().all(|&b| b > 0x20 && b < 0x7f && b != b'\\');
    match std::str::from_utf8(raw_path) {
        Ok(path) if safe => path.to_string(),
        _ => "/".to_string(),
    }
}

/// The URL the browser is sent to. `authorization_endpoint` is the configured override
/// (possibly relative) or the discovered one.
pub fn authorization_url(
    config: &Config,
    authorization_endpoint: &str,
    redirect_uri: &str,
    secrets: &FlowSecrets,
) -> String {
    let scope = config.scopes.join(" ");
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &scope)
        .append_pair("state", &secrets.state)
        .append_pair("nonce", &secrets.nonce)
        .append_pair("code_challenge", &code_challenge(&secrets.code_verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let separator = if authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{authorization_endpoint}{separator}{query}")
}

/// The parameters of a callback request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackParams {
    Code {
        code: String,
        state: String,
        iss: Option<String>,
    },
    /// The IdP refused (RFC 6749 4.1.2.1); the description is shown HTML-escaped.
    Error {
        error: String,
        description: Option<String>,
        state: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackError {
    MissingState,
    MissingCode,
    DuplicateParameter,
    /// No login-state cookie for this state, or it does not open, or it is another flow's.
    StateMismatch,
    Expired,
    /// RFC 9207: the IdP says it sends `iss`, and it is missing or wrong.
    IssuerMismatch,
}

impl CallbackError {
    pub fn reason(self) -> &'static str {
        match self {
            CallbackError::MissingState => "callback_missing_state",
            CallbackError::MissingCode => "callback_missing_code",
            CallbackError::DuplicateParameter => "callback_duplicate_parameter",
            CallbackError::StateMismatch => "callback_state_mismatch",
            CallbackError::Expired => "callback_expired",
            CallbackError::IssuerMismatch => "callback_issuer_mismatch",
        }
    }
}

pub fn parse_callback(query: &str) -> Result<CallbackParams, CallbackError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let relevant = ["code", "state", "iss", "error", "error_description"];
        if !relevant.contains(&name.as_ref()) {
            continue;
        }
        if fields.iter().any(|(n, _)| *n == name) {
            return Err(CallbackError::DuplicateParameter);
        }
        fields.push((name.into_owned(), value.into_owned()));
    }
    let take = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    if let Some(error) = take("error") {
        return Ok(CallbackParams::Error {
            error,
            description: take("error_description"),
            state: take("state"),
        });
    }
    let state = take("state").ok_or(CallbackError::MissingState)?;
    let code = take("code").ok_or(CallbackError::MissingCode)?;
    Ok(CallbackParams::Code {
        code,
        state,
        iss: take("iss"),
    })
}

/// RFC 9207 check of the authorization response's `iss`.
pub fn check_response_issuer(
    iss: Option<&str>,
    issuer: &str,
    iss_parameter_supported: bool,
) -> Result<(), CallbackError> {
    match iss {
        Some(got) if got != issuer => Err(CallbackError::IssuerMismatch),
        None if iss_parameter_supported => Err(CallbackError::IssuerMismatch),
        _ => Ok(()),
    }
}

/// A form-encoded POST to the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `Authorization` header value, for `client_secret_basic`.
    pub authorization: Option<String>,
    pub body: String,
}

/// RFC 6749 2.3.1: client id and secret are form-urlencoded *before* the Basic encoding,
/// so secrets with `:`, `+`, `%` or non-ASCII characters work.
fn basic_credentials(config: &Config) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!(
        "{}:{}",
        encode(&config.client_id),
        encode(config.client_secret.expose())
    );
    format!("Basic {}", STANDARD.encode(pair))
}

fn token_request(config: &Config, params: &[(&str, &str)]) -> TokenRequest {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(params);
    let authorization = match config.client_auth {
        ClientAuth::Basic => Some(basic_credentials(config)),
        ClientAuth::Post => {
            form.append_pair("client_id", &config.client_id);
            form.append_pair("client_secret", config.client_secret.expose());
            None
        }
    };
    TokenRequest {
        authorization,
        body: form.finish(),
    }
}

pub fn code_exchange(
    config: &Config,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
) -> TokenRequest {
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", code_verifier),
    ];
    token_request(config, &params)
}

pub fn refresh_request(config: &Config, refresh_token: &str) -> TokenRequest {
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    token_request(config, &params)
}

/// RFC 7009: revoke `token` (of kind `hint`) at the revocation endpoint, authenticated as at
/// the token endpoint.
pub fn revocation_request(config: &Config, token: &str, hint: &str) -> TokenRequest {
    token_request(config, &[("token", token), ("token_type_hint", hint)])
}

/// RFC 7662 2.1: ask the introspection endpoint about an access token, authenticated as at
/// the token endpoint.
pub fn introspection_request(config: &Config, token: &str) -> TokenRequest {
    token_request(
        config,
        &[("token", token), ("token_type_hint", "access_token")],
    )
}

/// A successful token endpoint response (OIDC Core 3.1.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    pub id_token: Option<String>,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
    /// The granted scopes, when the IdP says (RFC 6749 5.1: absent means as requested).
    pub scope: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Timeout, connection failure, redirect or non-200 status.
    Status(String),
    TooLarge,
    NotJson,
    /// `{"error": ...}`, even with HTTP 200.
    Refused(String),
    BadTokenType,
    MissingAccessToken,
    MissingIdToken,
    IdToken(JwtError),
    NonceMismatch,
    AtHashMismatch,
    IssuedTooLongAgo,
    UserinfoSubjectMismatch,
}

impl TokenError {
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Status(_) => "token_endpoint_status",
            TokenError::TooLarge => "token_response_too_large",
            TokenError::NotJson => "token_response_not_json",
            TokenError::Refused(_) => "token_refused",
            TokenError::BadTokenType => "token_type_not_bearer",
            TokenError::MissingAccessToken => "token_missing_access_token",
            TokenError::MissingIdToken => "token_missing_id_token",
            TokenError::IdToken(_) => "id_token_invalid",
            TokenError::NonceMismatch => "id_token_nonce_mismatch",
            TokenError::AtHashMismatch => "id_token_at_hash_mismatch",
            TokenError::IssuedTooLongAgo => "id_token_too_old",
            TokenError::UserinfoSubjectMismatch => "userinfo_sub_mismatch",
        }
    }

    /// The IdP answered and refused the grant itself (RFC 6749 §5.2: `invalid_grant` for a
    /// used, revoked or expired code or refresh token, and the like).
    pub fn is_refusal(&self) -> bool {
        matches!(self, TokenError::Refused(_)) && !self.is_transient()
    }

    /// Says nothing about the grant, so trying again later may succeed: no answer, a timeout,
    /// a 5xx, an unparseable or incomplete body, an IdP saying it is temporarily unavailable,
    /// or an id_token signed with a key not fetched yet (fetching it is triggered).
    pub fn is_transient(&self) -> bool {
        match self {
            TokenError::Status(_)
            | TokenError::TooLarge
            | TokenError::NotJson
            | TokenError::BadTokenType
            | TokenError::MissingAccessToken
            | TokenError::MissingIdToken
            | TokenError::IdToken(JwtError::UnknownKid) => true,
            TokenError::Refused(code) => matches!(
                code.as_str(),
                "temporarily_unavailable" | "server_error" | "slow_down"
            ),
            TokenError::IdToken(_)
            | TokenError::NonceMismatch
            | TokenError::AtHashMismatch
            | TokenError::IssuedTooLongAgo
            | TokenError::UserinfoSubjectMismatch => false,
        }
    }
}

/// An answer from an IdP that is down or overloaded, whatever its body says.
fn is_unavailable(status: Option<&[u8]>) -> bool {
    match status {
        None => true,
        Some(code) => code.first() == Some(&b'5') || code == b"429",
    }
}

fn json_object(status: Option<&[u8]>, body: &[u8]) -> Result<Map<String, Value>, TokenError> {
    if body.len() > MAX_TOKEN_RESPONSE_BYTES {
        return Err(TokenError::TooLarge);
    }
    let parsed = serde_json::from_slice::<Value>(body).ok();
    if let (Some(Value::Object(map)), false) = (&parsed, is_unavailable(status)) {
        if let Some(error) = map.get("error").and_then(Value::as_str) {
            return Err(TokenError::Refused(error.chars().take(100).collect()));
        }
    }
    if status != Some(b"200") {
        let shown = status.map(String::from_utf8_lossy).unwrap_or_default();
        return Err(TokenError::Status(format!("HTTP status {shown:?}")));
    }
    match parsed {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(TokenError::NotJson),
    }
}

pub fn parse_token_response(
    status: Option<&[u8]>,
    body: &[u8],
) -> Result<TokenResponse, TokenError> {
    let map = json_object(status, body)?;
    let text = |name: &str| {
        map.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if !text("token_type").is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
        return Err(TokenError::BadTokenType);
    }
    Ok(TokenResponse {
        id_token: text("id_token").map(String::from),
        access_token: text("access_token")
            .ok_or(TokenError::MissingAccessToken)?
            .to_string(),
        refresh_token: text("refresh_token").map(String::from),
        expires_in: map
            .get("expires_in")
            .and_then(Value::as_u64)
            .map(|s| s.min(MAX_EXPIRES_IN_SECONDS)),
        scope: text("scope").map(|s| s.split_ascii_whitespace().map(String::from).collect()),
    })
}

/// Validates an id_token from the token endpoint in full (OIDC Core 3.1.3.7): signature with
/// the issuer's keys, `iss`, `aud`/`azp` = client_id, `exp`, `iat` (required and recent),
/// `sub`, `nonce` (when `expected_nonce` is given: at login, not on refresh) and `at_hash`.
pub fn validate_id_token(
    config: &Config,
    keys: &KeySet,
    id_token: &str,
    expected_nonce: Option<&str>,
    access_token: &str,
    now_s: u64,
) -> Result<VerifiedClaims, TokenError> {
    let parsed = jwt::parse(id_token).map_err(TokenError::IdToken)?;
    let audiences = [config.client_id.clone()];
    let rules = ClaimRules {
        issuer: &config.login_issuer().issuer,
        audiences: &audiences,
        clock_skew_seconds: config.clock_skew_seconds,
        require_iat: true,
        require_sub: true,
    };
    let verified = jwt::verify(&parsed, keys, &rules, now_s).map_err(TokenError::IdToken)?;
    let iat = verified
        .claims
        .get("iat")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let fresh_until = (iat as u64)
        .saturating_add(LOGIN_TTL_SECONDS)
        .saturating_add(config.clock_skew_seconds);
    if fresh_until < now_s {
        return Err(TokenError::IssuedTooLongAgo);
    }
    if let Some(expected) = expected_nonce {
        let nonce = verified.claims.get("nonce").and_then(Value::as_str);
        if nonce != Some(expected) {
            return Err(TokenError::NonceMismatch);
        }
    }
    if let Some(at_hash) = verified.claims.get("at_hash") {
        if at_hash.as_str() != Some(&token_hash(parsed.alg(), access_token)) {
            return Err(TokenError::AtHashMismatch);
        }
    }
    Ok(verified)
}

/// OIDC Core 3.1.3.6: left half of the hash (of the id_token's alg) of the access token.
fn token_hash(alg: TokenAlg, token: &str) -> String {
    use TokenAlg::{Hs256, Published};
    let digest: Vec<u8> = match alg {
        Published(Alg::Rs384 | Alg::Ps384 | Alg::Es384) => Sha384::digest(token).to_vec(),
        Published(Alg::Rs512 | Alg::Ps512 | Alg::EdDsa) => Sha512::digest(token).to_vec(),
        Published(Alg::Rs256 | Alg::Ps256 | Alg::Es256) | Hs256 => Sha256::digest(token).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Parses a userinfo response and checks that it is about the same subject (Core 5.3.2).
pub fn parse_userinfo(
    status: Option<&[u8]>,
    body: &[u8],
    sub: &str,
) -> Result<Map<String, Value>, TokenError> {
    let map = json_object(status, body)?;
    if map.get("sub").and_then(Value::as_str) != Some(sub) {
        return Err(TokenError::UserinfoSubjectMismatch);
    }
    Ok(map)
}

/// Minimal HTML escaping for the error page.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
