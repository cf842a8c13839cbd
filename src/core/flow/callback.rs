//! The IdP sent the browser back: check the login flow, exchange the code, check the
//! id_token, fill identity claims from userinfo when it lacks them, and issue a session.

use serde_json::{Map, Value};

use crate::config::{Config, SessionToken};
use crate::core::claims::{self, Grants};
use crate::core::decide::{read_session, Request};
use crate::core::discovery::Discovery;
use crate::core::identity::{identify, IdentityError, LOGIN_ISSUER};
use crate::core::jwt::JwtError;
use crate::core::login::{self, CallbackParams, Origin, Random, TokenError, TokenResponse};
use crate::core::session::{self, LoginState, LoginStateError, Session};

use super::answer::{
    clear_cookie, error_page, error_page_to, fitted, redirect, session_set_cookies,
};
use super::{Answer, Call, Effect, Flow, Inputs, Step};

/// A code exchange in flight.
#[derive(Debug)]
pub struct Exchange {
    login: LoginState,
    flow_cookie: String,
    /// The browser came back with a valid session already (a second tab, the back button).
    has_session: bool,
}

/// A login whose id_token checked out, waiting for userinfo claims.
#[derive(Debug)]
pub struct PendingLogin {
    exchange: Exchange,
    claims: Map<String, Value>,
    tokens: TokenResponse,
    id_token: String,
}

/// The callback request: check it and the login flow it belongs to, then send the code.
pub fn begin(request: &Request, inputs: &Inputs) -> Step {
    let config = inputs.config;
    let (code, state, iss) = match login::parse_callback(request.query().unwrap_or_default()) {
        Ok(CallbackParams::Code { code, state, iss }) => (code, state, iss),
        Ok(CallbackParams::Error {
            error,
            description,
            state,
        }) => return Step::done(idp_refused(config, &error, description, state)),
        Err(e) => {
            let detail = "This sign-in link is not valid.";
            return Step::done(error_page(400, e.reason(), detail, vec![]));
        }
    };
    let flow_cookie = session::flow_cookie_name(&config.session.cookie_name, &state);
    let clear = vec![clear_cookie(config, &flow_cookie)];
    let has_session = read_session(config, &request.cookies(), inputs.now_s()).is_ok();
    let login = match open_flow(request, inputs, &state) {
        Ok(login) => login,
        // A stale callback (the back button, a second tab) in a browser that is signed in
        // already: nothing to do but go on. The code is never sent to the IdP.
        Err(_) if has_session => return Step::done(vec![redirect("/".to_string(), clear)]),
        Err(e) => return Step::done(flow_refused(e, clear)),
    };
    let exchange = Exchange {
        login,
        flow_cookie,
        has_session,
    };
    match code_exchange(request, inputs, iss.as_deref(), &code, &exchange) {
        Ok(call) => Step::then(
            Flow::Exchanging(Box::new(exchange)),
            vec![Effect::Call(call)],
        ),
        Err(effects) => Step::done(effects),
    }
}

/// The IdP answered the authorization request with an error.
fn idp_refused(
    config: &Config,
    error: &str,
    description: Option<String>,
    state: Option<String>,
) -> Vec<Effect> {
    let base = &config.session.cookie_name;
    let clear = state.map(|s| clear_cookie(config, &session::flow_cookie_name(base, &s)));
    let detail = format!(
        "The identity provider refused: {error}. {}",
        description.unwrap_or_default()
    );
    error_page(401, "idp_error", &detail, clear.into_iter().collect())
}

fn open_flow(
    request: &Request,
    inputs: &Inputs,
    state: &str,
) -> Result<LoginState, LoginStateError> {
    let config = inputs.config;
    session::open_login_state(
        &request.cookies(),
        &config.session.keys,
        &config.session.cookie_name,
        &inputs.login_issuer().issuer,
        state,
        inputs.now_s(),
    )
}

fn flow_refused(error: LoginStateError, clear: Vec<(&'static str, String)>) -> Vec<Effect> {
    match error {
        LoginStateError::Expired => error_page(
            400,
            "callback_expired",
            "This sign-in took too long.",
            clear,
        ),
        _ => error_page(
            400,
            "callback_state_mismatch",
            "This sign-in was not started in this browser, or was already used.",
            clear,
        ),
    }
}

/// The token request for the code, once the response's issuer and the host check out.
fn code_exchange(
    request: &Request,
    inputs: &Inputs,
    iss: Option<&str>,
    code: &str,
    exchange: &Exchange,
) -> Result<Call, Vec<Effect>> {
    let config = inputs.config;
    let clear = || vec![clear_cookie(config, &exchange.flow_cookie)];
    let Some(discovery) = inputs.discovery else {
        let detail = "The identity provider is not reachable yet.";
        return Err(error_page(503, "login_unavailable", detail, clear()));
    };
    let issuer = &inputs.login_issuer().issuer;
    if let Err(e) = login::check_response_issuer(iss, issuer, discovery.iss_parameter_supported) {
        let detail = "The response did not come from the expected identity provider.";
        return Err(error_page(400, e.reason(), detail, clear()));
    }
    let Some(origin) = Origin::from_request(&request.scheme, &request.authority) else {
        return Err(error_page(
            400,
            "bad_host",
            "The request's host is not valid.",
            clear(),
        ));
    };
    let redirect_uri = origin.absolute(&config.redirect_uri);
    let verifier = &exchange.login.code_verifier;
    let token_request = login::code_exchange(config, code, &redirect_uri, verifier);
    token_call(discovery, &token_request).map_err(|detail| unreachable(config, exchange, &detail))
}

/// The code exchange could not be sent.
fn unreachable(config: &Config, exchange: &Exchange, detail: &str) -> Vec<Effect> {
    let mut effects = vec![Effect::warn(format!("code exchange not sent: {detail}"))];
    effects.extend(error_page(
        502,
        "token_endpoint_unreachable",
        "The identity provider could not be reached.",
        vec![clear_cookie(config, &exchange.flow_cookie)],
    ));
    effects
}

/// A form POST to the token endpoint.
pub(super) fn token_call(
    discovery: &Discovery,
    request: &login::TokenRequest,
) -> Result<Call, String> {
    let endpoint = discovery
        .token_endpoint
        .as_deref()
        .ok_or("the IdP has no token_endpoint")?;
    Ok(form_post(endpoint, request))
}

/// A form POST with the client's authentication (token and revocation endpoints).
pub(super) fn form_post(url: &str, request: &login::TokenRequest) -> Call {
    let mut headers = vec![(
        "content-type",
        "application/x-www-form-urlencoded".to_string(),
    )];
    if let Some(authorization) = &request.authorization {
        headers.push(("authorization", authorization.clone()));
    }
    Call {
        method: "POST",
        url: url.to_string(),
        headers,
        body: Some(request.body.clone()),
    }
}

/// The token endpoint answered the code exchange.
pub fn on_token_response(
    exchange: Exchange,
    answer: Answer,
    inputs: &Inputs,
    random: &mut dyn Random,
) -> Step {
    let config = inputs.config;
    let response = match answer {
        Answer::Response(response) => response,
        Answer::NotSent(detail) => return Step::done(unreachable(config, &exchange, &detail)),
    };
    let nonce = exchange.login.nonce.as_str();
    let checked = login::parse_token_response(response.status.as_deref(), &response.body)
        .and_then(|tokens| checked_id_token(inputs, tokens, nonce));
    let (tokens, id_token, claims) = match checked {
        Ok(parts) => parts,
        Err(e) => return Step::done(login_failed(config, &exchange, &e)),
    };
    let pending = PendingLogin {
        exchange,
        claims,
        tokens,
        id_token,
    };
    let userinfo = inputs
        .discovery
        .and_then(|d| d.userinfo_endpoint.as_deref());
    match userinfo {
        Some(url) if wanted_claims(config).any(|c| claims::at(&pending.claims, c).is_none()) => {
            let call = Call {
                method: "GET",
                url: url.to_string(),
                headers: vec![(
                    "authorization",
                    format!("Bearer {}", pending.tokens.access_token),
                )],
                body: None,
            };
            Step::then(
                Flow::FetchingUserinfo(Box::new(pending)),
                vec![Effect::Call(call)],
            )
        }
        _ => Step::done(finish_login(inputs, pending, random)),
    }
}

/// The id_token of a code exchange, checked against the login's nonce.
fn checked_id_token(
    inputs: &Inputs,
    tokens: TokenResponse,
    nonce: &str,
) -> Result<(TokenResponse, String, Map<String, Value>), TokenError> {
    let id_token = tokens.id_token.clone().ok_or(TokenError::MissingIdToken)?;
    let keys = inputs.keys.ok_or(TokenError::Status("no keys".into()))?;
    let access_token = &tokens.access_token;
    let verified = login::validate_id_token(
        inputs.config,
        keys,
        &id_token,
        Some(nonce),
        access_token,
        inputs.now_s(),
    )?;
    Ok((tokens, id_token, verified.claims))
}

/// The claims the identity and the session's grants are built from (of the user id's
/// fallbacks, the first): the id_token's win, userinfo fills in what it lacks.
fn wanted_claims(config: &Config) -> impl Iterator<Item = &str> {
    let issuer = config.login_issuer();
    let userid = issuer.userid_claims.first().map(String::as_str);
    let groups = issuer.groups_claims.iter().map(String::as_str);
    let kept = config.kept_claims.iter().map(String::as_str);
    userid.into_iter().chain(groups).chain(kept)
}

/// The userinfo endpoint answered.
pub fn on_userinfo_response(
    mut pending: PendingLogin,
    answer: Answer,
    inputs: &Inputs,
    random: &mut dyn Random,
) -> Step {
    let config = inputs.config;
    let sub = pending
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let userinfo = match answer {
        Answer::Response(response) => {
            login::parse_userinfo(response.status.as_deref(), &response.body, &sub)
        }
        Answer::NotSent(detail) => Err(TokenError::Status(detail)),
    };
    match userinfo {
        Ok(userinfo) => {
            // By top-level name: the claim itself, or the object a dotted path starts in.
            for wanted in wanted_claims(config) {
                let top = wanted.split('.').next().unwrap_or(wanted);
                for name in [wanted, top] {
                    if let (false, Some(value)) =
                        (pending.claims.contains_key(name), userinfo.get(name))
                    {
                        pending.claims.insert(name.to_string(), value.clone());
                    }
                }
            }
            Step::done(finish_login(inputs, pending, random))
        }
        Err(e) => Step::done(login_failed(config, &pending.exchange, &e)),
    }
}

fn login_failed(config: &Config, exchange: &Exchange, error: &TokenError) -> Vec<Effect> {
    let detail = match error {
        TokenError::Status(why) => why.clone(),
        TokenError::Refused(code) => format!("refused: {code}"),
        TokenError::IdToken(e) => format!("id_token: {}", e.reason()),
        other => other.reason().to_string(),
    };
    let mut effects = vec![Effect::warn(format!("login failed: {detail}"))];
    if *error == TokenError::IdToken(JwtError::UnknownKid) {
        // The IdP signs with a key not fetched yet: fetch it now, so the next login works.
        effects.push(Effect::ExpediteKeyFetch { issuer: 0 });
    }
    let clear = vec![clear_cookie(config, &exchange.flow_cookie)];
    let return_to = &exchange.login.return_to;
    if !error.is_refusal() {
        let detail = "The identity provider's answer could not be accepted.";
        effects.extend(error_page(502, error.reason(), detail, clear));
    } else if exchange.has_session {
        // A replayed callback whose code was used already, in a browser signed in already.
        effects.push(redirect(return_to.clone(), clear));
    } else {
        // The IdP refused the code (used already, expired): the browser's doing, not an
        // outage. Signing in again from the page it wanted starts a fresh flow.
        let detail = "This sign-in link was used already or has expired. Sign in again.";
        effects.extend(error_page_to(400, error.reason(), detail, return_to, clear));
    }
    effects
}

/// Identity checks out: issue a fresh session (never reuse a planted one) and go back.
fn finish_login(inputs: &Inputs, pending: PendingLogin, random: &mut dyn Random) -> Vec<Effect> {
    let config = inputs.config;
    let clear_flow = clear_cookie(config, &pending.exchange.flow_cookie);
    let identity = match identify(&pending.claims, LOGIN_ISSUER, config) {
        Ok(identity) => identity,
        Err(e @ IdentityError::MissingUserid) => {
            let detail = "The identity provider did not say who you are.";
            return error_page(502, e.reason(), detail, vec![clear_flow]);
        }
        Err(e) => {
            let detail = "Your account is not allowed to use this service.";
            return error_page(403, e.reason(), detail, vec![clear_flow]);
        }
    };
    let Some(session) = new_session(inputs, identity, &pending, random) else {
        return error_page(503, "no_randomness", "Try again.", vec![clear_flow]);
    };
    let (session, mut effects) = fitted(session);
    let Some(set_cookies) = session_set_cookies(config, &session, random) else {
        return error_page(503, "no_randomness", "Try again.", vec![clear_flow]);
    };
    let mut headers = vec![clear_flow];
    headers.extend(set_cookies.into_iter().map(|c| ("set-cookie", c)));
    effects.push(Effect::count("login", "completed"));
    effects.push(redirect(pending.exchange.login.return_to, headers));
    effects
}

/// The session a login issues; `None` without randomness for its id.
fn new_session(
    inputs: &Inputs,
    identity: crate::core::identity::Identity,
    pending: &PendingLogin,
    random: &mut dyn Random,
) -> Option<Session> {
    let now_s = inputs.now_s();
    let sid = login::random_token(random, 16)?;
    let claim = |name: &str| pending.claims.get(name);
    let id_token_exp = claim("exp").and_then(Value::as_u64).unwrap_or(now_s);
    // The id_token only serves as id_token_hint at logout: keep it out of the cookie (and
    // out of every request's headers) when the IdP has no end_session_endpoint.
    let has_end_session = inputs
        .discovery
        .is_some_and(|d| d.end_session_endpoint.is_some());
    let tokens = &pending.tokens;
    Some(Session {
        userid: identity.userid,
        groups: identity.groups,
        sub: claim("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        sid,
        issued_at: now_s,
        expires_at: now_s.saturating_add(inputs.config.session.max_age_seconds),
        refresh_token: tokens.refresh_token.clone(),
        id_token: has_end_session.then(|| pending.id_token.clone()),
        tokens_expire_at: tokens
            .expires_in
            .map_or(id_token_exp, |s| now_s.saturating_add(s)),
        idp_sid: claim("sid").and_then(Value::as_str).map(str::to_string),
        validated_at: now_s,
        grants: session_grants(inputs.config, &pending.claims, tokens),
        forward_token: token_to_forward(inputs.config, tokens, Some(&pending.id_token)),
    })
}

/// The token a session's requests carry upstream (`forward_token.session`), from a token
/// endpoint answer; `id_token` is the one it holds when the answer has none.
pub fn token_to_forward(
    config: &Config,
    tokens: &TokenResponse,
    id_token: Option<&String>,
) -> Option<String> {
    match config.forward_token.session {
        SessionToken::None => None,
        SessionToken::AccessToken => Some(tokens.access_token.clone()),
        SessionToken::IdToken => tokens.id_token.as_ref().or(id_token).cloned(),
    }
}

/// A session's grants: the scopes the IdP granted (those asked for, when it does not say)
/// and the claims the rules name, from the id_token and userinfo.
pub fn session_grants(
    config: &Config,
    claims: &Map<String, Value>,
    tokens: &TokenResponse,
) -> Grants {
    let mut grants = Grants::of(claims, &config.kept_claims);
    grants.scopes = tokens
        .scope
        .clone()
        .unwrap_or_else(|| config.scopes.clone());
    grants
}
