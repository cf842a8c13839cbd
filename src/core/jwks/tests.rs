use super::*;
use crate::core::test_keys::*;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;

fn parse(keys: Vec<Value>) -> Result<KeySet, JwksError> {
    KeySet::parse(&jwks_body(keys))
}

fn with(mut jwk: Value, name: &str, value: Value) -> Value {
    jwk[name] = value;
    jwk
}

/// A bare modulus of exactly `bits` bits (odd, top bit set); not a real key.
fn fake_modulus(bits: usize) -> String {
    let mut bytes = vec![0xffu8; bits.div_ceil(8)];
    if bits % 8 != 0 {
        bytes[0] = (1u8 << (bits % 8)) - 1;
    }
    b64(&bytes)
}

fn fake_rsa_jwk(bits: usize) -> Value {
    json!({"kty": "RSA", "kid": format!("rsa-{bits}"), "n": fake_modulus(bits), "e": "AQAB"})
}

#[test]
fn alg_names_round_trip_and_are_case_sensitive() {
    for alg in Alg::ALL {
        assert_eq!(Alg::from_name(alg.name()), Some(alg));
    }
    for name in [
        "rs256", "Rs256", "EDDSA", "eddsa", "HS256", "none", "ES512", "Ed25519", "",
    ] {
        assert_eq!(Alg::from_name(name), None, "{name}");
    }
}

#[test]
fn parses_every_supported_key_kind() {
    let set = parse(all_jwks()).unwrap();
    assert_eq!(set.len(), 4);
    assert!(!set.is_empty());
    assert_eq!(set.skipped(), 0);
    let kinds: Vec<KeyKind> = set.keys().iter().map(Jwk::kind).collect();
    assert_eq!(
        kinds,
        [KeyKind::Rsa, KeyKind::P256, KeyKind::P384, KeyKind::Ed25519]
    );
}

#[test]
fn each_key_verifies_its_own_algorithms() {
    let set = parse(all_jwks()).unwrap();
    for alg in Alg::ALL {
        let signature = sign(alg, b"header.payload");
        let key = set.select(None, alg).unwrap();
        assert!(key.verify(alg, b"header.payload", &signature), "{alg}");
        assert!(!key.verify(alg, b"header.payloae", &signature), "{alg}");
    }
}

#[test]
fn verify_refuses_algorithms_the_key_may_not_serve() {
    let set = parse(all_jwks()).unwrap();
    let rsa = set.select(Some("rsa"), Alg::Rs256).unwrap();
    let signature = sign(Alg::Rs256, b"m");
    // RS256 signature is fine; the same key must not be driven with another family.
    assert!(rsa.verify(Alg::Rs256, b"m", &signature));
    assert!(!rsa.verify(Alg::Es256, b"m", &signature));
    assert!(!rsa.verify(Alg::Ps256, b"m", &signature));
    let ed = set.select(Some("ed25519"), Alg::EdDsa).unwrap();
    // Wrong-length signatures must be refused without panicking.
    for len in [0, 1, 63, 65, 128] {
        assert!(!ed.verify(Alg::EdDsa, b"m", &vec![0u8; len]));
    }
    let ec = set.select(Some("p256"), Alg::Es256).unwrap();
    for len in [0, 1, 63, 65, 96] {
        assert!(!ec.verify(Alg::Es256, b"m", &vec![1u8; len]));
    }
}

#[test]
fn kid_selects_the_named_key() {
    let set = parse(all_jwks()).unwrap();
    assert_eq!(
        set.select(Some("p384"), Alg::Es384).unwrap().kid(),
        Some("p384")
    );
    assert_eq!(
        set.select(Some("missing"), Alg::Rs256).unwrap_err(),
        KeySelectError::UnknownKid
    );
}

#[test]
fn kid_of_another_key_type_is_a_mismatch() {
    let set = parse(all_jwks()).unwrap();
    assert_eq!(
        set.select(Some("p256"), Alg::Rs256).unwrap_err(),
        KeySelectError::KeyAlgMismatch
    );
    assert_eq!(
        set.select(Some("p256"), Alg::Es384).unwrap_err(),
        KeySelectError::KeyAlgMismatch
    );
    assert_eq!(
        set.select(Some("rsa"), Alg::EdDsa).unwrap_err(),
        KeySelectError::KeyAlgMismatch
    );
}

#[test]
fn declared_alg_binds_the_key_to_one_algorithm() {
    let set = parse(vec![with(rsa_jwk("k"), "alg", json!("RS384"))]).unwrap();
    assert_eq!(set.keys()[0].declared_alg(), Some(Alg::Rs384));
    assert_eq!(
        set.select(Some("k"), Alg::Rs256).unwrap_err(),
        KeySelectError::KeyAlgMismatch
    );
    assert_eq!(
        set.select(None, Alg::Rs256).unwrap_err(),
        KeySelectError::NoKeyForAlg
    );
    assert!(set.select(Some("k"), Alg::Rs384).is_ok());
    // Even when called directly, the key refuses an algorithm it did not declare.
    let signature = sign(Alg::Rs256, b"m");
    assert!(!set.keys()[0].verify(Alg::Rs256, b"m", &signature));
}

#[test]
fn kid_absent_needs_exactly_one_compatible_key() {
    let one = parse(vec![rsa_jwk("a"), p256_jwk("b")]).unwrap();
    assert_eq!(one.select(None, Alg::Rs256).unwrap().kid(), Some("a"));
    assert_eq!(
        one.select(None, Alg::EdDsa).unwrap_err(),
        KeySelectError::NoKeyForAlg
    );

    let two = parse(vec![rsa_jwk("a"), rsa_jwk("b")]).unwrap();
    assert_eq!(
        two.select(None, Alg::Rs256).unwrap_err(),
        KeySelectError::AmbiguousKey
    );
    assert!(two.select(Some("b"), Alg::Rs256).is_ok());

    // A second RSA key bound to another alg does not make RS256 ambiguous.
    let bound = parse(vec![
        rsa_jwk("a"),
        with(rsa_jwk("b"), "alg", json!("PS256")),
    ])
    .unwrap();
    assert_eq!(bound.select(None, Alg::Rs256).unwrap().kid(), Some("a"));
}

#[test]
fn duplicate_kid_keeps_the_first_key() {
    let set = parse(vec![
        rsa_jwk("dup"),
        with(p256_jwk("x"), "kid", json!("dup")),
    ])
    .unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.skipped(), 1);
    assert_eq!(
        set.select(Some("dup"), Alg::Es256).unwrap_err(),
        KeySelectError::KeyAlgMismatch
    );
    assert!(set.select(Some("dup"), Alg::Rs256).is_ok());
}

#[test]
fn duplicate_kid_after_a_skipped_key_keeps_the_usable_one() {
    let set = parse(vec![
        with(p256_jwk("dup"), "use", json!("enc")),
        with(rsa_jwk("x"), "kid", json!("dup")),
    ])
    .unwrap();
    assert!(set.select(Some("dup"), Alg::Rs256).is_ok());
}

#[test]
fn keys_without_kid_are_kept() {
    let mut jwk = rsa_jwk("x");
    jwk.as_object_mut().unwrap().remove("kid");
    let set = parse(vec![jwk.clone(), jwk]).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(
        set.select(Some("x"), Alg::Rs256).unwrap_err(),
        KeySelectError::UnknownKid
    );
}

#[test]
fn encryption_keys_are_skipped() {
    let set = parse(vec![
        with(rsa_jwk("enc"), "use", json!("enc")),
        p256_jwk("sig"),
    ])
    .unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(
        set.select(Some("enc"), Alg::Rs256).unwrap_err(),
        KeySelectError::UnknownKid
    );
    assert_eq!(
        parse(vec![with(rsa_jwk("enc"), "use", json!("enc"))]).unwrap_err(),
        JwksError::NoUsableKeys
    );
}

#[test]
fn key_ops_must_allow_verify() {
    let ok = with(rsa_jwk("a"), "key_ops", json!(["verify"]));
    let encrypt = with(rsa_jwk("b"), "key_ops", json!(["encrypt", "wrapKey"]));
    let not_array = with(rsa_jwk("c"), "key_ops", json!("verify"));
    let set = parse(vec![ok, encrypt, not_array]).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.keys()[0].kid(), Some("a"));
}

#[test]
fn wrongly_typed_members_skip_the_key() {
    for (name, value) in [
        ("use", json!(["sig"])),
        ("kid", json!(7)),
        ("alg", json!(null)),
        ("kty", json!(1)),
        ("n", json!(12345)),
    ] {
        let jwk = with(rsa_jwk("a"), name, value);
        assert_eq!(
            parse(vec![jwk]).unwrap_err(),
            JwksError::NoUsableKeys,
            "{name}"
        );
    }
}

#[test]
fn non_signature_algs_skip_the_key() {
    for alg in ["RSA-OAEP", "HS256", "none", "ES512", "rs256"] {
        let jwk = with(rsa_jwk("a"), "alg", json!(alg));
        assert_eq!(
            parse(vec![jwk]).unwrap_err(),
            JwksError::NoUsableKeys,
            "{alg}"
        );
    }
    // A declared alg of another key family is a broken key.
    let jwk = with(rsa_jwk("a"), "alg", json!("ES256"));
    assert_eq!(parse(vec![jwk]).unwrap_err(), JwksError::NoUsableKeys);
}

#[test]
fn private_and_symmetric_keys_are_skipped() {
    for member in PRIVATE_MEMBERS {
        let jwk = with(rsa_jwk("a"), member, json!("AQAB"));
        assert_eq!(
            parse(vec![jwk]).unwrap_err(),
            JwksError::NoUsableKeys,
            "{member}"
        );
    }
    let oct = json!({"kty": "oct", "kid": "h", "k": b64(b"secret"), "alg": "HS256"});
    let oct_without_k = json!({"kty": "oct", "kid": "h"});
    let set = parse(vec![oct, oct_without_k, p256_jwk("p")]).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.skipped(), 2);
}

#[test]
fn unknown_key_types_and_curves_are_skipped() {
    let keys = vec![
        json!({"kty": "XYZ", "kid": "a"}),
        with(p256_jwk("b"), "crv", json!("P-521")),
        with(p256_jwk("c"), "crv", json!("secp256k1")),
        with(ed25519_jwk("d"), "crv", json!("Ed448")),
        with(ed25519_jwk("e"), "crv", json!("X25519")),
        json!("not an object"),
        json!(null),
    ];
    assert_eq!(parse(keys).unwrap_err(), JwksError::NoUsableKeys);
}

fn ed25519_identity() -> [u8; 32] {
    let mut point = [0u8; 32];
    point[0] = 1;
    point
}

fn ed25519_non_canonical() -> [u8; 32] {
    let mut point = [0xffu8; 32];
    point[31] = 0x7f;
    point
}

#[test]
fn invalid_points_are_skipped() {
    let p256 = p256_jwk("a");
    let p384 = p384_jwk("b");
    let mut x = JWK_BASE64.decode(p256["x"].as_str().unwrap()).unwrap();
    x[31] ^= 1;
    let keys = vec![
        with(p256.clone(), "x", json!(b64(&x))),
        with(p256.clone(), "y", json!(b64(&[0u8; 32]))),
        with(p256.clone(), "x", json!(b64(&[1u8; 31]))),
        // P-384 coordinates under a P-256 label, and the reverse.
        with(p384.clone(), "crv", json!("P-256")),
        with(p256, "crv", json!("P-384")),
        with(p384, "y", json!(b64(&[0xffu8; 48]))),
        with(ed25519_jwk("c"), "x", json!(b64(&[1u8; 31]))),
        // Ed25519: the identity (small order) and a non-canonical y >= p.
        with(ed25519_jwk("d"), "x", json!(b64(&ed25519_identity()))),
        with(ed25519_jwk("e"), "x", json!(b64(&ed25519_non_canonical()))),
    ];
    assert_eq!(parse(keys).unwrap_err(), JwksError::NoUsableKeys);
}

#[test]
fn rsa_size_limits() {
    // 1024 bits: weak. 16384 bits: too slow. Neither costs big-integer work to reject.
    for bits in [1024, 2047, 4097, 8192, 16384] {
        assert_eq!(
            parse(vec![fake_rsa_jwk(bits)]).unwrap_err(),
            JwksError::NoUsableKeys,
            "{bits} bits"
        );
    }
    assert_eq!(parse(vec![fake_rsa_jwk(2048)]).unwrap().len(), 1);
    assert_eq!(parse(vec![fake_rsa_jwk(4096)]).unwrap().len(), 1);
}

#[test]
fn rsa_leading_zero_bytes_do_not_count_as_bits() {
    let n = JWK_BASE64
        .decode(rsa_jwk("a")["n"].as_str().unwrap())
        .unwrap();
    let mut padded = vec![0u8];
    padded.extend_from_slice(&n);
    let set = parse(vec![with(rsa_jwk("a"), "n", json!(b64(&padded)))]).unwrap();
    assert!(set.select(Some("a"), Alg::Rs256).is_ok());
    // 1024 significant bits stay weak no matter how many zero bytes precede them.
    let mut weak = vec![0u8; 200];
    weak.extend_from_slice(&[0xffu8; 128]);
    let jwk = with(fake_rsa_jwk(2048), "n", json!(b64(&weak)));
    assert_eq!(parse(vec![jwk]).unwrap_err(), JwksError::NoUsableKeys);
}

#[test]
fn rsa_bad_exponents_and_even_modulus_are_skipped() {
    for e in [b64(&[1]), b64(&[2]), b64(&[]), b64(&[0xff; 16])] {
        let jwk = with(fake_rsa_jwk(2048), "e", json!(e));
        assert_eq!(
            parse(vec![jwk]).unwrap_err(),
            JwksError::NoUsableKeys,
            "{e}"
        );
    }
    let mut even = vec![0xffu8; 256];
    even[255] = 0xfe;
    let jwk = with(fake_rsa_jwk(2048), "n", json!(b64(&even)));
    assert_eq!(parse(vec![jwk]).unwrap_err(), JwksError::NoUsableKeys);
}

#[test]
fn key_material_base64_is_canonical_but_padding_tolerant() {
    let public = keys().rsa.to_public_key();
    // 256 bytes encode to 342 characters plus "==".
    let padded_n = base64::engine::general_purpose::URL_SAFE.encode(public.n().to_bytes_be());
    assert!(padded_n.ends_with("=="));
    let set = parse(vec![with(rsa_jwk("a"), "n", json!(padded_n))]).unwrap();
    assert_eq!(set.len(), 1);
    // Standard (non-url) alphabet and whitespace are not base64url.
    let n = rsa_jwk("a")["n"].as_str().unwrap().to_owned();
    let std_alphabet = n.replace('-', "+").replace('_', "/");
    if std_alphabet != n {
        let jwk = with(rsa_jwk("a"), "n", json!(std_alphabet));
        assert_eq!(parse(vec![jwk]).unwrap_err(), JwksError::NoUsableKeys);
    }
    let jwk = with(rsa_jwk("a"), "n", json!(format!(" {n}")));
    assert_eq!(parse(vec![jwk]).unwrap_err(), JwksError::NoUsableKeys);
}

#[test]
fn document_level_errors() {
    assert_eq!(KeySet::parse(b"").unwrap_err(), JwksError::NotJson);
    assert_eq!(KeySet::parse(b"<html>").unwrap_err(), JwksError::NotJson);
    assert_eq!(
        KeySet::parse(b"{\"keys\":[}").unwrap_err(),
        JwksError::NotJson
    );
    assert_eq!(KeySet::parse(b"[]").unwrap_err(), JwksError::NoKeysArray);
    assert_eq!(KeySet::parse(b"{}").unwrap_err(), JwksError::NoKeysArray);
    assert_eq!(
        KeySet::parse(b"{\"keys\":{}}").unwrap_err(),
        JwksError::NoKeysArray
    );
    assert_eq!(
        KeySet::parse(b"{\"keys\":[]}").unwrap_err(),
        JwksError::NoUsableKeys
    );
    let not_json_tail = [jwks_body(all_jwks()), b"x".to_vec()].concat();
    assert_eq!(
        KeySet::parse(&not_json_tail).unwrap_err(),
        JwksError::NotJson
    );
}

#[test]
fn body_size_cap() {
    let mut body = jwks_body(all_jwks());
    body.resize(MAX_JWKS_BYTES, b' ');
    assert!(
        KeySet::parse(&body).is_ok(),
        "trailing whitespace up to the cap is fine"
    );
    body.push(b' ');
    assert_eq!(KeySet::parse(&body).unwrap_err(), JwksError::TooLarge);
    let huge = vec![b' '; 50 * 1024 * 1024];
    assert_eq!(KeySet::parse(&huge).unwrap_err(), JwksError::TooLarge);
}

#[test]
fn key_count_cap() {
    let hundred: Vec<Value> = (0..100).map(|i| p256_jwk(&format!("k{i}"))).collect();
    assert_eq!(parse(hundred.clone()).unwrap().len(), 100);
    let mut hundred_and_one = hundred;
    hundred_and_one.push(p256_jwk("k100"));
    assert_eq!(parse(hundred_and_one).unwrap_err(), JwksError::TooManyKeys);
    let junk: Vec<Value> = (0..10_000).map(|_| json!({})).collect();
    assert_eq!(parse(junk).unwrap_err(), JwksError::TooManyKeys);
}

#[test]
fn hmac_over_public_key_forms_never_verifies() {
    // HS256 is not an `Alg`, so an RSA JWK can only ever be driven with RS*/PS*; an HMAC
    // over any encoding of the public key is just a wrong-length, wrong-value signature.
    let set = parse(vec![rsa_jwk("a")]).unwrap();
    let key = set.select(Some("a"), Alg::Rs256).unwrap();
    let public = keys().rsa.to_public_key();
    let pem = public.to_public_key_pem(Default::default()).unwrap();
    let der = public.to_public_key_der().unwrap();
    let n = rsa_jwk("a")["n"].as_str().unwrap().to_owned();
    for secret in [pem.as_bytes(), der.as_bytes(), n.as_bytes()] {
        use jwt_compact::alg::{Hs256, Hs256Key};
        let mac = Hs256.sign(&Hs256Key::new(secret), b"h.p");
        assert!(!key.verify(Alg::Rs256, b"h.p", mac.as_bytes().as_ref()));
    }
}

#[test]
fn error_labels_and_messages() {
    assert_eq!(JwksError::TooLarge.reason(), "jwks_too_large");
    assert_eq!(
        JwksError::NoUsableKeys.to_string(),
        "JWKS has no usable signature-verification key"
    );
    assert_eq!(
        KeySelectError::UnknownKid.to_string(),
        "no key with the token's kid"
    );
}

#[test]
fn bit_length_counts_significant_bits() {
    assert_eq!(bit_length(&[]), 0);
    assert_eq!(bit_length(&[0, 0]), 0);
    assert_eq!(bit_length(&[1]), 1);
    assert_eq!(bit_length(&[0, 0x80]), 8);
    assert_eq!(bit_length(&[0x01, 0x00]), 9);
    assert_eq!(bit_length(&[0xff; 256]), 2048);
}
