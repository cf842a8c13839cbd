//! Plugin configuration: JSON in, a validated and compiled [`Config`] out.
//!
//! Every field is read by hand from a JSON object rather than by `#[derive(Deserialize)]`
//! so that each error names the field it is about (`extra_issuers[1].audiences: ...`);
//! serde's own messages give a line and column, which says nothing inside a WasmPlugin.
//! Unknown keys are errors too: a typo (`isuer`) must not silently fall back to a default.

mod check_all;
mod fields;
mod headers;
mod issuer_names;
mod opaque;
mod pinned;
mod rules;

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use regex_lite::Regex;
use serde_json::Value;

use crate::core::header_names;
use crate::core::hs256::Hs256Key;
use crate::core::http_url;
use crate::core::policy::{self, Rules};
use crate::core::token_cache::DEFAULT_CAPACITY;
use fields::Fields;
pub use opaque::{OpaqueMethod, OpaqueTokens};

/// A configuration error: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.field, self.reason)
    }
}

fn error(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A value that must never reach a log line, error page or upstream header.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the client authenticates at the token endpoint (RFC 6749 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic`, id and secret form-encoded first.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

/// One issuer whose tokens are accepted. Index 0 of [`Config::issuers`] is the login issuer.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub issuer: String,
    /// Its name in metric labels and logs (`issuer_name`, `extra_issuers[i].name`).
    pub name: String,
    /// Envoy cluster for discovery and JWKS calls of this issuer (empty for a pinned-secret
    /// issuer, which calls nothing).
    pub cluster: String,
    /// Fixed JWKS location; when absent it comes from discovery.
    pub jwks_uri: Option<String>,
    pub audiences: Vec<String>,
    /// The user id: the first of these claims present (a name, or a dotted path).
    pub userid_claims: Vec<String>,
    /// The groups: every one of these claims, merged.
    pub groups_claims: Vec<String>,
    pub userid_prefix: String,
    /// Kubernetes service-account tokens (`sub` `system:serviceaccount:<ns>:<name>`) get the
    /// groups Kubernetes gives them: `system:serviceaccounts`, `system:serviceaccounts:<ns>`.
    pub serviceaccount_groups: bool,
    /// `hs256_secret_env`: this issuer's tokens are HS256 with this secret (`core::hs256`),
    /// and it has no JWKS.
    pub hs256_secret: Option<Hs256Key>,
}

/// Which of a session's tokens goes to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionToken {
    None,
    AccessToken,
    IdToken,
}

/// `forward_token`: the token upstreams get, in which header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardToken {
    /// For session users.
    pub session: SessionToken,
    /// Bearer requests: remove the token headers before the request goes upstream.
    pub strip_bearer: bool,
    pub header: String,
    /// Put before the token (`Bearer`); `None`: the token alone.
    pub scheme: Option<String>,
}

/// A request header a bearer token is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// Lower case.
    pub name: String,
    /// The scheme before the token (`Bearer`, compared case-insensitively); `None`: the whole
    /// value is the token.
    pub scheme: Option<String>,
}

impl TokenHeader {
    pub fn authorization() -> TokenHeader {
        TokenHeader {
            name: "authorization".to_string(),
            scheme: Some("Bearer".to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct UseridTransformer {
    pub matches: Regex,
    pub replaces: String,
}

#[derive(Clone)]
pub struct SessionConfig {
    pub cookie_name: String,
    /// The first key seals; all of them open.
    pub keys: Vec<[u8; 32]>,
    pub max_age_seconds: u64,
    /// A session not validated at the IdP for this long is, before it passes (0: never).
    pub revalidate_seconds: u64,
    pub same_site: SameSite,
    pub secure: bool,
}

/// Keys never reach a log line, even through `{:?}`.
impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("cookie_name", &self.cookie_name)
            .field("keys", &format_args!("[{} keys]", self.keys.len()))
            .field("max_age_seconds", &self.max_age_seconds)
            .field("revalidate_seconds", &self.revalidate_seconds)
            .field("same_site", &self.same_site)
            .field("secure", &self.secure)
            .finish()
    }
}

/// How sessions end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutConfig {
    pub path: String,
    pub after_logout_url: String,
    /// Where the IdP posts back-channel logout tokens; `None`: not accepted.
    pub backchannel_path: Option<String>,
    /// Revoke the session's refresh token at the IdP (RFC 7009) on logout.
    pub revoke_tokens: bool,
}

/// `enforce` carries decisions out; `audit` computes, counts and logs them, but lets what
/// enforce mode would refuse or send to the IdP pass without identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Audit,
}

/// The compiled configuration, shared by every request of a worker.
#[derive(Debug, Clone)]
pub struct Config {
    pub issuers: Vec<IssuerConfig>,
    /// host[:port] -> cluster, for IdP endpoints that do not live on the issuer's host.
    pub idp_clusters: BTreeMap<String, String>,
    pub client_id: String,
    pub client_secret: Secret,
    pub client_auth: ClientAuth,
    pub authorization_endpoint: Option<String>,
    pub redirect_uri: String,
    /// The path part of `redirect_uri`: requests to exactly this path are login callbacks.
    pub callback_path: String,
    pub scopes: Vec<String>,
    pub session: SessionConfig,
    pub userid_header: String,
    pub groups_header: String,
    /// Extra identity headers: header name -> claim (a name or a dotted path).
    pub claim_headers: Vec<(String, String)>,
    /// Every header the filter sets from an identity; the same names from clients are removed.
    pub identity_headers: Vec<String>,
    /// Where bearer tokens are read from, in order.
    pub token_headers: Vec<TokenHeader>,
    /// The claims a credential's grants keep: those the rules check and the claim headers
    /// show (sessions carry them from their login).
    pub kept_claims: Vec<String>,
    pub forward_token: ForwardToken,
    /// Bearer tokens that are not JWTs are the login issuer's, checked by a call to it.
    pub opaque_tokens: Option<OpaqueTokens>,
    pub userid_transformers: Vec<UseridTransformer>,
    /// `None` means every authenticated user is allowed (`["*"]`).
    pub groups_allowlist: Option<Vec<String>>,
    /// `skip_auth_paths` and `rules`, compiled.
    pub rules: Rules,
    /// CORS preflights without credentials pass to the upstream.
    pub allow_cors_preflight: bool,
    /// A navigation here starts a login, returning to its `rd` parameter.
    pub login_path: String,
    pub mode: Mode,
    pub logout: LogoutConfig,
    pub jwks_refresh_seconds: u64,
    pub clock_skew_seconds: u64,
    pub idp_timeout_ms: u64,
    /// Bearer tokens and session cookies each worker remembers as checked, of each kind.
    pub credential_cache_entries: usize,
}

/// Where `client_secret_env` and `session_keys_env` are looked up (the VM environment).
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Environment for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

impl Config {
    /// The issuer browsers sign in with: the first one configured (validation requires one).
    pub fn login_issuer(&self) -> &IssuerConfig {
        &self.issuers[0]
    }

    /// Parses and validates the plugin configuration. Empty input reads as `{}`.
    pub fn from_json(raw: &[u8], env: &dyn Environment) -> Result<Config, ConfigError> {
        compile(Fields::new(json_object(raw)?, "", TOP_LEVEL_KEYS)?, env)
    }
}

/// The configuration's JSON object. Empty input reads as `{}`.
fn json_object(raw: &[u8]) -> Result<serde_json::Map<String, Value>, ConfigError> {
    let raw = if raw.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        raw
    };
    let value: Value = serde_json::from_slice(raw)
        .map_err(|e| error("configuration", format!("not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(error("configuration", "must be a JSON object"));
    };
    Ok(map)
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "issuer",
    "idp_cluster",
    "idp_clusters",
    "client_id",
    "client_secret",
    "client_secret_env",
    "token_endpoint_auth_method",
    "authorization_endpoint",
    "redirect_uri",
    "scopes",
    "audiences",
    "extra_issuers",
    "issuer_name",
    "session_cookie_name",
    "session_keys",
    "session_keys_env",
    "session_max_age_seconds",
    "session_same_site",
    "session_cookie_secure",
    "userid_claim",
    "groups_claim",
    "serviceaccount_groups",
    "claim_headers",
    "token_headers",
    "forward_token",
    "opaque_tokens",
    "userid_header",
    "groups_header",
    "userid_prefix",
    "userid_transformers",
    "groups_allowlist",
    "skip_auth_paths",
    "rules",
    "allow_cors_preflight",
    "logout_path",
    "login_path",
    "mode",
    "after_logout_url",
    "backchannel_logout_path",
    "revoke_tokens_on_logout",
    "session_revalidate_seconds",
    "jwks_refresh_seconds",
    "clock_skew_seconds",
    "idp_timeout_ms",
    "credential_cache_entries",
];

const EXTRA_ISSUER_KEYS: &[&str] = &[
    "issuer",
    "name",
    "cluster",
    "jwks_uri",
    "audiences",
    "userid_claim",
    "groups_claim",
    "userid_prefix",
    "serviceaccount_groups",
    "hs256_secret_env",
    "hs256_secret",
];

const TRANSFORMER_KEYS: &[&str] = &["matches", "replaces"];

fn compile(mut f: Fields, env: &dyn Environment) -> Result<Config, ConfigError> {
    let (issuer, idp_cluster) = login_issuer(&mut f)?;
    let idp_clusters = f.string_map("idp_clusters")?;
    let client_id = client_id(&mut f)?;
    let client_secret = secret_from(&mut f, "client_secret", "client_secret_env", env)?;
    let client_auth = client_auth(&mut f)?;
    let issuers = issuers(&mut f, issuer, idp_cluster, &client_id, env)?;
    let login = login_endpoints(&mut f)?;
    let session = session_config(&mut f, env)?;
    let identity = identity_rules(&mut f)?;
    let rules = rules::rules(&mut f)?;
    let logout = logout_config(&mut f)?;
    let login_path = login_path(&mut f, &login.callback_path, &logout)?;
    let identity_headers = headers::identity_headers(&identity);
    let forward_token = headers::forward_token(&mut f, &identity_headers)?;
    let kept_claims = kept_claims(&rules, &identity.claim_headers);
    Ok(Config {
        issuers,
        idp_clusters,
        client_id,
        client_secret,
        client_auth,
        authorization_endpoint: login.authorization_endpoint,
        redirect_uri: login.redirect_uri,
        callback_path: login.callback_path,
        scopes: login.scopes,
        session,
        identity_headers,
        userid_header: identity.userid_header,
        groups_header: identity.groups_header,
        claim_headers: identity.claim_headers,
        token_headers: headers::token_headers(&mut f)?,
        forward_token,
        opaque_tokens: opaque::opaque_tokens(&mut f)?,
        kept_claims,
        userid_transformers: identity.userid_transformers,
        groups_allowlist: identity.groups_allowlist,
        rules,
        allow_cors_preflight: allow_cors_preflight(&mut f)?,
        login_path,
        mode: mode(&mut f)?,
        logout,
        jwks_refresh_seconds: jwks_refresh_seconds(&mut f)?,
        clock_skew_seconds: clock_skew_seconds(&mut f)?,
        idp_timeout_ms: idp_timeout_ms(&mut f)?,
        credential_cache_entries: cache_entries(&mut f)?,
    })
}

// The scalar settings, each a function of its own so that `check_all` reads them the same way.
fn allow_cors_preflight(f: &mut Fields) -> Result<bool, ConfigError> {
    f.bool_or("allow_cors_preflight", false)
}

fn jwks_refresh_seconds(f: &mut Fields) -> Result<u64, ConfigError> {
    f.u64_in("jwks_refresh_seconds", 600, 10..=86_400)
}

fn clock_skew_seconds(f: &mut Fields) -> Result<u64, ConfigError> {
    f.u64_in("clock_skew_seconds", 60, 0..=600)
}

fn idp_timeout_ms(f: &mut Fields) -> Result<u64, ConfigError> {
    f.u64_in("idp_timeout_ms", 5000, 100..=60_000)
}

fn client_id(f: &mut Fields) -> Result<String, ConfigError> {
    let client_id = f.required_str("client_id")?;
    check_non_empty("client_id", &client_id)?;
    Ok(client_id)
}

fn cache_entries(f: &mut Fields) -> Result<usize, ConfigError> {
    let default = DEFAULT_CAPACITY as u64;
    let entries = f.u64_in("credential_cache_entries", default, 16..=1_000_000)?;
    Ok(usize::try_from(entries).unwrap_or(DEFAULT_CAPACITY))
}

/// The login issuer and the Envoy cluster that reaches it: `(issuer, idp_cluster)`.
fn login_issuer(f: &mut Fields) -> Result<(String, String), ConfigError> {
    let issuer = f.required_str("issuer")?;
    check_http_url(&f.path("issuer"), &issuer)?;
    if issuer.ends_with('/') {
        return Err(error(
            "issuer",
            "must not end with '/' (it is compared byte for byte with the token's iss)",
        ));
    }
    let idp_cluster = f.required_str("idp_cluster")?;
    check_non_empty("idp_cluster", &idp_cluster)?;
    Ok((issuer, idp_cluster))
}

fn client_auth(f: &mut Fields) -> Result<ClientAuth, ConfigError> {
    match f
        .str_or("token_endpoint_auth_method", "client_secret_basic")?
        .as_str()
    {
        "client_secret_basic" => Ok(ClientAuth::Basic),
        "client_secret_post" => Ok(ClientAuth::Post),
        other => Err(error(
            "token_endpoint_auth_method",
            format!("{other:?} is not client_secret_basic or client_secret_post"),
        )),
    }
}

/// Every accepted issuer: the login issuer first, then `extra_issuers`, whose claim settings
/// default to the login issuer's.
fn issuers(
    f: &mut Fields,
    issuer: String,
    cluster: String,
    client_id: &str,
    env: &dyn Environment,
) -> Result<Vec<IssuerConfig>, ConfigError> {
    let claims = ClaimSettings {
        userid_claims: claim_list(f, "userid_claim", &["email"])?,
        groups_claims: claim_list(f, "groups_claim", &["groups"])?,
        userid_prefix: f.str_or("userid_prefix", "")?,
        serviceaccount_groups: f.bool_or("serviceaccount_groups", false)?,
    };
    let audiences = f.string_list_or("audiences", vec![client_id.to_string()])?;
    check_list_not_empty("audiences", &audiences)?;
    let mut names = vec![issuer_names::explicit(f, "issuer_name")?];
    let primary = IssuerConfig {
        issuer,
        name: String::new(),
        cluster,
        jwks_uri: None,
        audiences,
        userid_claims: claims.userid_claims.clone(),
        groups_claims: claims.groups_claims.clone(),
        userid_prefix: claims.userid_prefix.clone(),
        serviceaccount_groups: claims.serviceaccount_groups,
        hs256_secret: None,
    };
    let mut issuers = vec![primary];
    for mut extra in f.object_list("extra_issuers", EXTRA_ISSUER_KEYS)? {
        names.push(issuer_names::explicit(&mut extra, "name")?);
        issuers.push(extra_issuer(extra, &claims, env)?);
    }
    check_distinct_issuers(&issuers)?;
    issuer_names::assign(&mut issuers, names)?;
    Ok(issuers)
}

/// Where a browser login goes and comes back.
struct LoginEndpoints {
    authorization_endpoint: Option<String>,
    redirect_uri: String,
    callback_path: String,
    scopes: Vec<String>,
}

fn login_endpoints(f: &mut Fields) -> Result<LoginEndpoints, ConfigError> {
    let authorization_endpoint = f.optional_str("authorization_endpoint")?;
    if let Some(endpoint) = &authorization_endpoint {
        check_url_or_path("authorization_endpoint", endpoint)?;
    }
    let redirect_uri = f.str_or("redirect_uri", "/authservice/oidc/callback")?;
    check_url_or_path("redirect_uri", &redirect_uri)?;
    let callback_path = path_of(&redirect_uri);
    let mut scopes = f.string_list_or("scopes", default_scopes())?;
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".to_string());
    }
    Ok(LoginEndpoints {
        authorization_endpoint,
        redirect_uri,
        callback_path,
        scopes,
    })
}

/// How the user is named to the upstream, and who may pass.
struct IdentityRules {
    userid_header: String,
    groups_header: String,
    claim_headers: Vec<(String, String)>,
    userid_transformers: Vec<UseridTransformer>,
    groups_allowlist: Option<Vec<String>>,
}

fn identity_rules(f: &mut Fields) -> Result<IdentityRules, ConfigError> {
    let userid_header = header_name(f, "userid_header", "kubeflow-userid")?;
    let groups_header = header_name(f, "groups_header", "kubeflow-groups")?;
    if header_names::folds_to(&groups_header, &userid_header) {
        return Err(error("groups_header", "must differ from userid_header"));
    }
    let claim_headers = headers::claim_headers(f, &[&userid_header, &groups_header])?;
    Ok(IdentityRules {
        userid_header,
        groups_header,
        claim_headers,
        userid_transformers: transformers(f)?,
        groups_allowlist: groups_allowlist(f)?,
    })
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile", "groups"]
        .map(String::from)
        .to_vec()
}

/// How an issuer's claims become an identity; extra issuers default to the login issuer's.
struct ClaimSettings {
    userid_claims: Vec<String>,
    groups_claims: Vec<String>,
    userid_prefix: String,
    serviceaccount_groups: bool,
}

/// A claim name or an ordered list of them (each a name or a dotted path).
fn claim_list(f: &mut Fields, key: &str, default: &[&str]) -> Result<Vec<String>, ConfigError> {
    let list = match f.optional_str_or_list(key)? {
        Some(list) => list,
        None => default.iter().map(|c| c.to_string()).collect(),
    };
    check_list_not_empty(&f.path(key), &list)?;
    if let Some(bad) = list
        .iter()
        .find(|c| c.is_empty() || c.starts_with('.') || c.ends_with('.'))
    {
        return Err(error(
            f.path(key),
            format!("{bad:?} is not a claim name or path"),
        ));
    }
    Ok(list)
}

fn extra_issuer(
    mut f: Fields,
    defaults: &ClaimSettings,
    env: &dyn Environment,
) -> Result<IssuerConfig, ConfigError> {
    let issuer = f.required_str("issuer")?;
    let hs256_secret = pinned::hs256_secret(&mut f, env)?;
    let keys = match hs256_secret {
        Some(_) => pinned::key_source(&mut f, &issuer)?,
        None => published_key_source(&mut f, &issuer)?,
    };
    let config = IssuerConfig {
        issuer,
        name: String::new(),
        cluster: keys.cluster,
        jwks_uri: keys.jwks_uri,
        audiences: keys.audiences,
        hs256_secret,
        userid_claims: claim_list(&mut f, "userid_claim", &as_strs(&defaults.userid_claims))?,
        groups_claims: claim_list(&mut f, "groups_claim", &as_strs(&defaults.groups_claims))?,
        userid_prefix: f.str_or("userid_prefix", &defaults.userid_prefix)?,
        serviceaccount_groups: f
            .bool_or("serviceaccount_groups", defaults.serviceaccount_groups)?,
    };
    Ok(config)
}

/// Where an extra issuer's keys come from, and the audiences its tokens must name.
struct KeySource {
    cluster: String,
    jwks_uri: Option<String>,
    audiences: Vec<String>,
}

/// An issuer with published keys: a JWKS behind `cluster`, at `jwks_uri` or from discovery.
fn published_key_source(f: &mut Fields, issuer: &str) -> Result<KeySource, ConfigError> {
    check_http_url(&f.path("issuer"), issuer)?;
    let cluster = f.required_str("cluster")?;
    check_non_empty(&f.path("cluster"), &cluster)?;
    let jwks_uri = f.optional_str("jwks_uri")?;
    if let Some(uri) = &jwks_uri {
        check_http_url(&f.path("jwks_uri"), uri)?;
    }
    let audiences = f.required_string_list("audiences")?;
    check_list_not_empty(&f.path("audiences"), &audiences)?;
    Ok(KeySource {
        cluster,
        jwks_uri,
        audiences,
    })
}

fn as_strs(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

fn check_distinct_issuers(issuers: &[IssuerConfig]) -> Result<(), ConfigError> {
    for (i, a) in issuers.iter().enumerate() {
        if issuers[..i].iter().any(|b| b.issuer == a.issuer) {
            let field = format!("extra_issuers[{}].issuer", i - 1);
            return Err(error(field, "duplicates another configured issuer"));
        }
    }
    Ok(())
}

fn secret_from(
    f: &mut Fields,
    inline_key: &str,
    env_key: &str,
    env: &dyn Environment,
) -> Result<Secret, ConfigError> {
    let inline = f.optional_str(inline_key)?;
    let from_env = f.optional_str(env_key)?;
    match (inline, from_env) {
        (Some(_), Some(_)) => Err(error(
            inline_key,
            format!("set either {inline_key} or {env_key}, not both"),
        )),
        (None, None) => Err(error(
            inline_key,
            format!("required (or {env_key}, naming a VM environment variable)"),
        )),
        (Some(value), None) => {
            check_non_empty(inline_key, &value)?;
            Ok(Secret(value))
        }
        (None, Some(name)) => match env.var(&name) {
            Some(value) if !value.is_empty() => Ok(Secret(value)),
            _ => Err(error(
                env_key,
                format!("environment variable {name:?} is not set or empty in the Wasm VM (vm_config.environment_variables / vmConfig.env)"),
            )),
        },
    }
}

fn logout_config(f: &mut Fields) -> Result<LogoutConfig, ConfigError> {
    let path = f.str_or("logout_path", "/authservice/logout")?;
    check_path("logout_path", &path)?;
    let after_logout_url = f.str_or("after_logout_url", "/")?;
    check_url_or_path("after_logout_url", &after_logout_url)?;
    let backchannel_path = f.optional_str("backchannel_logout_path")?;
    if let Some(backchannel) = &backchannel_path {
        check_path("backchannel_logout_path", backchannel)?;
        if *backchannel == path {
            return Err(error(
                "backchannel_logout_path",
                "must differ from logout_path",
            ));
        }
    }
    Ok(LogoutConfig {
        path,
        after_logout_url,
        backchannel_path,
        revoke_tokens: f.bool_or("revoke_tokens_on_logout", true)?,
    })
}

/// Every claim the rules name or a claim header shows, once each.
fn kept_claims(rules: &Rules, claim_headers: &[(String, String)]) -> Vec<String> {
    let mut names = rules.claim_names();
    for (_, claim) in claim_headers {
        policy::insert_sorted(&mut names, claim.as_str());
    }
    names.into_iter().map(String::from).collect()
}

fn login_path(
    f: &mut Fields,
    callback_path: &str,
    logout: &LogoutConfig,
) -> Result<String, ConfigError> {
    let path = f.str_or("login_path", "/authservice/login")?;
    check_path("login_path", &path)?;
    let taken = [
        Some(callback_path),
        Some(&logout.path),
        logout.backchannel_path.as_deref(),
    ];
    if taken.contains(&Some(path.as_str())) {
        return Err(error(
            "login_path",
            "must differ from the callback, logout and back-channel logout paths",
        ));
    }
    Ok(path)
}

fn mode(f: &mut Fields) -> Result<Mode, ConfigError> {
    match f.str_or("mode", "enforce")?.as_str() {
        "enforce" => Ok(Mode::Enforce),
        "audit" => Ok(Mode::Audit),
        other => Err(error(
            "mode",
            format!("{other:?}: \"enforce\" or \"audit\""),
        )),
    }
}

fn session_config(f: &mut Fields, env: &dyn Environment) -> Result<SessionConfig, ConfigError> {
    let cookie_name = f.str_or("session_cookie_name", "authservice_session")?;
    if cookie_name.is_empty() || cookie_name.len() > 64 || !cookie_name.bytes().all(is_token_char) {
        return Err(error(
            "session_cookie_name",
            "must be a cookie name of 1 to 64 letters, digits and !#$%&'*+-.^_`|~",
        ));
    }
    let keys = session_keys(f, env)?;
    let max_age_seconds = f.u64_in("session_max_age_seconds", 86_400, 60..=31_536_000)?;
    let revalidate_seconds = f.u64_in("session_revalidate_seconds", 0, 0..=86_400)?;
    let same_site = match f.str_or("session_same_site", "Lax")?.as_str() {
        "Strict" => SameSite::Strict,
        "Lax" => SameSite::Lax,
        "None" => SameSite::None,
        other => {
            return Err(error(
                "session_same_site",
                format!("{other:?} is not one of Strict, Lax, None"),
            ))
        }
    };
    let secure = f.bool_or("session_cookie_secure", true)?;
    if cookie_name.starts_with("__Host-") && !secure {
        return Err(error(
            "session_cookie_name",
            "a __Host- cookie requires session_cookie_secure: true",
        ));
    }
    if same_site == SameSite::None && !secure {
        return Err(error(
            "session_same_site",
            "None requires session_cookie_secure: true (browsers drop such cookies)",
        ));
    }
    Ok(SessionConfig {
        cookie_name,
        keys,
        max_age_seconds,
        revalidate_seconds,
        same_site,
        secure,
    })
}

fn session_keys(f: &mut Fields, env: &dyn Environment) -> Result<Vec<[u8; 32]>, ConfigError> {
    let inline = f.optional_string_list("session_keys")?;
    let from_env = f.optional_str("session_keys_env")?;
    let (field, encoded) = match (inline, from_env) {
        (Some(_), Some(_)) => {
            return Err(error(
                "session_keys",
                "set either session_keys or session_keys_env, not both",
            ))
        }
        (None, None) => {
            return Err(error(
                "session_keys",
                "required (or session_keys_env, naming a VM environment variable with comma-separated keys)",
            ))
        }
        (Some(list), None) => ("session_keys".to_string(), list),
        (None, Some(name)) => {
            let value = env.var(&name).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                error(
                    "session_keys_env",
                    format!("environment variable {name:?} is not set or empty in the Wasm VM"),
                )
            })?;
            let list = value.split(',').map(|k| k.trim().to_string()).collect();
            ("session_keys_env".to_string(), list)
        }
    };
    if encoded.is_empty() {
        return Err(error(field, "needs at least one key"));
    }
    encoded
        .iter()
        .enumerate()
        .map(|(i, key)| {
            decode_session_key(key).map_err(|reason| error(format!("{field}[{i}]"), reason))
        })
        .collect()
}

fn decode_session_key(encoded: &str) -> Result<[u8; 32], String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let decoded = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(encoded).ok())
        .ok_or("not valid base64 (generate one with: openssl rand -base64 32)")?;
    <[u8; 32]>::try_from(decoded.as_slice()).map_err(|_| {
        format!(
            "decodes to {} bytes; a key must be exactly 32",
            decoded.len()
        )
    })
}

/// Headers the filter reads or that frame the request: every spelling of an identity header
/// is removed from requests, so none of these may be one.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "accept",
    "sec-fetch-mode",
    "sec-fetch-site",
    "x-requested-with",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
    "expect",
];

fn header_name(f: &mut Fields, key: &str, default: &str) -> Result<String, ConfigError> {
    let name = f.str_or(key, default)?.to_ascii_lowercase();
    check_identity_header(key, &name)?;
    Ok(name)
}

/// A header the filter sets from an identity: one spelling every upstream reads the same way,
/// and none that carries a credential or frames the request.
fn check_identity_header(key: &str, name: &str) -> Result<(), ConfigError> {
    if !header_names::is_unambiguous(name) {
        return Err(error(
            key,
            "must be letters and digits in words joined by single '-' (upstreams fold '_', '.' \
             and the like into '-', or drop such headers)",
        ));
    }
    if RESERVED_HEADERS
        .iter()
        .any(|r| header_names::folds_to(name, r))
    {
        return Err(error(
            key,
            format!("{name:?} cannot be used as an identity header"),
        ));
    }
    Ok(())
}

fn transformers(f: &mut Fields) -> Result<Vec<UseridTransformer>, ConfigError> {
    f.object_list("userid_transformers", TRANSFORMER_KEYS)?
        .into_iter()
        .map(|mut t| {
            let pattern = t.required_str("matches")?;
            let matches = Regex::new(&pattern)
                .map_err(|e| error(t.path("matches"), format!("not a valid regex: {e}")))?;
            let replaces = t.required_str("replaces")?;
            Ok(UseridTransformer { matches, replaces })
        })
        .collect()
}

fn groups_allowlist(f: &mut Fields) -> Result<Option<Vec<String>>, ConfigError> {
    let list = f.string_list_or("groups_allowlist", vec!["*".to_string()])?;
    groups_allowlist_of("groups_allowlist", list)
}

/// An allowlist of groups; `None` when it holds `*` (everyone).
fn groups_allowlist_of(field: &str, list: Vec<String>) -> Result<Option<Vec<String>>, ConfigError> {
    check_list_not_empty(field, &list)?;
    if list.iter().any(|g| g == "*") {
        return Ok(None);
    }
    if let Some(bad) = list.iter().find(|g| g.is_empty() || g.contains(',')) {
        return Err(error(
            field,
            format!("{bad:?}: group names must be non-empty and contain no ','"),
        ));
    }
    Ok(Some(list))
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_non_empty(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(error(field, "must not be empty"));
    }
    Ok(())
}

fn check_list_not_empty(field: &str, list: &[String]) -> Result<(), ConfigError> {
    if list.is_empty() {
        return Err(error(field, "must not be an empty list"));
    }
    if list.iter().any(|s| s.is_empty()) {
        return Err(error(field, "must not contain empty strings"));
    }
    Ok(())
}

fn check_http_url(field: &str, value: &str) -> Result<(), ConfigError> {
    let url = http_url::parse(value)
        .map_err(|e| error(field, format!("{value:?} is not an http(s) URL: {e}")))?;
    if url.query.is_some() || url.fragment.is_some() {
        return Err(error(field, "must not have a query or fragment"));
    }
    Ok(())
}

fn check_path(field: &str, value: &str) -> Result<(), ConfigError> {
    if !value.starts_with('/') || value.starts_with("//") || value.contains(['\\', ' ']) {
        return Err(error(
            field,
            format!("{value:?} must be an absolute path starting with a single '/'"),
        ));
    }
    Ok(())
}

/// The path of a URL or path (already validated as one or the other).
fn path_of(url_or_path: &str) -> String {
    if url_or_path.starts_with('/') {
        return url_or_path
            .split(['?', '#'])
            .next()
            .unwrap_or("/")
            .to_string();
    }
    http_url::parse(url_or_path).map_or_else(|_| "/".to_string(), |u| u.path().to_string())
}

fn check_url_or_path(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.starts_with('/') {
        check_path(field, value)
    } else {
        check_http_url(field, value)
    }
}

#[cfg(test)]
mod tests;
