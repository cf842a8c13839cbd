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
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{Map, Value};

use super::hs256::Hs256Key;
use super::p256::P256VerifyingKey;
use super::p384::P384VerifyingKey;
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
    P256(P256VerifyingKey),
    P384(P384VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
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
            (PublicKey::P256(key), _) => key.verify(signing_input, signature),
            (PublicKey::P384(key), _) => key.verify(signing_input, signature),
            (PublicKey::Ed25519(key), _) => verify_ed25519(key, signing_input, signature),
            (PublicKey::Rsa(_), None) => false,
        }
    }
}

/// EdDSA (RFC 8037) with ed25519-dalek, about 2.5 times faster in V8 than ed25519-compact
/// (bench/p256). `verify_strict` refuses non-canonical s and small-order R (and keys, which
/// parsing already refused).
fn verify_ed25519(key: &ed25519_dalek::VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    ed25519_dalek::Signature::from_slice(signature)
        .is_ok_and(|signature| key.verify_strict(message, &signature).is_ok())
}

/// Runs one jwt-compact algorithm. The length check matters: for fixed-size signatures
/// jwt-compact expects callers to have checked it (some constructors would panic otherwise).
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

/// The usable keys of one JWKS document, or the one secret of a pinned-secret issuer.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<Jwk>,
    skipped: usize,
    /// Set only by [`KeySet::pinned_hs256`], never by parsing: no document yields a secret.
    pinned_hs256: Option<Hs256Key>,
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
        Ok(KeySet {
            keys,
            skipped,
            pinned_hs256: None,
        })
    }

    /// The set of a pinned-secret issuer (`core::hs256`): its secret and no published key.
    pub fn pinned_hs256(key: Hs256Key) -> KeySet {
        KeySet {
            keys: Vec::new(),
            skipped: 0,
            pinned_hs256: Some(key),
        }
    }

    /// The pinned HS256 secret, for the sets [`KeySet::pinned_hs256`] made.
    pub fn pinned_hs256_key(&self) -> Option<&Hs256Key> {
        self.pinned_hs256.as_ref()
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
    // Both constructors check that the coordinates are below p and the point is on the curve.
    let key = if curve == "P-256" {
        P256VerifyingKey::from_coordinates(&x, &y).map(PublicKey::P256)
    } else {
        P384VerifyingKey::from_coordinates(&x, &y).map(PublicKey::P384)
    };
    key.ok_or(SkipReason::InvalidKey)
}

fn parse_okp(object: &Map<String, Value>) -> Result<PublicKey, SkipReason> {
    let curve = optional_string(object, "crv")?.ok_or(SkipReason::BadMember)?;
    if curve != "Ed25519" {
        return Err(SkipReason::UnsupportedCurve);
    }
    let x: [u8; 32] = required_bytes(object, "x")?
        .try_into()
        .map_err(|_| SkipReason::InvalidKey)?;
    // Decoding accepts y >= p and a negative zero x; re-encoding tells them apart. Small-order
    // (weak) keys are refused up front too.
    match ed25519_dalek::VerifyingKey::from_bytes(&x) {
        Ok(key) if !key.is_weak() && key.to_edwards().compress().to_bytes() == x => {
            Ok(PublicKey::Ed25519(key))
        }
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
mod tests;
