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
    assert_eq!(jwt.alg(), TokenAlg::Published(Alg::Ps384));
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
