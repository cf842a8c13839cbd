//! Small wrappers over host calls that the SDK would `unwrap`.

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::{LogLevel, MapType};

use crate::config::Config;
use crate::core::callout;

pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

pub fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, &format!("oidc-gate: {message}"));
}

/// The `:status` of a dispatched call's answer; `None` when there is none (timeout, reset,
/// connection failure). Envoy then reports no headers, and reading the absent map would make
/// the SDK panic ("unexpected status: 2"), so the count is checked first.
pub fn call_response_status(header_count: usize) -> Option<Vec<u8>> {
    if header_count == 0 {
        return None;
    }
    hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
        .ok()
        .flatten()
}

/// A random non-zero id for this VM, to tell lease holders apart.
pub fn random_id() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        bytes = now_ms().to_le_bytes();
    }
    u64::from_le_bytes(bytes) | 1
}

/// An HTTP call to the IdP: through `cluster`, or the one `idp_clusters` names for the URL's
/// host. Returns the call's token; the answer arrives in `on_http_call_response`.
pub fn dispatch(
    config: &Config,
    cluster: &str,
    method: &str,
    url: &str,
    extra_headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<u32, String> {
    let target = callout::target(url, cluster, &config.idp_clusters)
        .ok_or_else(|| format!("{url:?} is not an http(s) URL"))?;
    let mut headers = vec![
        (":method", method),
        (":path", target.path.as_str()),
        (":authority", target.authority.as_str()),
        (":scheme", target.scheme),
        ("accept", "application/json"),
        ("user-agent", "oidc-gate"),
    ];
    headers.extend_from_slice(extra_headers);
    let timeout = Duration::from_millis(config.idp_timeout_ms);
    hostcalls::dispatch_http_call(&target.cluster, headers, body, vec![], timeout).map_err(
        |status| {
            format!(
                "cannot call cluster {:?} ({status:?}); is it defined in Envoy?",
                target.cluster
            )
        },
    )
}
