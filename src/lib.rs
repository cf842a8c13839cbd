//! oidc-gate: an OpenID Connect authentication filter for Envoy.
//!
//! `core` is pure logic with no host calls; `filter` is the proxy-wasm glue.

pub mod config;
pub mod core;
#[cfg(target_arch = "wasm32")]
mod filter;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    filter::install();
}}
