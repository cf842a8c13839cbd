//! Keeping every issuer's discovery document and JWKS fresh. One VM per process wins the
//! fetch lease in shared data (`core::key_fetch`) and fetches; every VM picks the result up
//! from shared data.

use rustc_hash::FxHashMap;

use crate::core::discovery;
use crate::core::flow::{Call, CallResponse, Level};
use crate::core::jwks::KeySet;
use crate::core::key_fetch::FetchState;
use crate::core::metrics::CallKind;
use crate::filter::callout;
use crate::filter::host::{Host, MAX_CALL_BODY_BYTES};
use crate::filter::worker::Worker;

#[derive(Debug, Clone, Copy)]
enum Step {
    Discovery,
    Jwks,
}

impl Step {
    fn kind(self) -> CallKind {
        match self {
            Step::Discovery => CallKind::Discovery,
            Step::Jwks => CallKind::Jwks,
        }
    }
}

/// A dispatched fetch call.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    issuer: usize,
    step: Step,
    sent_ms: u64,
}

/// This VM's fetches in flight.
pub struct KeyFetcher {
    vm_id: u64,
    /// Dispatched calls, by token.
    calls: FxHashMap<u32, InFlight>,
}

impl KeyFetcher {
    pub fn new(vm_id: u64) -> KeyFetcher {
        KeyFetcher {
            vm_id,
            calls: FxHashMap::default(),
        }
    }

    /// Starts the issuer's fetch if it is due and this VM wins the lease.
    /// A pinned-secret issuer has nothing to fetch.
    pub fn maybe_start(&mut self, host: &mut impl Host, worker: &Worker, issuer: usize) {
        if worker.config.issuers[issuer].hs256_secret.is_some() {
            return;
        }
        let key = &worker.names[issuer].fetch_state;
        let (bytes, cas) = host.shared_get(key);
        let state = FetchState::decode(bytes.as_deref());
        let Some(leased) = state.acquire(self.vm_id, host.now_ms(), worker.schedule()) else {
            return;
        };
        if !host.shared_set(key, &leased.encode(), cas) {
            return; // another worker won the lease
        }
        let config = &worker.config.issuers[issuer];
        let (step, url) = match &config.jwks_uri {
            Some(uri) => (Step::Jwks, uri.clone()),
            None => (
                Step::Discovery,
                format!("{}/.well-known/openid-configuration", config.issuer),
            ),
        };
        if let Err(reason) = self.fetch(host, worker, issuer, step, url) {
            self.finish(host, worker, issuer, Err(reason));
        }
    }

    fn fetch(
        &mut self,
        host: &mut impl Host,
        worker: &Worker,
        issuer: usize,
        step: Step,
        url: String,
    ) -> Result<(), String> {
        let call = Call {
            method: "GET",
            url,
            headers: Vec::new(),
            body: None,
        };
        let cluster = &worker.config.issuers[issuer].cluster;
        let token = callout::send(host, &worker.config, cluster, &call)?;
        let sent_ms = host.now_ms();
        let call = InFlight {
            issuer,
            step,
            sent_ms,
        };
        self.calls.insert(token, call);
        Ok(())
    }

    /// A fetch call answered; `true` when that ended a fetch (the caller then lets held
    /// requests see the outcome).
    pub fn on_response(
        &mut self,
        host: &mut impl Host,
        worker: &Worker,
        token: u32,
        response: &CallResponse,
    ) -> bool {
        let Some(InFlight {
            issuer,
            step,
            sent_ms,
        }) = self.calls.remove(&token)
        else {
            return false;
        };
        let elapsed = host.now_ms().saturating_sub(sent_ms);
        host.record(step.kind().histogram(), elapsed);
        let outcome = accepted_body(response)
            .and_then(|body| self.take_body(host, worker, issuer, step, body));
        match outcome {
            Ok(true) => false,
            Ok(false) => {
                self.finish(host, worker, issuer, Ok(()));
                true
            }
            Err(reason) => {
                self.finish(host, worker, issuer, Err(reason));
                true
            }
        }
    }

    /// Publishes one response body; `Ok(true)` when the next call of the fetch was started.
    fn take_body(
        &mut self,
        host: &mut impl Host,
        worker: &Worker,
        issuer: usize,
        step: Step,
        body: &[u8],
    ) -> Result<bool, String> {
        let names = &worker.names[issuer];
        match step {
            Step::Discovery => {
                let issuer_url = &worker.config.issuers[issuer].issuer;
                let doc =
                    discovery::parse(body, issuer_url).map_err(|e| format!("discovery: {e}"))?;
                host.shared_put(&names.discovery, body);
                self.fetch(host, worker, issuer, Step::Jwks, doc.jwks_uri)?;
                Ok(true)
            }
            Step::Jwks => {
                let set = KeySet::parse(body).map_err(|e| format!("JWKS: {e}"))?;
                host.shared_put(&names.jwks, body);
                host.set_gauge(&worker.metrics[issuer].keys, set.len() as u64);
                Ok(false)
            }
        }
    }

    /// Ends this VM's fetch: records success or backoff in shared state.
    fn finish(
        &mut self,
        host: &mut impl Host,
        worker: &Worker,
        issuer: usize,
        result: Result<(), String>,
    ) {
        let now_ms = host.now_ms();
        let key = &worker.names[issuer].fetch_state;
        let (bytes, cas) = host.shared_get(key);
        let state = FetchState::decode(bytes.as_deref());
        let next = match result {
            Ok(()) => {
                host.increment_named(&worker.metrics[issuer].fetch_ok);
                state.succeeded(now_ms, worker.schedule())
            }
            Err(reason) => {
                host.increment_named(&worker.metrics[issuer].fetch_failed);
                let next = state.failed(now_ms, worker.schedule());
                log_failure(
                    host,
                    worker,
                    issuer,
                    &reason,
                    next.next_attempt_ms.saturating_sub(now_ms),
                );
                next
            }
        };
        if state.holder == self.vm_id || state.holder == 0 {
            host.shared_set(key, &next.encode(), cas);
        }
    }
}

fn log_failure(host: &mut impl Host, worker: &Worker, issuer: usize, reason: &str, retry_ms: u64) {
    let kept = if worker.verifier.keys[issuer].is_some() {
        "keeping the cached keys"
    } else {
        "no keys yet"
    };
    let url = &worker.config.issuers[issuer].issuer;
    let message = format!(
        "fetching keys of {url} failed: {reason}; {kept}; retrying in {}s",
        retry_ms / 1000
    );
    host.log(Level::Warn, &message);
}

/// The body of a `200` answer within the size cap.
fn accepted_body(response: &CallResponse) -> Result<&[u8], String> {
    let status = response
        .status
        .as_deref()
        .ok_or("no response (timeout or connection failure)")?;
    if status != b"200" {
        return Err(format!("HTTP status {}", String::from_utf8_lossy(status)));
    }
    if response.body.len() > MAX_CALL_BODY_BYTES {
        return Err(format!(
            "response of {} bytes exceeds the {MAX_CALL_BODY_BYTES}-byte cap",
            response.body.len()
        ));
    }
    Ok(&response.body)
}

/// Brings an issuer's next fetch forward (a `kid` we lack); returns how long a request may
/// wait for it.
pub fn expedite(host: &mut impl Host, worker: &Worker, issuer: usize) -> u64 {
    let key = &worker.names[issuer].fetch_state;
    let now_ms = host.now_ms();
    let (bytes, cas) = host.shared_get(key);
    let state = FetchState::decode(bytes.as_deref());
    if let Some(next) = state.expedite(now_ms) {
        // Losing this race is fine: someone else changed the schedule just now.
        host.shared_set(key, &next.encode(), cas);
    }
    state.refetch_wait_bound_ms(now_ms, worker.schedule())
}
