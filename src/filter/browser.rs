//! Browser flows on the HTTP context: the redirect to the IdP, the callback with its token
//! exchange, session refresh, and logout. The checks themselves live in `core::login` and
//! `core::session`; this module sequences the calls and turns outcomes into replies.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, LogLevel};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::core::cookies::{self, CookieAttributes};
use crate::core::decide::{read_session, Decision, Deny, Logout, Request};
use crate::core::discovery::Discovery;
use crate::core::identity::{identify, IdentityError};
use crate::core::jwt::JwtError;
use crate::core::login::{
    self, CallbackParams, FlowSecrets, Origin, Random, TokenError, TokenResponse,
};
use crate::core::refresh_board::{Claim, Outcome};
use crate::core::session::{self, LoginState, LoginStateError, Session};
use crate::filter::http::{HttpFilter, Phase};
use crate::filter::worker::{answer, answer_paused, Wait};
use crate::filter::{board, host, metrics, root};

/// A code exchange in flight.
pub struct Exchange {
    login: LoginState,
    flow_cookie: String,
    now_s: u64,
    /// The browser came back with a valid session already (a second tab, the back button).
    has_session: bool,
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
    headers: Vec<(&str, String)>,
) -> Action {
    error_page_to(status, reason, detail, "/", headers)
}

/// An error page whose "Start again" link goes to `again` (a same-origin path: signing in
/// starts from there).
fn error_page_to(
    status: u32,
    reason: &'static str,
    detail: &str,
    again: &str,
    mut headers: Vec<(&str, String)>,
) -> Action {
    metrics::increment(&format!("denied.{reason}"));
    let body = format!(
        "<!doctype html><title>Sign-in failed</title><h1>Sign-in failed</h1><p>{}</p><p><a href=\"{}\">Start again</a></p>\n",
        login::escape_html(detail),
        login::escape_html(again)
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
    let has_session = read_session(config, &request.cookies(), now_s).is_ok();
    let login = match session::open_login_state(
        &request.cookies(),
        &config.session.keys,
        base,
        issuer,
        &state,
        now_s,
    ) {
        Ok(login) => login,
        // A stale callback (the back button, a second tab) in a browser that is signed in
        // already: nothing to do but go on. The code is never sent to the IdP.
        Err(_) if has_session => return redirect("/".to_string(), clear),
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
                has_session,
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
                refetch_keys_now(f, &config);
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

/// The IdP signs with a key we have not fetched yet: fetch it now, so that the next login or
/// refresh works at once instead of after the next scheduled refresh.
fn refetch_keys_now(f: &HttpFilter, config: &Config) {
    let key = f.worker.borrow().shared[0].state.clone();
    root::expedite_fetch(&key, host::now_ms(), root::schedule(config));
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
    let return_to = &exchange.login.return_to;
    if !error.is_refusal() {
        error_page(
            502,
            error.reason(),
            "The identity provider's answer could not be accepted.",
            clear,
        );
    } else if exchange.has_session {
        // A replayed callback whose code was used already, in a browser signed in already.
        redirect(return_to.clone(), clear);
    } else {
        // The IdP refused the code (used already, expired): the browser's doing, not an
        // outage. Signing in again from the page it wanted starts a fresh flow.
        error_page_to(
            400,
            error.reason(),
            "This sign-in link was used already or has expired. Sign in again.",
            return_to,
            clear,
        );
    }
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

/// The session's tokens are due. One request per Envoy process refreshes it (the refresh
/// board); the others wait for its outcome, or take it when it is recent. A session whose
/// last refresh failed transiently passes as it is until its retry is due.
pub fn refresh(
    f: &mut HttpFilter,
    config: &Config,
    session: Session,
    request: Request,
    now_ms: u64,
) -> Action {
    let board = f.worker.borrow().board.clone();
    let me = host::random_id();
    let lease_ms = config.idp_timeout_ms.saturating_add(1_000);
    let claim = board::claim(
        &board,
        &session.sid,
        session.tokens_expire_at,
        me,
        now_ms,
        lease_ms,
    );
    match claim {
        Some(Claim::Mine(_)) => {}
        Some(Claim::Wait { until_ms }) => {
            let wait = Wait::Refresh {
                sid: session.sid.clone(),
            };
            return f.park(request, wait, now_ms, until_ms, config);
        }
        Some(Claim::Decided(outcome)) => {
            return take_outcome(f, config, &request, session, outcome)
        }
        None => return answer(config, &request, &Decision::allow_session(session)),
    }
    let refresh_token = session.refresh_token.clone().unwrap_or_default();
    let sent = discovery(f)
        .ok_or_else(|| "no discovery yet".to_string())
        .and_then(|d| {
            post_to_token_endpoint(config, &d, &login::refresh_request(config, &refresh_token))
        });
    match sent {
        Ok(()) => {
            f.phase = Phase::Refresh(Box::new(Refreshing {
                session,
                request,
                holder: me,
            }));
            Action::Pause
        }
        // The session itself is still valid: serve it, and try again after a backoff.
        Err(detail) => {
            host::log(
                LogLevel::Warn,
                &format!("session refresh not sent: {detail}"),
            );
            board::finish(&board, &session.sid, me, None, now_ms);
            answer(config, &request, &Decision::allow_session(session))
        }
    }
}

/// A refresh in flight: the session, the request it holds, and its lease on the board.
pub struct Refreshing {
    pub session: Session,
    pub request: Request,
    pub holder: u64,
}

/// A request carrying a session whose refresh was decided moments ago, on any worker: it
/// takes that outcome (and the new cookies) without asking the IdP again.
fn take_outcome(
    f: &mut HttpFilter,
    config: &Config,
    request: &Request,
    session: Session,
    outcome: Outcome,
) -> Action {
    if outcome == Outcome::Refused {
        let now_s = host::now_ms() / 1000;
        return signed_out(config, discovery(f).as_ref(), request, now_s);
    }
    match outcome.into_refreshed() {
        Some((identity, set_cookies)) => {
            f.response_cookies = set_cookies;
            answer(config, request, &Decision::allow_session_as(identity))
        }
        // Deferred after a transient failure: the session passes as it is.
        None => answer(config, request, &Decision::allow_session(session)),
    }
}

/// The session is over: a navigation signs in again, anything else gets 401 and the session
/// cookies cleared.
fn signed_out(
    config: &Config,
    discovery: Option<&Discovery>,
    request: &Request,
    now_s: u64,
) -> Action {
    if request.navigation {
        return start_login(config, discovery, request, now_s);
    }
    let mut headers = clear_session_cookies(config);
    headers.push(("www-authenticate", "Bearer".to_string()));
    metrics::increment("denied.session_refresh_failed");
    reply(401, headers, Deny::refresh_failed().body())
}

pub fn on_refresh_response(
    f: &mut HttpFilter,
    refreshing: Refreshing,
    status: Option<&[u8]>,
    body: &[u8],
) {
    let config = f.config();
    let Refreshing {
        session: old,
        request,
        holder,
    } = refreshing;
    let now_ms = host::now_ms();
    let now_s = now_ms / 1000;
    let outcome = refreshed_session(f, &config, &old, status, body, now_s).and_then(|session| {
        let set = session_set_cookies(&config, &session).ok_or(TokenError::Status(
            "no randomness to seal the session".into(),
        ))?;
        Ok((session, set))
    });
    let board = f.worker.borrow().board.clone();
    match outcome {
        Ok((session, set)) => {
            let shared = Outcome::refreshed(&session, set.clone());
            board::finish(&board, &old.sid, holder, Some(shared), now_ms);
            f.response_cookies = set;
            metrics::increment("session.refreshed");
            answer_paused(&config, &request, &Decision::allow_session(session));
        }
        // The IdP is down, slow or confused: that says nothing about the session, which keeps
        // working on the identity it has until a later refresh succeeds or it expires.
        Err(e) if e.is_transient() => {
            board::finish(&board, &old.sid, holder, None, now_ms);
            host::log(
                LogLevel::Warn,
                &format!(
                    "session refresh failed ({}); the session stays valid and is refreshed later",
                    e.reason()
                ),
            );
            if e == TokenError::IdToken(JwtError::UnknownKid) {
                refetch_keys_now(f, &config);
            }
            metrics::increment("session.refresh_deferred");
            answer_paused(&config, &request, &Decision::allow_session(old));
        }
        Err(e) => {
            board::finish(&board, &old.sid, holder, Some(Outcome::Refused), now_ms);
            host::log(
                LogLevel::Info,
                &format!("session refresh refused ({}); signing out", e.reason()),
            );
            metrics::increment("session.refresh_failed");
            signed_out(&config, discovery(f).as_ref(), &request, now_s);
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
