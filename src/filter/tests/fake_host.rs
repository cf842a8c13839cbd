//! A fake Envoy for native tests: one process's shared data, metrics and clock, several
//! HTTP contexts (their request headers, replies, resumes), and the calls they dispatched.

use std::collections::HashMap;

use crate::core::flow::{CallResponse, Level, Reply};
use crate::core::header_map;
use crate::filter::host::{Host, MetricKind};

#[derive(Debug, Clone)]
pub struct Dispatched {
    pub token: u32,
    /// The context that sent it (0: the root context).
    pub context: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Dispatched {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct FakeHost {
    pub now_ms: u64,
    random: std::cell::Cell<u8>,
    pub no_randomness: bool,
    pub logs: Vec<(Level, String)>,
    /// The current HTTP context (0: none, the root).
    pub current: u32,
    pub request_headers: HashMap<u32, Vec<(String, Vec<u8>)>>,
    pub request_bodies: HashMap<u32, Vec<u8>>,
    pub response_headers: HashMap<u32, Vec<(String, String)>>,
    /// Each context's Envoy filter state, by key as the filter named it.
    pub filter_state: HashMap<u32, HashMap<String, String>>,
    /// Envoy refuses filter state writes (another filter declared the keys read-only).
    pub refuse_filter_state: bool,
    pub replies: HashMap<u32, Reply>,
    pub resumed: Vec<u32>,
    /// Contexts that no longer exist (their client went away).
    pub gone: Vec<u32>,
    pub calls: Vec<Dispatched>,
    next_token: u32,
    /// The answer `call_response` reads next.
    pub answer: Option<CallResponse>,
    shared: HashMap<String, (Vec<u8>, u32)>,
    /// Another worker's write that lands between this worker's next read and its write.
    pub write_in_between: Option<(String, Vec<u8>)>,
    /// Per-request counters by `<prefix>.<label>`, the others by name.
    pub counters: HashMap<String, u64>,
    pub gauges: HashMap<String, u64>,
    pub histograms: HashMap<String, Vec<u64>>,
    /// Every metric defined, by the name Envoy shows after `wasmcustom.oidc_gate.`.
    pub defined: HashMap<String, MetricKind>,
    labelled: HashMap<(&'static str, &'static str), String>,
    /// Envoy's log level lets debug lines through.
    pub debug: bool,
    pub tick_ms: u64,
}

impl FakeHost {
    pub fn new(now_ms: u64) -> FakeHost {
        FakeHost {
            now_ms,
            ..FakeHost::default()
        }
    }

    /// The shared-data key containing `part`, and its value.
    pub fn shared_entry(&self, part: &str) -> Option<(String, Vec<u8>)> {
        self.shared
            .iter()
            .find(|(key, _)| key.contains(part))
            .map(|(key, (value, _))| (key.clone(), value.clone()))
    }

    /// A request arrives on `context` with these headers.
    pub fn request(&mut self, context: u32, headers: &[(&str, &str)]) {
        let headers = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        self.request_headers.insert(context, headers);
        self.current = context;
    }

    /// The header `name` of `context`'s request as it goes upstream.
    pub fn upstream_header(&self, context: u32, name: &str) -> Option<String> {
        self.request_headers[&context]
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// The last call dispatched.
    pub fn last_call(&self) -> &Dispatched {
        self.calls.last().expect("a call was dispatched")
    }
}

impl Host for FakeHost {
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn fill_random(&self, bytes: &mut [u8]) -> bool {
        for b in bytes.iter_mut() {
            self.random.set(self.random.get().wrapping_add(1));
            *b = self.random.get();
        }
        !self.no_randomness
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_string()));
    }

    fn request_headers(&mut self) -> Vec<u8> {
        let headers = &self.request_headers[&self.current];
        let pairs: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_slice()))
            .collect();
        header_map::serialize(&pairs)
    }

    fn request_body(&mut self, size: usize, max: usize) -> Vec<u8> {
        let body = self
            .request_bodies
            .get(&self.current)
            .cloned()
            .unwrap_or_default();
        body[..size.min(max).min(body.len())].to_vec()
    }

    fn set_request_header(&mut self, name: &str, value: Option<&[u8]>) {
        let headers = self.request_headers.entry(self.current).or_default();
        headers.retain(|(n, _)| n != name);
        if let Some(value) = value {
            headers.push((name.to_string(), value.to_vec()));
        }
    }

    fn add_response_header(&mut self, name: &str, value: &str) {
        let headers = self.response_headers.entry(self.current).or_default();
        headers.push((name.to_string(), value.to_string()));
    }

    fn set_filter_state(&mut self, key: &str, value: &[u8]) -> bool {
        if self.refuse_filter_state {
            return false;
        }
        let state = self.filter_state.entry(self.current).or_default();
        state.insert(key.to_string(), String::from_utf8_lossy(value).into_owned());
        true
    }

    fn send_reply(&mut self, reply: &Reply) -> Result<(), String> {
        let previous = self.replies.insert(self.current, reply.clone());
        assert!(
            previous.is_none(),
            "context {} answered twice",
            self.current
        );
        Ok(())
    }

    fn resume_request(&mut self) {
        self.resumed.push(self.current);
    }

    fn set_effective_context(&mut self, context_id: u32) -> bool {
        if self.gone.contains(&context_id) {
            return false;
        }
        self.current = context_id;
        true
    }

    fn dispatch(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        _timeout_ms: u64,
    ) -> Result<u32, String> {
        if cluster == "missing" {
            return Err("BadArgument".into());
        }
        self.next_token += 1;
        self.calls.push(Dispatched {
            token: self.next_token,
            context: self.current,
            cluster: cluster.to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.map(<[u8]>::to_vec),
        });
        Ok(self.next_token)
    }

    fn call_response(&mut self, _header_count: usize, _body_size: usize) -> CallResponse {
        self.answer.take().unwrap_or_default()
    }

    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        match self.shared.get(key) {
            Some((value, cas)) => (Some(value.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn shared_set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        if let Some((other_key, other_value)) = self.write_in_between.take() {
            self.shared_put(&other_key, &other_value);
        }
        let current = self.shared.get(key).map(|(_, c)| *c);
        if cas != current {
            return false;
        }
        self.shared_put(key, value);
        true
    }

    fn shared_put(&mut self, key: &str, value: &[u8]) {
        let next = self.shared.get(key).map_or(1, |(_, c)| c + 1);
        self.shared.insert(key.to_string(), (value.to_vec(), next));
    }

    fn debug_enabled(&self) -> bool {
        self.debug
    }

    fn define(&mut self, kind: MetricKind, name: &str) {
        self.defined.insert(name.to_string(), kind);
    }

    fn define_counter(&mut self, prefix: &'static str, label: &'static str, name: &str) {
        self.define(MetricKind::Counter, name);
        self.labelled.insert((prefix, label), name.to_string());
    }

    /// Counted by `<prefix>.<label>`; counting one the filter did not define fails the test,
    /// as Envoy would show no such counter.
    fn increment(&mut self, prefix: &'static str, label: &'static str) {
        assert!(
            self.labelled.contains_key(&(prefix, label)),
            "counter {prefix}.{label} was not defined at configure time"
        );
        let name = if label.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{label}")
        };
        *self.counters.entry(name).or_default() += 1;
    }

    fn increment_named(&mut self, name: &str) {
        assert!(
            self.defined.contains_key(name),
            "counter {name} not defined"
        );
        *self.counters.entry(name.to_string()).or_default() += 1;
    }

    fn set_gauge(&mut self, name: &str, value: u64) {
        self.gauges.insert(name.to_string(), value);
    }

    fn record(&mut self, name: &str, value: u64) {
        assert!(
            self.defined.contains_key(name),
            "histogram {name} not defined"
        );
        self.histograms
            .entry(name.to_string())
            .or_default()
            .push(value);
    }

    fn set_tick_ms(&mut self, period_ms: u64) -> bool {
        self.tick_ms = period_ms;
        true
    }
}
