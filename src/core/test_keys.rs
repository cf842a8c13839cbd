//! Test fixtures shared by the token, key set, login and decision tests: keys generated once
//! per test binary, JWK builders and token minting with real signatures.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::alg::{Ed25519, Es256};
use jwt_compact::{Algorithm, AlgorithmSignature};
use rand::rngs::OsRng;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::core::jwks::Alg;

pub struct TestKeys {
    pub rsa: RsaPrivateKey,
    pub p256: p256::ecdsa::SigningKey,
    pub p256_other: p256::ecdsa::SigningKey,
    pub p384: p384::ecdsa::SigningKey,
    pub ed25519: <Ed25519 as Algorithm>::SigningKey,
}

/// RSA generation is slow in debug builds, so every test shares one key set.
pub fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| TestKeys {
        rsa: RsaPrivateKey::new(&mut OsRng, 2048).unwrap(),
        p256: p256::ecdsa::SigningKey::random(&mut OsRng),
        p256_other: p256::ecdsa::SigningKey::random(&mut OsRng),
        p384: p384::ecdsa::SigningKey::random(&mut OsRng),
        ed25519: Ed25519::generate(&mut OsRng).0,
    })
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn rsa_jwk(kid: &str) -> Value {
    let public = keys().rsa.to_public_key();
    json!({"kty": "RSA", "kid": kid, "use": "sig",
           "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())})
}

pub fn p256_jwk(kid: &str) -> Value {
    p256_jwk_for(&keys().p256, kid)
}

pub fn p256_jwk_for(key: &p256::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-256", "kid": kid,
           "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
}

pub fn p384_jwk(kid: &str) -> Value {
    let point = keys().p384.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-384", "kid": kid,
           "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
}

pub fn ed25519_jwk(kid: &str) -> Value {
    let public = keys().ed25519.public_key();
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(public.as_ref())})
}

/// One JWK of each kind, with kids `rsa`, `p256`, `p384`, `ed25519`.
pub fn all_jwks() -> Vec<Value> {
    vec![
        rsa_jwk("rsa"),
        p256_jwk("p256"),
        p384_jwk("p384"),
        ed25519_jwk("ed25519"),
    ]
}

pub fn jwks_body(keys: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

/// Signs `message` with the test key that fits `alg`.
pub fn sign(alg: Alg, message: &[u8]) -> Vec<u8> {
    let keys = keys();
    match alg {
        Alg::Es256 => Es256.sign(&keys.p256, message).as_bytes().into_owned(),
        Alg::Es384 => es384_sign(&keys.p384, message),
        Alg::EdDsa => Ed25519.sign(&keys.ed25519, message).as_bytes().into_owned(),
        rsa_alg => rsa_sign(&keys.rsa, rsa_alg, message),
    }
}

/// An ES384 signature (r ‖ s, RFC 7518 §3.4) made with RustCrypto `p384`, independent of the
/// code under test; RFC 6979 deterministic nonces.
fn es384_sign(key: &p384::ecdsa::SigningKey, message: &[u8]) -> Vec<u8> {
    use p384::ecdsa::signature::Signer;
    let signature: p384::ecdsa::Signature = key.sign(message);
    signature.to_bytes().to_vec()
}

/// An RS*/PS* signature made with RustCrypto `rsa`, independent of the code under test.
/// PSS uses a random salt as long as the hash, as JWA requires.
pub fn rsa_sign(key: &RsaPrivateKey, alg: Alg, message: &[u8]) -> Vec<u8> {
    let signed = match alg {
        Alg::Rs256 => key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message)),
        Alg::Rs384 => key.sign(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(message)),
        Alg::Rs512 => key.sign(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(message)),
        Alg::Ps256 => key.sign_with_rng(&mut OsRng, Pss::new::<Sha256>(), &Sha256::digest(message)),
        Alg::Ps384 => key.sign_with_rng(&mut OsRng, Pss::new::<Sha384>(), &Sha384::digest(message)),
        Alg::Ps512 => key.sign_with_rng(&mut OsRng, Pss::new::<Sha512>(), &Sha512::digest(message)),
        Alg::Es256 | Alg::Es384 | Alg::EdDsa => panic!("{alg} is not an RSA algorithm"),
    };
    signed.unwrap()
}

pub fn signing_input(header: &Value, payload: &Value) -> String {
    let header = b64(&serde_json::to_vec(header).unwrap());
    let payload = b64(&serde_json::to_vec(payload).unwrap());
    format!("{header}.{payload}")
}

/// A correctly signed token for any header and payload.
pub fn mint(alg: Alg, header: &Value, payload: &Value) -> String {
    let signing_input = signing_input(header, payload);
    let signature = sign(alg, signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&signature))
}

/// The `Cookie` header of a browser holding `session`, sealed for `config` and `issuer`.
pub fn session_cookie_header(
    config: &crate::config::Config,
    issuer: &str,
    session: &crate::core::session::Session,
) -> String {
    let pairs = crate::core::session::session_cookies(
        session,
        &config.session.keys[0],
        &config.session.cookie_name,
        issuer,
        &[7; 24],
    )
    .unwrap();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}
