//! The HTTP context: reads the request, asks the core, carries out the answer.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::config::Config;
use crate::core::decide::{decide, Decision, OnUnknownKid, Request};
use crate::core::key_fetch::Schedule;
use crate::filter::worker::{answer, carry_out, strip_identity_headers, Wait, Worker};
use crate::filter::{board, browser, headers, host, root};

/// What the context is waiting for, if anything; each state carries what the next step needs.
pub enum Phase {
    Idle,
    /// The token endpoint, after a callback.
    CodeExchange(Box<browser::Exchange>),
    /// The userinfo endpoint, for groups the id_token did not carry.
    Userinfo(Box<browser::PendingLogin>),
    /// The token endpoint, refreshing a session.
    Refresh(Box<browser::Refreshing>),
}

pub struct HttpFilter {
    pub context_id: u32,
    pub worker: Rc<RefCell<Worker>>,
    pub phase: Phase,
    /// `Set-Cookie` values for the upstream's response (a session refreshed on the way).
    pub response_cookies: Vec<String>,
}

impl HttpFilter {
    pub fn new(context_id: u32, worker: Rc<RefCell<Worker>>) -> HttpFilter {
        HttpFilter {
            context_id,
            worker,
            phase: Phase::Idle,
            response_cookies: Vec::new(),
        }
    }

    pub fn config(&self) -> Rc<Config> {
        self.worker.borrow().config.clone()
    }
}

impl Context for HttpFilter {
    fn on_http_call_response(
        &mut self,
        _token: u32,
        headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let status = host::call_response_status(headers);
        let body = hostcalls::get_buffer(
            proxy_wasm::types::BufferType::HttpCallResponseBody,
            0,
            body_size,
        )
        .ok()
        .flatten()
        .unwrap_or_default();
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Idle => {}
            Phase::CodeExchange(exchange) => {
                browser::on_token_response(self, *exchange, status.as_deref(), &body)
            }
            Phase::Userinfo(pending) => {
                browser::on_userinfo_response(self, *pending, status.as_deref(), &body)
            }
            Phase::Refresh(refreshing) => {
                browser::on_refresh_response(self, *refreshing, status.as_deref(), &body)
            }
        }
    }
}

impl HttpContext for HttpFilter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let config = self.config();
        let headers = headers::HeaderMap::request();
        strip_identity_headers(&config, &headers);
        let request = Request::from_headers(headers.pairs());
        let now_ms = host::now_ms();
        let decision = {
            let mut worker = self.worker.borrow_mut();
            decide(
                &config,
                &request,
                &mut worker.verifier,
                now_ms / 1000,
                OnUnknownKid::AwaitRefetch,
            )
        };
        match decision {
            Decision::AwaitKeys { .. } => {
                let deadline = now_ms + config.idp_timeout_ms;
                self.park(request, Wait::Keys, now_ms, deadline, &config)
            }
            Decision::AwaitRefetch { issuer } => {
                let bound = self.request_refetch(issuer, now_ms, root::schedule(&config));
                let wait = Wait::Refetch {
                    issuer,
                    since_ms: now_ms,
                };
                self.park(request, wait, now_ms, now_ms.saturating_add(bound), &config)
            }
            Decision::StartLogin if !self.worker.borrow().login_ready() => {
                let deadline = now_ms + config.idp_timeout_ms;
                self.park(request, Wait::Keys, now_ms, deadline, &config)
            }
            Decision::StartLogin => {
                let discovery = self.worker.borrow().issuers[0].discovery.clone();
                browser::start_login(&config, discovery.as_ref(), &request, now_ms / 1000)
            }
            Decision::Callback => browser::callback(self, &config, &request, now_ms / 1000),
            Decision::Logout(logout) => browser::logout(self, &config, &request, logout),
            Decision::Refresh(session) => {
                browser::refresh(self, &config, *session, request, now_ms)
            }
            final_decision => answer(&config, &request, &final_decision),
        }
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let mut cookies = std::mem::take(&mut self.response_cookies);
        // Cookies of a refresh another request ran while this one waited; rarely any.
        let mut worker = self.worker.borrow_mut();
        if !worker.pending_cookies.is_empty() {
            cookies.extend(
                worker
                    .pending_cookies
                    .remove(&self.context_id)
                    .unwrap_or_default(),
            );
        }
        drop(worker);
        for cookie in cookies {
            let _ = hostcalls::add_map_value(MapType::HttpResponseHeaders, "set-cookie", &cookie);
        }
        Action::Continue
    }
}

impl HttpFilter {
    /// Holds the request for keys; if this worker holds too many already, answers now as if
    /// no wait were possible (503 without keys, 401 for an unknown kid).
    pub fn park(
        &mut self,
        request: Request,
        wait: Wait,
        now_ms: u64,
        deadline_ms: u64,
        config: &Config,
    ) -> Action {
        let mut worker = self.worker.borrow_mut();
        if worker.has_room_to_park() {
            worker.park(self.context_id, request, wait, deadline_ms);
        } else {
            let fallback = decide(
                config,
                &request,
                &mut worker.verifier,
                now_ms / 1000,
                OnUnknownKid::Refuse,
            );
            drop(worker);
            carry_out(config, &request, &fallback);
        }
        Action::Pause
    }

    /// Asks for an early JWKS fetch (rate-limited in shared state); returns the wait bound.
    fn request_refetch(&self, issuer: usize, now_ms: u64, schedule: Schedule) -> u64 {
        let key = self.worker.borrow().shared[issuer].state.clone();
        root::expedite_fetch(&key, now_ms, schedule)
    }
}

impl Drop for HttpFilter {
    fn drop(&mut self) {
        let Ok(mut worker) = self.worker.try_borrow_mut() else {
            return;
        };
        // A client that went away while parked must not be resumed later.
        worker.parked.remove(&self.context_id);
        if !worker.pending_cookies.is_empty() {
            worker.pending_cookies.remove(&self.context_id);
        }
        // Nor may a refresh it was running hold its session up: the requests waiting for it
        // pass on the session as it is, and the next request refreshes afresh.
        if let Phase::Refresh(refreshing) = &self.phase {
            let sid = &refreshing.session.sid;
            board::finish(&worker.board, sid, refreshing.holder, None, host::now_ms());
        }
    }
}
