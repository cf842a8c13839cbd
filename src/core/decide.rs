//! The per-request decision: plain inputs in, a [`Decision`] out. No host calls.

use std::rc::Rc;

use crate::config::Config;
use crate::core::cookies;
use crate::core::identity::{identify, Identity, IdentityError};
use crate::core::jwks::KeySet;
use crate::core::jwt::{self, ClaimRules, JwtError};
use crate::core::paths;
use crate::core::session::{self, Session, SessionError};
use crate::core::token_cache::{TokenCache, Verdict};

/// Authorization header values above this are refused before any parsing.
pub const MAX_AUTHORIZATION_BYTES: usize = 16 * 1024 + 16;

/// The `Authorization` header(s) of a request, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Authorization {
    #[default]
    Absent,
    One(Vec<u8>),
    /// More than one header: ambiguous, never guessed at.
    Several,
}

/// What the decision needs to know about a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: Vec<u8>,
    pub scheme: Vec<u8>,
    pub authority: Vec<u8>,
    pub path: Vec<u8>,
    pub authorization: Authorization,
    pub cookie_headers: Vec<Vec<u8>>,
    /// A top-level browser navigation: may be redirected to the IdP.
    pub navigation: bool,
    /// `Sec-Fetch-Site` says another site made this request.
    pub cross_site: bool,
}

/// Browser hints the navigation test reads.
#[derive(Default)]
struct FetchHints<'a> {
    mode: Option<&'a [u8]>,
    accept: Option<&'a [u8]>,
    requested_with: bool,
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

impl Request {
    /// Reads the request from its header list (lower-case names, raw values).
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Request {
        let mut request = Request::default();
        let mut hints = FetchHints::default();
        for (name, value) in headers {
            match name {
                ":method" => request.method = value.to_vec(),
                ":scheme" => request.scheme = value.to_vec(),
                ":authority" => request.authority = value.to_vec(),
                ":path" => request.path = value.to_vec(),
                "authorization" => {
                    request.authorization = match request.authorization {
                        Authorization::Absent => Authorization::One(value.to_vec()),
                        _ => Authorization::Several,
                    }
                }
                "cookie" => request.cookie_headers.push(value.to_vec()),
                "sec-fetch-mode" => hints.mode = Some(value),
                "sec-fetch-site" => {
                    request.cross_site = matches!(value, b"cross-site" | b"same-site")
                }
                "accept" => hints.accept = Some(value),
                "x-requested-with" => hints.requested_with = true,
                _ => {}
            }
        }
        request.navigation = hints.is_navigation(&request.method);
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
}

impl AllowReason {
    pub fn label(self) -> &'static str {
        match self {
            AllowReason::Bearer => "bearer",
            AllowReason::Session => "session",
            AllowReason::Skipped => "skipped",
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
        Decision::Deny(Deny {
            status: 401,
            reason,
            www_authenticate: Some("Bearer error=\"invalid_token\""),
        })
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
    /// A browser navigation without a valid credential: send it to the IdP.
    StartLogin,
    /// The exact callback path: finish a login.
    Callback,
    /// The session's tokens are due for a refresh; the session is still valid until then.
    Refresh(Box<Session>),
    Logout(Logout),
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
}

impl Verifier {
    pub fn new(issuers: usize) -> Verifier {
        Verifier {
            keys: vec![None; issuers],
            cache: TokenCache::default(),
            sessions: TokenCache::with_max_key_bytes(session::MAX_SEALED_BYTES + 64),
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

/// Decides one request.
pub fn decide(
    config: &Config,
    request: &Request,
    verifier: &mut Verifier,
    now_s: u64,
    on_unknown_kid: OnUnknownKid,
) -> Decision {
    let path = request.path_only();
    if path == config.callback_path.as_bytes() {
        return Decision::Callback;
    }
    if path == config.logout_path.as_bytes() {
        return logout(config, request, now_s);
    }
    if paths::is_skipped(&request.path, &config.skip_auth_paths) {
        return Decision::Allow {
            identity: None,
            reason: AllowReason::Skipped,
        };
    }
    if has_query_token(&request.path) {
        // RFC 6750 2.3 is not supported, and a second credential channel is ambiguous.
        return Deny::invalid_token("token_in_query");
    }
    match &request.authorization {
        Authorization::Several => return Deny::invalid_token("several_authorization_headers"),
        Authorization::One(value) => match bearer_token(value) {
            Ok(Some(token)) => return check_bearer(config, token, verifier, now_s, on_unknown_kid),
            Ok(None) => {}
            Err(reason) => return Deny::invalid_token(reason),
        },
        Authorization::Absent => {}
    }
    match cached_session(config, request, &mut verifier.sessions, now_s) {
        Ok(session) => check_session(config, session, now_s),
        Err(SessionError::Absent) => no_credential(request, "no_credential"),
        Err(SessionError::Expired) => no_credential(request, "session_expired"),
        Err(SessionError::Invalid) => no_credential(request, "session_invalid"),
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
        &config.issuers[0].issuer,
        now_s,
    )
}

/// A valid session passes with its identity, unless the allowlist changed since login or its
/// tokens are due for a refresh.
fn check_session(config: &Config, session: Session, now_s: u64) -> Decision {
    if let Some(allowed) = &config.groups_allowlist {
        if !session.groups.iter().any(|g| allowed.contains(g)) {
            return Decision::Deny(Deny {
                status: 403,
                reason: IdentityError::NotInAllowedGroups.reason(),
                www_authenticate: None,
            });
        }
    }
    let refresh_from = session
        .tokens_expire_at
        .saturating_sub(REFRESH_AHEAD_SECONDS);
    if session.refresh_token.is_some() && now_s >= refresh_from {
        return Decision::Refresh(Box::new(session));
    }
    Decision::allow_session(session)
}

/// Logout needs a browser navigation from this site, or the legacy dashboard's POST carrying
/// the session; a cross-site image or form cannot log anyone out.
fn logout(config: &Config, request: &Request, now_s: u64) -> Decision {
    let forbidden = |reason| {
        Decision::Deny(Deny {
            status: 403,
            reason,
            www_authenticate: None,
        })
    };
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
    let Authorization::One(value) = &request.authorization else {
        return None;
    };
    let token = bearer_token(value).ok().flatten()?;
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
        let decoded = url::form_urlencoded::parse(name).next().map(|(k, _)| k);
        name == b"access_token" || decoded.is_some_and(|k| k == "access_token")
    })
}

/// Browsers go to the IdP; everything else gets 401 (never a redirect to a login page).
fn no_credential(request: &Request, reason: &'static str) -> Decision {
    if request.navigation {
        return Decision::StartLogin;
    }
    Decision::Deny(Deny {
        status: 401,
        reason,
        www_authenticate: Some("Bearer"),
    })
}

/// The token of a `Bearer` authorization (scheme case-insensitive, exactly one token);
/// `Ok(None)` for other schemes, which are not ours to judge.
fn bearer_token(value: &[u8]) -> Result<Option<&str>, &'static str> {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err("token_too_large");
    }
    let text = std::str::from_utf8(value).map_err(|_| "malformed_authorization")?;
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() || token.contains(|c: char| c.is_ascii_whitespace() || c.is_control()) {
        return Err("malformed_authorization");
    }
    Ok(Some(token))
}

fn check_bearer(
    config: &Config,
    token: &str,
    verifier: &mut Verifier,
    now_s: u64,
    on_unknown_kid: OnUnknownKid,
) -> Decision {
    if let Some(verdict) = verifier.cache.get(token, now_s) {
        return bearer_decision(verdict);
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
        identity: identify(&verified.claims, issuer, config),
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
    bearer_decision(verdict)
}

fn bearer_decision(verdict: Verdict) -> Decision {
    match verdict.identity {
        Ok(identity) => Decision::Allow {
            identity: Some(identity),
            reason: AllowReason::Bearer,
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
mod tests {
    use super::*;
    use crate::core::jwks::Alg;
    use crate::core::test_keys::{
        all_jwks, b64, jwks_body, keys, mint, p256_jwk_for, signing_input,
    };
    use serde_json::{json, Value};

    const ISS: &str = "https://idp.example.com";
    const SA_ISS: &str = "https://kubernetes.default.svc";
    const NOW: u64 = 1_800_000_000;

    fn config(extra: Value) -> Config {
        let mut base = json!({
            "issuer": ISS, "idp_cluster": "idp", "client_id": "app", "client_secret": "s",
            "session_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
            "skip_auth_paths": ["/public"],
            "extra_issuers": [{"issuer": SA_ISS, "cluster": "k8s", "audiences": ["kubeflow"],
                               "jwks_uri": "https://kubernetes.default.svc/openid/v1/jwks", "userid_claim": "sub"}],
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        Config::from_json(base.to_string().as_bytes(), &|_: &str| None).unwrap()
    }

    fn key_sets() -> Verifier {
        let mut verifier = Verifier::new(2);
        verifier.set_keys(0, KeySet::parse(&jwks_body(all_jwks())).unwrap());
        let sa_key = p256_jwk_for(&keys().p256_other, "sa-key");
        verifier.set_keys(1, KeySet::parse(&jwks_body(vec![sa_key])).unwrap());
        verifier
    }

    fn token(claims: Value) -> String {
        mint(
            Alg::Rs256,
            &json!({"alg": "RS256", "kid": "rsa", "typ": "JWT"}),
            &claims,
        )
    }

    /// A token signed by the service-account issuer's own (second) P-256 key.
    fn sa_token(header: &Value, claims: &Value) -> String {
        use jwt_compact::{alg::Es256, Algorithm, AlgorithmSignature};
        let input = signing_input(header, claims);
        let signature = Es256.sign(&keys().p256_other, input.as_bytes());
        format!("{input}.{}", b64(&signature.as_bytes()))
    }

    fn alice() -> Value {
        json!({"iss": ISS, "aud": "app", "exp": NOW + 300, "iat": NOW, "sub": "u1",
               "email": "alice@example.com", "groups": ["dev", "ml-admin"]})
    }

    fn request(path: &str, authorization: &[&str]) -> Request {
        let mut headers: Vec<(&str, &[u8])> = vec![(":path", path.as_bytes())];
        headers.extend(
            authorization
                .iter()
                .map(|a| ("authorization", a.as_bytes())),
        );
        Request::from_headers(headers)
    }

    fn run(cfg: &Config, req: &Request) -> Decision {
        decide(cfg, req, &mut key_sets(), NOW, OnUnknownKid::AwaitRefetch)
    }

    fn denied(decision: &Decision) -> (u16, &'static str) {
        match decision {
            Decision::Deny(d) => (d.status, d.reason),
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_bearer_token_yields_the_identity() {
        let cfg = config(json!({}));
        let decision = run(
            &cfg,
            &request("/x", &[&format!("Bearer {}", token(alice()))]),
        );
        let expected = Identity {
            userid: "alice@example.com".into(),
            groups: vec!["dev".into(), "ml-admin".into()],
        };
        assert_eq!(
            decision,
            Decision::Allow {
                identity: Some(expected),
                reason: AllowReason::Bearer
            }
        );
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let cfg = config(json!({}));
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            let auth = format!("{scheme} {}", token(alice()));
            assert!(
                matches!(run(&cfg, &request("/x", &[&auth])), Decision::Allow { .. }),
                "{scheme}"
            );
        }
    }

    #[test]
    fn no_credential_is_a_plain_401() {
        let cfg = config(json!({}));
        for req in [request("/x", &[]), request("/x", &["Basic YTpi"])] {
            let d = run(&cfg, &req);
            assert_eq!(denied(&d), (401, "no_credential"));
            let Decision::Deny(deny) = d else {
                unreachable!()
            };
            assert_eq!(deny.www_authenticate, Some("Bearer"));
        }
    }

    #[test]
    fn malformed_authorization_is_an_invalid_token() {
        let cfg = config(json!({}));
        let tok = token(alice());
        let cases = [
            (
                vec![format!("Bearer {tok} junk")],
                "malformed_authorization",
            ),
            (vec![format!("Bearer {tok}\t")], "malformed_authorization"),
            (vec!["Bearer ".to_string()], "malformed_authorization"),
            (
                vec![format!("Bearer {tok}"), format!("Bearer {tok}")],
                "several_authorization_headers",
            ),
            (
                vec![format!("Bearer {}", "a".repeat(60_000))],
                "token_too_large",
            ),
        ];
        for (headers, reason) in cases {
            let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
            let d = run(&cfg, &request("/x", &refs));
            assert_eq!(denied(&d), (401, reason));
            let Decision::Deny(deny) = d else {
                unreachable!()
            };
            assert_eq!(
                deny.www_authenticate,
                Some("Bearer error=\"invalid_token\"")
            );
            assert!(!deny.body().contains(&tok[..20]));
        }
        let non_utf8 = Request {
            path: b"/x".to_vec(),
            authorization: Authorization::One(b"Bearer \xff\xfe".to_vec()),
            ..Request::default()
        };
        assert_eq!(
            denied(&run(&cfg, &non_utf8)),
            (401, "malformed_authorization")
        );
    }

    #[test]
    fn skipped_paths_pass_without_identity_even_with_a_bad_token() {
        let cfg = config(json!({}));
        let d = run(&cfg, &request("/public/app.js", &["Bearer garbage"]));
        assert_eq!(
            d,
            Decision::Allow {
                identity: None,
                reason: AllowReason::Skipped
            }
        );
        assert_eq!(
            denied(&run(&cfg, &request("/publicity", &[]))),
            (401, "no_credential")
        );
    }

    #[test]
    fn tokens_of_unconfigured_issuers_are_invalid_not_absent() {
        let cfg = config(json!({}));
        let claims = json!({"iss": "https://evil.example.com", "aud": "app", "exp": NOW + 60, "email": "e@x"});
        let d = run(
            &cfg,
            &request("/x", &[&format!("Bearer {}", token(claims))]),
        );
        assert_eq!(denied(&d), (401, "unknown_issuer"));
    }

    #[test]
    fn missing_keys_hold_the_request() {
        let cfg = config(json!({}));
        let mut keys = Verifier::new(2);
        let req = request("/x", &[&format!("Bearer {}", token(alice()))]);
        assert_eq!(
            decide(&cfg, &req, &mut keys, NOW, OnUnknownKid::AwaitRefetch),
            Decision::AwaitKeys { issuer: 0 }
        );
    }

    #[test]
    fn an_unknown_kid_waits_for_one_refetch_then_fails() {
        let cfg = config(json!({}));
        let tok = mint(
            Alg::Rs256,
            &json!({"alg": "RS256", "kid": "rotated"}),
            &alice(),
        );
        let req = request("/x", &[&format!("Bearer {tok}")]);
        assert_eq!(
            decide(&cfg, &req, &mut key_sets(), NOW, OnUnknownKid::AwaitRefetch),
            Decision::AwaitRefetch { issuer: 0 }
        );
        assert_eq!(
            denied(&decide(
                &cfg,
                &req,
                &mut key_sets(),
                NOW,
                OnUnknownKid::Refuse
            )),
            (401, "unknown_kid")
        );
    }

    #[test]
    fn extra_issuers_use_their_own_keys_and_claims() {
        let cfg = config(json!({}));
        let sa = json!({"iss": SA_ISS, "aud": ["kubeflow"], "exp": NOW + 60,
                        "sub": "system:serviceaccount:kubeflow:pipeline-runner"});
        let ok = sa_token(&json!({"alg": "ES256", "kid": "sa-key"}), &sa);
        let d = run(&cfg, &request("/x", &[&format!("Bearer {ok}")]));
        let Decision::Allow {
            identity: Some(id), ..
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(id.userid, "system:serviceaccount:kubeflow:pipeline-runner");

        // Claims issuer B, signed with issuer A's key: B's keys do not vouch for it.
        let forged = mint(Alg::Rs256, &json!({"alg": "RS256", "kid": "rsa"}), &sa);
        let req = request("/x", &[&format!("Bearer {forged}")]);
        assert_eq!(
            denied(&decide(
                &cfg,
                &req,
                &mut key_sets(),
                NOW,
                OnUnknownKid::Refuse
            )),
            (401, "unknown_kid")
        );
        let forged_no_kid = mint(Alg::Es256, &json!({"alg": "ES256"}), &sa);
        let req = request("/x", &[&format!("Bearer {forged_no_kid}")]);
        assert_eq!(denied(&run(&cfg, &req)), (401, "bad_signature"));
    }

    #[test]
    fn users_outside_the_allowlist_get_403() {
        let cfg = config(json!({"groups_allowlist": ["ml-admin"]}));
        let mut dev = alice();
        dev["groups"] = json!(["dev"]);
        assert_eq!(
            denied(&run(
                &cfg,
                &request("/x", &[&format!("Bearer {}", token(dev))])
            )),
            (403, "group_not_allowed")
        );
        let mut stringly = alice();
        stringly["groups"] = json!("ml-admin,dev");
        assert_eq!(
            denied(&run(
                &cfg,
                &request("/x", &[&format!("Bearer {}", token(stringly))])
            )),
            (403, "groups_claim_invalid")
        );
        assert!(matches!(
            run(
                &cfg,
                &request("/x", &[&format!("Bearer {}", token(alice()))])
            ),
            Decision::Allow { .. }
        ));
    }

    #[test]
    fn a_token_without_the_userid_claim_is_invalid() {
        let cfg = config(json!({}));
        let mut anonymous = alice();
        anonymous.as_object_mut().unwrap().remove("email");
        assert_eq!(
            denied(&run(
                &cfg,
                &request("/x", &[&format!("Bearer {}", token(anonymous))])
            )),
            (401, "userid_claim_invalid")
        );
    }

    #[test]
    fn a_token_in_the_query_string_is_refused() {
        let cfg = config(json!({}));
        let auth = format!("Bearer {}", token(alice()));
        for path in [
            "/x?access_token=abc",
            "/x?a=1&access_token=",
            "/x?access%5Ftoken=abc",
        ] {
            assert_eq!(
                denied(&run(&cfg, &request(path, &[&auth]))),
                (401, "token_in_query"),
                "{path}"
            );
        }
        for path in [
            "/x?my_access_token=1",
            "/x?q=access_token",
            "/x#access_token=1",
        ] {
            assert!(
                matches!(run(&cfg, &request(path, &[&auth])), Decision::Allow { .. }),
                "{path}"
            );
        }
    }

    fn session(refresh_token: Option<&str>, tokens_expire_at: u64) -> Session {
        Session {
            userid: "alice@example.com".into(),
            groups: vec!["dev".into()],
            sub: "u1".into(),
            sid: "sid1".into(),
            issued_at: NOW - 10,
            expires_at: NOW + 3600,
            refresh_token: refresh_token.map(String::from),
            id_token: None,
            tokens_expire_at,
        }
    }

    fn session_cookie(cfg: &Config, session: &Session) -> String {
        let pairs = session::session_cookies(
            session,
            &cfg.session.keys[0],
            &cfg.session.cookie_name,
            ISS,
            &[7; 24],
        )
        .unwrap();
        pairs
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn browser(method: &str, path: &str, extra: &[(&str, &str)]) -> Request {
        let hints = [
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-site", "same-origin"),
        ];
        fetch(method, path, &[&hints[..], extra].concat())
    }

    /// A request with only the headers given besides `:method` and `:path`.
    fn fetch(method: &str, path: &str, extra: &[(&str, &str)]) -> Request {
        let mut headers: Vec<(&str, &[u8])> =
            vec![(":method", method.as_bytes()), (":path", path.as_bytes())];
        headers.extend(extra.iter().map(|(n, v)| (*n, v.as_bytes())));
        Request::from_headers(headers)
    }

    #[test]
    fn navigations_without_credentials_go_to_login_and_api_calls_get_401() {
        let cfg = config(json!({}));
        assert_eq!(run(&cfg, &browser("GET", "/x", &[])), Decision::StartLogin);
        assert_eq!(run(&cfg, &browser("HEAD", "/x", &[])), Decision::StartLogin);
        let old_browser = fetch("GET", "/", &[("accept", "text/html,*/*")]);
        assert_eq!(run(&cfg, &old_browser), Decision::StartLogin);
        for not_navigation in [
            browser("POST", "/x", &[]),
            browser("GET", "/x", &[("x-requested-with", "XMLHttpRequest")]),
            fetch(
                "GET",
                "/",
                &[("sec-fetch-mode", "cors"), ("accept", "text/html")],
            ),
            fetch("GET", "/", &[("accept", "application/json")]),
        ] {
            assert_eq!(denied(&run(&cfg, &not_navigation)), (401, "no_credential"));
        }
    }

    #[test]
    fn only_the_exact_callback_path_is_a_callback() {
        let cfg = config(json!({}));
        assert_eq!(
            run(
                &cfg,
                &browser("GET", "/authservice/oidc/callback?code=x&state=y", &[])
            ),
            Decision::Callback
        );
        assert_eq!(
            run(&cfg, &browser("GET", "/authservice/oidc/callback/x", &[])),
            Decision::StartLogin
        );
    }

    #[test]
    fn sessions_pass_refresh_or_expire() {
        let cfg = config(json!({}));
        let fresh = session_cookie(&cfg, &session(Some("rt"), NOW + 600));
        let d = run(&cfg, &browser("GET", "/x", &[("cookie", &fresh)]));
        let expected = Identity {
            userid: "alice@example.com".into(),
            groups: vec!["dev".into()],
        };
        assert_eq!(
            d,
            Decision::Allow {
                identity: Some(expected),
                reason: AllowReason::Session
            }
        );

        let due = session(Some("rt"), NOW + 30);
        let d = run(
            &cfg,
            &browser("GET", "/x", &[("cookie", &session_cookie(&cfg, &due))]),
        );
        assert_eq!(d, Decision::Refresh(Box::new(due)));
        let no_refresh_token = session_cookie(&cfg, &session(None, NOW - 30));
        assert!(matches!(
            run(
                &cfg,
                &browser("GET", "/x", &[("cookie", &no_refresh_token)])
            ),
            Decision::Allow { .. }
        ));

        let mut expired = session(None, NOW);
        expired.expires_at = NOW;
        let cookie = session_cookie(&cfg, &expired);
        assert_eq!(
            run(&cfg, &browser("GET", "/x", &[("cookie", &cookie)])),
            Decision::StartLogin
        );
        let api = fetch("GET", "/x", &[("cookie", &cookie)]);
        assert_eq!(denied(&run(&cfg, &api)), (401, "session_expired"));
        let junk = fetch("GET", "/x", &[("cookie", "authservice_session=v1.AAAA")]);
        assert_eq!(denied(&run(&cfg, &junk)), (401, "session_invalid"));
    }

    #[test]
    fn session_times_at_the_end_of_the_clock_do_not_overflow() {
        let cfg = config(json!({}));
        let mut s = session(Some("rt"), u64::MAX);
        s.expires_at = u64::MAX;
        let cookie = session_cookie(&cfg, &s);
        let req = browser("GET", "/x", &[("cookie", &cookie)]);
        let mut verifier = key_sets();
        assert!(matches!(
            decide(
                &cfg,
                &req,
                &mut verifier,
                u64::MAX - 1,
                OnUnknownKid::AwaitRefetch
            ),
            Decision::Refresh(_)
        ));
        assert!(matches!(
            decide(
                &cfg,
                &req,
                &mut verifier,
                u64::MAX - REFRESH_AHEAD_SECONDS - 1,
                OnUnknownKid::AwaitRefetch
            ),
            Decision::Allow { .. }
        ));
    }

    #[test]
    fn opened_sessions_are_cached_until_they_expire() {
        let cfg = config(json!({}));
        let mut verifier = key_sets();
        let mut s = session(None, NOW + 600);
        s.expires_at = NOW + 100;
        let cookie = session_cookie(&cfg, &s);
        let req = browser("GET", "/x", &[("cookie", &cookie)]);
        assert!(matches!(
            decide(&cfg, &req, &mut verifier, NOW, OnUnknownKid::AwaitRefetch),
            Decision::Allow { .. }
        ));
        assert_eq!(verifier.sessions.len(), 1);
        assert!(matches!(
            decide(
                &cfg,
                &req,
                &mut verifier,
                NOW + 99,
                OnUnknownKid::AwaitRefetch
            ),
            Decision::Allow { .. }
        ));
        assert_eq!(
            decide(
                &cfg,
                &req,
                &mut verifier,
                NOW + 100,
                OnUnknownKid::AwaitRefetch
            ),
            Decision::StartLogin
        );
        // A tampered copy is a different key: it is opened (and refused), never served from cache.
        let tampered = cookie.replacen("v1.", "v1.A", 1);
        let req = browser("GET", "/x", &[("cookie", &tampered)]);
        assert_eq!(
            decide(&cfg, &req, &mut verifier, NOW, OnUnknownKid::AwaitRefetch),
            Decision::StartLogin
        );
    }

    #[test]
    fn a_narrowed_allowlist_applies_to_existing_sessions() {
        let cfg = config(json!({"groups_allowlist": ["ml-admin"]}));
        let cookie = session_cookie(&cfg, &session(None, NOW + 600));
        assert_eq!(
            denied(&run(&cfg, &browser("GET", "/x", &[("cookie", &cookie)]))),
            (403, "group_not_allowed")
        );
    }

    #[test]
    fn logout_needs_a_same_site_navigation_or_the_dashboard_post() {
        let cfg = config(json!({}));
        let s = session(None, NOW + 600);
        let cookie = session_cookie(&cfg, &s);
        let value = cookie.split_once('=').unwrap().1.to_string();
        let path = "/authservice/logout";
        assert_eq!(
            run(&cfg, &browser("GET", path, &[("cookie", &cookie)])),
            Decision::Logout(Logout::Navigate(Some(Box::new(s.clone()))))
        );
        assert_eq!(
            run(&cfg, &browser("GET", path, &[])),
            Decision::Logout(Logout::Navigate(None))
        );
        let cross = fetch(
            "GET",
            path,
            &[
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-site", "cross-site"),
                ("cookie", &cookie),
            ],
        );
        assert_eq!(denied(&run(&cfg, &cross)), (403, "logout_cross_site"));
        let image = fetch(
            "GET",
            path,
            &[("sec-fetch-mode", "no-cors"), ("cookie", &cookie)],
        );
        assert_eq!(denied(&run(&cfg, &image)), (403, "logout_not_navigation"));
        let bearer = format!("Bearer {value}");
        let legacy = fetch("POST", path, &[("authorization", &bearer)]);
        assert_eq!(
            run(&cfg, &legacy),
            Decision::Logout(Logout::Api(Box::new(s)))
        );
        let anonymous = fetch("POST", path, &[]);
        assert_eq!(
            denied(&run(&cfg, &anonymous)),
            (401, "logout_without_session")
        );
    }

    #[test]
    fn verified_tokens_are_cached_until_expiry_and_dropped_with_new_keys() {
        let cfg = config(json!({}));
        let mut verifier = key_sets();
        let mut claims = alice();
        claims["exp"] = json!(NOW + 10);
        let req = request("/x", &[&format!("Bearer {}", token(claims))]);
        assert!(matches!(
            decide(&cfg, &req, &mut verifier, NOW, OnUnknownKid::AwaitRefetch),
            Decision::Allow { .. }
        ));
        assert_eq!(verifier.cache.len(), 1);
        // A hit needs no keys: remove them and the cached verdict still answers...
        verifier.keys[0] = None;
        assert!(matches!(
            decide(
                &cfg,
                &req,
                &mut verifier,
                NOW + 5,
                OnUnknownKid::AwaitRefetch
            ),
            Decision::Allow { .. }
        ));
        // ...but never after exp + skew,
        assert_eq!(
            decide(
                &cfg,
                &req,
                &mut verifier,
                NOW + 10 + 60,
                OnUnknownKid::AwaitRefetch
            ),
            Decision::AwaitKeys { issuer: 0 }
        );
        // and new keys drop every verdict.
        verifier.cache.insert(
            "x",
            Verdict {
                issuer: 0,
                identity: Err(IdentityError::MissingUserid),
            },
            0,
            u64::MAX,
        );
        verifier.set_keys(0, KeySet::parse(&jwks_body(all_jwks())).unwrap());
        assert!(verifier.cache.is_empty());
    }

    #[test]
    fn header_list_parsing_keeps_repeated_authorization_apart() {
        let req = Request::from_headers([
            (":path", &b"/a?b"[..]),
            ("authorization", b"x"),
            ("authorization", b"y"),
        ]);
        assert_eq!(req.authorization, Authorization::Several);
        assert_eq!(req.path, b"/a?b");
    }
}
