//! Reads a whole header map as raw bytes without ever panicking or copying.
//!
//! The SDK's `get_http_request_headers*` helpers `unwrap` a UTF-8 conversion of each header
//! name, so one odd byte from a client would trap the VM. We call the same ABI function
//! ourselves; `core::header_map` reads the result in place.

use proxy_wasm::types::MapType;

use crate::core::header_map::Pairs;

#[allow(unsafe_code)]
mod abi {
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn proxy_get_header_map_pairs(
            map_type: u32,
            return_map_data: *mut *mut u8,
            return_map_size: *mut usize,
        ) -> u32;
    }

    /// The serialized map, owned; memory came from the SDK's exported allocator (a `Vec`).
    pub fn header_map_bytes(map_type: u32) -> Option<Vec<u8>> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: the host writes a pointer to `size` bytes it allocated through
        // `proxy_on_memory_allocate` (a Vec with that capacity), which we take ownership of.
        unsafe {
            if proxy_get_header_map_pairs(map_type, &mut data, &mut size) != 0 || data.is_null() {
                return None;
            }
            Some(Vec::from_raw_parts(data, size, size))
        }
    }
}

/// A header map as Envoy serialized it. Pairs are read from it in place: the request path
/// copies no header it does not keep.
pub struct HeaderMap {
    bytes: Vec<u8>,
}

impl HeaderMap {
    /// The request headers. Unreadable input yields an empty map, which the decision treats
    /// as "no credentials".
    pub fn request() -> HeaderMap {
        HeaderMap {
            bytes: abi::header_map_bytes(MapType::HttpRequestHeaders as u32).unwrap_or_default(),
        }
    }

    /// (name, value) pairs, names lower-case in Envoy.
    pub fn pairs(&self) -> Pairs<'_> {
        Pairs::new(&self.bytes)
    }
}
