//! The root context: configuration, keeping every issuer's keys fresh, and answering held
//! requests once they can be.
//!
//! Fetches run on the tick, never in `on_configure` (clusters may not be ready yet). Every
//! VM picks up what any VM fetched from shared data on its next tick.

use std::cell::RefCell;
use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::config::{Config, Environment};
use crate::core::flow::{CallResponse, Level};
use crate::core::metrics::{CallKind, REVOCATION_ENTRIES};
use crate::filter::callout;
use crate::filter::executor::{self, About, Stage, Target};
use crate::filter::host::{random_id, Host};
use crate::filter::key_fetch::KeyFetcher;
use crate::filter::metrics;
use crate::filter::revocations;
use crate::filter::stream::Stream;
use crate::filter::worker::Worker;

/// The tick while this worker has nothing to wait for: keeps keys fresh.
const TICK_MS: u64 = 200;
/// The tick while it has no keys yet or holds requests: the first fetch starts at once, and
/// held requests see keys another worker fetched within this period.
const EAGER_TICK_MS: u64 = 10;

/// Ticks between two readings of the revocation list's size.
const LIST_SIZE_EVERY_TICKS: u64 = 50;

pub struct Root {
    worker: Option<Rc<RefCell<Worker>>>,
    fetcher: KeyFetcher,
    /// Token revocations (RFC 7009) in flight: when each was sent.
    revocations: FxHashMap<u32, u64>,
    tick_ms: u64,
    ticks: u64,
}

impl Root {
    pub fn new(host: &mut impl Host) -> Root {
        Root {
            worker: None,
            fetcher: KeyFetcher::new(random_id(host)),
            revocations: FxHashMap::default(),
            tick_ms: 0,
            ticks: 0,
        }
    }

    /// Reads the plugin configuration; a bad one is refused with one log line naming the field.
    pub fn configure(&mut self, host: &mut impl Host, raw: &[u8], env: &dyn Environment) -> bool {
        match Config::from_json(raw, env) {
            Ok(config) => {
                let worker = Worker::new(config);
                metrics::define_all(host, &worker.config, &worker.metrics);
                self.worker = Some(Rc::new(RefCell::new(worker)));
                self.set_tick(host, EAGER_TICK_MS);
                true
            }
            Err(e) => {
                host.log(Level::Error, &e.to_string());
                false
            }
        }
    }

    pub fn new_stream(&self, context_id: u32) -> Option<Stream> {
        let worker = self.worker.clone()?;
        Some(Stream::new(context_id, worker))
    }

    pub fn on_tick(&mut self, host: &mut impl Host) {
        let Some(worker) = self.worker.clone() else {
            return;
        };
        // Envoy's log level can change at run time; requests read it from here.
        worker.borrow_mut().debug = host.debug_enabled();
        let count = worker.borrow().config.issuers.len();
        for issuer in 0..count {
            self.fetcher.maybe_start(host, &worker.borrow(), issuer);
        }
        self.sync_and_resume(host, &worker);
        self.send_outbox(host, &worker);
        self.ticks += 1;
        if self.ticks % LIST_SIZE_EVERY_TICKS == 1 {
            let size = revocations::count(host, &worker.borrow().prefix);
            host.set_gauge(REVOCATION_ENTRIES, size);
        }
        let eager = worker.borrow().is_waiting();
        self.set_tick(host, if eager { EAGER_TICK_MS } else { TICK_MS });
    }

    /// A key fetch call was answered.
    pub fn on_call_response(
        &mut self,
        host: &mut impl Host,
        token: u32,
        header_count: usize,
        body_size: usize,
    ) {
        let Some(worker) = self.worker.clone() else {
            return;
        };
        let response = host.call_response(header_count, body_size);
        if let Some(sent_ms) = self.revocations.remove(&token) {
            let elapsed = host.now_ms().saturating_sub(sent_ms);
            host.record(CallKind::Revocation.histogram(), elapsed);
            return token_revoked(host, &response);
        }
        let ended = self
            .fetcher
            .on_response(host, &worker.borrow(), token, &response);
        if ended {
            self.sync_and_resume(host, &worker);
        }
    }

    /// Sends the calls requests left for the root context (token revocations at logout).
    fn send_outbox(&mut self, host: &mut impl Host, worker: &Rc<RefCell<Worker>>) {
        let (calls, config) = {
            let mut w = worker.borrow_mut();
            (std::mem::take(&mut w.idp_outbox), w.config.clone())
        };
        for call in calls {
            let cluster = &config.login_issuer().cluster;
            match callout::send(host, &config, cluster, &call) {
                Ok(token) => {
                    self.revocations.insert(token, host.now_ms());
                }
                Err(detail) => {
                    host.increment("token_revocation", "failed");
                    host.log(Level::Warn, &format!("token revocation not sent: {detail}"));
                }
            }
        }
    }

    fn set_tick(&mut self, host: &mut impl Host, period_ms: u64) {
        if period_ms != self.tick_ms && host.set_tick_ms(period_ms) {
            self.tick_ms = period_ms;
        }
    }

    /// Syncs keys from shared data and answers the held requests that can be answered.
    fn sync_and_resume(&mut self, host: &mut impl Host, worker: &Rc<RefCell<Worker>>) {
        let ready = {
            let mut w = worker.borrow_mut();
            w.sync_from_shared(host);
            report_key_age(host, &w);
            w.take_ready(host)
        };
        // No borrow is held here: answering may run other filters before returning.
        for (context_id, request, step) in ready {
            if host.set_effective_context(context_id) {
                let about = About::of(&request, &worker.borrow());
                let target = Target {
                    worker,
                    context_id,
                    stage: Stage::Paused,
                    grpc: request.grpc,
                    about,
                };
                let (flow, _) = executor::carry_on(host, &target, step);
                worker.borrow_mut().leave_flow(context_id, flow);
            }
        }
    }
}

/// RFC 7009 2.2: `200` means revoked (or unknown, which is as good); anything else is logged,
/// and changes nothing for the logout that asked for it.
fn token_revoked(host: &mut impl Host, response: &CallResponse) {
    match response.status.as_deref() {
        Some(b"200") => host.increment("token_revocation", "ok"),
        status => {
            host.increment("token_revocation", "failed");
            let status = status.map_or("no answer".into(), |s| {
                String::from_utf8_lossy(s).into_owned()
            });
            host.log(Level::Warn, &format!("token revocation failed: {status}"));
        }
    }
}

fn report_key_age(host: &mut impl Host, worker: &Worker) {
    let now_ms = host.now_ms();
    for (view, metrics) in worker.issuers.iter().zip(&worker.metrics) {
        if view.fetch.last_success_ms > 0 {
            let age = now_ms.saturating_sub(view.fetch.last_success_ms) / 1000;
            host.set_gauge(&metrics.age_seconds, age);
        }
    }
}
