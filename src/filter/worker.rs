//! State of one worker VM, shared by its root context and its HTTP contexts, and the code
//! that turns a [`Decision`] into host calls on the current HTTP context.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, LogLevel, MapType};

use crate::config::Config;
use crate::core::decide::{decide, Decision, Deny, OnUnknownKid, Request, Verifier};
use crate::core::discovery::{self, Discovery};
use crate::core::jwks::KeySet;
use crate::core::key_fetch::FetchState;
use crate::core::refresh_board::Outcome;
use crate::core::{cookies, header_names, session};
use crate::filter::headers::HeaderMap;
use crate::filter::{board, host, metrics};

/// Requests one worker will hold while waiting for keys; beyond this they are answered at once.
const MAX_PARKED: usize = 2048;

/// Shared-data keys of one issuer. Istio sets no `vm_id`, so every plugin in the process
/// shares one namespace: keys carry our name, a format version, and the key source.
#[derive(Debug, Clone)]
pub struct SharedKeys {
    pub state: String,
    pub jwks: String,
    pub discovery: String,
}

impl SharedKeys {
    fn new(issuer: &str, jwks_uri: Option<&str>) -> SharedKeys {
        let base = format!("oidc-gate.v1|{issuer}|{}", jwks_uri.unwrap_or("discovery"));
        SharedKeys {
            state: format!("{base}|state"),
            jwks: format!("{base}|jwks"),
            discovery: format!("{base}|discovery"),
        }
    }
}

/// What this worker knows of one issuer.
#[derive(Default)]
pub struct IssuerView {
    /// The JWKS bytes `keys` was parsed from, to notice when shared data changes.
    jwks_bytes: Vec<u8>,
    discovery_bytes: Vec<u8>,
    pub discovery: Option<Discovery>,
    pub fetch: FetchState,
}

#[derive(Debug)]
pub enum Wait {
    Keys,
    Refetch {
        issuer: usize,
        since_ms: u64,
    },
    /// Another request (of any worker) is refreshing this session; the refresh board says
    /// when it is done.
    Refresh {
        sid: String,
    },
}

#[derive(Debug)]
pub struct Parked {
    pub request: Request,
    pub wait: Wait,
    pub deadline_ms: u64,
}

pub struct Worker {
    pub config: Rc<Config>,
    pub shared: Vec<SharedKeys>,
    pub verifier: Verifier,
    pub issuers: Vec<IssuerView>,
    pub parked: BTreeMap<u32, Parked>,
    /// Shared-data key prefix of the refresh board (`core::refresh_board`).
    pub board: String,
    /// `Set-Cookie` values for the responses of resumed requests, by context.
    pub pending_cookies: HashMap<u32, Vec<String>>,
}

impl Worker {
    pub fn new(config: Config) -> Worker {
        let shared = config
            .issuers
            .iter()
            .map(|i| SharedKeys::new(&i.issuer, i.jwks_uri.as_deref()))
            .collect();
        let count = config.issuers.len();
        let board = format!(
            "oidc-gate.v1|{}|{}",
            config.issuers[0].issuer, config.session.cookie_name
        );
        Worker {
            config: Rc::new(config),
            shared,
            verifier: Verifier::new(count),
            issuers: (0..count).map(|_| IssuerView::default()).collect(),
            parked: BTreeMap::new(),
            board,
            pending_cookies: HashMap::new(),
        }
    }

    /// Picks up keys and fetch state that any worker of this process published.
    pub fn sync_from_shared(&mut self) {
        for index in 0..self.issuers.len() {
            self.sync_issuer(index);
        }
    }

    fn sync_issuer(&mut self, index: usize) {
        let shared = &self.shared[index];
        let view = &mut self.issuers[index];
        view.fetch = FetchState::decode(shared_bytes(&shared.state).as_deref());
        if let Some(bytes) = shared_bytes(&shared.jwks) {
            if bytes != view.jwks_bytes {
                // Only validated sets are published, so a parse failure here means a
                // different plugin version wrote it: keep what we have.
                if let Ok(set) = KeySet::parse(&bytes) {
                    self.verifier.set_keys(index, set);
                    view.jwks_bytes = bytes;
                }
            }
        }
        if let Some(bytes) = shared_bytes(&shared.discovery) {
            if bytes != view.discovery_bytes {
                let issuer = &self.config.issuers[index].issuer;
                view.discovery = discovery::parse(&bytes, issuer).ok();
                view.discovery_bytes = bytes;
            }
        }
    }

    /// A login can start once the IdP's authorization endpoint is known.
    pub fn login_ready(&self) -> bool {
        self.config.authorization_endpoint.is_some()
            || self.issuers[0]
                .discovery
                .as_ref()
                .is_some_and(|d| d.authorization_endpoint.is_some())
    }

    /// Requests are held here, or some issuer has no keys yet.
    pub fn is_waiting(&self) -> bool {
        !self.parked.is_empty() || self.verifier.keys.iter().any(Option::is_none)
    }

    pub fn has_room_to_park(&self) -> bool {
        self.parked.len() < MAX_PARKED
    }

    /// Holds a request until keys arrive (callers check `has_room_to_park` first).
    pub fn park(&mut self, context_id: u32, request: Request, wait: Wait, deadline_ms: u64) {
        let parked = Parked {
            request,
            wait,
            deadline_ms,
        };
        self.parked.insert(context_id, parked);
    }

    /// Decides a parked request again; `None` while it should keep waiting.
    fn redecide(&mut self, id: u32, parked: &Parked, now_ms: u64) -> Option<Decision> {
        let now_s = now_ms / 1000;
        let decision = match parked.wait {
            // Keys that just arrived are fresh: an unknown kid now is refused, not refetched.
            Wait::Keys => decide(
                &self.config,
                &parked.request,
                &mut self.verifier,
                now_s,
                OnUnknownKid::Refuse,
            ),
            Wait::Refetch { issuer, since_ms } => {
                if self.issuers[issuer].fetch.last_completed_ms < since_ms {
                    Decision::AwaitRefetch { issuer }
                } else {
                    decide(
                        &self.config,
                        &parked.request,
                        &mut self.verifier,
                        now_s,
                        OnUnknownKid::Refuse,
                    )
                }
            }
            Wait::Refresh { ref sid } => {
                return match board::lookup(&self.board, sid, now_ms) {
                    Some(Outcome::InFlight { .. }) if now_ms < parked.deadline_ms => None,
                    Some(refreshed @ Outcome::Refreshed { .. }) => {
                        let (identity, set_cookies) = refreshed.into_refreshed()?;
                        self.pending_cookies.insert(id, set_cookies);
                        Some(Decision::allow_session_as(identity))
                    }
                    Some(Outcome::Refused) if parked.request.navigation => {
                        Some(Decision::StartLogin)
                    }
                    Some(Outcome::Refused) => Some(Decision::Deny(Deny::refresh_failed())),
                    // The refresh failed transiently, or never finished: the session is still
                    // valid, so the request passes on it; a later request refreshes again.
                    _ => Some(
                        match decide(
                            &self.config,
                            &parked.request,
                            &mut self.verifier,
                            now_s,
                            OnUnknownKid::Refuse,
                        ) {
                            Decision::Refresh(session) => Decision::allow_session(*session),
                            other => other,
                        },
                    ),
                };
            }
        };
        let login_unready = matches!(decision, Decision::StartLogin) && !self.login_ready();
        match decision {
            _ if login_unready && now_ms < parked.deadline_ms => None,
            Decision::AwaitKeys { .. } | Decision::AwaitRefetch { .. }
                if now_ms < parked.deadline_ms =>
            {
                None
            }
            Decision::AwaitKeys { .. } => Some(Decision::keys_unavailable()),
            Decision::AwaitRefetch { .. } => {
                let config = &self.config;
                Some(decide(
                    config,
                    &parked.request,
                    &mut self.verifier,
                    now_s,
                    OnUnknownKid::Refuse,
                ))
            }
            other => Some(other),
        }
    }

    /// Takes out the parked requests that can be answered now.
    pub fn take_ready(&mut self, now_ms: u64) -> Vec<(u32, Request, Decision)> {
        let mut ready = Vec::new();
        let parked = std::mem::take(&mut self.parked);
        for (id, entry) in parked {
            match self.redecide(id, &entry, now_ms) {
                Some(decision) => ready.push((id, entry.request, decision)),
                None => {
                    self.parked.insert(id, entry);
                }
            }
        }
        ready
    }
}

fn shared_bytes(key: &str) -> Option<Vec<u8>> {
    hostcalls::get_shared_data(key)
        .ok()
        .and_then(|(bytes, _)| bytes)
}

/// Removes every request header an upstream could read as an identity header: each name that
/// folds to `userid_header` or `groups_header` (`kubeflow_userid`, `KUBEFLOW-USERID`, ...; see
/// `core::header_names`), removed by its exact name, every value. Most requests carry none,
/// and then no host call is spent.
pub fn strip_identity_headers(config: &Config, headers: &HeaderMap) {
    let identity = [config.userid_header.as_str(), config.groups_header.as_str()];
    let mut removed: Vec<&str> = Vec::new();
    for (name, _) in headers.pairs() {
        let spoofed = identity.iter().any(|id| header_names::folds_to(name, id));
        if spoofed && !removed.contains(&name) {
            let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None);
            removed.push(name);
        }
    }
}

/// Removes the filter's own cookies (session chunks, login flows) from what goes upstream,
/// joining the request's `Cookie` headers into one. A request that sent no cookies, or none
/// of ours, costs no host call.
pub fn strip_own_cookies(config: &Config, request: &Request) {
    let headers = || request.cookie_headers.iter().map(Vec::as_slice);
    let base = &config.session.cookie_name;
    let is_own = |name: &str| session::is_own_cookie(name, base);
    if !cookies::any_cookie(headers(), is_own) {
        return;
    }
    let kept = cookies::without_cookies(headers(), is_own);
    let _ = hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, "cookie", kept.as_deref());
}

/// Carries out a final decision on a request still at its headers (the current context).
pub fn answer(config: &Config, request: &Request, decision: &Decision) -> Action {
    if carry_out(config, request, decision) {
        Action::Continue
    } else {
        Action::Pause
    }
}

/// Carries out a final decision on a paused request (the current context), resuming it when
/// it goes upstream.
pub fn answer_paused(config: &Config, request: &Request, decision: &Decision) {
    if carry_out(config, request, decision) {
        let _ = hostcalls::resume_http_request();
    }
}

/// Carries out a final decision on the current HTTP context. Returns true when the request
/// should continue upstream, false when a local reply was sent.
pub fn carry_out(config: &Config, request: &Request, decision: &Decision) -> bool {
    match decision {
        Decision::Allow { identity, reason } => {
            strip_own_cookies(config, request);
            if let Some(identity) = identity {
                let groups = identity.groups.join(",");
                let _ = hostcalls::set_map_value(
                    MapType::HttpRequestHeaders,
                    &config.userid_header,
                    Some(&identity.userid),
                );
                let _ = hostcalls::set_map_value(
                    MapType::HttpRequestHeaders,
                    &config.groups_header,
                    Some(&groups),
                );
            }
            metrics::increment_labelled("allowed", reason.label());
            true
        }
        Decision::Deny(deny) => {
            metrics::increment_labelled("denied", deny.reason);
            let mut headers = vec![
                ("content-type", "text/plain; charset=utf-8"),
                ("cache-control", "no-store"),
            ];
            if let Some(value) = deny.www_authenticate {
                headers.push(("www-authenticate", value));
            }
            if let Err(status) = hostcalls::send_http_response(
                u32::from(deny.status),
                headers,
                Some(deny.body().as_bytes()),
            ) {
                host::log(
                    LogLevel::Warn,
                    &format!("could not send the {} reply: {status:?}", deny.status),
                );
            }
            false
        }
        // Waiting and browser flows are handled by the HTTP context itself; a request that
        // gets here (it could not wait) is answered as unavailable.
        _ => carry_out(config, request, &Decision::keys_unavailable()),
    }
}
