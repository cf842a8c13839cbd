//! JSON Web Key Sets (RFC 7517): parsing an IdP's `jwks_uri` body into verification keys,
//! choosing the key for a token, and checking signatures.
//!
//! Parsing is defensive: the body and key count are capped, and every key that could be misused
//! (encryption keys, private or symmetric keys, weak RSA, unknown curves, invalid points) is
//! dropped instead of failing the whole set, so that one odd key does not lock users out.

use std::fmt;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use jwt_compact::alg::{Ed25519, Es256, VerifyingKey as _};
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{Map, Value};

use super::es384::Es384;
use super::rsa::{bit_length, RsaAlg, RsaVerifyingKey, MAX_MODULUS_BITS, MIN_MODULUS_BITS};

/// Largest JWKS body we parse. Real sets are a few KiB; this bounds memory and parse time.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Largest number of entries in `keys`; more than this is treated as hostile.
pub const MAX_JWKS_KEYS: usize = 100;
/// RSA keys below this size are too weak to trust (RFC 7518 §3.3 requires 2048).
pub const MIN_RSA_MODULUS_BITS: usize = MIN_MODULUS_BITS;
/// RSA keys above this size (4096) are skipped. Verification cost grows with the modulus, so a
/// huge key would let a JWKS (or whoever controls it) burn CPU on every request.
pub const MAX_RSA_MODULUS_BITS: usize = MAX_MODULUS_BITS;

/// JWK members that only private or symmetric keys carry. A JWKS must publish public keys only;
/// a set that leaks private material is misconfigured, and a symmetric `k` would invite HMAC use.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Base64url for key material: canonical, but tolerant of `=` padding that a few IdPs emit.
/// Token segments use the strict no-padding engine in `jwt.rs`.
const JWK_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type P256Key = <Es256 as Algorithm>::VerifyingKey;
type P384Key = <Es384 as Algorithm>::VerifyingKey;
type Ed25519Key = <Ed25519 as Algorithm>::VerifyingKey;

/// The asymmetric JWS algorithms we verify. HMAC and `none` are deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    pub const ALL: [Alg; 9] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::EdDsa,
    ];

    /// Parses a JWS `alg` name. Names are case-sensitive (RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|alg| alg.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The only kind of key this algorithm may be used with.
    fn key_kind(self) -> KeyKind {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                KeyKind::Rsa
            }
            Alg::Es256 => KeyKind::P256,
            Alg::Es384 => KeyKind::P384,
            Alg::EdDsa => KeyKind::Ed25519,
        }
    }

    /// The RSA algorithm for RS*/PS*, `None` for the others.
    fn rsa(self) -> Option<RsaAlg> {
        match self {
            Alg::Rs256 => Some(RsaAlg::RS256),
            Alg::Rs384 => Some(RsaAlg::RS384),
            Alg::Rs512 => Some(RsaAlg::RS512),
            Alg::Ps256 => Some(RsaAlg::PS256),
            Alg::Ps384 => Some(RsaAlg::PS384),
            Alg::Ps512 => Some(RsaAlg::PS512),
            Alg::Es256 | Alg::Es384 | Alg::EdDsa => None,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Key type plus curve: what decides which algorithms a key can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

#[derive(Debug, Clone)]
enum PublicKey {
    Rsa(RsaVerifyingKey),
    P256(P256Key),
    P384(P384Key),
    Ed25519(Ed25519Key),
}

impl PublicKey {
    fn kind(&self) -> KeyKind {
        match self {
            PublicKey::Rsa(_) => KeyKind::Rsa,
            PublicKey::P256(_) => KeyKind::P256,
            PublicKey::P384(_) => KeyKind::P384,
            PublicKey::Ed25519(_) => KeyKind::Ed25519,
        }
    }
}

/// One usable public signature-verification key from a JWKS.
#[derive(Debug, Clone)]
pub struct Jwk {
    kid: Option<String>,
    declared_alg: Option<Alg>,
    key: PublicKey,
}

impl Jwk {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The JWK's own `alg` member, if it declared one.
    pub fn declared_alg(&self) -> Option<Alg> {
        self.declared_alg
    }

    pub fn kind(&self) -> KeyKind {
        self.key.kind()
    }

    /// Whether this key may verify `alg`: the key type must fit the algorithm, and a key that
    /// declares an `alg` is bound to exactly that algorithm (RFC 8725 §3.1).
    pub fn accepts(&self, alg: Alg) -> bool {
        let declared_ok = match self.declared_alg {
            Some(declared) => declared == alg,
            None => true,
        };
        self.kind() == alg.key_kind() && declared_ok
    }

    /// Checks `signature` over `signing_input` (the exact `header.payload` bytes). Returns false
    /// for any mismatch, including an algorithm this key may not be used with.
    pub fn verify(&self, alg: Alg, signing_input: &[u8], signature: &[u8]) -> bool {
        if !self.accepts(alg) {
            return false;
        }
        match (&self.key, alg.rsa()) {
            (PublicKey::Rsa(key), Some(rsa)) => verify_with(&rsa, key, signing_input, signature),
            (PublicKey::P256(key), _) => verify_with(&Es256, key, signing_input, signature),
            (PublicKey::P384(key), _) => verify_with(&Es384, key, signing_input, signature),
            (PublicKey::Ed25519(key), _) => verify_with(&Ed25519, key, signing_input, signature),
            (PublicKey::Rsa(_), None) => false,
        }
    }
}

/// Runs one jwt-compact algorithm. The length check matters: for fixed-size signatures
/// jwt-compact expects callers to have checked it (Ed25519's constructor would panic otherwise).
fn verify_with<A: Algorithm>(
    alg: &A,
    key: &A::VerifyingKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    if let Some(expected) = <A::Signature as AlgorithmSignature>::LENGTH {
        if signature.len() != expected.get() {
            return false;
        }
    }
    match A::Signature::try_from_slice(signature) {
        Ok(signature) => alg.verify_signature(&signature, key, message),
        Err(_) => false,
    }
}

/// The usable keys of one JWKS document.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<Jwk>,
    skipped: usize,
}

impl KeySet {
    /// Parses a JWKS body. Unusable keys are skipped; the set fails only when it is oversized,
    /// malformed or left with no usable key, and then the caller keeps its previous good set.
    pub fn parse(body: &[u8]) -> Result<KeySet, JwksError> {
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        let document: Value = serde_json::from_slice(body).map_err(|_| JwksError::NotJson)?;
        let entries = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::NoKeysArray)?;
        if entries.len() > MAX_JWKS_KEYS {
            return Err(JwksError::TooManyKeys);
        }

        let mut keys: Vec<Jwk> = Vec::with_capacity(entries.len());
        let mut skipped = 0;
        for entry in entries {
            match parse_jwk(entry) {
                // Duplicate kid: the first usable key wins, so selection stays deterministic.
                Ok(jwk) if jwk.kid.is_some() && keys.iter().any(|k| k.kid == jwk.kid) => {
                    skipped += 1
                }
                Ok(jwk) => keys.push(jwk),
                Err(_) => skipped += 1,
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(KeySet { keys, skipped })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of entries in the document that were dropped as unusable or duplicate.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Chooses the key for a token from its header `kid` and `alg`.
    ///
    /// With a kid, only that key is considered. Without one, exactly one key may be compatible
    /// with `alg`; we never try each key in turn, which keeps the cost at one verification.
    pub fn select(&self, kid: Option<&str>, alg: Alg) -> Result<&Jwk, KeySelectError> {
        match kid {
            Some(kid) => self.select_by_kid(kid, alg),
            None => self.select_only_compatible(alg),
        }
    }

    fn select_by_kid(&self, kid: &str, alg: Alg) -> Result<&Jwk, KeySelectError> {
        let key = self
            .keys
            .iter()
            .find(|key| key.kid() == Some(kid))
            .ok_or(KeySelectError::UnknownKid)?;
        if key.accepts(alg) {
            Ok(key)
        } else {
            Err(KeySelectError::KeyAlgMismatch)
        }
    }

    fn select_only_compatible(&self, alg: Alg) -> Result<&Jwk, KeySelectError> {
        let mut compatible = self.keys.iter().filter(|key| key.accepts(alg));
        match (compatible.next(), compatible.next()) {
            (Some(key), None) => Ok(key),
            (Some(_), Some(_)) => Err(KeySelectError::AmbiguousKey),
            (None, _) => Err(KeySelectError::NoKeyForAlg),
        }
    }
}

/// Why a whole JWKS document was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksError {
    TooLarge,
    NotJson,
    NoKeysArray,
    TooManyKeys,
    NoUsableKeys,
}

impl JwksError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            JwksError::TooLarge => "jwks_too_large",
            JwksError::NotJson => "jwks_not_json",
            JwksError::NoKeysArray => "jwks_no_keys_array",
            JwksError::TooManyKeys => "jwks_too_many_keys",
            JwksError::NoUsableKeys => "jwks_no_usable_keys",
        }
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwksError::TooLarge => "JWKS body exceeds 256 KiB",
            JwksError::NotJson => "JWKS body is not valid JSON",
            JwksError::NoKeysArray => "JWKS has no \"keys\" array",
            JwksError::TooManyKeys => "JWKS has more than 100 keys",
            JwksError::NoUsableKeys => "JWKS has no usable signature-verification key",
        })
    }
}

impl std::error::Error for JwksError {}

/// Why no key could be chosen for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySelectError {
    /// The token's kid is not in the set (the caller may refetch the JWKS once).
    UnknownKid,
    /// No kid, and no key fits the token's alg.
    NoKeyForAlg,
    /// No kid, and several keys fit the token's alg.
    AmbiguousKey,
    /// The kid names a key of another type, or one whose declared alg differs.
    KeyAlgMismatch,
}

impl fmt::Display for KeySelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeySelectError::UnknownKid => "no key with the token's kid",
            KeySelectError::NoKeyForAlg => "no key for the token's alg",
            KeySelectError::AmbiguousKey => "token has no kid and several keys fit its alg",
            KeySelectError::KeyAlgMismatch => "the kid's key may not be used with the token's alg",
        })
    }
}

impl std::error::Error for KeySelectError {}

/// Why one JWKS entry was skipped. Internal: skipping is not an error for the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SkipReason {
    NotAnObject,
    PrivateMaterial,
    NotForSignatures,
    BadMember,
    UnsupportedKeyType,
    UnsupportedCurve,
    WeakRsa,
    OversizedRsa,
    InvalidKey,
    AlgDoesNotFitKey,
}

fn parse_jwk(entry: &Value) -> Result<Jwk, SkipReason> {
    let object = entry.as_object().ok_or(SkipReason::NotAnObject)?;
    if PRIVATE_MEMBERS
        .iter()
        .any(|name| object.contains_key(*name))
    {
        return Err(SkipReason::PrivateMaterial);
    }
    check_use_and_key_ops(object)?;
    let kid = optional_string(object, "kid")?.map(str::to_owned);
    let declared_alg = match optional_string(object, "alg")? {
        Some(name) => Some(Alg::from_name(name).ok_or(SkipReason::NotForSignatures)?),
        None => None,
    };
    let key = parse_public_key(object)?;
    if declared_alg.is_some_and(|alg| alg.key_kind() != key.kind()) {
        return Err(SkipReason::AlgDoesNotFitKey);
    }
    Ok(Jwk {
        kid,
        declared_alg,
        key,
    })
}

/// `use` must be `sig` and `key_ops` must allow `verify` when present (RFC 7517 §4.2–4.3).
fn check_use_and_key_ops(object: &Map<String, Value>) -> Result<(), SkipReason> {
    if let Some(key_use) = optional_string(object, "use")? {
        if key_use != "sig" {
            return Err(SkipReason::NotForSignatures);
        }
    }
    if let Some(ops) = object.get("key_ops") {
        let ops = ops.as_array().ok_or(SkipReason::BadMember)?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err(SkipReason::NotForSignatures);
        }
    }
    Ok(())
}

fn parse_public_key(object: &Map<String, Value>) -> Result<PublicKey, SkipReason> {
    let kty = optional_string(object, "kty")?.ok_or(SkipReason::BadMember)?;
    match kty {
        "RSA" => parse_rsa(object),
        "EC" => parse_ec(object),
        "OKP" => parse_okp(object),
        // `oct` (symmetric) and anything unknown.
        _ => Err(SkipReason::UnsupportedKeyType),
    }
}

fn parse_rsa(object: &Map<String, Value>) -> Result<PublicKey, SkipReason> {
    let modulus = required_bytes(object, "n")?;
    let exponent = required_bytes(object, "e")?;
    // Size check before any big-integer work, so a 16384-bit modulus costs nothing.
    let bits = bit_length(&modulus);
    if bits < MIN_RSA_MODULUS_BITS {
        return Err(SkipReason::WeakRsa);
    }
    if bits > MAX_RSA_MODULUS_BITS {
        return Err(SkipReason::OversizedRsa);
    }
    // This also rejects an even modulus and out-of-range or even exponents.
    RsaVerifyingKey::from_components(&modulus, &exponent)
        .map(PublicKey::Rsa)
        .map_err(|_| SkipReason::InvalidKey)
}

fn parse_ec(object: &Map<String, Value>) -> Result<PublicKey, SkipReason> {
    let curve = optional_string(object, "crv")?.ok_or(SkipReason::BadMember)?;
    let coordinate_len = match curve {
        "P-256" => 32,
        "P-384" => 48,
        _ => return Err(SkipReason::UnsupportedCurve),
    };
    let x = required_bytes(object, "x")?;
    let y = required_bytes(object, "y")?;
    if x.len() != coordinate_len || y.len() != coordinate_len {
        return Err(SkipReason::InvalidKey);
    }
    // SEC1 uncompressed point; decoding checks that it lies on the curve.
    let mut point = Vec::with_capacity(1 + 2 * coordinate_len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let key = if curve == "P-256" {
        P256Key::from_slice(&point).map(PublicKey::P256).ok()
    } else {
        P384Key::from_sec1_bytes(&point).map(PublicKey::P384).ok()
    };
    key.ok_or(SkipReason::InvalidKey)
}

fn parse_okp(object: &Map<String, Value>) -> Result<PublicKey, SkipReason> {
    let curve = optional_string(object, "crv")?.ok_or(SkipReason::BadMember)?;
    if curve != "Ed25519" {
        return Err(SkipReason::UnsupportedCurve);
    }
    let x = required_bytes(object, "x")?;
    // `validate` rejects non-canonical encodings and small-order points up front.
    match Ed25519Key::from_slice(&x) {
        Ok(key) if key.validate().is_ok() => Ok(PublicKey::Ed25519(key)),
        _ => Err(SkipReason::InvalidKey),
    }
}

/// A member that, if present, must be a string (a wrong type is never treated as absent).
fn optional_string<'a>(
    object: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, SkipReason> {
    match object.get(name) {
        None => Ok(None),
        Some(value) => value.as_str().map(Some).ok_or(SkipReason::BadMember),
    }
}

fn required_bytes(object: &Map<String, Value>, name: &str) -> Result<Vec<u8>, SkipReason> {
    let text = optional_string(object, name)?.ok_or(SkipReason::BadMember)?;
    JWK_BASE64.decode(text).map_err(|_| SkipReason::BadMember)
}

#[cfg(test)]
mod tests {
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
}
