//! An issuer's discovery document (`/.well-known/openid-configuration`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::discovery;
use oidc_gate_fuzz::ISS;

fuzz_target!(|data: &[u8]| {
    match discovery::parse(data, ISS) {
        Ok(doc) => {
            assert_eq!(doc.issuer, ISS);
            assert!(doc
                .jwks_uri
                .get(..4)
                .is_some_and(|s| s.eq_ignore_ascii_case("http")));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
