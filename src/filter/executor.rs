//! Carries out the core's effects on the current request, through the host. The one place
//! where a decision turns into host calls.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::config::Config;
use crate::core::decide::{Deny, Request, RequestId};
use crate::core::flow::answer;
use crate::core::flow::key_wait::{Held, Parked, Until};
use crate::core::flow::{audit, Effect, Event, Flow, Level, Pass, Reply, Step};
use crate::core::grpc::Protocol;
use crate::core::header_map::Pairs;
use crate::core::header_names;
use crate::core::identity::Identity;
use crate::core::metrics;
use crate::core::refusal;
use crate::core::revocation::Entry;
use crate::filter::board::{self, ClaimRequest};
use crate::filter::host::HostRandom;
use crate::filter::host::{random_id, Host};
use crate::filter::revocations::{self, Addition};
use crate::filter::worker::Worker;
use crate::filter::{callout, key_fetch};

/// What becomes of the request after its effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It goes upstream now.
    Continue,
    /// It was answered here, or waits (for keys, a call, another request's refresh).
    Pause,
}

/// Whether the request is still at its headers (the verdict decides), or was paused earlier
/// (going upstream means resuming it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    AtHeaders,
    Paused,
}

/// The current request, as the executor acts on it.
pub struct Target<'a> {
    pub worker: &'a Rc<RefCell<Worker>>,
    pub context_id: u32,
    pub stage: Stage,
    /// A gRPC call: every reply to it is a gRPC status (`answer::for_grpc`).
    pub grpc: Option<Protocol>,
    pub about: About,
}

/// What names the request in its error replies and its refusal's log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct About {
    pub request_id: Option<RequestId>,
    /// The issuer it concerns: only looked for when refusals are logged (`Worker::debug`).
    pub issuer: Option<usize>,
}

impl About {
    pub fn of(request: &Request, worker: &Worker) -> About {
        About {
            request_id: request.request_id,
            issuer: worker
                .debug
                .then(|| refusal::issuer_of(request, &worker.config))
                .flatten(),
        }
    }
}

/// Carries out `effects`; returns the verdict, and the event an effect produced at once for
/// the request's flow (a refresh claim, a call that could not be sent), if any.
pub fn execute(
    host: &mut impl Host,
    target: &Target,
    effects: Vec<Effect>,
) -> (Verdict, Option<Event>) {
    let mut verdict = Verdict::Pause;
    let mut follow_up = None;
    let mut pending = VecDeque::from(effects);
    while let Some(effect) = pending.pop_front() {
        match effect {
            Effect::Pass(pass) => {
                if pass_upstream(host, target, pass) {
                    verdict = Verdict::Continue;
                } else {
                    pending.extend(answer::denied(&IDENTITY_NOT_PUBLISHED, Vec::new()));
                }
            }
            Effect::Park(parked) => pending.extend(park(host, target, *parked)),
            other => follow_up = follow_up.or(carry_out(host, target, other)),
        }
    }
    if verdict == Verdict::Continue && target.stage == Stage::Paused {
        host.resume_request();
        verdict = Verdict::Pause;
    }
    (verdict, follow_up)
}

/// Moves `flow` on with `event`, and with every event its effects produce at once; returns
/// where it stands and the verdict.
pub fn advance(host: &mut impl Host, target: &Target, flow: Flow, event: Event) -> (Flow, Verdict) {
    let mut next = Some(event);
    let mut flow = flow;
    let mut verdict = Verdict::Pause;
    while let Some(event) = next.take() {
        let step = {
            let worker = target.worker.borrow();
            let keys = worker.login_keys();
            let inputs = worker.inputs(keys.as_deref(), host.now_ms());
            flow.step(event, &inputs, &mut HostRandom(&*host))
        };
        flow = step.flow;
        (verdict, next) = execute(host, target, step.effects);
    }
    (flow, verdict)
}

/// Carries out a step decided outside any event of the flow (a held request resumed).
pub fn carry_on(host: &mut impl Host, target: &Target, step: Step) -> (Flow, Verdict) {
    match execute(host, target, step.effects) {
        (verdict, None) => (step.flow, verdict),
        (_, Some(event)) => advance(host, target, step.flow, event),
    }
}

/// Every effect but `Pass` and `Park`.
fn carry_out(host: &mut impl Host, target: &Target, effect: Effect) -> Option<Event> {
    match effect {
        Effect::Reply(reply) => send_reply(host, target, reply),
        Effect::Call(call) => {
            let config = target.worker.borrow().config.clone();
            let cluster = &config.login_issuer().cluster;
            if let Err(detail) = callout::send(host, &config, cluster, &call) {
                return Some(Event::CallNotSent(detail));
            }
            let sent_ms = host.now_ms();
            target
                .worker
                .borrow_mut()
                .calls_sent
                .insert(target.context_id, sent_ms);
        }
        Effect::ClaimRefresh {
            sid,
            tokens_expire_at,
            lease_ms,
        } => {
            let holder = random_id(host);
            let prefix = target.worker.borrow().prefix.clone();
            let request = ClaimRequest {
                sid: &sid,
                tokens_expire_at,
                holder,
                lease_ms,
            };
            let claim = board::claim(host, &prefix, &request);
            return Some(Event::Claimed { claim, holder });
        }
        Effect::FinishRefresh {
            sid,
            holder,
            outcome,
        } => {
            let prefix = target.worker.borrow().prefix.clone();
            board::finish(host, &prefix, &sid, holder, outcome);
        }
        Effect::Revoke { entry, slot_key } => revoke(host, target, &entry, &slot_key),
        Effect::RevokeAtIdp(call) => target.worker.borrow_mut().idp_outbox.push(call),
        Effect::RecordLogoutToken { jti, until } => {
            let prefix = target.worker.borrow().prefix.clone();
            let fresh = revocations::record_jti(host, &prefix, &jti, until);
            return Some(Event::Recorded { fresh });
        }
        Effect::SettleOpaque { token, checked } => {
            let opaque = &mut target.worker.borrow_mut().verifier.opaque;
            opaque.settle(&token.0, checked);
        }
        Effect::ExpediteKeyFetch { issuer } => {
            key_fetch::expedite(host, &target.worker.borrow(), issuer);
        }
        Effect::Count { prefix, label } => {
            host.increment(prefix, label);
            if prefix == "denied" {
                log_refusal(host, target, label);
            }
        }
        Effect::Log(level, message) => host.log(level, &message),
        Effect::Pass(_) | Effect::Park(_) => {}
    }
    None
}

fn revoke(host: &mut impl Host, target: &Target, entry: &Entry, slot_key: &str) {
    let prefix = target.worker.borrow().prefix.clone();
    match revocations::add(host, &prefix, entry, slot_key) {
        Addition::Done => host.increment("revocation", "added"),
        Addition::DoneRaisingFloor => {
            host.increment("revocation", "added");
            host.increment("revocation", "slot_full");
        }
        Addition::Lost => {
            let message = "a revocation could not be recorded: shared data kept changing";
            host.log(Level::Error, message);
        }
    }
}

/// At debug level, one line per refused request; nothing is formatted otherwise.
fn log_refusal(host: &mut impl Host, target: &Target, reason: &str) {
    let worker = target.worker.borrow();
    if !worker.debug {
        return;
    }
    let about = &target.about;
    let issuer = about.issuer.map(|i| worker.config.issuers[i].name.as_str());
    let line = refusal::line(reason, issuer, about.request_id.as_ref());
    drop(worker);
    host.log(Level::Debug, &line);
}

/// Every reply of the filter goes out here, so a gRPC call gets none but a gRPC status, and
/// an error page names its request.
fn send_reply(host: &mut impl Host, target: &Target, reply: Reply) {
    if let Some(status) = metrics::error_status_label(reply.status) {
        host.increment("error_replies", status);
    }
    let reply = match (target.grpc, target.about.request_id) {
        (Some(protocol), id) => answer::for_grpc(reply, protocol, id.as_ref()),
        (None, Some(id)) => answer::with_request_id(reply, &id),
        (None, None) => reply,
    };
    if let Err(e) = host.send_reply(&reply) {
        let message = format!("could not send the {} reply: {e}", reply.status);
        host.log(Level::Warn, &message);
    }
}

/// A request whose identity Envoy would not store: the filters after this one (RBAC) could
/// otherwise decide on a value someone else stored under its keys.
const IDENTITY_NOT_PUBLISHED: Deny = Deny {
    status: 500,
    reason: "identity_not_published",
    www_authenticate: None,
};

/// Filter state `wasm.oidc_gate.passed`, set on every request the filter lets through (with
/// or without identity): a policy after the filter that requires it refuses every request the
/// filter never saw (the filter not attached, not loaded, or failing open). Only filters write
/// filter state, so no client can send it.
const PASSED_KEY: &str = "oidc_gate.passed";

/// The pass mark, identity headers and filter state, the filter's cookies removed, and
/// `Set-Cookie`s for the response; `false` when Envoy refused the mark or the identity's filter
/// state (then no header is set).
fn pass_upstream(host: &mut impl Host, target: &Target, pass: Pass) -> bool {
    let mut worker = target.worker.borrow_mut();
    if !host.set_filter_state(PASSED_KEY, b"1") {
        return false;
    }
    if let Some(identity) = &pass.identity {
        let config = &worker.config;
        let groups = identity.groups.join(",");
        if !publish_identity(host, config, identity, &groups) {
            return false;
        }
        host.set_request_header(&config.userid_header, Some(identity.userid.as_bytes()));
        host.set_request_header(&config.groups_header, Some(groups.as_bytes()));
        for (header, claim) in &config.claim_headers {
            if let Some(value) = identity.claim_header(claim) {
                host.set_request_header(header, Some(value.as_bytes()));
            }
        }
        if let Some(token) = &identity.forward_token {
            let forward = &config.forward_token;
            let value = match &forward.scheme {
                Some(scheme) => format!("{scheme} {}", token.0),
                None => token.0.clone(),
            };
            host.set_request_header(&forward.header, Some(value.as_bytes()));
        }
    }
    if pass.strip_tokens {
        for header in &worker.config.token_headers {
            host.set_request_header(&header.name, None);
        }
    }
    if let Some(cookie) = &pass.cookie {
        host.set_request_header("cookie", cookie.as_deref());
    }
    if !pass.set_cookies.is_empty() || pass.audit.is_some() {
        let cookies = pass.set_cookies.into_iter().map(|c| ("set-cookie", c));
        let note = pass.audit.map(|note| (audit::HEADER, note));
        let headers = worker.response_headers.entry(target.context_id);
        headers.or_default().extend(cookies.chain(note));
    }
    true
}

/// Who the request is from, for Envoy's filters after this one and its access log: filter
/// state `wasm.oidc_gate.userid`, `.groups` (comma-joined), `.issuer` (its URL) and `.sub`.
/// Never a token or anything secret: the access log prints these.
fn publish_identity(
    host: &mut impl Host,
    config: &Config,
    identity: &Identity,
    groups: &str,
) -> bool {
    let issuer = config.issuers.get(identity.issuer);
    let issuer = issuer.map_or("", |i| i.issuer.as_str());
    let state = [
        ("oidc_gate.userid", identity.userid.as_str()),
        ("oidc_gate.groups", groups),
        ("oidc_gate.issuer", issuer),
        ("oidc_gate.sub", identity.sub.as_str()),
    ];
    state
        .iter()
        .all(|(key, value)| host.set_filter_state(key, value.as_bytes()))
}

/// Holds the request. A worker that holds too many already answers it at once, as if its
/// wait were over: the effects of that answer are returned.
fn park(host: &mut impl Host, target: &Target, parked: Parked) -> Vec<Effect> {
    let Parked {
        request,
        wait,
        until,
    } = parked;
    let now_ms = host.now_ms();
    let mut worker = target.worker.borrow_mut();
    let deadline_ms = match until {
        Until::IdpTimeout => now_ms.saturating_add(worker.config.idp_timeout_ms),
        Until::KeysRefetched(issuer) => {
            let bound = key_fetch::expedite(host, &worker, issuer);
            now_ms.saturating_add(bound)
        }
        Until::At(deadline_ms) => deadline_ms,
    };
    let held = Held {
        request,
        wait,
        deadline_ms,
    };
    if !worker.has_room_to_hold() {
        return worker.answer_now(host, held);
    }
    worker.hold(target.context_id, held, now_ms);
    Vec::new()
}

/// Removes every request header an upstream could read as an identity header: each name that
/// folds to `userid_header`, `groups_header` or a claim header (`kubeflow_userid`,
/// `KUBEFLOW-USERID`, ...; see `core::header_names`), by its exact name, every value. Most
/// requests carry none, and then no host call is spent.
pub fn strip_identity_headers(host: &mut impl Host, config: &Config, headers: Pairs) {
    let identity = &config.identity_headers;
    let mut removed: Vec<&str> = Vec::new();
    for (name, _) in headers {
        let spoofed = identity.iter().any(|id| header_names::folds_to(name, id));
        if spoofed && !removed.contains(&name) {
            host.set_request_header(name, None);
            removed.push(name);
        }
    }
}
