//! One request: its headers are decided, and its flow (`core::flow`) is moved on by each
//! event the host reports, until it goes upstream or is answered here.

use std::cell::RefCell;
use std::rc::Rc;

use crate::core::decide::{decide, OnUnknownKid, Request};
use crate::core::flow::{Event, Flow};
use crate::core::grpc::Protocol;
use crate::core::header_map::Pairs;
use crate::core::logout_token::MAX_BODY_BYTES;
use crate::core::metrics::CallKind;
use crate::filter::executor::{self, strip_identity_headers, About, Stage, Target, Verdict};
use crate::filter::host::Host;
use crate::filter::revocations::SharedRevocations;
use crate::filter::worker::Worker;

pub struct Stream {
    context_id: u32,
    worker: Rc<RefCell<Worker>>,
    flow: Flow,
    /// The request is a gRPC call: its replies are gRPC statuses.
    grpc: Option<Protocol>,
    about: About,
}

impl Stream {
    pub fn new(context_id: u32, worker: Rc<RefCell<Worker>>) -> Stream {
        Stream {
            context_id,
            worker,
            flow: Flow::Idle,
            grpc: None,
            about: About::default(),
        }
    }

    /// `end_of_stream`: the request has no body.
    pub fn on_request_headers(&mut self, host: &mut impl Host, end_of_stream: bool) -> Verdict {
        let bytes = host.request_headers();
        let config = self.worker.borrow().config.clone();
        strip_identity_headers(host, &config, Pairs::new(&bytes));
        let request = Request::read(Pairs::new(&bytes), &config.token_headers);
        self.grpc = request.grpc;
        self.about = About::of(&request, &self.worker.borrow());
        let now_s = host.now_ms() / 1000;
        let decision = {
            let worker = &mut *self.worker.borrow_mut();
            let list = SharedRevocations {
                host: &*host,
                prefix: &worker.prefix,
            };
            let verifier = &mut worker.verifier;
            decide(
                &config,
                &request,
                verifier,
                &list,
                now_s,
                OnUnknownKid::AwaitRefetch,
            )
        };
        let verdict = self.run(host, Event::Decided { decision, request }, Stage::AtHeaders);
        match self.flow {
            Flow::ReadingLogoutToken if end_of_stream => {
                self.run(host, Event::Body(Some(Vec::new())), Stage::AtHeaders)
            }
            // Proxy-Wasm delivers no body to a filter that holds the headers back (ABI 0.2.1):
            // the headers go on, without identity, and the body is held until it is read and
            // the request answered here.
            Flow::ReadingLogoutToken => Verdict::Continue,
            _ => verdict,
        }
    }

    /// Body data arrived. A request not let through yet (held, or waiting for the IdP) keeps
    /// its body back (Envoy buffers it), so nothing of it moves before it is decided.
    pub fn on_request_body(
        &mut self,
        host: &mut impl Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Verdict {
        self.take_up_adopted_flow();
        match self.flow {
            Flow::ReadingLogoutToken => {}
            Flow::Idle if !self.worker.borrow().is_held(self.context_id) => {
                return Verdict::Continue
            }
            _ => return Verdict::Pause,
        }
        let too_large = body_size > MAX_BODY_BYTES;
        if !end_of_stream && !too_large {
            return Verdict::Pause;
        }
        let body = (!too_large).then(|| host.request_body(body_size, MAX_BODY_BYTES));
        self.run(host, Event::Body(body), Stage::AtHeaders)
    }

    /// An IdP call this request made was answered (or timed out).
    pub fn on_call_response(
        &mut self,
        host: &mut impl Host,
        header_count: usize,
        body_size: usize,
    ) {
        let response = host.call_response(header_count, body_size);
        self.take_up_adopted_flow();
        self.record_call_latency(host);
        self.run(host, Event::CallAnswered(response), Stage::Paused);
    }

    /// The flow this request started while held (its own IdP call), now this stream's: until
    /// it ends, the request is neither let through nor its body.
    fn take_up_adopted_flow(&mut self) {
        if let Some(flow) = self.worker.borrow_mut().adopt(self.context_id) {
            self.flow = flow;
        }
    }

    /// Adds the headers the request's flow left for its response: the `Set-Cookie`s of a
    /// session refreshed on the way, audit mode's note.
    pub fn on_response_headers(&mut self, host: &mut impl Host) {
        let headers = {
            let mut worker = self.worker.borrow_mut();
            if worker.response_headers.is_empty() {
                return;
            }
            worker.response_headers.remove(&self.context_id)
        };
        for (name, value) in headers.unwrap_or_default() {
            host.add_response_header(name, &value);
        }
    }

    /// The request is over (answered, or its client went away).
    pub fn on_done(&mut self, host: &mut impl Host) {
        let Ok(mut worker) = self.worker.try_borrow_mut() else {
            return;
        };
        let adopted = worker.forget(self.context_id);
        drop(worker);
        let mut effects = std::mem::take(&mut self.flow).abandon();
        effects.extend(adopted.map(Flow::abandon).unwrap_or_default());
        let _ = executor::execute(host, &self.target(Stage::Paused), effects);
    }

    fn target(&self, stage: Stage) -> Target<'_> {
        Target {
            worker: &self.worker,
            context_id: self.context_id,
            stage,
            grpc: self.grpc,
            about: self.about,
        }
    }

    /// The IdP call this request's flow awaited was answered: how long it took, by kind.
    fn record_call_latency(&self, host: &mut impl Host) {
        let sent_ms = self.worker.borrow_mut().calls_sent.remove(&self.context_id);
        if let (Some(sent_ms), Some(kind)) = (sent_ms, call_kind(&self.flow)) {
            host.record(kind.histogram(), host.now_ms().saturating_sub(sent_ms));
        }
    }

    /// Steps the flow with `event`, and with every event its effects produce at once.
    fn run(&mut self, host: &mut impl Host, event: Event, stage: Stage) -> Verdict {
        let flow = std::mem::take(&mut self.flow);
        let (flow, verdict) = executor::advance(host, &self.target(stage), flow, event);
        self.flow = flow;
        verdict
    }
}

/// The kind of IdP call a flow waits for.
fn call_kind(flow: &Flow) -> Option<CallKind> {
    match flow {
        Flow::Exchanging(_) | Flow::Refreshing(_) => Some(CallKind::Token),
        Flow::FetchingUserinfo(_) => Some(CallKind::Userinfo),
        Flow::CheckingToken(_) => Some(CallKind::Introspection),
        _ => None,
    }
}
