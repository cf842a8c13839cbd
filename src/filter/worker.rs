//! The state of one worker VM, shared by its root context and its HTTP contexts: the
//! configuration, what it knows of each issuer, and the requests it holds.

use std::collections::BTreeMap;
use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::config::Config;
use crate::core::decide::{Request, Verifier};
use crate::core::discovery::{self, Discovery};
use crate::core::flow::key_wait::{self, Held, Progress, Wait};
use crate::core::flow::{Call, Effect, Flow, Inputs, Step};
use crate::core::hs256;
use crate::core::jwks::KeySet;
use crate::core::key_fetch::{FetchState, Schedule};
use crate::core::metrics::{IssuerMetrics, KEY_WAIT_HISTOGRAM};
use crate::filter::board;
use crate::filter::host::{Host, HostRandom};
use crate::filter::revocations::SharedRevocations;

/// Requests one worker will hold; beyond this they are answered at once.
const MAX_HELD: usize = 2048;

/// Names of one issuer's entries in shared data. Istio sets no `vm_id`, so every plugin in
/// the process shares one namespace: names carry ours, a format version, and the key source.
#[derive(Debug, Clone)]
pub struct SharedDataNames {
    /// The key fetch's lease and schedule (`core::key_fetch::FetchState`).
    pub fetch_state: String,
    pub jwks: String,
    pub discovery: String,
}

impl SharedDataNames {
    fn new(issuer: &str, jwks_uri: Option<&str>) -> SharedDataNames {
        let base = format!("oidc-gate.v1|{issuer}|{}", jwks_uri.unwrap_or("discovery"));
        SharedDataNames {
            fetch_state: format!("{base}|state"),
            jwks: format!("{base}|jwks"),
            discovery: format!("{base}|discovery"),
        }
    }
}

/// What this worker knows of one issuer.
#[derive(Default)]
pub struct IssuerView {
    /// The JWKS bytes the verifier's keys were parsed from, to notice when shared data changes.
    jwks_bytes: Vec<u8>,
    discovery_bytes: Vec<u8>,
    pub discovery: Option<Discovery>,
    pub fetch: FetchState,
}

pub struct Worker {
    pub config: Rc<Config>,
    pub names: Vec<SharedDataNames>,
    pub verifier: Verifier,
    pub issuers: Vec<IssuerView>,
    /// Each issuer's metric names, by index.
    pub metrics: Vec<IssuerMetrics>,
    /// Envoy logs debug lines (read on each tick): only then is a refusal logged.
    pub debug: bool,
    /// Held requests, and since when.
    held: BTreeMap<u32, (Held, u64)>,
    /// When each request's IdP call in flight was sent, by context.
    pub calls_sent: FxHashMap<u32, u64>,
    /// Shared-data name prefix of what concerns sessions: the refresh board
    /// (`core::refresh_board`), the revocation list, the seen logout tokens.
    pub prefix: String,
    /// Calls to the IdP the root context sends on its next tick (token revocations).
    pub idp_outbox: Vec<Call>,
    /// Headers for requests' responses (`Set-Cookie`, audit notes), by context.
    pub response_headers: FxHashMap<u32, Vec<(&'static str, String)>>,
    /// Flows that held requests started when they were resumed (an IdP call of their own),
    /// for their streams to take up when the call is answered.
    adopted: FxHashMap<u32, Flow>,
}

impl Worker {
    pub fn new(config: Config) -> Worker {
        let names = config
            .issuers
            .iter()
            .map(|i| SharedDataNames::new(&i.issuer, i.jwks_uri.as_deref()))
            .collect();
        let count = config.issuers.len();
        let prefix = format!(
            "oidc-gate.v1|{}|{}",
            config.login_issuer().issuer,
            config.session.cookie_name
        );
        let mut verifier = Verifier::with_capacity(count, config.credential_cache_entries);
        for (index, keys) in hs256::pinned_key_sets(&config.issuers) {
            verifier.set_keys(index, keys);
        }
        Worker {
            metrics: IssuerMetrics::of(&config),
            config: Rc::new(config),
            names,
            verifier,
            issuers: (0..count).map(|_| IssuerView::default()).collect(),
            debug: false,
            held: BTreeMap::new(),
            calls_sent: FxHashMap::default(),
            prefix,
            idp_outbox: Vec::new(),
            response_headers: FxHashMap::default(),
            adopted: FxHashMap::default(),
        }
    }

    pub fn schedule(&self) -> Schedule {
        Schedule {
            period_ms: self.config.jwks_refresh_seconds * 1000,
            call_timeout_ms: self.config.idp_timeout_ms,
        }
    }

    /// The login issuer's keys (shared, so the worker can be borrowed again meanwhile).
    pub fn login_keys(&self) -> Option<Rc<KeySet>> {
        self.verifier.keys.first().cloned().flatten()
    }

    /// What the flows read, at `now_ms`, with the login issuer's `keys`.
    pub fn inputs<'a>(&'a self, keys: Option<&'a KeySet>, now_ms: u64) -> Inputs<'a> {
        inputs_of(&self.config, &self.issuers, keys, now_ms)
    }

    /// Picks up keys and fetch state that any worker of this process published.
    pub fn sync_from_shared(&mut self, host: &impl Host) {
        for index in 0..self.issuers.len() {
            self.sync_issuer(host, index);
        }
    }

    fn sync_issuer(&mut self, host: &impl Host, index: usize) {
        // A pinned secret is never replaced: shared data is writable by every plugin in the
        // process, and a JWKS found there must not take the place of the configured secret.
        if self.config.issuers[index].hs256_secret.is_some() {
            return;
        }
        let names = &self.names[index];
        let view = &mut self.issuers[index];
        view.fetch = FetchState::decode(host.shared_get(&names.fetch_state).0.as_deref());
        if let Some(bytes) = host.shared_get(&names.jwks).0 {
            if bytes != view.jwks_bytes {
                // Only validated sets are published, so a parse failure here means a
                // different plugin version wrote it: keep what we have.
                if let Ok(set) = KeySet::parse(&bytes) {
                    self.verifier.set_keys(index, set);
                    view.jwks_bytes = bytes;
                }
            }
        }
        if let Some(bytes) = host.shared_get(&names.discovery).0 {
            if bytes != view.discovery_bytes {
                let issuer = &self.config.issuers[index].issuer;
                view.discovery = discovery::parse(&bytes, issuer).ok();
                view.discovery_bytes = bytes;
            }
        }
    }

    /// Requests are held here, calls wait to be sent, or some issuer has no keys yet.
    pub fn is_waiting(&self) -> bool {
        !self.held.is_empty()
            || !self.idp_outbox.is_empty()
            || self.verifier.keys.iter().any(Option::is_none)
    }

    pub fn is_held(&self, context_id: u32) -> bool {
        self.held.contains_key(&context_id)
    }

    pub fn has_room_to_hold(&self) -> bool {
        self.held.len() < MAX_HELD
    }

    /// Holds a request from `now_ms` (callers check `has_room_to_hold` first).
    pub fn hold(&mut self, context_id: u32, held: Held, now_ms: u64) {
        self.held.insert(context_id, (held, now_ms));
    }

    /// Forgets a request (its client went away): it must not be answered later. Returns the
    /// flow it started while held, to be abandoned.
    pub fn forget(&mut self, context_id: u32) -> Option<Flow> {
        self.held.remove(&context_id);
        if !self.calls_sent.is_empty() {
            self.calls_sent.remove(&context_id);
        }
        if !self.response_headers.is_empty() {
            self.response_headers.remove(&context_id);
        }
        self.adopt(context_id)
    }

    /// Keeps the flow a resumed request started, for its stream.
    pub fn leave_flow(&mut self, context_id: u32, flow: Flow) {
        if !matches!(flow, Flow::Idle) {
            self.adopted.insert(context_id, flow);
        }
    }

    /// The flow the request started while held, if any.
    pub fn adopt(&mut self, context_id: u32) -> Option<Flow> {
        if self.adopted.is_empty() {
            return None;
        }
        self.adopted.remove(&context_id)
    }

    /// Takes out the held requests that can be answered now, with what to do for each (and
    /// the request it was, which its replies and log lines name).
    pub fn take_ready(&mut self, host: &mut impl Host) -> Vec<(u32, Request, Step)> {
        let mut ready = Vec::new();
        for (id, (held, since_ms)) in std::mem::take(&mut self.held) {
            match self.settle(host, &held) {
                Some(effects) => {
                    if matches!(held.wait, Wait::Keys | Wait::Refetch { .. }) {
                        let waited = host.now_ms().saturating_sub(since_ms);
                        host.record(KEY_WAIT_HISTOGRAM, waited);
                    }
                    ready.push((id, held.request, effects))
                }
                None => {
                    self.held.insert(id, (held, since_ms));
                }
            }
        }
        ready
    }

    /// Answers a request that cannot be held, as if its wait were over.
    pub fn answer_now(&mut self, host: &mut impl Host, held: Held) -> Vec<Effect> {
        let over = Held {
            deadline_ms: 0,
            ..held
        };
        // Its wait is over, so it starts no flow of its own.
        self.settle(host, &over)
            .map(|step| step.effects)
            .unwrap_or_default()
    }

    /// Decides a held request again (`core::flow::key_wait`).
    fn settle(&mut self, host: &mut impl Host, held: &Held) -> Option<Step> {
        let now_ms = host.now_ms();
        let progress = self.progress(host, &held.wait, now_ms);
        let keys = self.login_keys();
        let inputs = inputs_of(&self.config, &self.issuers, keys.as_deref(), now_ms);
        let list = SharedRevocations {
            host: &*host,
            prefix: &self.prefix,
        };
        let mut random = HostRandom(&*host);
        key_wait::resume(
            held,
            progress,
            &mut self.verifier,
            &list,
            &inputs,
            &mut random,
        )
    }

    /// What a held request may be waiting for, as shared data has it now.
    fn progress(&self, host: &impl Host, wait: &Wait, now_ms: u64) -> Progress {
        match wait {
            Wait::Keys | Wait::OpaqueToken => Progress::default(),
            Wait::Refetch { issuer, .. } => Progress {
                fetch_completed_ms: self.issuers[*issuer].fetch.last_completed_ms,
                refresh: None,
            },
            Wait::Refresh(session) => Progress {
                fetch_completed_ms: 0,
                refresh: board::lookup(host, &self.prefix, &session.sid, now_ms),
            },
        }
    }
}

fn inputs_of<'a>(
    config: &'a Config,
    issuers: &'a [IssuerView],
    keys: Option<&'a KeySet>,
    now_ms: u64,
) -> Inputs<'a> {
    Inputs {
        config,
        discovery: issuers.first().and_then(|i| i.discovery.as_ref()),
        keys,
        now_ms,
    }
}
