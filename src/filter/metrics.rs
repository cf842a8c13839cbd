//! Envoy stats, defined on first use. Envoy exposes them as `wasmcustom.oidc_gate.<name>`.

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use rustc_hash::FxHashMap;

thread_local! {
    static IDS: RefCell<HashMap<String, u32>> = RefCell::new(HashMap::new());
    /// The per-request counters, by (prefix, label): found without building a name or
    /// hashing it with SipHash.
    static LABELLED: RefCell<FxHashMap<(&'static str, &'static str), u32>> = RefCell::new(FxHashMap::default());
}

/// `<prefix>.<label>` += 1, for the counters every request touches.
pub fn increment_labelled(prefix: &'static str, label: &'static str) {
    let known = LABELLED.with(|ids| ids.try_borrow().ok()?.get(&(prefix, label)).copied());
    let id = known.or_else(|| {
        let id = id(MetricType::Counter, &format!("{prefix}.{label}"))?;
        LABELLED.with(|ids| {
            ids.try_borrow_mut()
                .ok()
                .map(|mut ids| ids.insert((prefix, label), id))
        });
        Some(id)
    });
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

pub fn increment(name: &str) {
    if let Some(id) = id(MetricType::Counter, name) {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

pub fn set_gauge(name: &str, value: u64) {
    if let Some(id) = id(MetricType::Gauge, name) {
        let _ = hostcalls::record_metric(id, value);
    }
}

fn id(kind: MetricType, name: &str) -> Option<u32> {
    IDS.with(|ids| {
        let mut ids = ids.try_borrow_mut().ok()?;
        if let Some(id) = ids.get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, &format!("oidc_gate.{name}")).ok()?;
        ids.insert(name.to_string(), id);
        Some(id)
    })
}
