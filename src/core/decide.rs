//! The per-request decision: plain inputs in, a [`Decision`] out. No host calls.

use std::rc::Rc;

use crate::config::{Config, OpaqueTokens, TokenHeader};
use crate::core::claims::Grants;
use crate::core::cookies;
use crate::core::grpc::Protocol;
use crate::core::identity::{identify, Identity, IdentityError, Token, LOGIN_ISSUER};
use crate::core::jwks::KeySet;
use crate::core::jwt::{self, ClaimRules, JwtError};
use crate::core::opaque::{self, Lookup, OpaqueState};
use crate::core::policy::{Picked, Policy, Shortfall, Unauthenticated};
use crate::core::revocation::{self, Revocations};
use crate::core::session::{self, Session, SessionError};
use crate::core::token_cache::{TokenCache, Verdict, DEFAULT_CAPACITY, MAX_CACHED_TOKEN_BYTES};

/// Authorization header values above this are refused before any parsing.
pub const MAX_AUTHORIZATION_BYTES: usize = 16 * 1024 + 16;

/// A token header of a request, as sent: its index in `token_headers`, and its value.
pub type Credential = (usize, Vec<u8>);

/// What the decision needs to know about a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: Vec<u8>,
    pub scheme: Vec<u8>,
    pub authority: Vec<u8>,
    pub path: Vec<u8>,
    /// The token headers (`token_headers`) the request carries, in order.
    pub credentials: Vec<Credential>,
    pub cookie_headers: Vec<Vec<u8>>,
    /// A top-level browser navigation: may be redirected to the IdP.
    pub navigation: bool,
    /// `Sec-Fetch-Site` says another site made this request.
    pub cross_site: bool,
    /// The body is a form (`Content-Type: application/x-www-form-urlencoded`).
    pub form_body: bool,
    /// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
    pub cors_preflight: bool,
    /// A gRPC call (its `content-type`): never sent to the IdP, refused with a gRPC status.
    pub grpc: Option<Protocol>,
    /// `x-request-id` (Envoy sets it), when safe to log and show.
    pub request_id: Option<RequestId>,
}

/// A request id as logs and error pages show it: the client may have chosen it, so only a
/// short run of `[A-Za-z0-9._-]` is kept (Envoy's UUIDs are 36 bytes). Held inline, so reading
/// it allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    bytes: [u8; RequestId::MAX_BYTES],
    len: u8,
}

impl RequestId {
    pub const MAX_BYTES: usize = 64;

    /// The id, or `None` when empty, longer than [`Self::MAX_BYTES`] or holding another byte.
    pub fn parse(value: &[u8]) -> Option<RequestId> {
        let safe = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if value.is_empty() || value.len() > Self::MAX_BYTES || !value.iter().all(safe) {
            return None;
        }
        let mut bytes = [0u8; Self::MAX_BYTES];
        bytes[..value.len()].copy_from_slice(value);
        Some(RequestId {
            bytes,
            len: value.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII was kept.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Browser hints the navigation test reads.
#[derive(Default)]
struct FetchHints<'a> {
    mode: Option<&'a [u8]>,
    accept: Option<&'a [u8]>,
    requested_with: bool,
    origin: bool,
    preflight_method: bool,
}

impl FetchHints<'_> {
    /// GET/HEAD, not XHR, and either `Sec-Fetch-Mode: navigate` or (older browsers) an
    /// `Accept` asking for HTML. API clients, fetch() and XHR get 401 instead of a redirect.
    fn is_navigation(&self, method: &[u8]) -> bool {
        if !matches!(method, b"GET" | b"HEAD") || self.requested_with {
            return false;
        }
        match self.mode {
            Some(mode) => mode == b"navigate",
            None => self.accept.is_some_and(|a| contains(a, b"text/html")),
        }
    }
}

/// `application/x-www-form-urlencoded`, in any case, with or without parameters.
fn is_form(content_type: &[u8]) -> bool {
    let media_type = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    media_type
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

impl Request {
    /// Reads the request from its header list (lower-case names, raw values), with the
    /// tokens in `Authorization`.
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Request {
        Request::read(headers, &[TokenHeader::authorization()])
    }

    /// Reads the request from its header list, with the tokens in `token_headers`.
    pub fn read<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        token_headers: &[TokenHeader],
    ) -> Request {
        let mut request = Request::default();
        let mut hints = FetchHints::default();
        for (name, value) in headers {
            if let Some(source) = token_headers.iter().position(|t| t.name == name) {
                request.credentials.push((source, value.to_vec()));
                continue;
            }
            match name {
                ":method" => request.method = value.to_vec(),
                ":scheme" => request.scheme = value.to_vec(),
                ":authority" => request.authority = value.to_vec(),
                ":path" => request.path = value.to_vec(),
                "cookie" => request.cookie_headers.push(value.to_vec()),
                "sec-fetch-mode" => hints.mode = Some(value),
                "sec-fetch-site" => {
                    request.cross_site = matches!(value, b"cross-site" | b"same-site")
                }
                "accept" => hints.accept = Some(value),
                "x-requested-with" => hints.requested_with = true,
                "content-type" => {
                    request.form_body = is_form(value);
                    request.grpc = Protocol::of_content_type(value);
                }
                "origin" => hints.origin = true,
                "access-control-request-method" => hints.preflight_method = true,
                "x-request-id" => request.request_id = RequestId::parse(value),
                _ => {}
            }
        }
        request.navigation = hints.is_navigation(&request.method);
        request.cors_preflight =
            request.method == b"OPTIONS" && hints.origin && hints.preflight_method;
        request
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &[u8] {
        let end = self
            .path
            .iter()
            .position(|&b| b == b'?' || b == b'#')
            .unwrap_or(self.path.len());
        &self.path[..end]
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        let start = self.path.iter().position(|&b| b == b'?')?;
        std::str::from_utf8(&self.path[start + 1..]).ok()
    }

    pub fn cookies(&self) -> Vec<(&str, &str)> {
        cookies::parse_cookies(self.cookie_headers.iter().map(Vec::as_slice))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowReason {
    Bearer,
    Session,
    Skipped,
    CorsPreflight,
}

impl AllowReason {
    pub const ALL: [AllowReason; 4] = [
        AllowReason::Bearer,
        AllowReason::Session,
        AllowReason::Skipped,
        AllowReason::CorsPreflight,
    ];

    pub fn label(self) -> &'static str {
        match self {
            AllowReason::Bearer => "bearer",
            AllowReason::Session => "session",
            AllowReason::Skipped => "skipped",
            AllowReason::CorsPreflight => "cors_preflight",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    pub status: u16,
    /// Stable snake_case label for metrics and logs; never user data.
    pub reason: &'static str,
    /// RFC 6750 `WWW-Authenticate` value, when one applies.
    pub www_authenticate: Option<&'static str>,
}

impl Deny {
    fn invalid_token(reason: &'static str) -> Decision {
        Decision::Deny(Deny::bad_token(reason))
    }

    pub fn bad_token(reason: &'static str) -> Deny {
        Deny {
            status: 401,
            reason,
            www_authenticate: Some("Bearer error=\"invalid_token\""),
        }
    }

    fn forbidden(reason: &'static str) -> Deny {
        Deny {
            status: 403,
            reason,
            www_authenticate: None,
        }
    }

    /// An authenticated request that falls short of a rule it matched.
    fn short_of_rule(shortfall: Shortfall) -> Deny {
        match shortfall {
            Shortfall::Group => Deny::forbidden(IdentityError::NotInAllowedGroups.reason()),
            Shortfall::Claim => Deny::forbidden("claim_not_accepted"),
            Shortfall::Scope => Deny {
                status: 403,
                reason: "insufficient_scope",
                www_authenticate: Some("Bearer error=\"insufficient_scope\""),
            },
        }
    }

    /// An opaque token that could not be checked now: the client may try again.
    pub fn token_check_unavailable(reason: &'static str) -> Deny {
        Deny {
            status: 503,
            reason,
            www_authenticate: None,
        }
    }

    pub fn refresh_failed() -> Deny {
        Deny {
            status: 401,
            reason: "session_refresh_failed",
            www_authenticate: Some("Bearer"),
        }
    }

    /// The short page sent with the status; it never echoes request data.
    pub fn body(&self) -> &'static str {
        match self.status {
            401 => "401 Unauthorized: a valid bearer token or session is required\n",
            403 => "403 Forbidden: your account is not allowed to use this service\n",
            503 => "503 Service Unavailable: the identity provider is not reachable yet\n",
            _ => "request refused\n",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Pass upstream, with these identity headers (none on a skipped path).
    Allow {
        identity: Option<Identity>,
        reason: AllowReason,
    },
    Deny(Deny),
    /// This issuer has no keys yet: hold the request until it does, within a bound.
    AwaitKeys {
        issuer: usize,
    },
    /// The token names a `kid` we lack: hold the request for one refetch of this issuer.
    AwaitRefetch {
        issuer: usize,
    },
    /// An opaque token no call has judged yet: ask the login issuer (`core::opaque`).
    CheckOpaque(Box<OpaqueCheck>),
    /// An opaque token another request's call is judging: hold the request for its answer.
    AwaitOpaque,
    /// A browser navigation without a valid credential: send it to the IdP.
    StartLogin,
    /// The login path: send the browser to the IdP, to come back to its `rd` parameter.
    SignIn,
    /// The exact callback path: finish a login.
    Callback,
    /// The session's tokens are due for a refresh, or the session for revalidation at the
    /// IdP; it is still valid until then. `redirect`: whether the request, should the session
    /// end, goes to the IdP (a navigation, or as its rules say).
    Refresh {
        session: Box<Session>,
        redirect: bool,
    },
    Logout(Logout),
    /// The IdP's back-channel logout: the request's body holds the logout token.
    BackchannelLogout,
}

/// A call about an opaque token is to be sent; the request is answered from what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueCheck {
    pub token: Token,
    /// The rules the request picked, which the token's identity must then pass.
    pub picked: Vec<usize>,
}

/// The two logout styles of the Kubeflow central dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logout {
    /// A browser navigation: clear the session, then go to the IdP's end_session endpoint.
    Navigate(Option<Box<Session>>),
    /// The legacy dashboard POST: answered `201 {"afterLogoutURL": ...}`.
    Api(Box<Session>),
}

impl Decision {
    /// A valid session passes with its identity.
    pub fn allow_session(session: Session) -> Decision {
        Decision::allow_session_as(Identity {
            userid: session.userid,
            groups: session.groups,
            sub: session.sub,
            issuer: LOGIN_ISSUER,
            grants: session.grants,
            forward_token: session.forward_token.map(Token),
        })
    }

    /// A session passes as `identity` (that of its refreshed self).
    pub fn allow_session_as(identity: Identity) -> Decision {
        Decision::Allow {
            identity: Some(identity),
            reason: AllowReason::Session,
        }
    }

    /// The answer for a request that waited for keys too long.
    pub fn keys_unavailable() -> Decision {
        Decision::Deny(Deny {
            status: 503,
            reason: "keys_unavailable",
            www_authenticate: None,
        })
    }
}

/// Seconds before the session's tokens expire at which they are refreshed.
pub const REFRESH_AHEAD_SECONDS: u64 = 60;

/// The keys of every issuer, and the tokens they already verified.
pub struct Verifier {
    pub keys: Vec<Option<Rc<KeySet>>>,
    pub cache: TokenCache,
    /// Opened session cookies (keyed by their sealed values): a hit skips the decryption.
    pub sessions: TokenCache<Session>,
    /// What the login issuer said of opaque tokens; kept when keys change (no key was used).
    pub opaque: OpaqueState,
}

impl Verifier {
    pub fn new(issuers: usize) -> Verifier {
        Verifier::with_capacity(issuers, DEFAULT_CAPACITY)
    }

    /// Caches of `entries` credentials each (`credential_cache_entries`).
    pub fn with_capacity(issuers: usize, entries: usize) -> Verifier {
        Verifier {
            keys: vec![None; issuers],
            cache: TokenCache::new(entries, MAX_CACHED_TOKEN_BYTES),
            sessions: TokenCache::new(entries, session::MAX_SEALED_BYTES + 64),
            opaque: OpaqueState::default(),
        }
    }

    /// New keys for an issuer. Verdicts reached with the old keys may no longer hold (a key
    /// was retired), so they are all dropped.
    pub fn set_keys(&mut self, issuer: usize, keys: KeySet) {
        if let Some(slot) = self.keys.get_mut(issuer) {
            *slot = Some(Rc::new(keys));
            self.cache.clear();
        }
    }
}

/// What a bearer token with a `kid` the keys lack gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnknownKid {
    /// Wait for one early refetch of the issuer's keys (a request seen for the first time).
    AwaitRefetch,
    /// Refused: the request waited for a refetch already, or cannot wait.
    Refuse,
}

/// Decides one request; `revocations` is the list of sessions ended early.
pub fn decide(
    config: &Config,
    request: &Request,
    verifier: &mut Verifier,
    revocations: &dyn Revocations,
    now_s: u64,
    on_unknown_kid: OnUnknownKid,
) -> Decision {
    if let Some(decision) = own_endpoint(config, request, now_s) {
        return decision;
    }
    let mut picked = Picked::new();
    let applied = match apply_rules(config, request, &mut picked) {
        Ruling::Authenticate(applied) => applied,
        Ruling::Allow => {
            return Decision::Allow {
                identity: None,
                reason: AllowReason::Skipped,
            }
        }
        Ruling::Deny => return Decision::Deny(Deny::forbidden("denied_by_rule")),
    };
    if config.allow_cors_preflight && is_bare_preflight(request) {
        return Decision::Allow {
            identity: None,
            reason: AllowReason::CorsPreflight,
        };
    }
    if has_query_token(&request.path) {
        // RFC 6750 2.3 is not supported, and a second credential channel is ambiguous.
        return Deny::invalid_token("token_in_query");
    }
    match bearer(config, request) {
        Ok(Some(token)) => return check_bearer(&applied, token, verifier, now_s, on_unknown_kid),
        Ok(None) => {}
        Err(refused) => return Decision::Deny(refused),
    }
    let redirect = applied.redirect;
    match cached_session(config, request, &mut verifier.sessions, now_s) {
        Ok(session) if revocation::is_revoked(revocations, &session) => {
            no_credential(redirect, "session_revoked")
        }
        Ok(session) => check_session(&applied, session, now_s),
        Err(SessionError::Absent) => no_credential(redirect, "no_credential"),
        Err(SessionError::Expired) => no_credential(redirect, "session_expired"),
        Err(SessionError::Invalid) => no_credential(redirect, "session_invalid"),
    }
}

/// The filter's own endpoints: login callback, logout, back-channel logout, login path.
fn own_endpoint(config: &Config, request: &Request, now_s: u64) -> Option<Decision> {
    let path = request.path_only();
    if path == config.callback_path.as_bytes() {
        return Some(Decision::Callback);
    }
    if path == config.logout.path.as_bytes() {
        return Some(logout(config, request, now_s));
    }
    if config.logout.backchannel_path.as_deref().map(str::as_bytes) == Some(path) {
        return Some(backchannel_logout(request));
    }
    (path == config.login_path.as_bytes()).then(|| sign_in(request))
}

/// The rules' word on a request.
enum Ruling<'a> {
    Allow,
    Deny,
    /// Authenticate, then check the rules it picked.
    Authenticate(Applied<'a>),
}

fn apply_rules<'a>(config: &'a Config, request: &Request, picked: &'a mut Picked) -> Ruling<'a> {
    match config.rules.evaluate(request, picked) {
        Policy::Allow { .. } => Ruling::Allow,
        Policy::Deny { .. } => Ruling::Deny,
        Policy::Authenticate { rules } => Ruling::Authenticate(Applied {
            config,
            picked: rules,
            redirect: redirects(config, rules, request),
        }),
    }
}

/// The rules a request picked, with the configuration they belong to.
struct Applied<'a> {
    config: &'a Config,
    picked: &'a [usize],
    /// A request without a credential is sent to the IdP (else it gets 401).
    redirect: bool,
}

impl Applied<'_> {
    fn check(&self, groups: &[String], grants: &Grants) -> Result<(), Deny> {
        let rules = &self.config.rules;
        rules
            .check(self.picked, groups, grants)
            .map_err(Deny::short_of_rule)
    }
}

/// Whether a request without a credential goes to the IdP: browsers' navigations do, unless
/// a rule it picked says `redirect` (any GET or HEAD does) or `401` (none does). A gRPC
/// client can neither follow a redirect nor sign in, whatever its `Accept` says.
fn redirects(config: &Config, picked: &[usize], request: &Request) -> bool {
    if request.grpc.is_some() {
        return false;
    }
    match config.rules.unauthenticated(picked) {
        Unauthenticated::Heuristic => request.navigation,
        Unauthenticated::Redirect => matches!(request.method.as_slice(), b"GET" | b"HEAD"),
        Unauthenticated::Refuse => false,
    }
}

/// The request's session, from the cache when its sealed cookies were opened before.
fn cached_session(
    config: &Config,
    request: &Request,
    cache: &mut TokenCache<Session>,
    now_s: u64,
) -> Result<Session, SessionError> {
    let cookies = request.cookies();
    let base = &config.session.cookie_name;
    let mut sealed = String::new();
    for (name, value) in cookies
        .iter()
        .filter(|(n, _)| session::is_session_cookie(n, base))
    {
        sealed.push_str(name);
        sealed.push('=');
        sealed.push_str(value);
        sealed.push(';');
    }
    if let Some(session) = cache.get(&sealed, now_s) {
        return Ok(session);
    }
    let session = read_session(config, &cookies, now_s)?;
    cache.insert(&sealed, session.clone(), 0, session.expires_at);
    Ok(session)
}

pub fn read_session(
    config: &Config,
    cookies: &[(&str, &str)],
    now_s: u64,
) -> Result<Session, SessionError> {
    session::read_session(
        cookies,
        &config.session.keys,
        &config.session.cookie_name,
        &config.login_issuer().issuer,
        now_s,
    )
}

/// A valid session passes with its identity, unless the allowlist changed since login, it
/// falls short of a rule, or its tokens are due for a refresh.
fn check_session(applied: &Applied, session: Session, now_s: u64) -> Decision {
    let config = applied.config;
    if let Some(allowed) = &config.groups_allowlist {
        if !session.groups.iter().any(|g| allowed.contains(g)) {
            return Decision::Deny(Deny::forbidden(IdentityError::NotInAllowedGroups.reason()));
        }
    }
    if let Err(refused) = applied.check(&session.groups, &session.grants) {
        return Decision::Deny(refused);
    }
    let refresh_from = session
        .tokens_expire_at
        .saturating_sub(REFRESH_AHEAD_SECONDS);
    let revalidate = config.session.revalidate_seconds;
    let revalidate_from = session.validated_at().saturating_add(revalidate);
    let unconfirmed = revalidate > 0 && now_s >= revalidate_from;
    match session.refresh_token {
        Some(_) if unconfirmed || now_s >= refresh_from => Decision::Refresh {
            session: Box::new(session),
            redirect: applied.redirect,
        },
        // Without a refresh token the IdP cannot confirm it: it ends.
        None if unconfirmed => no_credential(applied.redirect, "session_not_revalidated"),
        _ => Decision::allow_session(session),
    }
}

/// A CORS preflight without a credential (browsers never send one with it): the upstream owns
/// its CORS policy and answers it. One that carries a credential is checked as usual.
fn is_bare_preflight(request: &Request) -> bool {
    request.cors_preflight && request.credentials.is_empty() && request.cookie_headers.is_empty()
}

/// The login path starts a login on `GET` (a link or a redirect of the application's own).
fn sign_in(request: &Request) -> Decision {
    if !matches!(request.method.as_slice(), b"GET" | b"HEAD") {
        return Decision::Deny(Deny {
            status: 405,
            reason: "login_not_get",
            www_authenticate: None,
        });
    }
    Decision::SignIn
}

/// The IdP's back-channel logout: a `POST` whose body is read next.
fn backchannel_logout(request: &Request) -> Decision {
    if request.method != b"POST" {
        return Decision::Deny(Deny {
            status: 405,
            reason: "backchannel_logout_not_post",
            www_authenticate: None,
        });
    }
    Decision::BackchannelLogout
}

/// Logout needs a browser navigation from this site, or the legacy dashboard's POST carrying
/// the session; a cross-site image or form cannot log anyone out.
fn logout(config: &Config, request: &Request, now_s: u64) -> Decision {
    let forbidden = |reason| Decision::Deny(Deny::forbidden(reason));
    if request.cross_site {
        return forbidden("logout_cross_site");
    }
    let session = read_session(config, &request.cookies(), now_s).ok();
    match request.method.as_slice() {
        b"POST" => {
            let legacy = legacy_logout_session(config, request, now_s);
            match legacy.or(session) {
                Some(session) => Decision::Logout(Logout::Api(Box::new(session))),
                None => Decision::Deny(Deny {
                    status: 401,
                    reason: "logout_without_session",
                    www_authenticate: None,
                }),
            }
        }
        _ if request.navigation => Decision::Logout(Logout::Navigate(session.map(Box::new))),
        _ => forbidden("logout_not_navigation"),
    }
}

/// oidc-authservice's dashboard sends the session cookie's value as a bearer token.
fn legacy_logout_session(config: &Config, request: &Request, now_s: u64) -> Option<Session> {
    let token = bearer(config, request).ok().flatten()?;
    let cookies = [(config.session.cookie_name.as_str(), token)];
    read_session(config, &cookies, now_s).ok()
}

/// True when the query string carries an `access_token` parameter (name percent-decoded).
fn has_query_token(path: &[u8]) -> bool {
    let Some(start) = path.iter().position(|&b| b == b'?') else {
        return false;
    };
    let query = &path[start + 1..];
    let query = query.split(|&b| b == b'#').next().unwrap_or_default();
    query.split(|&b| b == b'&' || b == b';').any(|pair| {
        let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
        let decoded = form_urlencoded::parse(name).next().map(|(k, _)| k);
        name == b"access_token" || decoded.is_some_and(|k| k == "access_token")
    })
}

/// Browsers go to the IdP (`redirect`); everything else gets 401, never a login page.
fn no_credential(redirect: bool, reason: &'static str) -> Decision {
    if redirect {
        return Decision::StartLogin;
    }
    Decision::Deny(Deny {
        status: 401,
        reason,
        www_authenticate: Some("Bearer"),
    })
}

/// The one bearer token the request's token headers carry; `Ok(None)` when they carry none.
/// A header sent twice is refused (401), and so are two headers with different tokens (400):
/// which one counts would be a guess.
fn bearer<'a>(config: &Config, request: &'a Request) -> Result<Option<&'a str>, Deny> {
    let mut found: Option<&str> = None;
    for (i, (source, value)) in request.credentials.iter().enumerate() {
        if request.credentials[..i].iter().any(|(s, _)| s == source) {
            return Err(Deny::bad_token("several_authorization_headers"));
        }
        let Some(header) = config.token_headers.get(*source) else {
            continue;
        };
        let token = match bearer_token(value, header.scheme.as_deref()) {
            Ok(Some(token)) => token,
            Ok(None) => continue,
            Err(reason) => return Err(Deny::bad_token(reason)),
        };
        match found {
            Some(other) if other != token => {
                return Err(Deny {
                    status: 400,
                    reason: "conflicting_credentials",
                    www_authenticate: Some("Bearer error=\"invalid_request\""),
                })
            }
            _ => found = Some(token),
        }
    }
    Ok(found)
}

/// The token of a header value: after `scheme` (case-insensitive) when there is one, exactly
/// one token; `Ok(None)` for other schemes, which are not ours to judge.
fn bearer_token<'a>(
    value: &'a [u8],
    scheme: Option<&str>,
) -> Result<Option<&'a str>, &'static str> {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err("token_too_large");
    }
    let text = std::str::from_utf8(value).map_err(|_| "malformed_authorization")?;
    let rest = match scheme {
        Some(scheme) => {
            let (sent, rest) = text.split_once(' ').unwrap_or((text, ""));
            if !sent.eq_ignore_ascii_case(scheme) {
                return Ok(None);
            }
            rest
        }
        None => text,
    };
    let token = rest.trim_start_matches(' ');
    if token.is_empty() || !is_token_text(token) {
        return Err("malformed_authorization");
    }
    Ok(Some(token))
}

/// No whitespace or control character anywhere. Nearly every token is printable ASCII, which a
/// byte scan settles; only the others are decoded character by character (this runs on every
/// bearer request, over the whole token).
fn is_token_text(token: &str) -> bool {
    token.bytes().all(|b| (0x21..0x7f).contains(&b))
        || !token.contains(|c: char| c.is_ascii_whitespace() || c.is_control())
}

fn check_bearer(
    applied: &Applied,
    token: &str,
    verifier: &mut Verifier,
    now_s: u64,
    on_unknown_kid: OnUnknownKid,
) -> Decision {
    let config = applied.config;
    if let Some(verdict) = verifier.cache.get(token, now_s) {
        return bearer_decision(verdict, applied);
    }
    if let (Some(settings), false) = (&config.opaque_tokens, is_jwt_shaped(token)) {
        return check_opaque(applied, settings, token, verifier, now_s);
    }
    let parsed = match jwt::parse(token) {
        Ok(parsed) => parsed,
        Err(e) => return Deny::invalid_token(e.reason()),
    };
    let Some((index, issuer)) = config
        .issuers
        .iter()
        .enumerate()
        .find(|(_, i)| Some(i.issuer.as_str()) == parsed.issuer())
    else {
        return Deny::invalid_token("unknown_issuer");
    };
    let Some(key_set) = verifier.keys.get(index).and_then(Option::as_deref) else {
        return Decision::AwaitKeys { issuer: index };
    };
    let rules = ClaimRules {
        issuer: &issuer.issuer,
        audiences: &issuer.audiences,
        clock_skew_seconds: config.clock_skew_seconds,
        require_iat: false,
        require_sub: false,
    };
    let verified = match jwt::verify(&parsed, key_set, &rules, now_s) {
        Ok(verified) => verified,
        Err(JwtError::UnknownKid) if on_unknown_kid == OnUnknownKid::AwaitRefetch => {
            return Decision::AwaitRefetch { issuer: index }
        }
        Err(e) => return Deny::invalid_token(e.reason()),
    };
    let verdict = Verdict {
        issuer: index,
        identity: identify(&verified.claims, index, config),
    };
    let skew = config.clock_skew_seconds;
    let not_before = verified
        .claims
        .get("nbf")
        .and_then(serde_json::Value::as_f64);
    let valid_from = not_before.map_or(0, |nbf| (nbf as u64).saturating_sub(skew));
    verifier.cache.insert(
        token,
        verdict.clone(),
        valid_from,
        verified.exp.saturating_add(skew),
    );
    bearer_decision(verdict, applied)
}

/// Three dot-separated parts: judged as a JWT (a broken one is refused, never sent to the IdP).
fn is_jwt_shaped(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

/// A token that is not a JWT, under `opaque_tokens`: what the login issuer said of it, or a
/// call to ask it.
fn check_opaque(
    applied: &Applied,
    settings: &OpaqueTokens,
    token: &str,
    verifier: &mut Verifier,
    now_s: u64,
) -> Decision {
    let config = applied.config;
    if !opaque::is_sendable(token) {
        return Deny::invalid_token(JwtError::Malformed.reason());
    }
    // The endpoints come with the discovery document, which comes before the keys: until
    // then the request waits, as one with a JWT would.
    if !verifier.keys.first().is_some_and(Option::is_some) {
        return Decision::AwaitKeys {
            issuer: LOGIN_ISSUER,
        };
    }
    // A call unanswered this long has timed out, even if its answer never reached us.
    let lost_after_s = now_s + config.idp_timeout_ms.div_ceil(1000) + 1;
    match verifier.opaque.lookup(token, settings, now_s, lost_after_s) {
        Lookup::Known(verdict) => bearer_decision(verdict, applied),
        Lookup::Refused => Deny::invalid_token("token_inactive"),
        Lookup::InFlight => Decision::AwaitOpaque,
        Lookup::Limited => {
            Decision::Deny(Deny::token_check_unavailable("token_check_rate_limited"))
        }
        Lookup::Ask => Decision::CheckOpaque(Box::new(OpaqueCheck {
            token: Token(token.to_string()),
            picked: applied.picked.to_vec(),
        })),
    }
}

/// The decision for a request whose opaque token the login issuer judged (`verdict`), under
/// the rules it picked.
pub fn opaque_decision(config: &Config, picked: &[usize], verdict: Verdict) -> Decision {
    let applied = Applied {
        config,
        picked,
        redirect: false,
    };
    bearer_decision(verdict, &applied)
}

fn bearer_decision(verdict: Verdict, applied: &Applied) -> Decision {
    match verdict.identity {
        Ok(identity) => match applied.check(&identity.groups, &identity.grants) {
            Ok(()) => Decision::Allow {
                identity: Some(identity),
                reason: AllowReason::Bearer,
            },
            Err(refused) => Decision::Deny(refused),
        },
        Err(e @ (IdentityError::NotInAllowedGroups | IdentityError::GroupsNotAList)) => {
            Decision::Deny(Deny {
                status: 403,
                reason: e.reason(),
                www_authenticate: None,
            })
        }
        Err(e @ IdentityError::MissingUserid) => Deny::invalid_token(e.reason()),
    }
}

#[cfg(test)]
mod tests;
