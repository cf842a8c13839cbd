//! Compact JWS tokens (RFC 7515/7519): strict parsing, signature verification against a
//! [`KeySet`], and claim checks.
//!
//! Flow: [`parse`] decodes and vets the header without trusting anything; the caller peeks at
//! [`UnverifiedJwt::issuer`] to pick that issuer's keys and rules; [`verify`] then checks the
//! signature and only afterwards the claims. Every rejection has its own [`JwtError`] variant.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::jwks::{Alg, KeySelectError, KeySet};

/// Longest token we decode. Real tokens are 1–4 KiB; this bounds memory and work per request.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest accepted `sub` (OIDC Core §2: "MUST NOT exceed 255 ASCII characters").
pub const MAX_SUB_BYTES: usize = 255;
/// 9999-12-31T23:59:59Z. Larger NumericDates are nonsense and would overflow date formatting.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;
/// `typ` values of tokens we accept (RFC 7519 §5.1, RFC 9068 §2.1), compared case-insensitively.
/// Anything else (`logout+jwt`, `dpop+jwt`, …) is a different kind of token (RFC 8725 §3.11).
const ACCEPTED_TYPES: [&str; 3] = ["JWT", "at+jwt", "application/at+jwt"];
/// Header parameters that carry or point at a key. Trusting them lets the sender choose its own
/// key (CVE-2018-0114) or make us fetch a URL; we reject them rather than ignore them.
const EMBEDDED_KEY_PARAMS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// Every reason a token is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    // Encoding.
    TooLarge,
    /// Five segments: an encrypted token (JWE), which we do not decrypt.
    Jwe,
    /// Not three dot-separated segments.
    Malformed,
    /// A segment is not strict unpadded base64url.
    BadBase64,
    HeaderNotJson,
    PayloadNotJson,
    /// The header or payload object names a member twice (RFC 7515 §5.2 allows rejecting it;
    /// parsers disagree on which copy wins).
    DuplicateMember,
    EmptySignature,
    // Header.
    MissingAlg,
    AlgNotString,
    /// `none` in any letter case.
    AlgNone,
    /// `HS*`: we hold no shared secrets, and an HMAC keyed with a public key is forgeable.
    SymmetricAlg,
    UnsupportedAlg,
    EmbeddedKey,
    UnsupportedCrit,
    /// `cty` present: a nested (signed or encrypted) token.
    NestedToken,
    /// `typ` is not a string or names another kind of token.
    WrongType,
    /// `kid` is not a string.
    BadKid,
    // Key selection.
    /// The kid is not in the key set; the caller may refetch the JWKS once and retry.
    UnknownKid,
    NoKeyForAlg,
    AmbiguousKey,
    KeyAlgMismatch,
    // Signature.
    BadSignature,
    // Claims, checked only after the signature.
    MissingIssuer,
    WrongIssuer,
    MissingAudience,
    WrongAudience,
    /// Several audiences but no `azp` (OIDC Core §3.1.3.7 step 4).
    AzpRequired,
    WrongAzp,
    MissingExp,
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    MissingIat,
    MissingSub,
    /// `sub` is empty or longer than [`MAX_SUB_BYTES`].
    InvalidSub,
    /// The named claim has the wrong JSON type (never treated as absent).
    WrongClaimType(&'static str),
    /// The named NumericDate claim is negative or beyond the year 9999.
    InvalidNumericDate(&'static str),
}

impl JwtError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::TooLarge => "token_too_large",
            JwtError::Jwe => "jwe",
            JwtError::Malformed => "malformed",
            JwtError::BadBase64 => "bad_base64",
            JwtError::HeaderNotJson => "bad_header",
            JwtError::PayloadNotJson => "bad_payload",
            JwtError::DuplicateMember => "duplicate_member",
            JwtError::EmptySignature => "empty_signature",
            JwtError::MissingAlg => "missing_alg",
            JwtError::AlgNotString => "alg_not_string",
            JwtError::AlgNone => "alg_none",
            JwtError::SymmetricAlg => "symmetric_alg",
            JwtError::UnsupportedAlg => "unsupported_alg",
            JwtError::EmbeddedKey => "embedded_key",
            JwtError::UnsupportedCrit => "unsupported_crit",
            JwtError::NestedToken => "nested_token",
            JwtError::WrongType => "wrong_typ",
            JwtError::BadKid => "bad_kid",
            JwtError::UnknownKid => "unknown_kid",
            JwtError::NoKeyForAlg => "no_key_for_alg",
            JwtError::AmbiguousKey => "ambiguous_key",
            JwtError::KeyAlgMismatch => "key_alg_mismatch",
            JwtError::BadSignature => "bad_signature",
            JwtError::MissingIssuer => "missing_iss",
            JwtError::WrongIssuer => "wrong_iss",
            JwtError::MissingAudience => "missing_aud",
            JwtError::WrongAudience => "wrong_aud",
            JwtError::AzpRequired => "missing_azp",
            JwtError::WrongAzp => "wrong_azp",
            JwtError::MissingExp => "missing_exp",
            JwtError::Expired => "expired",
            JwtError::NotYetValid => "not_yet_valid",
            JwtError::IssuedInFuture => "iat_in_future",
            JwtError::MissingIat => "missing_iat",
            JwtError::MissingSub => "missing_sub",
            JwtError::InvalidSub => "invalid_sub",
            JwtError::WrongClaimType(_) => "claim_type",
            JwtError::InvalidNumericDate(_) => "bad_numeric_date",
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::WrongClaimType(claim) | JwtError::InvalidNumericDate(claim) => {
                write!(f, "{} ({claim})", self.reason())
            }
            _ => f.write_str(self.reason()),
        }
    }
}

impl std::error::Error for JwtError {}

impl From<KeySelectError> for JwtError {
    fn from(error: KeySelectError) -> JwtError {
        match error {
            KeySelectError::UnknownKid => JwtError::UnknownKid,
            KeySelectError::NoKeyForAlg => JwtError::NoKeyForAlg,
            KeySelectError::AmbiguousKey => JwtError::AmbiguousKey,
            KeySelectError::KeyAlgMismatch => JwtError::KeyAlgMismatch,
        }
    }
}

/// A token whose encoding and header passed [`parse`] but whose signature is not yet checked.
/// Nothing in it may be trusted except as a hint for choosing keys.
#[derive(Debug, Clone)]
pub struct UnverifiedJwt<'a> {
    /// `header.payload` exactly as received: the bytes the signature covers.
    signing_input: &'a str,
    alg: Alg,
    kid: Option<String>,
    typ: Option<String>,
    claims: Map<String, Value>,
    signature: Vec<u8>,
}

impl UnverifiedJwt<'_> {
    /// The unverified `iss`, for choosing which issuer's keys to verify with. `None` when absent
    /// or not a string.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The header `typ`, already checked to be one of the accepted values. Callers that require
    /// `at+jwt` (RFC 9068) can enforce it with this.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }
}

/// Per-issuer claim requirements.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRules<'a> {
    /// Compared byte for byte with `iss`.
    pub issuer: &'a str,
    /// `aud` must contain one of these; `azp`, when present, must be one of these.
    pub audiences: &'a [String],
    /// Leeway applied to `exp`, `nbf` and `iat`.
    pub clock_skew_seconds: u64,
    pub require_iat: bool,
    pub require_sub: bool,
}

/// The payload of a token whose signature and claims checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims {
    pub claims: Map<String, Value>,
    /// `exp`, floored to whole seconds; cache entries must not outlive it.
    pub exp: u64,
}

impl VerifiedClaims {
    /// The subject, if present (already checked to be a non-empty string of bounded length).
    pub fn sub(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }
}

/// Decodes a compact JWS and vets its header. Does not check the signature or any claim.
pub fn parse(token: &str) -> Result<UnverifiedJwt<'_>, JwtError> {
    // Before any decoding, so an oversized header costs nothing.
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge);
    }
    let segments = split_segments(token)?;

    let header = decode_object(segments.header, JwtError::HeaderNotJson)?;
    let alg = header_alg(&header)?;
    reject_unsafe_header_params(&header)?;
    let typ = header_typ(&header)?;
    let kid = header_kid(&header)?;

    let claims = decode_object(segments.payload, JwtError::PayloadNotJson)?;
    let signature = decode_segment(segments.signature)?;
    if signature.is_empty() {
        return Err(JwtError::EmptySignature);
    }
    Ok(UnverifiedJwt {
        signing_input: segments.signing_input,
        alg,
        kid,
        typ,
        claims,
        signature,
    })
}

/// Checks the signature with the key `keys` selects for the token, then the claims.
pub fn verify(
    jwt: &UnverifiedJwt<'_>,
    keys: &KeySet,
    rules: &ClaimRules<'_>,
    now_unix_secs: u64,
) -> Result<VerifiedClaims, JwtError> {
    let key = keys.select(jwt.kid(), jwt.alg)?;
    if !key.verify(jwt.alg, jwt.signing_input.as_bytes(), &jwt.signature) {
        return Err(JwtError::BadSignature);
    }
    let claims = &jwt.claims;
    check_issuer(claims, rules.issuer)?;
    check_audience(claims, rules.audiences)?;
    let exp = check_times(claims, rules, now_unix_secs)?;
    check_subject(claims, rules.require_sub)?;
    Ok(VerifiedClaims {
        claims: claims.clone(),
        exp,
    })
}

// ---------------------------------------------------------------------------------------------
// Encoding

struct Segments<'a> {
    signing_input: &'a str,
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

fn split_segments(token: &str) -> Result<Segments<'_>, JwtError> {
    match token.bytes().filter(|&byte| byte == b'.').count() {
        2 => {}
        4 => return Err(JwtError::Jwe),
        _ => return Err(JwtError::Malformed),
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(JwtError::Malformed)?;
    Ok(Segments {
        signing_input,
        header,
        payload,
        signature,
    })
}

/// Strict base64url: no padding, no whitespace, no other alphabet, canonical trailing bits.
fn decode_segment(segment: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::BadBase64)
}

fn decode_object(segment: &str, not_json: JwtError) -> Result<Map<String, Value>, JwtError> {
    let bytes = decode_segment(segment)?;
    let object: StrictObject = serde_json::from_slice(&bytes).map_err(|_| not_json)?;
    if object.has_duplicates {
        return Err(JwtError::DuplicateMember);
    }
    Ok(object.members)
}

/// A top-level JSON object that remembers whether a member name occurred twice; `serde_json`'s
/// own map silently keeps the last one.
struct StrictObject {
    members: Map<String, Value>,
    has_duplicates: bool,
}

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StrictObjectVisitor)
    }
}

struct StrictObjectVisitor;

impl<'de> Visitor<'de> for StrictObjectVisitor {
    type Value = StrictObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
        let mut members = Map::new();
        let mut has_duplicates = false;
        while let Some((name, value)) = access.next_entry::<String, Value>()? {
            has_duplicates |= members.insert(name, value).is_some();
        }
        Ok(StrictObject {
            members,
            has_duplicates,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Header

fn header_alg(header: &Map<String, Value>) -> Result<Alg, JwtError> {
    let name = match header.get("alg") {
        None => return Err(JwtError::MissingAlg),
        Some(Value::String(name)) => name,
        Some(_) => return Err(JwtError::AlgNotString),
    };
    // Names are case-sensitive, but a case variant of `none` or `HS*` is an attack, not a typo:
    // give it its own label.
    if name.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNone);
    }
    if name.to_ascii_uppercase().starts_with("HS") {
        return Err(JwtError::SymmetricAlg);
    }
    Alg::from_name(name).ok_or(JwtError::UnsupportedAlg)
}

fn reject_unsafe_header_params(header: &Map<String, Value>) -> Result<(), JwtError> {
    if EMBEDDED_KEY_PARAMS
        .iter()
        .any(|param| header.contains_key(*param))
    {
        return Err(JwtError::EmbeddedKey);
    }
    // We understand no extensions, and `crit` obliges us to (RFC 7515 §4.1.11).
    if header.contains_key("crit") {
        return Err(JwtError::UnsupportedCrit);
    }
    // `cty` is only used for nested JWTs (RFC 7519 §5.2), which we never unwrap (RFC 8725 §3.3).
    if header.contains_key("cty") {
        return Err(JwtError::NestedToken);
    }
    Ok(())
}

fn header_typ(header: &Map<String, Value>) -> Result<Option<String>, JwtError> {
    match header.get("typ") {
        None => Ok(None),
        Some(Value::String(typ))
            if ACCEPTED_TYPES
                .iter()
                .any(|accepted| typ.eq_ignore_ascii_case(accepted)) =>
        {
            Ok(Some(typ.clone()))
        }
        Some(_) => Err(JwtError::WrongType),
    }
}

fn header_kid(header: &Map<String, Value>) -> Result<Option<String>, JwtError> {
    match header.get("kid") {
        None => Ok(None),
        Some(Value::String(kid)) => Ok(Some(kid.clone())),
        Some(_) => Err(JwtError::BadKid),
    }
}

// ---------------------------------------------------------------------------------------------
// Claims

fn check_issuer(claims: &Map<String, Value>, expected: &str) -> Result<(), JwtError> {
    match string_claim(claims, "iss")? {
        None => Err(JwtError::MissingIssuer),
        // Exact comparison: no normalisation of case, trailing slash or scheme (OIDC Core
        // §3.1.3.7 step 2).
        Some(issuer) if issuer == expected => Ok(()),
        Some(_) => Err(JwtError::WrongIssuer),
    }
}

fn check_audience(claims: &Map<String, Value>, accepted: &[String]) -> Result<(), JwtError> {
    let audiences = audience_values(claims)?;
    let is_accepted = |candidate: &str| accepted.iter().any(|ours| ours == candidate);
    if !audiences.iter().any(|aud| is_accepted(aud)) {
        return Err(JwtError::WrongAudience);
    }
    match string_claim(claims, "azp")? {
        Some(azp) if !is_accepted(azp) => Err(JwtError::WrongAzp),
        Some(_) => Ok(()),
        // With several audiences, `azp` says which one the token was issued to.
        None if audiences.len() > 1 => Err(JwtError::AzpRequired),
        None => Ok(()),
    }
}

/// `aud` as a list: a single string or an array of strings (RFC 7519 §4.1.3).
fn audience_values(claims: &Map<String, Value>) -> Result<Vec<&str>, JwtError> {
    let wrong_type = JwtError::WrongClaimType("aud");
    match claims.get("aud") {
        None => Err(JwtError::MissingAudience),
        Some(Value::String(aud)) => Ok(vec![aud.as_str()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or(wrong_type))
            .collect(),
        Some(_) => Err(wrong_type),
    }
}

/// Checks `exp`, `nbf` and `iat` against `now`, allowing the configured skew. Returns `exp`.
fn check_times(
    claims: &Map<String, Value>,
    rules: &ClaimRules<'_>,
    now: u64,
) -> Result<u64, JwtError> {
    let skew = rules.clock_skew_seconds;
    let exp = numeric_date_claim(claims, "exp")?.ok_or(JwtError::MissingExp)?;
    if now >= exp.saturating_add(skew) {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = numeric_date_claim(claims, "nbf")? {
        if now.saturating_add(skew) < nbf {
            return Err(JwtError::NotYetValid);
        }
    }
    match numeric_date_claim(claims, "iat")? {
        Some(iat) if iat > now.saturating_add(skew) => Err(JwtError::IssuedInFuture),
        None if rules.require_iat => Err(JwtError::MissingIat),
        _ => Ok(exp),
    }
}

fn check_subject(claims: &Map<String, Value>, required: bool) -> Result<(), JwtError> {
    match string_claim(claims, "sub")? {
        None if required => Err(JwtError::MissingSub),
        None => Ok(()),
        Some(sub) if sub.is_empty() || sub.len() > MAX_SUB_BYTES => Err(JwtError::InvalidSub),
        Some(_) => Ok(()),
    }
}

/// A claim that, if present, must be a string.
fn string_claim<'c>(
    claims: &'c Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'c str>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(JwtError::WrongClaimType(name)),
    }
}

/// A NumericDate claim (RFC 7519 §2), floored to whole seconds.
fn numeric_date_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<u64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => numeric_date(number)
            .map(Some)
            .ok_or(JwtError::InvalidNumericDate(name)),
        Some(_) => Err(JwtError::WrongClaimType(name)),
    }
}

fn numeric_date(number: &Number) -> Option<u64> {
    let seconds = match number.as_u64() {
        Some(seconds) => seconds,
        // Negative integers fall through to here too, and fail the range check below.
        None => {
            let seconds = number.as_f64()?.floor();
            if !(0.0..=MAX_NUMERIC_DATE as f64).contains(&seconds) {
                return None;
            }
            // In range and integral, so the conversion is exact.
            seconds as u64
        }
    };
    (seconds <= MAX_NUMERIC_DATE).then_some(seconds)
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use jwt_compact::alg::{Es256, Hs256, Hs256Key};
    use jwt_compact::{Algorithm, AlgorithmSignature};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rsa::pkcs8::EncodePublicKey;
    use rsa::traits::PublicKeyParts;
    use serde_json::json;

    use super::*;
    use crate::core::test_keys::*;

    const NOW: u64 = 1_700_000_000;
    const ISSUER: &str = "https://idp.example.com/realms/kubeflow";

    fn audiences() -> &'static [String] {
        static AUDIENCES: OnceLock<Vec<String>> = OnceLock::new();
        AUDIENCES.get_or_init(|| vec!["ours".to_owned(), "also-ours".to_owned()])
    }

    fn rules() -> ClaimRules<'static> {
        ClaimRules {
            issuer: ISSUER,
            audiences: audiences(),
            clock_skew_seconds: 60,
            require_iat: false,
            require_sub: false,
        }
    }

    fn key_set() -> &'static KeySet {
        static SET: OnceLock<KeySet> = OnceLock::new();
        SET.get_or_init(|| KeySet::parse(&jwks_body(all_jwks())).unwrap())
    }

    /// The kid `all_jwks` gives the key for `alg`.
    fn kid_for(alg: Alg) -> &'static str {
        match alg {
            Alg::Es256 => "p256",
            Alg::Es384 => "p384",
            Alg::EdDsa => "ed25519",
            _ => "rsa",
        }
    }

    fn header(alg: Alg) -> Value {
        json!({"alg": alg.name(), "typ": "JWT", "kid": kid_for(alg)})
    }

    fn claims() -> Value {
        json!({"iss": ISSUER, "aud": "ours", "sub": "alice", "exp": NOW + 300, "iat": NOW - 10})
    }

    fn with(mut object: Value, name: &str, value: Value) -> Value {
        object[name] = value;
        object
    }

    fn without(mut object: Value, name: &str) -> Value {
        object.as_object_mut().unwrap().remove(name);
        object
    }

    fn check_with(token: &str, keys: &KeySet, rules: &ClaimRules<'_>) -> Result<u64, JwtError> {
        let jwt = parse(token)?;
        verify(&jwt, keys, rules, NOW).map(|verified| verified.exp)
    }

    fn check(token: &str) -> Result<u64, JwtError> {
        check_with(token, key_set(), &rules())
    }

    /// Verifies a correctly signed RS256 token carrying `payload`.
    fn check_claims(payload: Value) -> Result<u64, JwtError> {
        check(&mint(Alg::Rs256, &header(Alg::Rs256), &payload))
    }

    fn check_claims_with(payload: Value, rules: &ClaimRules<'_>) -> Result<u64, JwtError> {
        check_with(
            &mint(Alg::Rs256, &header(Alg::Rs256), &payload),
            key_set(),
            rules,
        )
    }

    /// Verifies a correctly signed RS256 token whose header is `header`.
    fn check_header(header: Value) -> Result<u64, JwtError> {
        check(&mint(Alg::Rs256, &header, &claims()))
    }

    fn b64_json(value: &Value) -> String {
        b64(&serde_json::to_vec(value).unwrap())
    }

    fn split(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    // --- happy path -------------------------------------------------------------------------

    #[test]
    fn accepts_every_supported_algorithm() {
        for alg in Alg::ALL {
            let token = mint(alg, &header(alg), &claims());
            assert_eq!(check(&token), Ok(NOW + 300), "{alg}");
        }
    }

    #[test]
    fn returns_the_claims() {
        let payload = with(claims(), "groups", json!(["dev"]));
        let token = mint(Alg::Es256, &header(Alg::Es256), &payload);
        let jwt = parse(&token).unwrap();
        let verified = verify(&jwt, key_set(), &rules(), NOW).unwrap();
        assert_eq!(verified.claims, *payload.as_object().unwrap());
        assert_eq!(verified.sub(), Some("alice"));
        assert_eq!(verified.exp, NOW + 300);
    }

    #[test]
    fn unverified_accessors_peek_at_header_and_issuer() {
        let token = mint(Alg::Ps384, &header(Alg::Ps384), &claims());
        let jwt = parse(&token).unwrap();
        assert_eq!(jwt.issuer(), Some(ISSUER));
        assert_eq!(jwt.kid(), Some("rsa"));
        assert_eq!(jwt.alg(), Alg::Ps384);
        assert_eq!(jwt.typ(), Some("JWT"));
        let odd = mint(
            Alg::Rs256,
            &without(header(Alg::Rs256), "typ"),
            &with(claims(), "iss", json!(1)),
        );
        let jwt = parse(&odd).unwrap();
        assert_eq!(jwt.issuer(), None);
        assert_eq!(jwt.typ(), None);
    }

    // --- size and shape ---------------------------------------------------------------------

    #[test]
    fn oversized_tokens_are_rejected_before_decoding() {
        let at_cap = "a".repeat(MAX_TOKEN_BYTES);
        assert_eq!(parse(&at_cap).unwrap_err(), JwtError::Malformed);
        let over = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(parse(&over).unwrap_err(), JwtError::TooLarge);
        // A validly signed but bloated token is rejected on size alone.
        let bloated = with(claims(), "pad", json!("x".repeat(64 * 1024)));
        let token = mint(Alg::Es256, &header(Alg::Es256), &bloated);
        assert_eq!(check(&token), Err(JwtError::TooLarge));
    }

    #[test]
    fn segment_counts() {
        let token = mint(Alg::Rs256, &header(Alg::Rs256), &claims());
        let parts = split(&token);
        for malformed in [
            String::new(),
            ".".to_owned(),
            parts[0].clone(),
            format!("{}.{}", parts[0], parts[1]),
            format!("{token}."),
            format!("{token}.a.b.c"),
            format!(".{token}"),
        ] {
            assert_eq!(
                parse(&malformed).unwrap_err(),
                JwtError::Malformed,
                "{malformed}"
            );
        }
        // Five segments is the JWE compact form, with or without a JWT inside.
        let jwe_header = b64_json(&json!({"alg": "RSA-OAEP", "enc": "A256GCM", "cty": "JWT"}));
        let jwe = format!("{jwe_header}.a2V5.aXY.{}.dGFn", b64(token.as_bytes()));
        assert_eq!(parse(&jwe).unwrap_err(), JwtError::Jwe);
        assert_eq!(parse("....").unwrap_err(), JwtError::Jwe);
    }

    #[test]
    fn base64_must_be_strict_unpadded_url_alphabet() {
        let token = mint(Alg::Rs256, &header(Alg::Rs256), &claims());
        let parts = split(&token);
        // "e30" is `{}`: each variant below would decode to it under a lax decoder.
        assert_eq!(URL_SAFE_NO_PAD.decode("e30").unwrap(), b"{}");
        for bad in ["e30=", "e30==", " e30", "e30 ", "e3\n0", "e30*", "e31"] {
            let candidate = format!("{bad}.{}.{}", parts[1], parts[2]);
            assert_eq!(
                parse(&candidate).unwrap_err(),
                JwtError::BadBase64,
                "{bad:?}"
            );
        }
        // Standard alphabet: bytes fb ff are "-_8" in base64url and "+/8" in base64.
        assert_eq!(b64(&[0xfb, 0xff]), "-_8");
        let standard = format!("{}.+/8.{}", parts[0], parts[2]);
        assert_eq!(parse(&standard).unwrap_err(), JwtError::BadBase64);
        let signature_padded = format!("{}.{}.{}==", parts[0], parts[1], parts[2]);
        assert_eq!(parse(&signature_padded).unwrap_err(), JwtError::BadBase64);
        // A single leftover character can never be valid base64.
        let signature_one_char = format!("{}.{}.A", parts[0], parts[1]);
        assert_eq!(parse(&signature_one_char).unwrap_err(), JwtError::BadBase64);
    }

    #[test]
    fn header_and_payload_must_be_json_objects() {
        let good_header = b64_json(&header(Alg::Rs256));
        let good_payload = b64_json(&claims());
        for bad in [
            "",
            "[]",
            "\"x\"",
            "null",
            "1",
            "{",
            "{\"alg\":\"RS256\"} x",
            "\u{feff}{}",
        ] {
            let encoded = b64(bad.as_bytes());
            let as_header = format!("{encoded}.{good_payload}.c2ln");
            assert_eq!(
                parse(&as_header).unwrap_err(),
                JwtError::HeaderNotJson,
                "{bad}"
            );
            let as_payload = format!("{good_header}.{encoded}.c2ln");
            assert_eq!(
                parse(&as_payload).unwrap_err(),
                JwtError::PayloadNotJson,
                "{bad}"
            );
        }
        let invalid_utf8 = b64(&[0x7b, 0xff, 0x7d]);
        assert_eq!(
            parse(&format!("{good_header}.{invalid_utf8}.c2ln")).unwrap_err(),
            JwtError::PayloadNotJson
        );
    }

    #[test]
    fn duplicate_members_are_rejected() {
        let payload = b64_json(&claims());
        let two_algs = b64(br#"{"alg":"none","alg":"RS256","kid":"rsa"}"#);
        assert_eq!(
            parse(&format!("{two_algs}.{payload}.c2ln")).unwrap_err(),
            JwtError::DuplicateMember
        );
        // Correctly signed, but with two `sub` values.
        let header = b64_json(&header(Alg::Rs256));
        let raw_payload = format!(
            r#"{{"iss":"{ISSUER}","aud":"ours","exp":{},"sub":"alice","sub":"admin"}}"#,
            NOW + 300
        );
        let signing_input = format!("{header}.{}", b64(raw_payload.as_bytes()));
        let signature = sign(Alg::Rs256, signing_input.as_bytes());
        let token = format!("{signing_input}.{}", b64(&signature));
        assert_eq!(check(&token), Err(JwtError::DuplicateMember));
        // Nested duplicates are not our concern; only top-level members are security relevant.
        let nested = with(claims(), "ext", json!({"a": 1}));
        assert!(check_claims(nested).is_ok());
    }

    #[test]
    fn empty_signature_is_rejected() {
        let token = mint(Alg::Rs256, &header(Alg::Rs256), &claims());
        let parts = split(&token);
        let stripped = format!("{}.{}.", parts[0], parts[1]);
        assert_eq!(parse(&stripped).unwrap_err(), JwtError::EmptySignature);
    }

    // --- alg --------------------------------------------------------------------------------

    #[test]
    fn alg_none_in_any_case_is_rejected() {
        let payload = b64_json(&claims());
        for none in ["none", "None", "NONE", "nOnE"] {
            let header = b64_json(&json!({"alg": none, "typ": "JWT"}));
            for signature in ["", "c2ln", "AAAA", "Z2FyYmFnZQ"] {
                let token = format!("{header}.{payload}.{signature}");
                assert_eq!(
                    parse(&token).unwrap_err(),
                    JwtError::AlgNone,
                    "{none} {signature}"
                );
            }
            // Even with a kid of a real key and a real signature over the input.
            let header = json!({"alg": none, "kid": "rsa"});
            let token = mint(Alg::Rs256, &header, &claims());
            assert_eq!(check(&token), Err(JwtError::AlgNone));
        }
    }

    #[test]
    fn alg_must_be_a_present_string() {
        assert_eq!(
            check_header(without(header(Alg::Rs256), "alg")),
            Err(JwtError::MissingAlg)
        );
        for alg in [
            json!(null),
            json!(256),
            json!(["RS256"]),
            json!({"name": "RS256"}),
        ] {
            let header = with(header(Alg::Rs256), "alg", alg);
            assert_eq!(check_header(header), Err(JwtError::AlgNotString));
        }
    }

    #[test]
    fn hmac_with_the_rsa_public_key_is_rejected() {
        let public = keys().rsa.to_public_key();
        let pem = public.to_public_key_pem(Default::default()).unwrap();
        let der = public.to_public_key_der().unwrap();
        let n = b64(&public.n().to_bytes_be());
        for alg in ["HS256", "HS384", "HS512", "hs256", "Hs256"] {
            for secret in [pem.as_bytes(), der.as_bytes(), n.as_bytes()] {
                let header = json!({"alg": alg, "typ": "JWT", "kid": "rsa"});
                let signing_input = signing_input(&header, &claims());
                let mac = Hs256.sign(&Hs256Key::new(secret), signing_input.as_bytes());
                let token = format!("{signing_input}.{}", b64(&mac.as_bytes()));
                assert_eq!(check(&token), Err(JwtError::SymmetricAlg), "{alg}");
            }
        }
    }

    #[test]
    fn unsupported_algs_are_rejected() {
        for alg in [
            "ES512", "ES256K", "RSA-OAEP", "rs256", "RS256 ", "Ed25519", "PS", "",
        ] {
            let header = with(header(Alg::Rs256), "alg", json!(alg));
            assert_eq!(
                check_header(header),
                Err(JwtError::UnsupportedAlg),
                "{alg:?}"
            );
        }
    }

    // --- other header parameters ------------------------------------------------------------

    #[test]
    fn embedded_keys_are_rejected_even_when_the_signature_is_valid() {
        let attacker_jwk = rsa_jwk("attacker");
        for (name, value) in [
            ("jwk", attacker_jwk),
            ("jku", json!("https://evil.example/jwks.json")),
            ("x5u", json!("https://evil.example/cert.pem")),
            ("x5c", json!(["MIIB"])),
            ("jwk", json!(null)),
        ] {
            let header = with(header(Alg::Rs256), name, value);
            assert_eq!(check_header(header), Err(JwtError::EmbeddedKey), "{name}");
        }
    }

    #[test]
    fn crit_is_rejected_whatever_its_value() {
        for crit in [
            json!(["exp"]),
            json!([]),
            json!(["b64"]),
            json!("b64"),
            json!(null),
        ] {
            let header = with(header(Alg::Rs256), "crit", crit);
            assert_eq!(check_header(header), Err(JwtError::UnsupportedCrit));
        }
    }

    #[test]
    fn nested_tokens_are_rejected() {
        for cty in [
            json!("JWT"),
            json!("jwt"),
            json!("application/json"),
            json!(1),
        ] {
            let header = with(header(Alg::Rs256), "cty", cty);
            assert_eq!(check_header(header), Err(JwtError::NestedToken));
        }
    }

    #[test]
    fn typ_must_name_a_jwt_or_access_token() {
        for typ in [
            "JWT",
            "jwt",
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+JWT",
        ] {
            let header = with(header(Alg::Rs256), "typ", json!(typ));
            assert!(check_header(header).is_ok(), "{typ}");
        }
        assert!(check_header(without(header(Alg::Rs256), "typ")).is_ok());
        for typ in [
            json!("logout+jwt"),
            json!("dpop+jwt"),
            json!("secevent+jwt"),
            json!("JOSE"),
            json!("application/jwt"),
            json!(""),
            json!(1),
            json!(null),
            json!(["JWT"]),
        ] {
            let header = with(header(Alg::Rs256), "typ", typ.clone());
            assert_eq!(check_header(header), Err(JwtError::WrongType), "{typ}");
        }
    }

    #[test]
    fn kid_must_be_a_string() {
        for kid in [json!(1), json!(null), json!(["rsa"])] {
            let header = with(header(Alg::Rs256), "kid", kid);
            assert_eq!(check_header(header), Err(JwtError::BadKid));
        }
    }

    // --- key selection ----------------------------------------------------------------------

    #[test]
    fn unknown_kid_is_distinguishable() {
        let header = with(header(Alg::Rs256), "kid", json!("rotated-away"));
        let error = check_header(header).unwrap_err();
        assert_eq!(error, JwtError::UnknownKid);
        assert_eq!(error.reason(), "unknown_kid");
    }

    #[test]
    fn kid_absent_with_one_compatible_key_is_accepted() {
        // `all_jwks` holds one key per kind, so every alg has exactly one candidate.
        for alg in Alg::ALL {
            let token = mint(alg, &without(header(alg), "kid"), &claims());
            assert_eq!(check(&token), Ok(NOW + 300), "{alg}");
        }
    }

    #[test]
    fn kid_absent_with_two_compatible_keys_is_rejected() {
        let keys = KeySet::parse(&jwks_body(vec![rsa_jwk("a"), rsa_jwk("b")])).unwrap();
        let token = mint(Alg::Rs256, &without(header(Alg::Rs256), "kid"), &claims());
        assert_eq!(
            check_with(&token, &keys, &rules()),
            Err(JwtError::AmbiguousKey)
        );
    }

    #[test]
    fn kid_absent_with_no_compatible_key_is_rejected() {
        let keys = KeySet::parse(&jwks_body(vec![p256_jwk("a")])).unwrap();
        let token = mint(Alg::Rs256, &without(header(Alg::Rs256), "kid"), &claims());
        assert_eq!(
            check_with(&token, &keys, &rules()),
            Err(JwtError::NoKeyForAlg)
        );
    }

    #[test]
    fn rs256_header_selecting_an_ec_key_is_rejected() {
        let rs_on_ec = with(header(Alg::Rs256), "kid", json!("p256"));
        assert_eq!(check_header(rs_on_ec), Err(JwtError::KeyAlgMismatch));
        // ES256 header with an ES384 key, and EdDSA with an RSA key.
        let es = mint(
            Alg::Es256,
            &with(header(Alg::Es256), "kid", json!("p384")),
            &claims(),
        );
        assert_eq!(check(&es), Err(JwtError::KeyAlgMismatch));
        let ed = mint(
            Alg::EdDsa,
            &with(header(Alg::EdDsa), "kid", json!("rsa")),
            &claims(),
        );
        assert_eq!(check(&ed), Err(JwtError::KeyAlgMismatch));
    }

    #[test]
    fn jwk_declared_alg_must_match_the_header() {
        let keys = KeySet::parse(&jwks_body(vec![with(
            rsa_jwk("rsa"),
            "alg",
            json!("RS384"),
        )]));
        let keys = keys.unwrap();
        let rs256 = mint(Alg::Rs256, &header(Alg::Rs256), &claims());
        assert_eq!(
            check_with(&rs256, &keys, &rules()),
            Err(JwtError::KeyAlgMismatch)
        );
        let rs384 = mint(Alg::Rs384, &header(Alg::Rs384), &claims());
        assert!(check_with(&rs384, &keys, &rules()).is_ok());
    }

    #[test]
    fn encryption_keys_cannot_verify() {
        let keys = KeySet::parse(&jwks_body(vec![
            with(rsa_jwk("rsa"), "use", json!("enc")),
            p256_jwk("p256"),
        ]))
        .unwrap();
        let token = mint(Alg::Rs256, &header(Alg::Rs256), &claims());
        assert_eq!(
            check_with(&token, &keys, &rules()),
            Err(JwtError::UnknownKid)
        );
    }

    // --- signature --------------------------------------------------------------------------

    #[test]
    fn one_flipped_bit_in_payload_or_signature_fails_for_every_alg() {
        for alg in Alg::ALL {
            let header_json = b64_json(&header(alg));
            let payload = serde_json::to_vec(&claims()).unwrap();
            let signing_input = format!("{header_json}.{}", b64(&payload));
            let signature = sign(alg, signing_input.as_bytes());
            // Flip a bit inside the `sub` value so the payload stays valid JSON.
            let at = payload.windows(5).position(|w| w == b"alice").unwrap();
            let mut changed_payload = payload.clone();
            changed_payload[at] ^= 0x01;
            let token = format!(
                "{header_json}.{}.{}",
                b64(&changed_payload),
                b64(&signature)
            );
            assert_eq!(check(&token), Err(JwtError::BadSignature), "{alg} payload");
            for bit in [0, 9, signature.len() * 4, signature.len() * 8 - 1] {
                let mut changed = signature.clone();
                changed[bit / 8] ^= 1 << (bit % 8);
                let token = format!("{signing_input}.{}", b64(&changed));
                assert_eq!(
                    check(&token),
                    Err(JwtError::BadSignature),
                    "{alg} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn the_signature_covers_the_exact_header_bytes() {
        let header_value = with(header(Alg::Rs256), "x-trace", json!("aaaa"));
        let token = mint(Alg::Rs256, &header_value, &claims());
        assert!(check(&token).is_ok());
        let parts = split(&token);
        let other_header = b64_json(&with(header(Alg::Rs256), "x-trace", json!("aaab")));
        let swapped = format!("{other_header}.{}.{}", parts[1], parts[2]);
        assert_eq!(check(&swapped), Err(JwtError::BadSignature));
        // Same JSON, different bytes (whitespace) is a different signing input.
        let spaced = b64(format!(" {}", serde_json::to_string(&header_value).unwrap()).as_bytes());
        let respaced = format!("{spaced}.{}.{}", parts[1], parts[2]);
        assert_eq!(check(&respaced), Err(JwtError::BadSignature));
    }

    #[test]
    fn truncated_and_tiny_signatures_fail() {
        for alg in Alg::ALL {
            let signing_input = signing_input(&header(alg), &claims());
            let signature = sign(alg, signing_input.as_bytes());
            for candidate in [
                &signature[..signature.len() - 1],
                &signature[..signature.len() / 2],
                &signature[..1],
                &[0u8][..],
            ] {
                let token = format!("{signing_input}.{}", b64(candidate));
                assert_eq!(check(&token), Err(JwtError::BadSignature), "{alg}");
            }
            let mut longer = signature.clone();
            longer.push(0);
            let token = format!("{signing_input}.{}", b64(&longer));
            assert_eq!(check(&token), Err(JwtError::BadSignature), "{alg} longer");
        }
    }

    #[test]
    fn ecdsa_signatures_must_be_raw_r_and_s() {
        let signing_input = signing_input(&header(Alg::Es256), &claims());
        let raw = sign(Alg::Es256, signing_input.as_bytes());
        let der = p256::ecdsa::Signature::from_slice(&raw).unwrap().to_der();
        let token = format!("{signing_input}.{}", b64(der.as_bytes()));
        assert_eq!(check(&token), Err(JwtError::BadSignature));
    }

    #[test]
    fn a_token_signed_by_another_issuers_key_fails() {
        // Issuer A's set holds `p256`; the token claims A but is signed by B's key, same kid.
        let header_value = header(Alg::Es256);
        let signing_input = signing_input(&header_value, &claims());
        let signature = Es256.sign(&keys().p256_other, signing_input.as_bytes());
        let token = format!("{signing_input}.{}", b64(&signature.as_bytes()));
        assert_eq!(check(&token), Err(JwtError::BadSignature));
        // The same token does verify against B's keys: which is why the caller must pick the
        // key set by the token's issuer, never try every issuer's keys.
        let b_keys = KeySet::parse(&jwks_body(vec![p256_jwk_for(&keys().p256_other, "p256")]));
        assert!(check_with(&token, &b_keys.unwrap(), &rules()).is_ok());
    }

    // --- iss --------------------------------------------------------------------------------

    #[test]
    fn issuer_must_match_exactly() {
        for issuer in [
            format!("{ISSUER}/"),
            ISSUER.to_uppercase(),
            "https://IDP.example.com/realms/kubeflow".to_owned(),
            ISSUER.replace("https://", "http://"),
            format!("{ISSUER}/extra"),
            "https://idp.example.com/realms/kubeflow2".to_owned(),
            "https://idp.example.com/realms".to_owned(),
            String::new(),
        ] {
            let result = check_claims(with(claims(), "iss", json!(issuer)));
            assert_eq!(result, Err(JwtError::WrongIssuer), "{issuer}");
        }
        assert_eq!(
            check_claims(without(claims(), "iss")),
            Err(JwtError::MissingIssuer)
        );
        for wrong in [json!(1), json!([ISSUER]), json!(null)] {
            let result = check_claims(with(claims(), "iss", wrong));
            assert_eq!(result, Err(JwtError::WrongClaimType("iss")));
        }
    }

    // --- aud / azp --------------------------------------------------------------------------

    #[test]
    fn audience_rules() {
        let cases = [
            (None, None, Err(JwtError::MissingAudience)),
            (Some(json!("theirs")), None, Err(JwtError::WrongAudience)),
            (Some(json!("Ours")), None, Err(JwtError::WrongAudience)),
            (Some(json!([])), None, Err(JwtError::WrongAudience)),
            (Some(json!(123)), None, Err(JwtError::WrongClaimType("aud"))),
            (
                Some(json!(null)),
                None,
                Err(JwtError::WrongClaimType("aud")),
            ),
            (
                Some(json!(["ours", 1])),
                None,
                Err(JwtError::WrongClaimType("aud")),
            ),
            (
                Some(json!(["ours", "evil"])),
                None,
                Err(JwtError::AzpRequired),
            ),
            (
                Some(json!(["ours", "evil"])),
                Some(json!("evil")),
                Err(JwtError::WrongAzp),
            ),
            (
                Some(json!("ours")),
                Some(json!("other")),
                Err(JwtError::WrongAzp),
            ),
            (
                Some(json!("ours")),
                Some(json!(7)),
                Err(JwtError::WrongClaimType("azp")),
            ),
            (Some(json!("ours")), None, Ok(NOW + 300)),
            (Some(json!("also-ours")), None, Ok(NOW + 300)),
            (Some(json!(["ours"])), None, Ok(NOW + 300)),
            (Some(json!("ours")), Some(json!("ours")), Ok(NOW + 300)),
            (
                Some(json!(["evil", "ours"])),
                Some(json!("ours")),
                Ok(NOW + 300),
            ),
        ];
        for (aud, azp, expected) in cases {
            let mut payload = without(claims(), "aud");
            if let Some(aud) = aud.clone() {
                payload = with(payload, "aud", aud);
            }
            if let Some(azp) = azp.clone() {
                payload = with(payload, "azp", azp);
            }
            assert_eq!(check_claims(payload), expected, "aud {aud:?} azp {azp:?}");
        }
    }

    #[test]
    fn no_configured_audience_accepts_nothing() {
        let empty: Vec<String> = Vec::new();
        let rules = ClaimRules {
            audiences: &empty,
            ..rules()
        };
        assert_eq!(
            check_claims_with(claims(), &rules),
            Err(JwtError::WrongAudience)
        );
    }

    // --- exp / nbf / iat --------------------------------------------------------------------

    #[test]
    fn exp_is_required_and_enforced_with_skew() {
        assert_eq!(
            check_claims(without(claims(), "exp")),
            Err(JwtError::MissingExp)
        );
        // 60 s skew: exp = now - 61 is past it, now - 59 is inside it.
        assert_eq!(
            check_claims(with(claims(), "exp", json!(NOW - 61))),
            Err(JwtError::Expired)
        );
        assert_eq!(
            check_claims(with(claims(), "exp", json!(NOW - 60))),
            Err(JwtError::Expired)
        );
        assert_eq!(
            check_claims(with(claims(), "exp", json!(NOW - 59))),
            Ok(NOW - 59)
        );
        let strict = ClaimRules {
            clock_skew_seconds: 0,
            ..rules()
        };
        let at_now = with(claims(), "exp", json!(NOW));
        assert_eq!(check_claims_with(at_now, &strict), Err(JwtError::Expired));
        let next_second = with(claims(), "exp", json!(NOW + 1));
        assert_eq!(check_claims_with(next_second, &strict), Ok(NOW + 1));
    }

    #[test]
    fn numeric_dates_must_be_numbers() {
        for claim in ["exp", "nbf", "iat"] {
            for wrong in [
                json!("1700000300"),
                json!(true),
                json!(null),
                json!([NOW]),
                json!({}),
            ] {
                let result = check_claims(with(claims(), claim, wrong.clone()));
                assert_eq!(
                    result,
                    Err(JwtError::WrongClaimType(claim)),
                    "{claim} {wrong}"
                );
            }
        }
    }

    #[test]
    fn numeric_dates_may_be_fractional_but_not_negative_or_absurd() {
        let fractional = with(claims(), "exp", json!((NOW + 300) as f64 + 0.9));
        assert_eq!(check_claims(fractional), Ok(NOW + 300));
        let fractional_iat = with(claims(), "iat", json!(NOW as f64 - 0.5));
        assert!(check_claims(fractional_iat).is_ok());
        for claim in ["exp", "nbf", "iat"] {
            for absurd in [
                json!(-1),
                json!(-0.5),
                json!(i64::MIN),
                json!(MAX_NUMERIC_DATE + 1),
                json!(u64::MAX),
                json!(1e300),
                json!(-1e300),
            ] {
                let result = check_claims(with(claims(), claim, absurd.clone()));
                assert_eq!(
                    result,
                    Err(JwtError::InvalidNumericDate(claim)),
                    "{claim} {absurd}"
                );
            }
        }
        // The last second of 9999 is still a date; a token may legitimately never expire soon.
        assert_eq!(
            check_claims(with(claims(), "exp", json!(MAX_NUMERIC_DATE))),
            Ok(MAX_NUMERIC_DATE)
        );
    }

    #[test]
    fn numeric_date_conversion() {
        let date = |value: Value| match value {
            Value::Number(number) => numeric_date(&number),
            _ => unreachable!(),
        };
        assert_eq!(date(json!(0)), Some(0));
        assert_eq!(date(json!(-0.0)), Some(0));
        assert_eq!(date(json!(1.999)), Some(1));
        assert_eq!(
            date(json!(MAX_NUMERIC_DATE as f64 + 0.5)),
            Some(MAX_NUMERIC_DATE)
        );
        assert_eq!(date(json!(MAX_NUMERIC_DATE as f64 + 1.0)), None);
        assert_eq!(date(json!(-0.1)), None);
    }

    #[test]
    fn nbf_in_the_future_is_rejected() {
        let future = with(claims(), "nbf", json!(NOW + 300));
        assert_eq!(check_claims(future), Err(JwtError::NotYetValid));
        assert_eq!(
            check_claims(with(claims(), "nbf", json!(NOW + 61))),
            Err(JwtError::NotYetValid)
        );
        assert!(check_claims(with(claims(), "nbf", json!(NOW + 60))).is_ok());
        assert!(check_claims(with(claims(), "nbf", json!(NOW - 600))).is_ok());
    }

    #[test]
    fn iat_rules() {
        let future = with(claims(), "iat", json!(NOW + 3600));
        assert_eq!(check_claims(future), Err(JwtError::IssuedInFuture));
        assert!(check_claims(with(claims(), "iat", json!(NOW + 60))).is_ok());
        assert_eq!(
            check_claims(with(claims(), "iat", json!(NOW + 61))),
            Err(JwtError::IssuedInFuture)
        );
        // Absent iat: fine unless required (id_tokens require it).
        assert!(check_claims(without(claims(), "iat")).is_ok());
        let id_token_rules = ClaimRules {
            require_iat: true,
            ..rules()
        };
        assert_eq!(
            check_claims_with(without(claims(), "iat"), &id_token_rules),
            Err(JwtError::MissingIat)
        );
        // A week-old iat is accepted while exp holds; freshness of a login is the nonce's job.
        let week_old = with(claims(), "iat", json!(NOW - 7 * 24 * 3600));
        assert!(check_claims_with(week_old, &id_token_rules).is_ok());
    }

    #[test]
    fn huge_skew_does_not_overflow() {
        let lenient = ClaimRules {
            clock_skew_seconds: u64::MAX,
            ..rules()
        };
        let payload = with(
            with(claims(), "nbf", json!(MAX_NUMERIC_DATE)),
            "exp",
            json!(0),
        );
        assert!(check_claims_with(payload, &lenient).is_ok());
        let token = mint(Alg::Rs256, &header(Alg::Rs256), &claims());
        let jwt = parse(&token).unwrap();
        assert_eq!(
            verify(&jwt, key_set(), &rules(), u64::MAX).unwrap_err(),
            JwtError::Expired
        );
    }

    // --- sub --------------------------------------------------------------------------------

    #[test]
    fn sub_rules() {
        assert_eq!(
            check_claims(with(claims(), "sub", json!(12345))),
            Err(JwtError::WrongClaimType("sub"))
        );
        assert_eq!(
            check_claims(with(claims(), "sub", json!(null))),
            Err(JwtError::WrongClaimType("sub"))
        );
        assert_eq!(
            check_claims(with(claims(), "sub", json!(""))),
            Err(JwtError::InvalidSub)
        );
        let max = "s".repeat(MAX_SUB_BYTES);
        assert!(check_claims(with(claims(), "sub", json!(max))).is_ok());
        for long in ["s".repeat(MAX_SUB_BYTES + 1), "s".repeat(10_000)] {
            assert_eq!(
                check_claims(with(claims(), "sub", json!(long))),
                Err(JwtError::InvalidSub)
            );
        }
        // 128 two-byte characters: 256 bytes.
        let multibyte = "é".repeat(128);
        assert_eq!(
            check_claims(with(claims(), "sub", json!(multibyte))),
            Err(JwtError::InvalidSub)
        );
        // A 1 MB sub cannot even get past the token size cap.
        let mega = mint(
            Alg::Rs256,
            &header(Alg::Rs256),
            &with(claims(), "sub", json!("s".repeat(1 << 20))),
        );
        assert_eq!(check(&mega), Err(JwtError::TooLarge));

        assert!(check_claims(without(claims(), "sub")).is_ok());
        let id_token_rules = ClaimRules {
            require_sub: true,
            ..rules()
        };
        assert_eq!(
            check_claims_with(without(claims(), "sub"), &id_token_rules),
            Err(JwtError::MissingSub)
        );
    }

    // --- ordering and labels ----------------------------------------------------------------

    #[test]
    fn claims_are_not_judged_before_the_signature() {
        // Expired and wrong issuer, but the signature is bad: the signature error wins, so an
        // attacker learns nothing about claim checks without a valid signature.
        let payload = with(
            with(claims(), "exp", json!(1)),
            "iss",
            json!("https://evil"),
        );
        let signing_input = signing_input(&header(Alg::Rs256), &payload);
        let token = format!("{signing_input}.{}", b64(&[7u8; 256]));
        assert_eq!(check(&token), Err(JwtError::BadSignature));
    }

    #[test]
    fn reasons_are_unique_snake_case_labels() {
        let all = [
            JwtError::TooLarge,
            JwtError::Jwe,
            JwtError::Malformed,
            JwtError::BadBase64,
            JwtError::HeaderNotJson,
            JwtError::PayloadNotJson,
            JwtError::DuplicateMember,
            JwtError::EmptySignature,
            JwtError::MissingAlg,
            JwtError::AlgNotString,
            JwtError::AlgNone,
            JwtError::SymmetricAlg,
            JwtError::UnsupportedAlg,
            JwtError::EmbeddedKey,
            JwtError::UnsupportedCrit,
            JwtError::NestedToken,
            JwtError::WrongType,
            JwtError::BadKid,
            JwtError::UnknownKid,
            JwtError::NoKeyForAlg,
            JwtError::AmbiguousKey,
            JwtError::KeyAlgMismatch,
            JwtError::BadSignature,
            JwtError::MissingIssuer,
            JwtError::WrongIssuer,
            JwtError::MissingAudience,
            JwtError::WrongAudience,
            JwtError::AzpRequired,
            JwtError::WrongAzp,
            JwtError::MissingExp,
            JwtError::Expired,
            JwtError::NotYetValid,
            JwtError::IssuedInFuture,
            JwtError::MissingIat,
            JwtError::MissingSub,
            JwtError::InvalidSub,
            JwtError::WrongClaimType("aud"),
            JwtError::InvalidNumericDate("exp"),
        ];
        let mut labels: Vec<&str> = all.iter().map(JwtError::reason).collect();
        assert!(labels.iter().all(|label| label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), all.len());
        assert_eq!(
            JwtError::WrongClaimType("aud").to_string(),
            "claim_type (aud)"
        );
        assert_eq!(JwtError::Expired.to_string(), "expired");
    }

    // --- fuzz -------------------------------------------------------------------------------

    const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    fn random_segment(rng: &mut StdRng) -> String {
        let len = rng.gen_range(0..400);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if rng.gen_bool(0.5) {
            b64(&bytes)
        } else {
            // Arbitrary characters, including multibyte UTF-8 and dots.
            (0..len / 4)
                .map(|_| match rng.gen_range(0..4) {
                    0 => '.',
                    1 => 'é',
                    2 => char::from(rng.gen_range(0x20u8..0x7f)),
                    _ => char::from(BASE64URL[rng.gen_range(0..BASE64URL.len())]),
                })
                .collect()
        }
    }

    fn mutate(rng: &mut StdRng, token: &str) -> String {
        let mut parts = split(token);
        match rng.gen_range(0..6) {
            // Truncate anywhere (on a char boundary: the token is ASCII).
            0 => token[..rng.gen_range(0..token.len())].to_owned(),
            // Replace one character with another base64url character or a dot.
            1 => {
                let mut bytes = token.as_bytes().to_vec();
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = if rng.gen_bool(0.1) {
                    b'.'
                } else {
                    BASE64URL[rng.gen_range(0..BASE64URL.len())]
                };
                String::from_utf8(bytes).unwrap()
            }
            // Flip one bit in the decoded header, payload or signature and re-encode.
            2 => {
                let index = rng.gen_range(0..3);
                let mut bytes = URL_SAFE_NO_PAD.decode(&parts[index]).unwrap();
                let bit = rng.gen_range(0..bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
                parts[index] = b64(&bytes);
                parts.join(".")
            }
            // Replace a whole segment with random data.
            3 => {
                let index = rng.gen_range(0..3);
                parts[index] = random_segment(rng);
                parts.join(".")
            }
            // Insert or remove segments.
            4 => {
                if rng.gen_bool(0.5) {
                    parts.insert(rng.gen_range(0..=parts.len()), random_segment(rng));
                } else {
                    parts.remove(rng.gen_range(0..parts.len()));
                }
                parts.join(".")
            }
            // Entirely random input.
            _ => (0..rng.gen_range(1..4))
                .map(|_| random_segment(rng))
                .collect::<Vec<_>>()
                .join("."),
        }
    }

    #[test]
    fn fuzzed_tokens_never_panic_and_never_verify() {
        let mut rng = StdRng::seed_from_u64(0x01dc_6a7e);
        let originals: Vec<String> = [Alg::Rs256, Alg::Ps256, Alg::Es256, Alg::Es384, Alg::EdDsa]
            .into_iter()
            .map(|alg| mint(alg, &header(alg), &claims()))
            .collect();
        let mut verified_attempts = 0;
        for round in 0..4000 {
            let original = &originals[round % originals.len()];
            let mutated = mutate(&mut rng, original);
            if &mutated == original {
                continue;
            }
            let Ok(jwt) = parse(&mutated) else { continue };
            verified_attempts += 1;
            let result = verify(&jwt, key_set(), &rules(), NOW);
            assert!(result.is_err(), "mutated token verified: {mutated}");
        }
        // Make sure the fuzzer reached the signature check often enough to mean something.
        assert!(
            verified_attempts > 500,
            "only {verified_attempts} reached verify"
        );
    }
}
