//! The only code that calls the host: proxy-wasm contexts and their glue.

mod board;
mod browser;
mod headers;
mod host;
mod http;
mod metrics;
mod root;
mod worker;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

pub fn install() {
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(root::Root::new()) });
}
