//! The HTTP context: reads the request, asks the core, carries out the answer.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use crate::config::Config;
use crate::core::decide::{decide, Decision, Request};
use crate::core::refresh::Schedule;
use crate::filter::worker::{carry_out, strip_identity_headers, Wait, Worker};
use crate::filter::{headers, host, root};

pub struct HttpFilter {
    pub context_id: u32,
    pub worker: Rc<RefCell<Worker>>,
}

impl Context for HttpFilter {}

impl HttpContext for HttpFilter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let config = self.worker.borrow().config.clone();
        strip_identity_headers(&config);
        let raw = headers::request_headers();
        let request = Request::from_headers(raw.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
        let now_ms = host::now_ms();
        let decision = {
            let worker = self.worker.borrow();
            decide(&config, &request, &worker.keys, now_ms / 1000, true)
        };
        let decision = match decision {
            Decision::AwaitKeys { .. } => {
                let deadline = now_ms + config.idp_timeout_ms;
                return self.park(request, Wait::Keys, now_ms, deadline, &config);
            }
            Decision::AwaitRefetch { issuer } => {
                let schedule = root::schedule(&config);
                let bound = self.request_refetch(issuer, now_ms, schedule);
                let wait = Wait::Refetch {
                    issuer,
                    since_ms: now_ms,
                };
                return self.park(request, wait, now_ms, now_ms + bound, &config);
            }
            other => other,
        };
        if carry_out(&config, &decision) {
            Action::Continue
        } else {
            Action::Pause
        }
    }
}

impl HttpFilter {
    /// Holds the request for keys; if this worker holds too many already, answers now as if
    /// no wait were possible (503 without keys, 401 for an unknown kid).
    fn park(
        &mut self,
        request: Request,
        wait: Wait,
        now_ms: u64,
        deadline_ms: u64,
        config: &Config,
    ) -> Action {
        let mut worker = self.worker.borrow_mut();
        let fallback = decide(config, &request, &worker.keys, now_ms / 1000, false);
        if !worker.park(self.context_id, request, wait, deadline_ms) {
            drop(worker);
            carry_out(config, &fallback);
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
        // A client that went away while parked must not be resumed later.
        if let Ok(mut worker) = self.worker.try_borrow_mut() {
            worker.parked.remove(&self.context_id);
        }
    }
}
