//! oidc-gate: an OpenID Connect authentication filter for Envoy.
//!
//! `core` is pure logic with no host calls; `filter` carries it out through one host trait,
//! which `filter::wasm` implements with proxy-wasm.

pub mod config;
pub mod core;
// Natively only its tests drive the filter.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod filter;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    filter::install();
}}
