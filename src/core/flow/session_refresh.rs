//! A session whose tokens are due: one request per Envoy process refreshes it (the refresh
//! board, `core::refresh_board`); the others wait for its outcome, or take it when it is
//! recent. The IdP being down, slow or confused says nothing about the session, which keeps
//! working on the identity it has until a later refresh succeeds or it expires; only the
//! IdP refusing the grant ends it.

use crate::config::Config;
use crate::core::claims::{self, Grants};
use crate::core::decide::{Decision, Deny, Request};
use crate::core::identity::{identify, LOGIN_ISSUER};
use crate::core::jwt::JwtError;
use crate::core::login::{self, Random, TokenError};
use crate::core::refresh_board::{Claim, Outcome};
use crate::core::session::Session;

use super::answer::{self, clear_session_cookies, session_set_cookies};
use super::callback::{token_call, token_to_forward};
use super::key_wait::{Until, Wait};
use super::{audit, login_start, Answer, CallResponse, Effect, Flow, Inputs, Level, Step};

/// Waiting for the refresh board's answer to this request's claim.
#[derive(Debug)]
pub struct Claiming {
    session: Session,
    request: Request,
}

/// A refresh in flight: the session, the request it holds, and its lease on the board.
#[derive(Debug)]
pub struct Refreshing {
    session: Session,
    request: Request,
    holder: u64,
}

/// The session is due: claim its refresh.
pub fn begin(session: Session, request: Request, config: &Config) -> Step {
    let claim = Effect::ClaimRefresh {
        sid: session.sid.clone(),
        tokens_expire_at: session.tokens_expire_at,
        lease_ms: config.idp_timeout_ms.saturating_add(1_000),
    };
    let claiming = Claiming { session, request };
    Step::then(Flow::ClaimingRefresh(Box::new(claiming)), vec![claim])
}

/// The board answered; `None` when it kept changing under us.
pub fn on_claim(
    claiming: Claiming,
    claim: Option<Claim>,
    holder: u64,
    inputs: &Inputs,
    random: &mut dyn Random,
) -> Step {
    let Claiming { session, request } = claiming;
    match claim {
        Some(Claim::Mine(_)) => send(session, request, holder, inputs),
        Some(Claim::Wait { until_ms }) => {
            let wait = Wait::Refresh(Box::new(session));
            Step::done(vec![Effect::park(request, wait, Until::At(until_ms))])
        }
        Some(Claim::Decided(outcome)) => {
            Step::done(take_outcome(session, &request, outcome, inputs, random))
        }
        None => Step::done(answer::of(
            Decision::allow_session(session),
            &request,
            inputs.config,
        )),
    }
}

fn send(session: Session, request: Request, holder: u64, inputs: &Inputs) -> Step {
    let refresh_token = session.refresh_token.as_deref().unwrap_or_default();
    let token_request = login::refresh_request(inputs.config, refresh_token);
    let call = inputs
        .discovery
        .ok_or_else(|| "no discovery yet".to_string())
        .and_then(|d| token_call(d, &token_request));
    let refreshing = Refreshing {
        session,
        request,
        holder,
    };
    match call {
        Ok(call) => Step::then(
            Flow::Refreshing(Box::new(refreshing)),
            vec![Effect::Call(call)],
        ),
        Err(detail) => Step::done(not_sent(refreshing, &detail, inputs.config)),
    }
}

/// The session itself is still valid: serve it, and try again after a backoff.
fn not_sent(refreshing: Refreshing, detail: &str, config: &Config) -> Vec<Effect> {
    let mut effects = abandon(&refreshing);
    effects.push(Effect::warn(format!("session refresh not sent: {detail}")));
    effects.extend(as_it_is(refreshing, config));
    effects
}

/// The session passes as it is (it is valid until it expires).
fn as_it_is(refreshing: Refreshing, config: &Config) -> Vec<Effect> {
    let Refreshing {
        session, request, ..
    } = refreshing;
    answer::of(Decision::allow_session(session), &request, config)
}

/// A request carrying a session whose refresh was decided moments ago, on any worker: it
/// takes that outcome (and the new cookies) without asking the IdP again.
pub fn take_outcome(
    session: Session,
    request: &Request,
    outcome: Outcome,
    inputs: &Inputs,
    random: &mut dyn Random,
) -> Vec<Effect> {
    if outcome == Outcome::Refused {
        return signed_out(request, inputs, random);
    }
    match outcome.into_refreshed() {
        Some((identity, cookies)) => {
            let decision = Decision::allow_session_as(identity);
            answer::with_cookies(decision, request, inputs.config, cookies)
        }
        // Deferred after a transient failure: the session passes as it is.
        None => answer::of(Decision::allow_session(session), request, inputs.config),
    }
}

/// The session is over: a navigation signs in again, anything else gets 401 and the session
/// cookies cleared.
pub fn signed_out(request: &Request, inputs: &Inputs, random: &mut dyn Random) -> Vec<Effect> {
    let effects = if request.navigation {
        login_start::start(inputs, request, random)
    } else {
        answer::denied(
            &Deny::refresh_failed(),
            clear_session_cookies(inputs.config),
        )
    };
    audit::carry_out(effects, request, inputs.config)
}

/// The request refreshing the session went away: the requests waiting for it pass on the
/// session as it is, and a request after the backoff refreshes afresh.
pub fn abandon(refreshing: &Refreshing) -> Vec<Effect> {
    vec![finish(refreshing, None)]
}

fn finish(refreshing: &Refreshing, outcome: Option<Outcome>) -> Effect {
    Effect::FinishRefresh {
        sid: refreshing.session.sid.clone(),
        holder: refreshing.holder,
        outcome,
    }
}

/// The token endpoint answered the refresh.
pub fn on_response(
    refreshing: Refreshing,
    answer: Answer,
    inputs: &Inputs,
    random: &mut dyn Random,
) -> Step {
    let response = match answer {
        Answer::Response(response) => response,
        Answer::NotSent(detail) => return Step::done(not_sent(refreshing, &detail, inputs.config)),
    };
    let config = inputs.config;
    let renewed = refreshed_session(inputs, &refreshing.session, &response).and_then(|session| {
        let (session, dropped) = answer::fitted(session);
        let set = session_set_cookies(config, &session, random).ok_or(TokenError::Status(
            "no randomness to seal the session".into(),
        ))?;
        Ok((session, set, dropped))
    });
    Step::done(match renewed {
        Ok((session, cookies, mut effects)) => {
            effects.extend(refreshed(&refreshing, session, cookies, config));
            effects
        }
        Err(e) if e.is_transient() => deferred(refreshing, &e, config),
        Err(e) => refused(&refreshing, &e, inputs, random),
    })
}

fn refreshed(
    refreshing: &Refreshing,
    session: Session,
    cookies: Vec<String>,
    config: &Config,
) -> Vec<Effect> {
    let shared = Outcome::refreshed(&session, cookies.clone());
    let mut effects = vec![
        finish(refreshing, Some(shared)),
        Effect::count("session", "refreshed"),
    ];
    let decision = Decision::allow_session(session);
    effects.extend(answer::with_cookies(
        decision,
        &refreshing.request,
        config,
        cookies,
    ));
    effects
}

fn deferred(refreshing: Refreshing, error: &TokenError, config: &Config) -> Vec<Effect> {
    let mut effects = vec![
        finish(&refreshing, None),
        Effect::warn(format!(
            "session refresh failed ({}); the session stays valid and is refreshed later",
            error.reason()
        )),
        Effect::count("session", "refresh_deferred"),
    ];
    if *error == TokenError::IdToken(JwtError::UnknownKid) {
        effects.push(Effect::ExpediteKeyFetch { issuer: 0 });
    }
    effects.extend(as_it_is(refreshing, config));
    effects
}

fn refused(
    refreshing: &Refreshing,
    error: &TokenError,
    inputs: &Inputs,
    random: &mut dyn Random,
) -> Vec<Effect> {
    let mut effects = vec![
        finish(refreshing, Some(Outcome::Refused)),
        Effect::Log(
            Level::Info,
            format!("session refresh refused ({}); signing out", error.reason()),
        ),
        Effect::count("session", "refresh_failed"),
    ];
    effects.extend(signed_out(&refreshing.request, inputs, random));
    effects
}

/// The new session after a successful refresh: same user and sid, renewed tokens, groups from
/// the new id_token when it carries them.
fn refreshed_session(
    inputs: &Inputs,
    old: &Session,
    response: &CallResponse,
) -> Result<Session, TokenError> {
    let config = inputs.config;
    let tokens = login::parse_token_response(response.status.as_deref(), &response.body)?;
    let mut session = old.clone();
    let forward = token_to_forward(config, &tokens, None);
    session.forward_token = forward.or(session.forward_token);
    if let Some(id_token) = &tokens.id_token {
        let keys = inputs.keys.ok_or(TokenError::Status("no keys".into()))?;
        let now_s = inputs.now_s();
        let verified =
            login::validate_id_token(config, keys, id_token, None, &tokens.access_token, now_s)?;
        if verified.sub() != Some(old.sub.as_str()) {
            return Err(TokenError::UserinfoSubjectMismatch);
        }
        let issuer = config.login_issuer();
        let groups_claims = &issuer.groups_claims;
        if groups_claims
            .iter()
            .any(|c| claims::at(&verified.claims, c).is_some())
        {
            let identity = identify(&verified.claims, LOGIN_ISSUER, config)
                .map_err(|_| TokenError::MissingIdToken)?;
            session.groups = identity.groups;
        }
        let kept = Grants::of(&verified.claims, &config.kept_claims);
        session.grants.update_claims(kept);
        session.id_token = Some(id_token.clone());
        session.tokens_expire_at = verified.exp;
    }
    if let Some(scope) = tokens.scope {
        session.grants.scopes = scope;
    }
    if let Some(expires_in) = tokens.expires_in {
        session.tokens_expire_at = inputs.now_s().saturating_add(expires_in);
    }
    session.refresh_token = tokens.refresh_token.or(session.refresh_token);
    session.validated_at = inputs.now_s();
    Ok(session)
}
