//! The request header map as the host serializes it, read into a `Request`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::decide::Request;
use oidc_gate::core::header_map::Pairs;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(&str, &[u8])> = Pairs::new(data).collect();
    // Every pair costs at least 8 bytes of lengths and 2 NULs.
    assert!(pairs.len() * 10 <= data.len());
    let request = Request::from_headers(pairs);
    assert!(request.path.starts_with(request.path_only()));
    let _ = (request.query(), request.cookies());
});
