//! What the fuzz targets share: a fixed configuration, key set and clock, the Ed25519 key whose
//! tokens the key set accepts (so a target can sign fuzzed claims and reach the checks behind
//! the signature), and the encodings the seed generator needs.

use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use oidc_gate::config::Config;
use oidc_gate::core::decide::Verifier;
use oidc_gate::core::jwks::KeySet;

pub use oidc_gate::core::header_map::serialize as serialize_headers;

pub const ISS: &str = "https://idp.example.com";
pub const SA_ISS: &str = "https://kubernetes.default.svc";
pub const CLIENT_ID: &str = "app";
pub const COOKIE: &str = "authservice_session";
/// The clock of every target: 2027-01-15.
pub const NOW: u64 = 1_800_000_000;
/// The session key of [`CONFIG`] (its base64 is in there).
pub const SESSION_KEY: [u8; 32] = *b"0123456789abcdef0123456789abcdef";
pub const NONCE: [u8; 24] = [7; 24];
pub const CLOCK_SKEW: u64 = 60;

pub const CONFIG: &str = r#"{
  "issuer": "https://idp.example.com", "idp_cluster": "idp",
  "client_id": "app", "client_secret": "s3cret",
  "session_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
  "skip_auth_paths": ["/public", "/static/assets"],
  "rules": [{"path_prefix": "/public/admin", "action": "deny"},
            {"path_glob": "/**/*.bundle.js", "action": "allow"},
            {"path_prefix": "/scoped", "required_scopes": ["pipelines"],
             "required_claims": {"realm_access.roles": "admin"}},
            {"hosts": ["*.api.example.com"], "unauthenticated": "401"}],
  "groups_allowlist": ["dev", "ops"],
  "extra_issuers": [{"issuer": "https://kubernetes.default.svc", "cluster": "k8s",
    "audiences": ["kubeflow"], "jwks_uri": "https://kubernetes.default.svc/openid/v1/jwks",
    "userid_claim": "sub"}]
}"#;

/// RSA-2048 and P-256 public keys (their private halves were thrown away): tokens naming them
/// exercise the RSA and ECDSA verifiers, which then always say no.
const RSA_N: &str = "rbS4NIJRE2CKpAUHv1A0cpzIM4f4izR0pcykx2XNmad4rCgb3j4AVe2g1th4b0iUFWaZPmrB9LCEK-fXdLiauyGxzIgSXWDhBIN_57lm1z55PIshLtQtDj0fU706_YOhJRNlVG6rRYQPAUV3OqTGb6Y_KMMxRJ3yVlFy5DoAOUJcdUYLFCOJ_p-hehrgPsYl1INIHH10UyRsYbQqhGOblO_YBbLp2ttppLUXFeODGg0LFbmsbXcD5RAqGHa_4XEdjLva4rhk1aiHeE0IoXs-zV0twoztWcXrFbRykOwfG4lmsQPnBZwlzyOjJrWw5eMrPbCHyFQZ--7RBqB0p1wI0w";
const EC_X: &str = "zApI8U8uLKg_q9cOaZzHuDd7Ve9KuNX0AhmOgAxSvN0";
const EC_Y: &str = "PqNQTFEpRafvjoT57eF_5cgwNjLmQTP3DCtA1uQWs5I";

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// The JWKS document of the fixed key set: kids `ed`, `rsa` and `ec`.
pub fn jwks() -> Vec<u8> {
    let ed = b64(signing_key().verifying_key().as_bytes());
    format!(
        r#"{{"keys":[
  {{"kty":"OKP","crv":"Ed25519","kid":"ed","use":"sig","x":"{ed}"}},
  {{"kty":"RSA","kid":"rsa","alg":"RS256","n":"{RSA_N}","e":"AQAB"}},
  {{"kty":"EC","crv":"P-256","kid":"ec","x":"{EC_X}","y":"{EC_Y}"}}
]}}"#
    )
    .into_bytes()
}

/// `header.payload.signature` with the Ed25519 key, whatever the header and payload say.
pub fn mint(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = signing_key().sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

thread_local! {
    static CONFIG_ONCE: Rc<Config> = Rc::new(
        Config::from_json(CONFIG.as_bytes(), &|_: &str| None).expect("the fixed config loads"),
    );
    static KEYS_ONCE: Rc<KeySet> = Rc::new(KeySet::parse(&jwks()).expect("the fixed JWKS parses"));
}

/// Parsed once per process: the targets run it for every input.
pub fn config() -> Rc<Config> {
    CONFIG_ONCE.with(Rc::clone)
}

pub fn key_set() -> Rc<KeySet> {
    KEYS_ONCE.with(Rc::clone)
}

/// A fresh verifier (empty caches) holding the fixed key set for both issuers.
pub fn verifier() -> Verifier {
    let mut verifier = Verifier::new(2);
    verifier.keys = vec![Some(key_set()), Some(key_set())];
    verifier
}

/// Splits a fuzz input at its first newline: (first line, rest).
pub fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}
