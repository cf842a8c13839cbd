//! What the filter does with one request, as a state machine: [`Flow::step`] takes the
//! request's state and an event (its headers were decided, the refresh board or an IdP call
//! answered) and returns the next state and the [`Effect`]s to carry out. Time, randomness
//! and the IdP's answers are inputs; nothing here calls the host.
//!
//! The flows: a final decision answered at once (`answer`), waiting for keys or for another
//! request's session refresh (`key_wait`), the redirect to the IdP (`login_start`), the
//! callback and its code exchange (`callback`), a session refresh (`session_refresh`),
//! logout (`logout`), and the IdP's back-channel logout (`backchannel`).

pub mod answer;
pub mod audit;
pub mod backchannel;
pub mod callback;
mod effect;
pub mod key_wait;
pub mod login_start;
pub mod logout;
pub mod opaque_check;
pub mod session_refresh;

#[cfg(test)]
pub(crate) mod tests;

pub use effect::{Call, CallResponse, Effect, Level, Pass, Reply};

use crate::config::{Config, IssuerConfig, Mode};
use crate::core::decide::{Decision, Request};
use crate::core::discovery::Discovery;
use crate::core::jwks::KeySet;
use crate::core::login::Random;
use crate::core::logout_token::LogoutToken;
use crate::core::refresh_board::Claim;
use callback::{Exchange, PendingLogin};
use key_wait::{Until, Wait};
use session_refresh::{Claiming, Refreshing};

/// What one request is waiting for; each state carries what its next step needs.
#[derive(Debug, Default)]
pub enum Flow {
    #[default]
    Idle,
    /// The refresh board's answer to this request's claim on its session's refresh.
    ClaimingRefresh(Box<Claiming>),
    /// The token endpoint's answer to the code exchange, after a callback.
    Exchanging(Box<Exchange>),
    /// The userinfo endpoint's answer, for identity claims the id_token lacked.
    FetchingUserinfo(Box<PendingLogin>),
    /// The token endpoint's answer to a session refresh.
    Refreshing(Box<Refreshing>),
    /// The login issuer's answer about the request's opaque token.
    CheckingToken(Box<opaque_check::Checking>),
    /// The body of a back-channel logout request.
    ReadingLogoutToken,
    /// The record of seen logout tokens' answer to [`Effect::RecordLogoutToken`].
    RecordingLogoutToken(Box<LogoutToken>),
}

#[derive(Debug)]
pub enum Event {
    /// The request's headers arrived and `decide` ruled on them.
    Decided {
        decision: Decision,
        request: Request,
    },
    /// The refresh board's answer to [`Effect::ClaimRefresh`].
    Claimed { claim: Option<Claim>, holder: u64 },
    /// The IdP answered the [`Effect::Call`] (or the call timed out: no status).
    CallAnswered(CallResponse),
    /// The [`Effect::Call`] could not be sent.
    CallNotSent(String),
    /// The request's whole body (`None`: larger than the flow reads).
    Body(Option<Vec<u8>>),
    /// The answer to [`Effect::RecordLogoutToken`]: `fresh` when not seen before.
    Recorded { fresh: bool },
}

/// The next state and what to do now.
#[derive(Debug)]
pub struct Step {
    pub flow: Flow,
    pub effects: Vec<Effect>,
}

impl Step {
    /// Done: no more events expected.
    pub fn done(effects: Vec<Effect>) -> Step {
        Step {
            flow: Flow::Idle,
            effects,
        }
    }

    pub fn then(flow: Flow, effects: Vec<Effect>) -> Step {
        Step { flow, effects }
    }
}

/// What the flows read besides the event: configuration, what is known of the login issuer,
/// and the clock.
pub struct Inputs<'a> {
    pub config: &'a Config,
    /// The login issuer's discovery document, once fetched.
    pub discovery: Option<&'a Discovery>,
    /// The login issuer's keys, once fetched.
    pub keys: Option<&'a KeySet>,
    pub now_ms: u64,
}

impl Inputs<'_> {
    pub fn now_s(&self) -> u64 {
        self.now_ms / 1000
    }

    pub fn login_issuer(&self) -> &IssuerConfig {
        self.config.login_issuer()
    }

    /// A login can start once the IdP's authorization endpoint is known.
    pub fn login_ready(&self) -> bool {
        self.authorization_endpoint().is_some()
    }

    pub fn authorization_endpoint(&self) -> Option<&str> {
        let discovered = || self.discovery?.authorization_endpoint.as_deref();
        self.config
            .authorization_endpoint
            .as_deref()
            .or_else(discovered)
    }
}

impl Flow {
    /// Moves the flow on by one event.
    pub fn step(self, event: Event, inputs: &Inputs, random: &mut dyn Random) -> Step {
        match (self, event) {
            (Flow::Idle, Event::Decided { decision, request }) => {
                // Only audit mode needs the request after the decision is carried out.
                let audited = (inputs.config.mode == Mode::Audit).then(|| request.clone());
                let mut step = on_decision(decision, request, inputs, random);
                if let Some(request) = audited {
                    step.effects = audit::carry_out(step.effects, &request, inputs.config);
                }
                step
            }
            (Flow::ClaimingRefresh(claiming), Event::Claimed { claim, holder }) => {
                session_refresh::on_claim(*claiming, claim, holder, inputs, random)
            }
            (Flow::ReadingLogoutToken, Event::Body(body)) => {
                backchannel::on_body(body.as_deref(), inputs)
            }
            (Flow::RecordingLogoutToken(token), Event::Recorded { fresh }) => {
                backchannel::on_recorded(*token, fresh, inputs)
            }
            (flow, Event::CallAnswered(response)) => {
                flow.on_answer(Answer::Response(response), inputs, random)
            }
            (flow, Event::CallNotSent(detail)) => {
                flow.on_answer(Answer::NotSent(detail), inputs, random)
            }
            // Nothing else is awaited in these states; a stray event changes nothing.
            (flow, _) => Step::then(flow, Vec::new()),
        }
    }

    /// The IdP call this state awaits has ended.
    fn on_answer(self, answer: Answer, inputs: &Inputs, random: &mut dyn Random) -> Step {
        match self {
            Flow::Exchanging(exchange) => {
                callback::on_token_response(*exchange, answer, inputs, random)
            }
            Flow::FetchingUserinfo(pending) => {
                callback::on_userinfo_response(*pending, answer, inputs, random)
            }
            Flow::Refreshing(refreshing) => {
                session_refresh::on_response(*refreshing, answer, inputs, random)
            }
            Flow::CheckingToken(checking) => opaque_check::on_answer(*checking, answer, inputs),
            other => Step::then(other, Vec::new()),
        }
    }

    /// The request ends now (the client went away): what must not be left behind.
    pub fn abandon(self) -> Vec<Effect> {
        match self {
            Flow::Refreshing(refreshing) => session_refresh::abandon(&refreshing),
            Flow::CheckingToken(checking) => opaque_check::abandon(&checking),
            _ => Vec::new(),
        }
    }
}

/// How an IdP call ended.
#[derive(Debug)]
pub enum Answer {
    Response(CallResponse),
    NotSent(String),
}

/// A request at its headers.
fn on_decision(
    decision: Decision,
    request: Request,
    inputs: &Inputs,
    random: &mut dyn Random,
) -> Step {
    let config = inputs.config;
    let now_ms = inputs.now_ms;
    match decision {
        Decision::AwaitKeys { .. } => park(request, Wait::Keys, Until::IdpTimeout),
        Decision::CheckOpaque(check) => opaque_check::begin(*check, request, inputs),
        Decision::AwaitOpaque => park(request, Wait::OpaqueToken, Until::IdpTimeout),
        Decision::AwaitRefetch { issuer } => {
            let wait = Wait::Refetch {
                issuer,
                since_ms: now_ms,
            };
            Step::done(vec![
                Effect::ExpediteKeyFetch { issuer },
                Effect::park(request, wait, Until::KeysRefetched(issuer)),
            ])
        }
        Decision::StartLogin if !inputs.login_ready() => {
            park(request, Wait::Keys, Until::IdpTimeout)
        }
        Decision::StartLogin => Step::done(login_start::start(inputs, &request, random)),
        Decision::SignIn => Step::done(login_start::sign_in(inputs, &request, random)),
        Decision::Callback => callback::begin(&request, inputs),
        Decision::Logout(logout) => Step::done(logout::respond(inputs, &request, logout)),
        Decision::BackchannelLogout => backchannel::begin(&request),
        Decision::Refresh { session, redirect } => {
            // Should the session end, the request is answered as its rules say.
            let request = Request {
                navigation: redirect,
                ..request
            };
            session_refresh::begin(*session, request, config)
        }
        other => Step::done(answer::of(other, &request, config)),
    }
}

fn park(request: Request, wait: Wait, until: Until) -> Step {
    Step::done(vec![Effect::park(request, wait, until)])
}
