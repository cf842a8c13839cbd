//! The names of the filter's metrics. Envoy shows them as `wasmcustom.oidc_gate.<name>`;
//! what varies (reason, issuer, mode, call kind) is a `.<tag>.<value>` pair in the name that
//! the `stats_tags` of `envoy/*.yaml` turn into a Prometheus label, so that
//! `oidc_gate.denied.reason.expired.mode.enforce` is scraped as
//! `…_oidc_gate_denied{reason="expired",mode="enforce"}`. Every name is known when the
//! filter starts, so every metric is defined then and exists at zero.

use crate::config::{Config, Mode};
use crate::core::decide::AllowReason;
use crate::core::reasons;

#[cfg(test)]
mod tests;

/// Refusals of a back-channel logout token besides the token's own (`core::jwt`) reasons.
const LOGOUT_TOKEN_REASONS: &[&str] = &[
    "accepted",
    "keys_unavailable",
    "logout_token_missing",
    "logout_token_too_old",
    "logout_token_missing_jti",
    "logout_token_missing_event",
    "logout_token_missing_sid_and_sub",
    "logout_token_has_nonce",
    "logout_token_replayed",
];

/// The per-request counters whose label is not a tag: `<prefix>.<label>`.
const PLAIN: &[(&str, &str)] = &[
    ("login", "started"),
    ("login", "completed"),
    ("logout", ""),
    ("audit", "passed_instead"),
    ("session", "refreshed"),
    ("session", "refresh_deferred"),
    ("session", "refresh_failed"),
    ("session", "forward_token_dropped"),
    ("opaque_check", "active"),
    ("opaque_check", "inactive"),
    ("opaque_check", "unanswered"),
    ("revocation", "added"),
    ("revocation", "slot_full"),
    ("token_revocation", "ok"),
    ("token_revocation", "failed"),
];

/// The statuses of the filter's own error replies, each an `error_replies` counter label.
const ERROR_STATUSES: &[&str] = &["400", "401", "403", "500", "502", "503"];

/// The `error_replies` label of a reply's status; `None` for statuses that are no error
/// (redirects) or that the filter never sends.
pub fn error_status_label(status: u16) -> Option<&'static str> {
    ERROR_STATUSES
        .iter()
        .find(|label| label.parse() == Ok(status))
        .copied()
}

/// Kinds of IdP call, each the `kind` of an `idp_call_ms` histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Discovery,
    Jwks,
    /// A code exchange or a session refresh at the token endpoint.
    Token,
    Userinfo,
    /// A question about an opaque token (introspection, or userinfo standing in for it).
    Introspection,
    Revocation,
}

impl CallKind {
    pub const ALL: [CallKind; 6] = [
        CallKind::Discovery,
        CallKind::Jwks,
        CallKind::Token,
        CallKind::Userinfo,
        CallKind::Introspection,
        CallKind::Revocation,
    ];

    /// The histogram of this kind's call latency, in milliseconds.
    pub fn histogram(self) -> &'static str {
        match self {
            CallKind::Discovery => "idp_call_ms.kind.discovery",
            CallKind::Jwks => "idp_call_ms.kind.jwks",
            CallKind::Token => "idp_call_ms.kind.token",
            CallKind::Userinfo => "idp_call_ms.kind.userinfo",
            CallKind::Introspection => "idp_call_ms.kind.introspection",
            CallKind::Revocation => "idp_call_ms.kind.revocation",
        }
    }
}

/// Gauge: live entries in the revocation list.
pub const REVOCATION_ENTRIES: &str = "revocation.entries";

/// Time a request was held waiting for an issuer's keys, in milliseconds.
pub const KEY_WAIT_HISTOGRAM: &str = "key_wait_ms";

/// Every per-request counter, as `(prefix, label)` the flows count it by.
pub fn counters() -> Vec<(&'static str, &'static str)> {
    let denied = reasons::all().map(|(label, _)| ("denied", label));
    let allowed = AllowReason::ALL.iter().map(|r| ("allowed", r.label()));
    let token_reasons = reasons::TOKEN.iter().map(|(label, _)| *label);
    let backchannel = LOGOUT_TOKEN_REASONS.iter().copied().chain(token_reasons);
    denied
        .chain(allowed)
        .chain(backchannel.map(|label| ("backchannel_logout", label)))
        .chain(
            ERROR_STATUSES
                .iter()
                .map(|status| ("error_replies", *status)),
        )
        .chain(PLAIN.iter().copied())
        .collect()
}

/// The metric name of a per-request counter: refusals and passes carry the reason and the
/// mode as tags, back-channel logouts the reason, error replies their status.
pub fn counter_name(prefix: &str, label: &str, mode: Mode) -> String {
    match prefix {
        "denied" | "allowed" => format!("{prefix}.reason.{label}.mode.{}", mode_label(mode)),
        "backchannel_logout" => format!("{prefix}.reason.{label}"),
        "error_replies" => format!("{prefix}.status.{label}"),
        _ if label.is_empty() => prefix.to_string(),
        _ => format!("{prefix}.{label}"),
    }
}

fn mode_label(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Audit => "audit",
    }
}

/// The metrics of one issuer, named by its `name` (`issuer.<name>.…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerMetrics {
    pub fetch_ok: String,
    pub fetch_failed: String,
    /// Gauge: keys in the last JWKS fetched.
    pub keys: String,
    /// Gauge: seconds since the keys were last fetched.
    pub age_seconds: String,
}

impl IssuerMetrics {
    pub fn new(name: &str) -> IssuerMetrics {
        let base = format!("issuer.{name}");
        IssuerMetrics {
            fetch_ok: format!("{base}.jwks_fetch_ok"),
            fetch_failed: format!("{base}.jwks_fetch_failed"),
            keys: format!("{base}.jwks_keys"),
            age_seconds: format!("{base}.jwks_age_seconds"),
        }
    }

    pub fn of(config: &Config) -> Vec<IssuerMetrics> {
        config
            .issuers
            .iter()
            .map(|issuer| IssuerMetrics::new(&issuer.name))
            .collect()
    }
}
