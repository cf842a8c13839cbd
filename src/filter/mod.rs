//! The filter: carries out the core's decisions and flows through the [`host::Host`] trait.
//! Only `wasm` talks to proxy-wasm; everything else runs natively under a fake host in tests.

mod board;
mod callout;
mod executor;
pub mod host;
mod key_fetch;
mod metrics;
mod revocations;
mod root;
mod stream;
#[cfg(target_arch = "wasm32")]
mod wasm;
mod worker;

#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
pub use wasm::install;
