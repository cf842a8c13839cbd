//! Compact JWS tokens (RFC 7515/7519): strict parsing, signature verification against a
//! [`KeySet`], and claim checks.
//!
//! Flow: [`parse`] decodes and vets the header without trusting anything; the caller peeks at
//! [`UnverifiedJwt::issuer`] to pick that issuer's keys and rules; [`verify`] then checks the
//! signature and only afterwards the claims. Every rejection has its own [`JwtError`] variant.
//!
//! HS256 parses, but verifies only against a pinned-secret issuer's set (`core::hs256`);
//! against published keys it is refused as [`JwtError::SymmetricAlg`], as every other `HS*` is.

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
/// The `typ` of an OIDC Back-Channel Logout token (section 2.4), the only ones a logout token
/// may carry, so that no other token can be replayed as one.
const LOGOUT_TYPES: [&str; 2] = ["logout+jwt", "application/logout+jwt"];
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
    /// `HS*` other than HS256, or HS256 for an issuer with published keys: an HMAC keyed with
    /// a public key is forgeable by anyone who has the key.
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

/// A token header's `alg`: one that published (JWKS) keys verify, or HS256, which only a
/// pinned secret verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAlg {
    Published(Alg),
    Hs256,
}

/// A token whose encoding and header passed [`parse`] but whose signature is not yet checked.
/// Nothing in it may be trusted except as a hint for choosing keys.
#[derive(Debug, Clone)]
pub struct UnverifiedJwt<'a> {
    /// `header.payload` exactly as received: the bytes the signature covers.
    signing_input: &'a str,
    alg: TokenAlg,
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

    pub fn alg(&self) -> TokenAlg {
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
    /// `aud` must contain one of these; `azp`, when present, must be one of these. Empty (a
    /// pinned-secret issuer configured without audiences): the token must carry no `aud`.
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
    parse_typed(token, &ACCEPTED_TYPES)
}

/// [`parse`] for a back-channel logout token: its `typ`, when present, is `logout+jwt`.
pub fn parse_logout_token(token: &str) -> Result<UnverifiedJwt<'_>, JwtError> {
    parse_typed(token, &LOGOUT_TYPES)
}

fn parse_typed<'a>(token: &'a str, types: &[&str]) -> Result<UnverifiedJwt<'a>, JwtError> {
    // Before any decoding, so an oversized header costs nothing.
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge);
    }
    let segments = split_segments(token)?;

    let header = decode_object(segments.header, JwtError::HeaderNotJson)?;
    let alg = header_alg(&header)?;
    reject_unsafe_header_params(&header)?;
    let typ = header_typ(&header, types)?;
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
    if !signature_is_valid(jwt, keys)? {
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

/// A pinned secret verifies HS256 and nothing else, whatever the header names besides; a
/// published key never verifies HS256, so no public key is ever used as an HMAC secret.
fn signature_is_valid(jwt: &UnverifiedJwt<'_>, keys: &KeySet) -> Result<bool, JwtError> {
    let input = jwt.signing_input.as_bytes();
    match (jwt.alg, keys.pinned_hs256_key()) {
        (TokenAlg::Hs256, Some(secret)) => Ok(secret.verify(input, &jwt.signature)),
        (TokenAlg::Hs256, None) => Err(JwtError::SymmetricAlg),
        (TokenAlg::Published(_), Some(_)) => Err(JwtError::NoKeyForAlg),
        (TokenAlg::Published(alg), None) => {
            let key = keys.select(jwt.kid(), alg)?;
            Ok(key.verify(alg, input, &jwt.signature))
        }
    }
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

fn header_alg(header: &Map<String, Value>) -> Result<TokenAlg, JwtError> {
    let name = match header.get("alg") {
        None => return Err(JwtError::MissingAlg),
        Some(Value::String(name)) => name,
        Some(_) => return Err(JwtError::AlgNotString),
    };
    // Exactly `HS256`: whether it may be verified depends on the issuer's keys (`verify`).
    if name == "HS256" {
        return Ok(TokenAlg::Hs256);
    }
    // Names are case-sensitive, but a case variant of `none` or `HS*` is an attack, not a typo:
    // give it its own label.
    if name.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNone);
    }
    if name.to_ascii_uppercase().starts_with("HS") {
        return Err(JwtError::SymmetricAlg);
    }
    Alg::from_name(name)
        .map(TokenAlg::Published)
        .ok_or(JwtError::UnsupportedAlg)
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

fn header_typ(header: &Map<String, Value>, types: &[&str]) -> Result<Option<String>, JwtError> {
    match header.get("typ") {
        None => Ok(None),
        Some(Value::String(typ))
            if types
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
    if accepted.is_empty() {
        return check_no_audience(claims);
    }
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

/// RFC 7519 §4.1.3: a token whose `aud` does not name us is refused; with no audience of our
/// own, every `aud` is someone else's. An `azp` names no audience of ours either.
fn check_no_audience(claims: &Map<String, Value>) -> Result<(), JwtError> {
    if claims.contains_key("aud") {
        return Err(JwtError::WrongAudience);
    }
    match string_claim(claims, "azp")? {
        Some(_) => Err(JwtError::WrongAzp),
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
mod tests;
