//! Requests held by the filter: until an issuer's keys arrive, until an early key fetch for a
//! `kid` we lack completes, or until another request's refresh of their session ends. Each
//! is decided again when something changes, and answered by its deadline at the latest.

use crate::core::decide::{decide, Decision, Deny, OnUnknownKid, Request, Verifier};
use crate::core::login::Random;
use crate::core::refresh_board::Outcome;
use crate::core::revocation::Revocations;
use crate::core::session::Session;

use super::{answer, audit, login_start, opaque_check, session_refresh, Effect, Inputs, Step};

#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// An issuer has no keys yet, or the login issuer's discovery has not arrived.
    Keys,
    /// An early fetch of `issuer`'s keys, asked for at `since_ms`.
    Refetch { issuer: usize, since_ms: u64 },
    /// Another request of this worker is asking the IdP about this request's opaque token.
    OpaqueToken,
    /// Another request (of any worker) is refreshing this session.
    Refresh(Box<Session>),
}

/// How long a request may be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// As long as one call to the IdP may take (`idp_timeout_ms`).
    IdpTimeout,
    /// Until the early fetch of this issuer's keys may have ended (`core::key_fetch`).
    KeysRefetched(usize),
    At(u64),
}

/// A request to hold (`Effect::Park`).
#[derive(Debug, PartialEq, Eq)]
pub struct Parked {
    pub request: Request,
    pub wait: Wait,
    pub until: Until,
}

/// A request being held, with its deadline.
#[derive(Debug)]
pub struct Held {
    pub request: Request,
    pub wait: Wait,
    pub deadline_ms: u64,
}

/// What the worker has seen since, for the request being decided again.
#[derive(Debug, Default)]
pub struct Progress {
    /// When the last fetch of the awaited issuer's keys completed (`Wait::Refetch`).
    pub fetch_completed_ms: u64,
    /// The refresh board's entry for the awaited session (`Wait::Refresh`).
    pub refresh: Option<Outcome>,
}

/// Decides a held request again: `None` while it should keep waiting, else what to do (and,
/// when it now calls the IdP itself, the flow that awaits the answer).
pub fn resume(
    held: &Held,
    progress: Progress,
    verifier: &mut Verifier,
    revocations: &dyn Revocations,
    inputs: &Inputs,
    random: &mut dyn Random,
) -> Option<Step> {
    let mut step = decide_again(held, progress, verifier, revocations, inputs, random)?;
    step.effects = audit::carry_out(step.effects, &held.request, inputs.config);
    Some(step)
}

fn decide_again(
    held: &Held,
    progress: Progress,
    verifier: &mut Verifier,
    revocations: &dyn Revocations,
    inputs: &Inputs,
    random: &mut dyn Random,
) -> Option<Step> {
    let config = inputs.config;
    let waiting = inputs.now_ms < held.deadline_ms;
    let request = &held.request;
    let decision = match &held.wait {
        Wait::Refresh(session) => {
            return refresh_ended(session, request, progress.refresh, waiting, inputs, random)
                .map(Step::done)
        }
        Wait::Refetch { since_ms, .. } if waiting && progress.fetch_completed_ms < *since_ms => {
            return None
        }
        // Keys that just arrived are fresh: an unknown kid now is refused, not refetched.
        _ => decide(
            config,
            request,
            verifier,
            revocations,
            inputs.now_s(),
            OnUnknownKid::Refuse,
        ),
    };
    let effects = match decision {
        Decision::AwaitKeys { .. } | Decision::AwaitOpaque if waiting => return None,
        Decision::StartLogin if waiting && !inputs.login_ready() => return None,
        Decision::AwaitKeys { .. } => answer::of(Decision::keys_unavailable(), request, config),
        Decision::AwaitOpaque => {
            let deny = Deny::token_check_unavailable("token_check_unavailable");
            answer::of(Decision::Deny(deny), request, config)
        }
        // Its token is in flight for no one now (the call failed, or keys just arrived): it
        // calls the IdP itself.
        Decision::CheckOpaque(check) if waiting => {
            return Some(opaque_check::begin(*check, request.clone(), inputs))
        }
        Decision::CheckOpaque(check) => opaque_check::not_asked(config, &check, request),
        Decision::StartLogin => login_start::start(inputs, request, random),
        // Its tokens fell due while it waited: it passes, and a later request refreshes.
        Decision::Refresh { session, .. } => {
            answer::of(Decision::allow_session(*session), request, config)
        }
        other => answer::of(other, request, config),
    };
    Some(Step::done(effects))
}

/// A request waiting on another's refresh of its session.
fn refresh_ended(
    session: &Session,
    request: &Request,
    outcome: Option<Outcome>,
    waiting: bool,
    inputs: &Inputs,
    random: &mut dyn Random,
) -> Option<Vec<Effect>> {
    match outcome {
        Some(Outcome::InFlight { .. }) if waiting => None,
        // Refreshed or refused: as any request arriving now would.
        Some(outcome @ (Outcome::Refreshed { .. } | Outcome::Refused)) => Some(
            session_refresh::take_outcome(session.clone(), request, outcome, inputs, random),
        ),
        // The refresh failed transiently, or never finished: the session is still valid,
        // so the request passes on it; a later request refreshes again.
        _ => Some(answer::of(
            Decision::allow_session(session.clone()),
            request,
            inputs.config,
        )),
    }
}
