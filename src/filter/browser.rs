//! Browser flows on the HTTP context: the redirect to the IdP, the callback with its token
//! exchange, session refresh, and logout. The checks themselves live in `core::login` and
//! `core::session`; this module sequences the calls and turns outcomes into replies.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, LogLevel};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::core::cookies::{self, CookieAttributes};
use crate::core::decide::{Decision, Deny, Logout, Request};
use crate::core::discovery::Discovery;
use crate::core::identity::{identify, Identity, IdentityError};
use crate::core::jwt::JwtError;
use crate::core::login::{
    self, CallbackParams, FlowSecrets, Origin, Random, TokenError, TokenResponse,
};
use crate::core::session::{self, LoginState, LoginStateError, Session};
use crate::filter::http::{HttpFilter, Phase};
use crate::filter::worker::{carry_out, Wait};
use crate::filter::{host, metrics, root};

/// A code exchange in flight.
pub struct Exchange {
    login: LoginState,
    flow_cookie: String,
    now_s: u64,
}

/// A login whose id_token checked out, waiting for userinfo groups.
pub struct PendingLogin {
    exchange: Exchange,
    claims: Map<String, Value>,
    tokens: TokenResponse,
    id_token: String,
    /// The IdP supports RP-initiated logout (so the id_token is worth keeping as a hint).
    end_session: bool,
}

/// WASI `random_get` (BoringSSL's RAND_bytes in Envoy).
struct WasiRandom;

impl Random for WasiRandom {
    fn fill(&mut self, bytes: &mut [u8]) -> bool {
        getrandom::getrandom(bytes).is_ok()
    }
}

fn seal_nonce() -> Option<[u8; 24]> {
    let mut nonce = [0u8; 24];
    WasiRandom.fill(&mut nonce).then_some(nonce)
}

fn attributes(config: &Config) -> CookieAttributes {
    CookieAttributes {
        secure: config.session.secure,
        same_site: config.session.same_site,
        http_only: true,
    }
}

fn discovery(f: &HttpFilter) -> Option<Discovery> {
    f.worker.borrow().issuers[0].discovery.clone()
}

/// Sends a local reply. Every browser-flow reply is uncacheable.
fn reply(status: u32, headers: Vec<(&str, String)>, body: &str) -> Action {
    let mut all: Vec<(&str, &str)> = vec![("cache-control", "no-store")];
    all.extend(headers.iter().map(|(n, v)| (*n, v.as_str())));
    if let Err(e) = hostcalls::send_http_response(status, all, Some(body.as_bytes())) {
        host::log(
            LogLevel::Warn,
            &format!("could not send the {status} reply: {e:?}"),
        );
    }
    Action::Pause
}

/// A short HTML error page; `detail` is escaped, and never holds tokens or codes.
fn error_page(
    status: u32,
    reason: &'static str,
    detail: &str,
    mut headers: Vec<(&str, String)>,
) -> Action {
    metrics::increment(&format!("denied.{reason}"));
    let body = format!(
        "<!doctype html><title>Sign-in failed</title><h1>Sign-in failed</h1><p>{}</p><p><a href=\"/\">Start again</a></p>\n",
        login::escape_html(detail)
    );
    headers.push(("content-type", "text/html; charset=utf-8".to_string()));
    reply(status, headers, &body)
}

fn redirect(location: String, mut headers: Vec<(&str, String)>) -> Action {
    headers.push(("location", location));
    reply(302, headers, "")
}

/// A navigation without a credential: seal a login flow into its own cookie and go to the IdP.
pub fn start_login(
    config: &Config,
    discovery: Option<&Discovery>,
    request: &Request,
    now_s: u64,
) -> Action {
    let Some(origin) = Origin::from_request(&request.scheme, &request.authority) else {
        return error_page(400, "bad_host", "The request's host is not valid.", vec![]);
    };
    let endpoint = config
        .authorization_endpoint
        .clone()
        .or_else(|| discovery.and_then(|d| d.authorization_endpoint.clone()));
    let (Some(endpoint), Some(secrets), Some(nonce)) = (
        endpoint,
        FlowSecrets::generate(&mut WasiRandom),
        seal_nonce(),
    ) else {
        return error_page(
            503,
            "login_unavailable",
            "The identity provider is not reachable yet; try again shortly.",
            vec![],
        );
    };
    let redirect_uri = origin.absolute(&config.redirect_uri);
    let location =
        login::authorization_url(config, &origin.absolute(&endpoint), &redirect_uri, &secrets);
    let state = LoginState {
        state: secrets.state,
        nonce: secrets.nonce,
        code_verifier: secrets.code_verifier,
        return_to: login::return_path(&request.path),
        expires_at: now_s.saturating_add(login::LOGIN_TTL_SECONDS),
    };
    let base = &config.session.cookie_name;
    let issuer = &config.issuers[0].issuer;
    let Ok((name, value)) =
        session::seal_login_state(&state, &config.session.keys[0], base, issuer, &nonce)
    else {
        return error_page(
            400,
            "return_url_too_long",
            "The address is too long to return to after sign-in.",
            vec![],
        );
    };
    let attrs = attributes(config);
    let mut headers = vec![(
        "set-cookie",
        cookies::set_cookie(&name, &value, &attrs, login::LOGIN_TTL_SECONDS),
    )];
    for stale in session::flow_cookies_to_evict(
        &request.cookies(),
        &config.session.keys,
        base,
        issuer,
        now_s,
    ) {
        headers.push(("set-cookie", cookies::clear_cookie(&stale, &attrs)));
    }
    metrics::increment("login.started");
    redirect(location, headers)
}

/// The IdP sent the browser back: check the flow, then exchange the code.
pub fn callback(f: &mut HttpFilter, config: &Config, request: &Request, now_s: u64) -> Action {
    let attrs = attributes(config);
    let base = &config.session.cookie_name;
    let (code, state, iss) = match login::parse_callback(request.query().unwrap_or_default()) {
        Ok(CallbackParams::Code { code, state, iss }) => (code, state, iss),
        Ok(CallbackParams::Error {
            error,
            description,
            state,
        }) => {
            let clear = state.map(|s| {
                (
                    "set-cookie",
                    cookies::clear_cookie(&session::flow_cookie_name(base, &s), &attrs),
                )
            });
            let detail = format!(
                "The identity provider refused: {error}. {}",
                description.unwrap_or_default()
            );
            return error_page(401, "idp_error", &detail, clear.into_iter().collect());
        }
        Err(e) => return error_page(400, e.reason(), "This sign-in link is not valid.", vec![]),
    };
    let flow_cookie = session::flow_cookie_name(base, &state);
    let clear = vec![("set-cookie", cookies::clear_cookie(&flow_cookie, &attrs))];
    let issuer = &config.issuers[0].issuer;
    let login = match session::open_login_state(
        &request.cookies(),
        &config.session.keys,
        base,
        issuer,
        &state,
        now_s,
    ) {
        Ok(login) => login,
        Err(LoginStateError::Expired) => {
            return error_page(
                400,
                "callback_expired",
                "This sign-in took too long.",
                clear,
            )
        }
        Err(_) => {
            return error_page(
                400,
                "callback_state_mismatch",
                "This sign-in was not started in this browser, or was already used.",
                clear,
            )
        }
    };
    let Some(discovery) = discovery(f) else {
        return error_page(
            503,
            "login_unavailable",
            "The identity provider is not reachable yet.",
            clear,
        );
    };
    if let Err(e) =
        login::check_response_issuer(iss.as_deref(), issuer, discovery.iss_parameter_supported)
    {
        return error_page(
            400,
            e.reason(),
            "The response did not come from the expected identity provider.",
            clear,
        );
    }
    let Some(origin) = Origin::from_request(&request.scheme, &request.authority) else {
        return error_page(400, "bad_host", "The request's host is not valid.", clear);
    };
    let redirect_uri = origin.absolute(&config.redirect_uri);
    let token_request = login::code_exchange(config, &code, &redirect_uri, &login.code_verifier);
    match post_to_token_endpoint(config, &discovery, &token_request) {
        Ok(()) => {
            f.phase = Phase::CodeExchange(Box::new(Exchange {
                login,
                flow_cookie,
                now_s,
            }));
            Action::Pause
        }
        Err(detail) => {
            host::log(LogLevel::Warn, &format!("code exchange not sent: {detail}"));
            error_page(
                502,
                "token_endpoint_unreachable",
                "The identity provider could not be reached.",
                clear,
            )
        }
    }
}

fn post_to_token_endpoint(
    config: &Config,
    discovery: &Discovery,
    request: &login::TokenRequest,
) -> Result<(), String> {
    let endpoint = discovery
        .token_endpoint
        .as_deref()
        .ok_or("the IdP has no token_endpoint")?;
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(authorization) = &request.authorization {
        headers.push(("authorization", authorization.as_str()));
    }
    dispatch(
        config,
        "POST",
        endpoint,
        &headers,
        Some(request.body.as_bytes()),
    )
}

/// Dispatches a call to the login issuer's cluster (or the one `idp_clusters` names).
fn dispatch(
    config: &Config,
    method: &str,
    url: &str,
    extra: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<(), String> {
    host::dispatch(config, &config.issuers[0].cluster, method, url, extra, body).map(|_| ())
}

pub fn on_token_response(
    f: &mut HttpFilter,
    exchange: Exchange,
    status: Option<&[u8]>,
    body: &[u8],
) {
    let config = f.config();
    let outcome = login::parse_token_response(status, body).and_then(|tokens| {
        let id_token = tokens.id_token.clone().ok_or(TokenError::MissingIdToken)?;
        let keys = f.worker.borrow().verifier.keys[0]
            .clone()
            .ok_or(TokenError::Status("no keys".into()))?;
        let nonce = Some(exchange.login.nonce.as_str());
        let verified = login::validate_id_token(
            &config,
            &keys,
            &id_token,
            nonce,
            &tokens.access_token,
            host::now_ms() / 1000,
        )?;
        Ok((tokens, id_token, verified.claims))
    });
    let (tokens, id_token, claims) = match outcome {
        Ok(parts) => parts,
        Err(e) => {
            if e == TokenError::IdToken(JwtError::UnknownKid) {
                // The IdP signs with a key we have not fetched yet: fetch it now, so that
                // signing in again works at once instead of after the next refresh.
                let key = f.worker.borrow().shared[0].state.clone();
                root::expedite_fetch(&key, host::now_ms(), root::schedule(&config));
            }
            return login_failed(&config, &exchange, &e);
        }
    };
    let discovery = discovery(f);
    let pending = PendingLogin {
        exchange,
        claims,
        tokens,
        id_token,
        end_session: discovery
            .as_ref()
            .is_some_and(|d| d.end_session_endpoint.is_some()),
    };
    let userinfo = discovery.and_then(|d| d.userinfo_endpoint);
    match userinfo {
        Some(url) if !identity_claims(&config).all(|c| pending.claims.contains_key(c)) => {
            let bearer = format!("Bearer {}", pending.tokens.access_token);
            match dispatch(
                &config,
                "GET",
                &url,
                &[("authorization", bearer.as_str())],
                None,
            ) {
                Ok(()) => f.phase = Phase::Userinfo(Box::new(pending)),
                Err(detail) => {
                    let e = TokenError::Status(detail);
                    login_failed(&config, &pending.exchange, &e);
                }
            }
        }
        _ => finish_login(&config, pending),
    }
}

/// The claims identity is built from; the id_token's win, userinfo fills in what it lacks.
fn identity_claims(config: &Config) -> impl Iterator<Item = &String> {
    let issuer = &config.issuers[0];
    [&issuer.userid_claim, &issuer.groups_claim].into_iter()
}

pub fn on_userinfo_response(
    f: &mut HttpFilter,
    mut pending: PendingLogin,
    status: Option<&[u8]>,
    body: &[u8],
) {
    let config = f.config();
    let sub = pending
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match login::parse_userinfo(status, body, &sub) {
        Ok(userinfo) => {
            for claim in identity_claims(&config) {
                if let (false, Some(value)) =
                    (pending.claims.contains_key(claim), userinfo.get(claim))
                {
                    pending.claims.insert(claim.clone(), value.clone());
                }
            }
            finish_login(&config, pending);
        }
        Err(e) => login_failed(&config, &pending.exchange, &e),
    }
}

fn login_failed(config: &Config, exchange: &Exchange, error: &TokenError) {
    let detail = match error {
        TokenError::Status(why) => why.clone(),
        TokenError::Refused(code) => format!("refused: {code}"),
        TokenError::IdToken(e) => format!("id_token: {}", e.reason()),
        other => other.reason().to_string(),
    };
    host::log(LogLevel::Warn, &format!("login failed: {detail}"));
    let clear = vec![(
        "set-cookie",
        cookies::clear_cookie(&exchange.flow_cookie, &attributes(config)),
    )];
    error_page(
        502,
        error.reason(),
        "The identity provider's answer could not be accepted.",
        clear,
    );
}

/// Identity checks out: issue a fresh session (never reuse a planted one) and go back.
fn finish_login(config: &Config, pending: PendingLogin) {
    let attrs = attributes(config);
    let clear_flow = (
        "set-cookie",
        cookies::clear_cookie(&pending.exchange.flow_cookie, &attrs),
    );
    let identity = match identify(&pending.claims, &config.issuers[0], config) {
        Ok(identity) => identity,
        Err(e @ IdentityError::MissingUserid) => {
            error_page(
                502,
                e.reason(),
                "The identity provider did not say who you are.",
                vec![clear_flow],
            );
            return;
        }
        Err(e) => {
            error_page(
                403,
                e.reason(),
                "Your account is not allowed to use this service.",
                vec![clear_flow],
            );
            return;
        }
    };
    let now_s = pending.exchange.now_s.max(host::now_ms() / 1000);
    let Some(sid) = login::random_token(&mut WasiRandom, 16) else {
        error_page(503, "no_randomness", "Try again.", vec![clear_flow]);
        return;
    };
    // The id_token only serves as id_token_hint at logout: keep it out of the cookie (and
    // out of every request's headers) when the IdP has no end_session_endpoint.
    let has_end_session = pending.end_session;
    let id_token_exp = pending
        .claims
        .get("exp")
        .and_then(Value::as_u64)
        .unwrap_or(now_s);
    let session = Session {
        userid: identity.userid,
        groups: identity.groups,
        sub: pending
            .claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        sid,
        issued_at: now_s,
        expires_at: now_s.saturating_add(config.session.max_age_seconds),
        refresh_token: pending.tokens.refresh_token,
        id_token: has_end_session.then_some(pending.id_token),
        tokens_expire_at: pending
            .tokens
            .expires_in
            .map_or(id_token_exp, |s| now_s.saturating_add(s)),
    };
    let mut headers = vec![clear_flow];
    match session_set_cookies(config, &session) {
        Some(set) => headers.extend(set.into_iter().map(|c| ("set-cookie", c))),
        None => {
            error_page(503, "no_randomness", "Try again.", headers);
            return;
        }
    }
    metrics::increment("login.completed");
    redirect(pending.exchange.login.return_to, headers);
}

/// `Set-Cookie` values for a session: its chunks, and clears for chunk names it no longer uses.
fn session_set_cookies(config: &Config, session: &Session) -> Option<Vec<String>> {
    let attrs = attributes(config);
    let base = &config.session.cookie_name;
    let issuer = &config.issuers[0].issuer;
    let nonce = seal_nonce()?;
    let pairs =
        session::session_cookies(session, &config.session.keys[0], base, issuer, &nonce).ok()?;
    let mut set: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            cookies::set_cookie(name, value, &attrs, config.session.max_age_seconds)
        })
        .collect();
    for name in session::session_cookie_names(base) {
        if !pairs.iter().any(|(n, _)| *n == name) {
            set.push(cookies::clear_cookie(&name, &attrs));
        }
    }
    Some(set)
}

fn clear_session_cookies(config: &Config) -> Vec<(&'static str, String)> {
    let attrs = attributes(config);
    session::session_cookie_names(&config.session.cookie_name)
        .iter()
        .map(|name| ("set-cookie", cookies::clear_cookie(name, &attrs)))
        .collect()
}

pub fn logout(f: &HttpFilter, config: &Config, request: &Request, logout: Logout) -> Action {
    let clear = clear_session_cookies(config);
    metrics::increment("logout");
    match logout {
        Logout::Api(_) => {
            let body = serde_json::json!({ "afterLogoutURL": config.after_logout_url }).to_string();
            let mut headers = clear;
            headers.push(("content-type", "application/json".to_string()));
            reply(201, headers, &body)
        }
        Logout::Navigate(session) => {
            let origin = Origin::from_request(&request.scheme, &request.authority);
            let location =
                end_session_url(config, discovery(f), origin.as_ref(), session.as_deref())
                    .unwrap_or_else(|| config.after_logout_url.clone());
            redirect(location, clear)
        }
    }
}

/// RP-initiated logout at the IdP, when it advertises `end_session_endpoint`.
fn end_session_url(
    config: &Config,
    discovery: Option<Discovery>,
    origin: Option<&Origin>,
    session: Option<&Session>,
) -> Option<String> {
    let endpoint = discovery?.end_session_endpoint?;
    let after = origin.map_or_else(
        || config.after_logout_url.clone(),
        |o| o.absolute(&config.after_logout_url),
    );
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", &config.client_id);
    query.append_pair("post_logout_redirect_uri", &after);
    if let Some(hint) = session.and_then(|s| s.id_token.as_deref()) {
        query.append_pair("id_token_hint", hint);
    }
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    Some(format!("{endpoint}{separator}{}", query.finish()))
}

/// The session's tokens are due: one refresh per session per worker; others wait for it.
pub fn refresh(
    f: &mut HttpFilter,
    config: &Config,
    session: Session,
    request: Request,
    now_ms: u64,
) -> Action {
    {
        let mut worker = f.worker.borrow_mut();
        if let Some(waiting) = worker.refreshing.get_mut(&session.sid) {
            waiting.push(f.context_id);
            let deadline = now_ms + 2 * config.idp_timeout_ms;
            drop(worker);
            return f.park(request, Wait::Refresh, now_ms, deadline, config);
        }
    }
    let refresh_token = session.refresh_token.clone().unwrap_or_default();
    let sent = discovery(f)
        .ok_or_else(|| "no discovery yet".to_string())
        .and_then(|d| {
            post_to_token_endpoint(config, &d, &login::refresh_request(config, &refresh_token))
        });
    match sent {
        Ok(()) => {
            f.worker
                .borrow_mut()
                .refreshing
                .insert(session.sid.clone(), Vec::new());
            f.phase = Phase::Refresh(Box::new((session, request)));
            Action::Pause
        }
        // The session itself is still valid: serve it, and try again on the next request.
        Err(detail) => {
            host::log(
                LogLevel::Warn,
                &format!("session refresh not sent: {detail}"),
            );
            let allow = allow_session(&session);
            if carry_out(config, &request, &allow) {
                Action::Continue
            } else {
                Action::Pause
            }
        }
    }
}

fn allow_session(session: &Session) -> Decision {
    Decision::Allow {
        identity: Some(Identity {
            userid: session.userid.clone(),
            groups: session.groups.clone(),
        }),
        reason: crate::core::decide::AllowReason::Session,
    }
}

pub fn on_refresh_response(
    f: &mut HttpFilter,
    old: Session,
    request: Request,
    status: Option<&[u8]>,
    body: &[u8],
) {
    let config = f.config();
    let waiting = {
        let mut worker = f.worker.borrow_mut();
        let ids = worker.refreshing.remove(&old.sid).unwrap_or_default();
        ids.into_iter()
            .filter_map(|id| worker.parked.remove(&id).map(|parked| (id, parked.request)))
            .collect::<Vec<(u32, Request)>>()
    };
    let now_s = host::now_ms() / 1000;
    let decision = match refreshed_session(f, &config, &old, status, body, now_s) {
        Ok(session) => {
            let Some(set) = session_set_cookies(&config, &session) else {
                return;
            };
            f.response_cookies = set;
            metrics::increment("session.refreshed");
            let decision = allow_session(&session);
            if carry_out(&config, &request, &decision) {
                let _ = hostcalls::resume_http_request();
            }
            decision
        }
        Err(e) => {
            host::log(
                LogLevel::Info,
                &format!("session refresh failed ({}); signing out", e.reason()),
            );
            metrics::increment("session.refresh_failed");
            if request.navigation {
                start_login(&config, discovery(f).as_ref(), &request, now_s);
            } else {
                let mut headers = clear_session_cookies(&config);
                headers.push(("www-authenticate", "Bearer".to_string()));
                metrics::increment("denied.session_refresh_failed");
                reply(401, headers, Deny::refresh_failed().body());
            }
            Decision::Deny(Deny::refresh_failed())
        }
    };
    for (id, waiter) in waiting {
        if hostcalls::set_effective_context(id).is_ok() && carry_out(&config, &waiter, &decision) {
            let _ = hostcalls::resume_http_request();
        }
    }
}

/// The new session after a successful refresh: same user and sid, renewed tokens, groups from
/// the new id_token when it carries them.
fn refreshed_session(
    f: &HttpFilter,
    config: &Config,
    old: &Session,
    status: Option<&[u8]>,
    body: &[u8],
    now_s: u64,
) -> Result<Session, TokenError> {
    let tokens = login::parse_token_response(status, body)?;
    let mut session = old.clone();
    if let Some(id_token) = &tokens.id_token {
        let keys = f.worker.borrow().verifier.keys[0]
            .clone()
            .ok_or(TokenError::Status("no keys".into()))?;
        let verified =
            login::validate_id_token(config, &keys, id_token, None, &tokens.access_token, now_s)?;
        if verified.sub() != Some(old.sub.as_str()) {
            return Err(TokenError::UserinfoSubjectMismatch);
        }
        if verified
            .claims
            .contains_key(&config.issuers[0].groups_claim)
        {
            let identity = identify(&verified.claims, &config.issuers[0], config)
                .map_err(|_| TokenError::MissingIdToken)?;
            session.groups = identity.groups;
        }
        session.id_token = Some(id_token.clone());
        session.tokens_expire_at = verified.exp;
    }
    if let Some(expires_in) = tokens.expires_in {
        session.tokens_expire_at = now_s.saturating_add(expires_in);
    }
    session.refresh_token = tokens.refresh_token.or(session.refresh_token);
    Ok(session)
}
