//! The proxy-wasm binding: the only file that imports `proxy_wasm`. `ProxyHost` implements
//! [`Host`] with host calls, and the contexts hand each host callback to `Root` or `Stream`.

use std::cell::RefCell;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};
use rustc_hash::FxHashMap;

use crate::core::flow::{CallResponse, Level, Reply};
use crate::filter::executor::Verdict;
use crate::filter::host::{Host, MetricKind, MAX_CALL_BODY_BYTES};

/// The compare-and-swap token a write passes when it read the key as absent. The host inserts
/// an absent key whatever the token, but checks it against a present one, and a token of 0
/// would mean "unconditionally": so two workers that both read a key as absent would both
/// win. The host numbers writes from 1 with one process-wide counter, so this token matches a
/// present key only after four billion writes, and then only the key written last at that
/// moment.
const ABSENT_CAS: u32 = u32::MAX;
use crate::filter::root::Root;
use crate::filter::stream::Stream;

pub fn install() {
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(RootBinding(Root::new(&mut ProxyHost)))
    });
}

/// Envoy, through proxy-wasm host calls. Errors the SDK would `unwrap` are handled here.
pub struct ProxyHost;

thread_local! {
    /// Metric ids by name, defined on first use.
    static METRICS: RefCell<FxHashMap<String, u32>> = RefCell::new(FxHashMap::default());
    /// The per-request counters, by (prefix, label): found without building a name or
    /// hashing it.
    static LABELLED: RefCell<FxHashMap<(&'static str, &'static str), u32>> =
        RefCell::new(FxHashMap::default());
}

/// The id of metric `name` (Envoy shows it as `wasmcustom.oidc_gate.<name>`).
fn metric_id(kind: MetricType, name: &str) -> Option<u32> {
    METRICS.with(|ids| {
        let mut ids = ids.try_borrow_mut().ok()?;
        if let Some(id) = ids.get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, &format!("oidc_gate.{name}")).ok()?;
        ids.insert(name.to_string(), id);
        Some(id)
    })
}

/// Every per-request counter is defined at configure time (`Root::configure`).
fn labelled_id(prefix: &'static str, label: &'static str) -> Option<u32> {
    LABELLED.with(|ids| ids.try_borrow().ok()?.get(&(prefix, label)).copied())
}

fn metric_type(kind: MetricKind) -> MetricType {
    match kind {
        MetricKind::Counter => MetricType::Counter,
        MetricKind::Gauge => MetricType::Gauge,
        MetricKind::Histogram => MetricType::Histogram,
    }
}

impl Host for ProxyHost {
    fn now_ms(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// WASI `random_get` (BoringSSL's RAND_bytes in Envoy).
    fn fill_random(&self, bytes: &mut [u8]) -> bool {
        getrandom::getrandom(bytes).is_ok()
    }

    fn log(&mut self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        let _ = hostcalls::log(level, &format!("oidc-gate: {message}"));
    }

    fn request_headers(&mut self) -> Vec<u8> {
        abi::header_map_bytes(MapType::HttpRequestHeaders as u32).unwrap_or_default()
    }

    fn request_body(&mut self, size: usize, max: usize) -> Vec<u8> {
        hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size.min(max))
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn set_request_header(&mut self, name: &str, value: Option<&[u8]>) {
        let _ = hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, value);
    }

    fn add_response_header(&mut self, name: &str, value: &str) {
        let _ = hostcalls::add_map_value(MapType::HttpResponseHeaders, name, value);
    }

    fn set_filter_state(&mut self, key: &str, value: &[u8]) -> bool {
        abi::set_property(key, value)
    }

    fn send_reply(&mut self, reply: &Reply) -> Result<(), String> {
        let headers = reply
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let body = Some(reply.body.as_bytes());
        hostcalls::send_http_response(u32::from(reply.status), headers, body)
            .map_err(|status| format!("{status:?}"))
    }

    fn resume_request(&mut self) {
        let _ = hostcalls::resume_http_request();
    }

    fn set_effective_context(&mut self, context_id: u32) -> bool {
        hostcalls::set_effective_context(context_id).is_ok()
    }

    fn dispatch(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout_ms: u64,
    ) -> Result<u32, String> {
        let timeout = Duration::from_millis(timeout_ms);
        hostcalls::dispatch_http_call(cluster, headers.to_vec(), body, vec![], timeout)
            .map_err(|status| format!("{status:?}"))
    }

    /// Without headers there was no answer (timeout, reset, connection failure): Envoy then
    /// has no header map, and reading it would make the SDK panic, so the count is checked
    /// first.
    fn call_response(&mut self, header_count: usize, body_size: usize) -> CallResponse {
        if header_count == 0 {
            return CallResponse::default();
        }
        let status = hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten();
        let read = body_size.min(MAX_CALL_BODY_BYTES + 1);
        let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, read)
            .ok()
            .flatten()
            .unwrap_or_default();
        CallResponse { status, body }
    }

    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        hostcalls::get_shared_data(key).unwrap_or((None, None))
    }

    fn shared_set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        let cas = cas.unwrap_or(ABSENT_CAS);
        hostcalls::set_shared_data(key, Some(value), Some(cas)).is_ok()
    }

    fn shared_put(&mut self, key: &str, value: &[u8]) {
        let _ = hostcalls::set_shared_data(key, Some(value), None);
    }

    fn debug_enabled(&self) -> bool {
        hostcalls::get_log_level().is_ok_and(|level| level as u32 <= LogLevel::Debug as u32)
    }

    fn define(&mut self, kind: MetricKind, name: &str) {
        let _ = metric_id(metric_type(kind), name);
    }

    fn define_counter(&mut self, prefix: &'static str, label: &'static str, name: &str) {
        if let Some(id) = metric_id(MetricType::Counter, name) {
            LABELLED.with(|ids| ids.try_borrow_mut().ok()?.insert((prefix, label), id));
        }
    }

    fn increment(&mut self, prefix: &'static str, label: &'static str) {
        if let Some(id) = labelled_id(prefix, label) {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    fn increment_named(&mut self, name: &str) {
        if let Some(id) = metric_id(MetricType::Counter, name) {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    fn set_gauge(&mut self, name: &str, value: u64) {
        if let Some(id) = metric_id(MetricType::Gauge, name) {
            let _ = hostcalls::record_metric(id, value);
        }
    }

    fn record(&mut self, name: &str, value: u64) {
        if let Some(id) = metric_id(MetricType::Histogram, name) {
            let _ = hostcalls::record_metric(id, value);
        }
    }

    fn set_tick_ms(&mut self, period_ms: u64) -> bool {
        hostcalls::set_tick_period(Duration::from_millis(period_ms)).is_ok()
    }
}

/// Reads a whole header map as raw bytes. The SDK's `get_http_request_headers*` helpers
/// `unwrap` a UTF-8 conversion of each header name, so one odd byte from a client would trap
/// the VM; we call the same ABI function ourselves, and `core::header_map` reads the result
/// in place.
#[allow(unsafe_code)]
mod abi {
    #[link(wasm_import_module = "env")]
    extern "C" {
        fn proxy_get_header_map_pairs(
            map_type: u32,
            return_map_data: *mut *mut u8,
            return_map_size: *mut usize,
        ) -> u32;
        fn proxy_set_property(
            path_data: *const u8,
            path_size: usize,
            value_data: *const u8,
            value_size: usize,
        ) -> u32;
    }

    /// `proxy_set_property` with a one-element path (Envoy stores it as filter state
    /// `wasm.<key>`). The SDK's `set_property` panics on any status but Ok, which Envoy
    /// answers when another plugin declared the key read-only and set it first: so it is
    /// called directly.
    pub fn set_property(key: &str, value: &[u8]) -> bool {
        // SAFETY: both buffers are live for the call, which only reads them.
        unsafe { proxy_set_property(key.as_ptr(), key.len(), value.as_ptr(), value.len()) == 0 }
    }

    /// The serialized map, owned; memory came from the SDK's exported allocator (a `Vec`).
    pub fn header_map_bytes(map_type: u32) -> Option<Vec<u8>> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: the host writes a pointer to `size` bytes it allocated through
        // `proxy_on_memory_allocate` (a Vec with that capacity), which we take ownership of.
        unsafe {
            if proxy_get_header_map_pairs(map_type, &mut data, &mut size) != 0 || data.is_null() {
                return None;
            }
            Some(Vec::from_raw_parts(data, size, size))
        }
    }
}

struct RootBinding(Root);

impl Context for RootBinding {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body: usize, _: usize) {
        self.0
            .on_call_response(&mut ProxyHost, token, headers, body);
    }
}

impl RootContext for RootBinding {
    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        self.0.configure(&mut ProxyHost, &raw, &env)
    }

    fn on_tick(&mut self) {
        self.0.on_tick(&mut ProxyHost);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let stream = self.0.new_stream(context_id)?;
        Some(Box::new(StreamBinding(stream)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct StreamBinding(Stream);

impl Context for StreamBinding {
    fn on_http_call_response(&mut self, _token: u32, headers: usize, body: usize, _: usize) {
        self.0.on_call_response(&mut ProxyHost, headers, body);
    }
}

impl HttpContext for StreamBinding {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        action(self.0.on_request_headers(&mut ProxyHost, end_of_stream))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(
            self.0
                .on_request_body(&mut ProxyHost, body_size, end_of_stream),
        )
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        self.0.on_response_headers(&mut ProxyHost);
        Action::Continue
    }
}

fn action(verdict: Verdict) -> Action {
    match verdict {
        Verdict::Continue => Action::Continue,
        Verdict::Pause => Action::Pause,
    }
}

impl Drop for StreamBinding {
    fn drop(&mut self) {
        self.0.on_done(&mut ProxyHost);
    }
}
