//! A JWKS document from an issuer's `jwks_uri`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::jwks::{Alg, KeySet, MAX_JWKS_KEYS};

fuzz_target!(|data: &[u8]| {
    let Ok(set) = KeySet::parse(data) else {
        return;
    };
    assert!(!set.is_empty() && set.len() <= MAX_JWKS_KEYS);
    let _ = set.skipped();
    for key in set.keys() {
        let _ = (key.declared_alg(), key.kind());
        for alg in Alg::ALL {
            if let Ok(selected) = set.select(key.kid(), alg) {
                assert!(selected.accepts(alg));
                assert!(
                    !selected.verify(alg, b"a.b", &[0; 64]),
                    "a zero signature verified"
                );
            }
        }
    }
});
