//! The floors of any proxy-wasm filter, for the benchmark to tell the cost of being Wasm at all
//! apart from oidc-gate's own work. Its plugin configuration picks the mode:
//!
//! * anything else (e.g. `{}`): lets every request through untouched, without a host call;
//! * `read-header`: reads one request header (`authorization`) first, as every filter that
//!   looks at a credential must (about 2.8 µs per request in Envoy 1.40's V8, see
//!   bench/README.md).

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { read_header: false }) });
}}

struct Root {
    read_header: bool,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.read_header = self.get_plugin_configuration().as_deref() == Some(b"read-header");
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Pass {
            read_header: self.read_header,
        }))
    }
}

struct Pass {
    read_header: bool,
}

impl Context for Pass {}

impl HttpContext for Pass {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if self.read_header {
            let _ = self.get_http_request_header_bytes("authorization");
        }
        Action::Continue
    }
}
