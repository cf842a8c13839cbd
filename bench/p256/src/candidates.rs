//! The backends under comparison. Each `prepare_*` parses the key once (timed as setup) and
//! returns a closure doing what a request does: take signature bytes, check them.

use std::time::Instant;

use crate::{Case, Prepared};

pub fn all(case: &Case) -> Vec<Prepared> {
    let mut list: Vec<Prepared> = Vec::new();
    #[cfg(feature = "jwk")]
    list.push(ours_jwk(case));
    if case.alg == "ES256" {
        #[cfg(feature = "ours")]
        list.push(ours::<oidc_gate::core::p256::P256, 8>(
            case,
            "oidc-gate core::p256 (setup incl. 1st verify)",
        ));
        #[cfg(feature = "p256")]
        list.push(p256(case));
        #[cfg(feature = "ring")]
        list.push(ring_es256(case));
    } else if case.alg == "ES384" {
        #[cfg(feature = "ours")]
        list.push(ours::<oidc_gate::core::p384::P384, 12>(
            case,
            "oidc-gate core::p384 (setup incl. 1st verify)",
        ));
        #[cfg(feature = "p384")]
        list.push(p384(case));
        #[cfg(feature = "ring")]
        list.push(ring_es384(case));
    } else {
        #[cfg(feature = "ed25519-compact")]
        list.push(ed25519_compact(case));
        #[cfg(feature = "ed25519-dalek")]
        list.push(ed25519_dalek(case));
        #[cfg(feature = "ring")]
        list.push(ring_ed25519(case));
    }
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

fn uncompressed(case: &Case) -> Vec<u8> {
    [&[4u8][..], &case.x, &case.y].concat()
}

/// Our key (`core::ec`, on curve `C`) builds its comb table on first use, so its setup
/// includes one verification.
#[cfg(feature = "ours")]
fn ours<C: oidc_gate::core::ec::Curve<L>, const L: usize>(
    case: &Case,
    candidate: &'static str,
) -> Prepared {
    use oidc_gate::core::ec::VerifyingKey;
    let (setup_micros, key) = timed_setup(|| {
        let key = VerifyingKey::<C, L>::from_coordinates(&case.x, &case.y).expect("key");
        assert!(key.verify(&case.message, &case.signature));
        key
    });
    Prepared {
        candidate,
        setup_micros,
        verify: Box::new(move |message, signature| key.verify(message, signature)),
    }
}

/// The filter's production entry point, whatever backend `jwks.rs` uses at this commit.
#[cfg(feature = "jwk")]
fn ours_jwk(case: &Case) -> Prepared {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use oidc_gate::core::jwks::{Alg, KeySet};
    let jwk = if let Some(curve) = ec_curve(case.alg) {
        serde_json::json!({"kty": "EC", "crv": curve, "kid": "k",
            "x": URL_SAFE_NO_PAD.encode(&case.x), "y": URL_SAFE_NO_PAD.encode(&case.y)})
    } else {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "k",
            "x": URL_SAFE_NO_PAD.encode(&case.x)})
    };
    let body = serde_json::json!({ "keys": [jwk] }).to_string();
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

#[cfg(feature = "jwk")]
fn ec_curve(alg: &str) -> Option<&'static str> {
    match alg {
        "ES256" => Some("P-256"),
        "ES384" => Some("P-384"),
        _ => None,
    }
}

#[cfg(feature = "p256")]
fn p256(case: &Case) -> Prepared {
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{Signature, VerifyingKey};
    let point = uncompressed(case);
    let (setup_micros, key) = timed_setup(|| VerifyingKey::from_sec1_bytes(&point).expect("key"));
    Prepared {
        candidate: "p256 0.13 (RustCrypto)",
        setup_micros,
        verify: Box::new(move |message, signature| {
            Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok())
        }),
    }
}

#[cfg(feature = "p384")]
fn p384(case: &Case) -> Prepared {
    use p384::ecdsa::signature::Verifier;
    use p384::ecdsa::{Signature, VerifyingKey};
    let point = uncompressed(case);
    let (setup_micros, key) = timed_setup(|| VerifyingKey::from_sec1_bytes(&point).expect("key"));
    Prepared {
        candidate: "p384 0.13 (RustCrypto)",
        setup_micros,
        verify: Box::new(move |message, signature| {
            Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok())
        }),
    }
}

/// ring parses the key inside every `verify`, so its per-call time includes that.
#[cfg(feature = "ring")]
fn ring_es256(case: &Case) -> Prepared {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
    let point = uncompressed(case);
    Prepared {
        candidate: "ring 0.17",
        setup_micros: 0.0,
        verify: Box::new(move |message, signature| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                .verify(message, signature)
                .is_ok()
        }),
    }
}

#[cfg(feature = "ring")]
fn ring_es384(case: &Case) -> Prepared {
    use ring::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};
    let point = uncompressed(case);
    Prepared {
        candidate: "ring 0.17",
        setup_micros: 0.0,
        verify: Box::new(move |message, signature| {
            UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &point)
                .verify(message, signature)
                .is_ok()
        }),
    }
}

#[cfg(feature = "ring")]
fn ring_ed25519(case: &Case) -> Prepared {
    use ring::signature::{UnparsedPublicKey, ED25519};
    let key = case.x.clone();
    Prepared {
        candidate: "ring 0.17",
        setup_micros: 0.0,
        verify: Box::new(move |message, signature| {
            UnparsedPublicKey::new(&ED25519, &key)
                .verify(message, signature)
                .is_ok()
        }),
    }
}

#[cfg(feature = "ed25519-compact")]
fn ed25519_compact(case: &Case) -> Prepared {
    use ed25519_compact::{PublicKey, Signature};
    let (setup_micros, key) = timed_setup(|| PublicKey::from_slice(&case.x).expect("key"));
    Prepared {
        candidate: "ed25519-compact 2",
        setup_micros,
        verify: Box::new(move |message, signature| {
            Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok())
        }),
    }
}

#[cfg(feature = "ed25519-dalek")]
fn ed25519_dalek(case: &Case) -> Prepared {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let bytes: [u8; 32] = case.x.as_slice().try_into().expect("32 bytes");
    let (setup_micros, key) = timed_setup(|| VerifyingKey::from_bytes(&bytes).expect("key"));
    let candidate = if cfg!(curve25519_dalek_bits = "64") {
        "ed25519-dalek 2 (64-bit backend)"
    } else {
        "ed25519-dalek 2"
    };
    Prepared {
        candidate,
        setup_micros,
        verify: Box::new(move |message, signature| {
            Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok())
        }),
    }
}
