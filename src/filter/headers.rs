//! Reads a whole header map as raw bytes without ever panicking.
//!
//! The SDK's `get_http_request_headers*` helpers `unwrap` a UTF-8 conversion of each header
//! name, so one odd byte from a client would trap the VM. We call the same ABI function
//! ourselves and decode the serialized map defensively.

use proxy_wasm::types::MapType;

pub type HeaderList = Vec<(String, Vec<u8>)>;

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

/// All request headers; names are lower-case in Envoy. Unreadable input yields an empty list,
/// which the decision treats as "no credentials".
pub fn request_headers() -> HeaderList {
    abi::header_map_bytes(MapType::HttpRequestHeaders as u32)
        .map(|bytes| decode(&bytes))
        .unwrap_or_default()
}

/// Decodes the proxy-wasm map serialization: a u32 count, then (u32 name length, u32 value
/// length) per pair, then each name and value followed by a NUL byte.
fn decode(bytes: &[u8]) -> HeaderList {
    let read_u32 = |at: usize| -> Option<usize> {
        let raw: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(u32::from_le_bytes(raw) as usize)
    };
    let Some(count) = read_u32(0) else {
        return Vec::new();
    };
    let mut pairs = Vec::with_capacity(count.min(256));
    let mut data_at = 4usize.saturating_add(count.saturating_mul(8));
    for i in 0..count {
        let (Some(name_len), Some(value_len)) = (read_u32(4 + i * 8), read_u32(8 + i * 8)) else {
            break;
        };
        let name = bytes.get(data_at..data_at + name_len);
        data_at += name_len + 1;
        let value = bytes.get(data_at..data_at + value_len);
        data_at += value_len + 1;
        match (name, value) {
            (Some(name), Some(value)) => {
                pairs.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()))
            }
            _ => break,
        }
    }
    pairs
}
