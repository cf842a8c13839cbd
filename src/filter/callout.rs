//! Calls to the IdP, routed by `core::callout`: through the issuer's cluster, or the one
//! `idp_clusters` names for the URL's host.

use crate::config::Config;
use crate::core::callout;
use crate::core::flow::Call;
use crate::filter::host::Host;

/// Sends `call` through `cluster` (or the one `idp_clusters` names); returns the call's
/// token, and the answer arrives in the context that sent it.
pub fn send(
    host: &mut impl Host,
    config: &Config,
    cluster: &str,
    call: &Call,
) -> Result<u32, String> {
    let target = callout::target(&call.url, cluster, &config.idp_clusters)
        .ok_or_else(|| format!("{:?} is not an http(s) URL", call.url))?;
    let mut headers = vec![
        (":method", call.method),
        (":path", target.path.as_str()),
        (":authority", target.authority.as_str()),
        (":scheme", target.scheme),
        ("accept", "application/json"),
        ("user-agent", "oidc-gate"),
    ];
    headers.extend(call.headers.iter().map(|(n, v)| (*n, v.as_str())));
    let body = call.body.as_deref().map(str::as_bytes);
    host.dispatch(&target.cluster, &headers, body, config.idp_timeout_ms)
        .map_err(|status| {
            format!(
                "cannot call cluster {:?} ({status}); is it defined in Envoy?",
                target.cluster
            )
        })
}
