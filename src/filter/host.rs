//! Everything the filter asks of Envoy, as one trait: `wasm::ProxyHost` implements it with
//! proxy-wasm host calls, the native tests with a fake Envoy. Calls that concern "the
//! request" act on the current HTTP context (see `set_effective_context`).

use crate::core::flow::{CallResponse, Level, Reply};
use crate::core::login::Random;

/// An IdP answer's body is read up to one byte past this; longer ones are refused.
pub const MAX_CALL_BODY_BYTES: usize = 256 * 1024;

pub trait Host {
    /// Wall-clock time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Fills `bytes` from the host's CSPRNG; `false` when it cannot.
    fn fill_random(&self, bytes: &mut [u8]) -> bool;
    fn log(&mut self, level: Level, message: &str);

    /// The current request's headers, serialized as `core::header_map` reads them.
    fn request_headers(&mut self) -> Vec<u8>;
    /// The current request's body received so far, up to `max` bytes.
    fn request_body(&mut self, size: usize, max: usize) -> Vec<u8>;
    /// Replaces (or with `None` removes) a request header of the current request.
    fn set_request_header(&mut self, name: &str, value: Option<&[u8]>);
    fn add_response_header(&mut self, name: &str, value: &str);
    /// Stores `value` in the current request's Envoy filter state under `key` (Envoy names it
    /// `wasm.<key>`), where later filters (RBAC) and the access log read it, replacing what
    /// was there; `false` when Envoy refused.
    fn set_filter_state(&mut self, key: &str, value: &[u8]) -> bool;
    /// Answers the current request here instead of sending it upstream.
    fn send_reply(&mut self, reply: &Reply) -> Result<(), String>;
    /// Lets a paused current request go on upstream.
    fn resume_request(&mut self);
    /// Makes `context_id` the current request (to answer a held one); `false` when it is gone.
    fn set_effective_context(&mut self, context_id: u32) -> bool;

    /// Sends an HTTP call through `cluster`; returns its token, and the answer arrives later
    /// through the context that sent it.
    fn dispatch(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout_ms: u64,
    ) -> Result<u32, String>;
    /// The answer to a dispatched call, as the host announced it (`header_count` 0: none);
    /// the body is read up to `MAX_CALL_BODY_BYTES + 1` bytes.
    fn call_response(&mut self, header_count: usize, body_size: usize) -> CallResponse;

    /// A shared-data value and its compare-and-swap token.
    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    /// Writes a shared-data value if it is unchanged since `shared_get` answered `cas`
    /// (`None`: the key was absent, and must still be); `false` when another writer came
    /// first.
    fn shared_set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool;
    /// Writes a shared-data value whatever is there.
    fn shared_put(&mut self, key: &str, value: &[u8]);

    /// Envoy logs this plugin's debug lines (its `wasm` log level is `debug` or lower).
    fn debug_enabled(&self) -> bool;

    /// Defines metric `name` at zero, so that it is scraped before it first changes.
    fn define(&mut self, kind: MetricKind, name: &str);
    /// Defines the per-request counter the flows count as `(prefix, label)` under `name`,
    /// so that counting it needs no name built or looked up.
    fn define_counter(&mut self, prefix: &'static str, label: &'static str, name: &str);
    /// The counter defined for `(prefix, label)` += 1.
    fn increment(&mut self, prefix: &'static str, label: &'static str);
    /// A counter named at configure time (per issuer) += 1.
    fn increment_named(&mut self, name: &str);
    fn set_gauge(&mut self, name: &str, value: u64);
    /// Records `value` in histogram `name`.
    fn record(&mut self, name: &str, value: u64);
    /// Sets the root context's tick period; `false` when the host refused.
    fn set_tick_ms(&mut self, period_ms: u64) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// The host's randomness, as the core reads it.
pub struct HostRandom<'a, H: Host>(pub &'a H);

impl<H: Host> Random for HostRandom<'_, H> {
    fn fill(&mut self, bytes: &mut [u8]) -> bool {
        self.0.fill_random(bytes)
    }
}

/// A random non-zero id (a VM, a refresh lease holder).
pub fn random_id(host: &impl Host) -> u64 {
    let mut bytes = [0u8; 8];
    if !host.fill_random(&mut bytes) {
        bytes = host.now_ms().to_le_bytes();
    }
    u64::from_le_bytes(bytes) | 1
}
