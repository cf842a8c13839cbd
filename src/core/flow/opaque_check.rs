//! A request with an opaque token no call has judged yet (`core::opaque`): the login issuer
//! is asked, by introspection or userinfo, and the request is answered from what it says.
//! The answer is kept for the worker's later requests, and those that waited for it.

use crate::config::{Config, OpaqueMethod, OpaqueTokens};
use crate::core::decide::{opaque_decision, Decision, Deny, OpaqueCheck, Request};
use crate::core::login;
use crate::core::opaque::{self, Checked, Unanswered};

use super::callback::form_post;
use super::{answer, audit, Answer, Call, Effect, Flow, Inputs, Level, Step};

/// A request whose token is being checked.
#[derive(Debug)]
pub struct Checking {
    request: Request,
    check: OpaqueCheck,
}

/// Sends the call about the request's token.
pub fn begin(check: OpaqueCheck, request: Request, inputs: &Inputs) -> Step {
    let config = inputs.config;
    let Some(settings) = &config.opaque_tokens else {
        return Step::done(unanswered(config, &check, &request, "not configured"));
    };
    let Some(url) = endpoint(settings, inputs) else {
        let missing = match settings.method {
            OpaqueMethod::Introspection => "introspection_endpoint",
            OpaqueMethod::Userinfo => "userinfo_endpoint",
        };
        let detail = format!("the IdP's discovery document has no {missing}");
        return Step::done(unanswered(config, &check, &request, &detail));
    };
    let call = call(config, settings.method, url, &check.token.0);
    let checking = Checking { request, check };
    Step::then(
        Flow::CheckingToken(Box::new(checking)),
        vec![Effect::Call(call)],
    )
}

fn endpoint<'a>(settings: &'a OpaqueTokens, inputs: &'a Inputs) -> Option<&'a str> {
    if let Some(url) = &settings.endpoint {
        return Some(url);
    }
    let discovery = inputs.discovery?;
    match settings.method {
        OpaqueMethod::Introspection => discovery.introspection_endpoint.as_deref(),
        OpaqueMethod::Userinfo => discovery.userinfo_endpoint.as_deref(),
    }
}

/// RFC 7662 2.1: a form POST authenticated as the login client; or userinfo with the token
/// as its bearer.
fn call(config: &Config, method: OpaqueMethod, url: &str, token: &str) -> Call {
    match method {
        OpaqueMethod::Introspection => form_post(url, &login::introspection_request(config, token)),
        OpaqueMethod::Userinfo => Call {
            method: "GET",
            url: url.to_string(),
            headers: vec![("authorization", format!("Bearer {token}"))],
            body: None,
        },
    }
}

/// The IdP answered (or the call failed). In audit mode a refusal passes, as at the headers.
pub fn on_answer(checking: Checking, answer: Answer, inputs: &Inputs) -> Step {
    let effects = answer_effects(&checking, answer, inputs);
    Step::done(audit::carry_out(effects, &checking.request, inputs.config))
}

fn answer_effects(checking: &Checking, answer: Answer, inputs: &Inputs) -> Vec<Effect> {
    let Checking { request, check } = checking;
    let config = inputs.config;
    let Some(settings) = &config.opaque_tokens else {
        return unanswered(config, check, request, "not configured");
    };
    let checked = match answer {
        Answer::Response(response) => opaque::read_answer(
            config,
            settings,
            response.status.as_deref(),
            &response.body,
            inputs.now_s(),
        ),
        Answer::NotSent(detail) => Err(Unanswered(detail)),
    };
    let checked = match checked {
        Ok(checked) => checked,
        Err(Unanswered(detail)) => return unanswered(config, check, request, &detail),
    };
    let (decision, label) = match &checked {
        Checked::Active { verdict, .. } => (
            opaque_decision(config, &check.picked, verdict.clone()),
            "active",
        ),
        Checked::Inactive { .. } => (
            Decision::Deny(Deny::bad_token("token_inactive")),
            "inactive",
        ),
    };
    let mut effects = vec![
        Effect::SettleOpaque {
            token: check.token.clone(),
            checked: Some(checked),
        },
        Effect::count("opaque_check", label),
    ];
    effects.extend(answer::of(decision, request, config));
    effects
}

/// The call said nothing of the token: the request gets 503 (the client may retry), and the
/// next request with it asks again.
fn unanswered(
    config: &Config,
    check: &OpaqueCheck,
    request: &Request,
    detail: &str,
) -> Vec<Effect> {
    let mut effects = vec![
        Effect::count("opaque_check", "unanswered"),
        Effect::Log(Level::Warn, format!("opaque token not checked: {detail}")),
    ];
    effects.extend(not_asked(config, check, request));
    effects
}

/// A held request that may no longer wait for a call: 503, and its token is in flight for
/// no one.
pub fn not_asked(config: &Config, check: &OpaqueCheck, request: &Request) -> Vec<Effect> {
    let mut effects = vec![Effect::SettleOpaque {
        token: check.token.clone(),
        checked: None,
    }];
    let deny = Deny::token_check_unavailable("token_check_unavailable");
    effects.extend(answer::of(Decision::Deny(deny), request, config));
    effects
}

/// The request ends before the answer: the token is no longer in flight.
pub fn abandon(checking: &Checking) -> Vec<Effect> {
    vec![Effect::SettleOpaque {
        token: checking.check.token.clone(),
        checked: None,
    }]
}
