//! The backends under comparison. Each `prepare_*` parses the key once (timed as setup) and
//! returns a closure doing what a request does: take signature bytes, check them.

// `run.sh sizes` builds the harness with no candidate at all, where nothing here is used.
#![cfg_attr(not(feature = "rsa09"), allow(unused))]

use std::time::Instant;

use crate::{Case, Prepared};

pub fn all(case: &Case) -> Vec<Prepared> {
    let mut list: Vec<Prepared> = Vec::new();
    #[cfg(feature = "ours")]
    list.push(ours(case));
    #[cfg(feature = "jwk")]
    list.push(ours_jwk(case));
    #[cfg(feature = "rsa09")]
    list.push(rsa09(case));
    #[cfg(feature = "rsa010")]
    list.push(rsa010(case));
    #[cfg(feature = "ring")]
    list.push(ring(case));
    list
}

/// Setup time in µs: the mean of a few runs of `build`, and its last result.
fn timed_setup<T>(build: impl Fn() -> T) -> (f64, T) {
    const RUNS: u32 = 5;
    let start = Instant::now();
    for _ in 1..RUNS {
        std::hint::black_box(build());
    }
    let value = build();
    (start.elapsed().as_secs_f64() * 1e6 / f64::from(RUNS), value)
}

#[cfg(feature = "ours")]
fn ours(case: &Case) -> Prepared {
    use oidc_gate::core::rsa::{RsaAlg, RsaVerifyingKey};
    let (setup_micros, key) =
        timed_setup(|| RsaVerifyingKey::from_components(&case.n, &case.e).expect("key"));
    let alg = if case.alg == "RS256" {
        RsaAlg::RS256
    } else {
        RsaAlg::PS256
    };
    Prepared {
        candidate: "oidc-gate core::rsa",
        setup_micros,
        verify: Box::new(move |message, signature| alg.verify(&key, message, signature)),
    }
}

/// The filter's production entry point, whatever backend `jwks.rs` uses at this commit.
#[cfg(feature = "jwk")]
fn ours_jwk(case: &Case) -> Prepared {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use oidc_gate::core::jwks::{Alg, KeySet};
    let body = serde_json::json!({"keys": [{"kty": "RSA", "kid": "k",
        "n": URL_SAFE_NO_PAD.encode(&case.n), "e": URL_SAFE_NO_PAD.encode(&case.e)}]})
    .to_string();
    let (setup_micros, set) = timed_setup(|| KeySet::parse(body.as_bytes()).expect("jwks"));
    let alg = Alg::from_name(case.alg).expect("alg");
    Prepared {
        candidate: "oidc-gate Jwk::verify",
        setup_micros,
        verify: Box::new(move |message, signature| {
            set.select(Some("k"), alg)
                .is_ok_and(|key| key.verify(alg, message, signature))
        }),
    }
}

#[cfg(feature = "rsa09")]
fn rsa09(case: &Case) -> Prepared {
    use jwt_compact::alg::{Rsa, RsaPublicKey, RsaSignature};
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{Algorithm, AlgorithmSignature};
    use std::borrow::Cow;
    let (setup_micros, key) = timed_setup(|| {
        let jwk = JsonWebKey::Rsa {
            modulus: Cow::Borrowed(&case.n),
            public_exponent: Cow::Borrowed(&case.e),
            private_parts: None,
        };
        RsaPublicKey::try_from(&jwk).expect("key")
    });
    let alg = Rsa::with_name(case.alg);
    Prepared {
        candidate: "rsa 0.9 (jwt-compact 0.8)",
        setup_micros,
        verify: Box::new(move |message, signature| {
            RsaSignature::try_from_slice(signature)
                .is_ok_and(|signature| alg.verify_signature(&signature, &key, message))
        }),
    }
}

#[cfg(feature = "rsa010")]
fn rsa010(case: &Case) -> Prepared {
    use rsa010::signature::Verifier;
    use rsa010::{sha2::Sha256, BoxedUint, RsaPublicKey};
    let (setup_micros, key) = timed_setup(|| {
        let n = BoxedUint::from_be_slice_vartime(&case.n);
        let e = BoxedUint::from_be_slice_vartime(&case.e);
        RsaPublicKey::new(n, e).expect("key")
    });
    let verify: Box<dyn Fn(&[u8], &[u8]) -> bool> = if case.alg == "RS256" {
        let key = rsa010::pkcs1v15::VerifyingKey::<Sha256>::new(key);
        Box::new(move |message, signature| {
            rsa010::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok())
        })
    } else {
        let key = rsa010::pss::VerifyingKey::<Sha256>::new(key);
        Box::new(move |message, signature| {
            rsa010::pss::Signature::try_from(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok())
        })
    };
    Prepared {
        candidate: "rsa 0.10.0-rc.20 (crypto-bigint)",
        setup_micros,
        verify,
    }
}

/// ring parses the key inside every `verify` (its API has no pre-parsed RSA public key), so
/// its setup is nothing and its per-call time includes the modulus set-up.
#[cfg(feature = "ring")]
fn ring(case: &Case) -> Prepared {
    use ring::signature::{
        RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256,
    };
    let params = if case.alg == "RS256" {
        &RSA_PKCS1_2048_8192_SHA256
    } else {
        &RSA_PSS_2048_8192_SHA256
    };
    let (n, e) = (case.n.clone(), case.e.clone());
    Prepared {
        candidate: "ring 0.17",
        setup_micros: 0.0,
        verify: Box::new(move |message, signature| {
            RsaPublicKeyComponents { n: &n, e: &e }
                .verify(params, message, signature)
                .is_ok()
        }),
    }
}
