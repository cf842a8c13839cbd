//! The root context: configuration, and keeping every issuer's keys fresh.
//!
//! Fetches run on the tick, never in `on_configure` (clusters may not be ready yet). One VM
//! per process wins the lease in shared data and fetches; every VM picks the result up from
//! shared data on its next tick and resumes the requests it holds.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};

use crate::config::Config;
use crate::core::decide::Decision;
use crate::core::discovery;
use crate::core::jwks::{self, KeySet};
use crate::core::key_fetch::{FetchState, Schedule};
use crate::filter::browser;
use crate::filter::http::HttpFilter;
use crate::filter::worker::{answer_paused, Worker};
use crate::filter::{host, metrics};

/// The tick while this worker has nothing to wait for: keeps keys fresh.
const TICK: Duration = Duration::from_millis(200);
/// The tick while it has no keys yet or holds requests: the first fetch starts at once, and
/// held requests see keys another worker fetched within this period.
const EAGER_TICK: Duration = Duration::from_millis(10);
/// Response bodies above this are refused without being read in full.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy)]
enum Step {
    Discovery,
    Jwks,
}

pub struct Root {
    vm_id: u64,
    worker: Option<Rc<RefCell<Worker>>>,
    /// In-flight dispatched calls: token -> (issuer index, step).
    calls: HashMap<u32, (usize, Step)>,
    tick: Duration,
}

impl Root {
    pub fn new() -> Root {
        Root {
            vm_id: host::random_id(),
            worker: None,
            calls: HashMap::new(),
            tick: Duration::ZERO,
        }
    }
}

pub fn schedule(config: &Config) -> Schedule {
    Schedule {
        refresh_ms: config.jwks_refresh_seconds * 1000,
        call_timeout_ms: config.idp_timeout_ms,
    }
}

/// Brings an issuer's next fetch forward (unknown kid); returns how long a request may wait.
pub fn expedite_fetch(state_key: &str, now_ms: u64, schedule: Schedule) -> u64 {
    let (bytes, cas) = hostcalls::get_shared_data(state_key).unwrap_or((None, None));
    let state = FetchState::decode(bytes.as_deref());
    if let Some(next) = state.expedite(now_ms) {
        // Losing this race is fine: someone else changed the schedule just now.
        let _ = hostcalls::set_shared_data(state_key, Some(&next.encode()), cas);
    }
    state.refetch_wait_bound_ms(now_ms, schedule)
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some((issuer, step)) = self.calls.remove(&token) else {
            return;
        };
        let outcome = read_call_response(headers, body_size)
            .and_then(|body| self.handle_body(issuer, step, &body));
        match outcome {
            Ok(true) => {}
            Ok(false) => self.finish_fetch(issuer, Ok(())),
            Err(reason) => self.finish_fetch(issuer, Err(reason)),
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        match Config::from_json(&raw, &env) {
            Ok(config) => {
                self.worker = Some(Rc::new(RefCell::new(Worker::new(config))));
                self.set_tick(EAGER_TICK);
                true
            }
            Err(e) => {
                host::log(LogLevel::Error, &e.to_string());
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let Some(worker) = self.worker.clone() else {
            return;
        };
        let now_ms = host::now_ms();
        let count = worker.borrow().config.issuers.len();
        for issuer in 0..count {
            self.maybe_start_fetch(&worker, issuer, now_ms);
        }
        self.publish_and_resume(&worker, now_ms);
        let eager = worker.borrow().is_waiting();
        self.set_tick(if eager { EAGER_TICK } else { TICK });
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let worker = self.worker.clone()?;
        Some(Box::new(HttpFilter::new(context_id, worker)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl Root {
    fn set_tick(&mut self, period: Duration) {
        if period != self.tick && hostcalls::set_tick_period(period).is_ok() {
            self.tick = period;
        }
    }

    fn maybe_start_fetch(&mut self, worker: &Rc<RefCell<Worker>>, issuer: usize, now_ms: u64) {
        let (key, schedule) = {
            let w = worker.borrow();
            (w.shared[issuer].state.clone(), schedule(&w.config))
        };
        let (bytes, cas) = hostcalls::get_shared_data(&key).unwrap_or((None, None));
        let state = FetchState::decode(bytes.as_deref());
        let Some(leased) = state.acquire(self.vm_id, now_ms, schedule) else {
            return;
        };
        if hostcalls::set_shared_data(&key, Some(&leased.encode()), cas).is_err() {
            return; // another worker won the lease
        }
        let (first_step, url) = {
            let w = worker.borrow();
            let config = &w.config.issuers[issuer];
            match &config.jwks_uri {
                Some(uri) => (Step::Jwks, uri.clone()),
                None => (
                    Step::Discovery,
                    format!("{}/.well-known/openid-configuration", config.issuer),
                ),
            }
        };
        if let Err(reason) = self.dispatch(worker, issuer, first_step, &url) {
            self.finish_fetch(issuer, Err(reason));
        }
    }

    fn dispatch(
        &mut self,
        worker: &Rc<RefCell<Worker>>,
        issuer: usize,
        step: Step,
        url: &str,
    ) -> Result<(), String> {
        let config = worker.borrow().config.clone();
        let cluster = &config.issuers[issuer].cluster;
        let token = host::dispatch(&config, cluster, "GET", url, &[], None)?;
        self.calls.insert(token, (issuer, step));
        Ok(())
    }

    /// Handles one response body; `Ok(true)` when another call was started.
    fn handle_body(&mut self, issuer: usize, step: Step, body: &[u8]) -> Result<bool, String> {
        let worker = self.worker.clone().ok_or("not configured")?;
        let (issuer_url, keys) = {
            let w = worker.borrow();
            (
                w.config.issuers[issuer].issuer.clone(),
                w.shared[issuer].clone(),
            )
        };
        match step {
            Step::Discovery => {
                let doc =
                    discovery::parse(body, &issuer_url).map_err(|e| format!("discovery: {e}"))?;
                let _ = hostcalls::set_shared_data(&keys.discovery, Some(body), None);
                self.dispatch(&worker, issuer, Step::Jwks, &doc.jwks_uri)?;
                Ok(true)
            }
            Step::Jwks => {
                let set: KeySet = jwks::KeySet::parse(body).map_err(|e| format!("JWKS: {e}"))?;
                let _ = hostcalls::set_shared_data(&keys.jwks, Some(body), None);
                metrics::set_gauge(&format!("issuer{issuer}.jwks_keys"), set.len() as u64);
                Ok(false)
            }
        }
    }

    /// Ends this VM's fetch: records success or backoff in shared state, then lets every
    /// request this worker holds see the outcome.
    fn finish_fetch(&mut self, issuer: usize, result: Result<(), String>) {
        let Some(worker) = self.worker.clone() else {
            return;
        };
        let now_ms = host::now_ms();
        let (key, schedule, issuer_url) = {
            let w = worker.borrow();
            (
                w.shared[issuer].state.clone(),
                schedule(&w.config),
                w.config.issuers[issuer].issuer.clone(),
            )
        };
        let (bytes, cas) = hostcalls::get_shared_data(&key).unwrap_or((None, None));
        let state = FetchState::decode(bytes.as_deref());
        let next = match &result {
            Ok(()) => {
                metrics::increment(&format!("issuer{issuer}.jwks_fetch_ok"));
                state.succeeded(now_ms, schedule)
            }
            Err(reason) => {
                metrics::increment(&format!("issuer{issuer}.jwks_fetch_failed"));
                let next = state.failed(now_ms, schedule);
                let kept = if worker.borrow().verifier.keys[issuer].is_some() {
                    "keeping the cached keys"
                } else {
                    "no keys yet"
                };
                let retry = next.next_attempt_ms.saturating_sub(now_ms) / 1000;
                host::log(LogLevel::Warn, &format!("fetching keys of {issuer_url} failed: {reason}; {kept}; retrying in {retry}s"));
                next
            }
        };
        if state.holder == self.vm_id || state.holder == 0 {
            let _ = hostcalls::set_shared_data(&key, Some(&next.encode()), cas);
        }
        self.publish_and_resume(&worker, now_ms);
    }

    /// Syncs keys from shared data and answers the held requests that can be answered.
    fn publish_and_resume(&mut self, worker: &Rc<RefCell<Worker>>, now_ms: u64) {
        let (ready, config, discovery) = {
            let mut w = worker.borrow_mut();
            w.sync_from_shared();
            for (index, view) in w.issuers.iter().enumerate() {
                if view.fetch.last_success_ms > 0 {
                    let age = now_ms.saturating_sub(view.fetch.last_success_ms) / 1000;
                    metrics::set_gauge(&format!("issuer{index}.jwks_age_seconds"), age);
                }
            }
            let discovery = w.issuers[0].discovery.clone();
            (w.take_ready(now_ms), w.config.clone(), discovery)
        };
        // No borrow is held here: resuming may run other filters before returning.
        for (context_id, request, decision) in ready {
            if hostcalls::set_effective_context(context_id).is_err() {
                continue;
            }
            if let Decision::StartLogin = decision {
                browser::start_login(&config, discovery.as_ref(), &request, now_ms / 1000);
            } else {
                answer_paused(&config, &request, &decision);
            }
        }
    }
}

fn read_call_response(header_count: usize, body_size: usize) -> Result<Vec<u8>, String> {
    let status = host::call_response_status(header_count)
        .ok_or("no response (timeout or connection failure)")?;
    if status.as_slice() != b"200" {
        return Err(format!("HTTP status {}", String::from_utf8_lossy(&status)));
    }
    if body_size > MAX_RESPONSE_BYTES {
        return Err(format!(
            "response of {body_size} bytes exceeds the {MAX_RESPONSE_BYTES}-byte cap"
        ));
    }
    Ok(
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default(),
    )
}
