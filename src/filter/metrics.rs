//! Defines every metric when the filter starts (`core::metrics` names them), so that Envoy
//! shows each at zero from the first scrape and counting one later needs no name.

use crate::config::Config;
use crate::core::metrics::{self, CallKind, IssuerMetrics, KEY_WAIT_HISTOGRAM, REVOCATION_ENTRIES};
use crate::filter::host::{Host, MetricKind};

pub fn define_all(host: &mut impl Host, config: &Config, issuers: &[IssuerMetrics]) {
    for (prefix, label) in metrics::counters() {
        host.define_counter(
            prefix,
            label,
            &metrics::counter_name(prefix, label, config.mode),
        );
    }
    // The key age gauge appears with the first keys: before them there is no age to show.
    for issuer in issuers {
        host.define(MetricKind::Counter, &issuer.fetch_ok);
        host.define(MetricKind::Counter, &issuer.fetch_failed);
        host.define(MetricKind::Gauge, &issuer.keys);
    }
    for kind in CallKind::ALL {
        host.define(MetricKind::Histogram, kind.histogram());
    }
    host.define(MetricKind::Histogram, KEY_WAIT_HISTOGRAM);
    host.define(MetricKind::Gauge, REVOCATION_ENTRIES);
}
