use jwt_compact::alg::{Hs256, Hs256Key as ReferenceKey};
use jwt_compact::{AlgorithmExt, Claims, Header, UntrustedToken};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Map, Value};

use super::*;
use crate::config::Config;
use crate::core::decide::{decide, Decision, OnUnknownKid, Request, Verifier};
use crate::core::jwks::Alg;
use crate::core::jwt::{self, ClaimRules, JwtError};
use crate::core::revocation::NoneRevoked;
use crate::core::test_keys::{all_jwks, b64, jwks_body, keys, mint, rsa_jwk, signing_input};

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

// --- HMAC-SHA256: RFC 4231 ---------------------------------------------------------------

/// RFC 4231 section 4, test cases 1-4, 6 and 7: (key, data, HMAC-SHA-256).
fn rfc4231_cases() -> Vec<(Vec<u8>, Vec<u8>, &'static str)> {
    vec![
        (vec![0x0b; 20], b"Hi There".to_vec(),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (vec![0xaa; 20], vec![0xdd; 50],
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ((1..=25).collect(), vec![0xcd; 50],
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (vec![0xaa; 131],
         b"This is a test using a larger than block-size key and a larger than block-size data. \
           The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ]
}

#[test]
fn rfc4231_vectors_verify_and_any_changed_bit_does_not() {
    for (key, data, mac) in rfc4231_cases() {
        let key = keyed(&key).unwrap();
        let mac = hex(mac);
        assert!(key.verify(&data, &mac), "{}", hex_of(&mac));
        for bit in [0, 7, 100, 255] {
            let mut forged = mac.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            assert!(!key.verify(&data, &forged));
        }
        let mut other_data = data.clone();
        other_data.push(0);
        assert!(!key.verify(&other_data, &mac));
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_truncated_tag_is_refused_even_when_its_bytes_are_right() {
    // RFC 4231 test case 5: the published value is the tag truncated to 128 bits. A JWS
    // signature is the whole tag (RFC 7518 §3.2), so the correct prefix alone must not pass.
    let key = keyed(&[0x0c; 20]).unwrap();
    let truncated = hex("a3b6167473100ee06e0c796c2955552b");
    assert!(!key.verify(b"Test With Truncation", &truncated));
    let mut full = truncated.clone();
    full.extend(reference_tag(&[0x0c; 20], b"Test With Truncation")[16..].iter());
    assert!(key.verify(b"Test With Truncation", &full));
    assert!(!key.verify(b"Test With Truncation", &[]));
}

fn reference_tag(key: &[u8], message: &[u8]) -> Vec<u8> {
    use jwt_compact::{Algorithm, AlgorithmSignature};
    Hs256
        .sign(&ReferenceKey::new(key), message)
        .as_bytes()
        .into_owned()
}

#[test]
fn secrets_shorter_than_32_bytes_are_refused() {
    assert!(Hs256Key::new(&[7; 31]).is_none());
    assert!(Hs256Key::new(b"").is_none());
    assert!(Hs256Key::new(&[7; 32]).is_some());
    assert!(Hs256Key::new(&[7; 200]).is_some());
}

#[test]
fn debug_output_never_shows_the_secret() {
    let key = Hs256Key::new(b"datahub-signing-key-0123456789abcdef").unwrap();
    let printed = format!("{key:?} {:?}", KeySet::pinned_hs256(key.clone()));
    assert!(!printed.contains("datahub-signing"), "{printed}");
    assert!(!printed.contains("0123456789"), "{printed}");
}

// --- JWS: RFC 7515 appendix A.1 -------------------------------------------------------------

const RFC7515_A1_KEY: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
const RFC7515_A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The example's `exp`.
const RFC7515_A1_EXP: u64 = 1_300_819_380;

fn rfc7515_key_set() -> KeySet {
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(RFC7515_A1_KEY)
        .unwrap();
    KeySet::pinned_hs256(Hs256Key::new(&secret).unwrap())
}

fn joe_rules(audiences: &[String]) -> ClaimRules<'_> {
    ClaimRules {
        issuer: "joe",
        audiences,
        clock_skew_seconds: 0,
        require_iat: false,
        require_sub: false,
    }
}

#[test]
fn rfc7515_a1_example_verifies_as_a_pinned_issuer_token() {
    let parsed = jwt::parse(RFC7515_A1_TOKEN).unwrap();
    assert_eq!(parsed.alg(), jwt::TokenAlg::Hs256);
    let keys = rfc7515_key_set();
    let verified = jwt::verify(&parsed, &keys, &joe_rules(&[]), RFC7515_A1_EXP - 1).unwrap();
    assert_eq!(verified.claims["http://example.com/is_root"], json!(true));
    assert_eq!(verified.exp, RFC7515_A1_EXP);
    assert_eq!(
        jwt::verify(&parsed, &keys, &joe_rules(&[]), RFC7515_A1_EXP).unwrap_err(),
        JwtError::Expired
    );
    // The example carries no `aud`: an issuer configured with audiences requires one.
    let audiences = ["datahub".to_string()];
    assert_eq!(
        jwt::verify(&parsed, &keys, &joe_rules(&audiences), 0).unwrap_err(),
        JwtError::MissingAudience
    );
}

#[test]
fn rfc7515_a1_example_fails_with_any_other_secret_or_published_keys() {
    let parsed = jwt::parse(RFC7515_A1_TOKEN).unwrap();
    let other = KeySet::pinned_hs256(Hs256Key::new(&[1; 64]).unwrap());
    assert_eq!(
        jwt::verify(&parsed, &other, &joe_rules(&[]), 0).unwrap_err(),
        JwtError::BadSignature
    );
    let published = KeySet::parse(&jwks_body(all_jwks())).unwrap();
    assert_eq!(
        jwt::verify(&parsed, &published, &joe_rules(&[]), 0).unwrap_err(),
        JwtError::SymmetricAlg
    );
    let signature_at = RFC7515_A1_TOKEN.rfind('.').unwrap() + 1;
    let mut tampered = RFC7515_A1_TOKEN.to_string();
    tampered.replace_range(signature_at..signature_at + 1, "e");
    let parsed = jwt::parse(&tampered).unwrap();
    assert_eq!(
        jwt::verify(&parsed, &rfc7515_key_set(), &joe_rules(&[]), 0).unwrap_err(),
        JwtError::BadSignature
    );
}

// --- Differential: jwt-compact signs, both verify ---------------------------------------

fn random_claims(rng: &mut StdRng, exp: u64) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!("datahub-metadata-service"));
    claims.insert("exp".into(), json!(exp));
    for i in 0..rng.gen_range(0..6) {
        let text: String = (0..rng.gen_range(0..24))
            .map(|_| char::from_u32(rng.gen_range(0x20..0x2400)).unwrap_or('?'))
            .collect();
        let value = match rng.gen_range(0..4) {
            0 => json!(text),
            1 => json!(rng.gen::<u32>()),
            2 => json!(rng.gen::<bool>()),
            _ => json!([text, rng.gen::<u16>()]),
        };
        claims.insert(format!("x{i}"), value);
    }
    claims
}

/// How a case changes the token jwt-compact signed; `true` when it stays valid.
fn mutate(rng: &mut StdRng, token: &str, key: &[u8], case: u32) -> (String, bool) {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let tag = reference_tag(key, input.as_bytes());
    let changed = match case {
        0 => return (token.to_string(), true),
        1 => {
            let mut flipped = tag;
            let bit = rng.gen_range(0..256);
            flipped[bit / 8] ^= 1 << (bit % 8);
            flipped
        }
        2 => tag[..rng.gen_range(0..32)].to_vec(),
        3 => {
            let mut longer = key.to_vec();
            longer.push(rng.gen());
            reference_tag(&longer, input.as_bytes())
        }
        _ => {
            let mut extended = tag;
            extended.push(rng.gen());
            extended
        }
    };
    assert_eq!(signature, b64(&reference_tag(key, input.as_bytes())));
    (format!("{input}.{}", b64(&changed)), false)
}

#[test]
fn verdicts_match_jwt_compact_for_random_keys_claims_and_forgeries() {
    let mut rng = StdRng::seed_from_u64(256);
    let now = 1_800_000_000;
    let rules = ClaimRules {
        issuer: "datahub-metadata-service",
        audiences: &[],
        clock_skew_seconds: 0,
        require_iat: false,
        require_sub: false,
    };
    for round in 0..300 {
        let secret: Vec<u8> = (0..rng.gen_range(32..100)).map(|_| rng.gen()).collect();
        let claims = random_claims(&mut rng, now + 600);
        let reference = ReferenceKey::new(&secret);
        let header = Header::empty().with_token_type("JWT");
        let token = Hs256
            .token(&header, &Claims::new(claims.clone()), &reference)
            .unwrap();
        let (token, valid) = mutate(&mut rng, &token, &secret, round % 5);

        let keys = KeySet::pinned_hs256(Hs256Key::new(&secret).unwrap());
        let ours = jwt::parse(&token).and_then(|parsed| jwt::verify(&parsed, &keys, &rules, now));
        let theirs = UntrustedToken::new(&token).ok().and_then(|t| {
            Hs256
                .validator::<Map<String, Value>>(&reference)
                .validate(&t)
                .ok()
        });
        assert_eq!(ours.is_ok(), valid, "round {round}: {ours:?}");
        assert_eq!(theirs.is_some(), valid, "round {round}");
        if let (Ok(ours), Some(theirs)) = (ours, theirs) {
            assert_eq!(Value::Object(ours.claims), json!(theirs.claims()));
            assert_eq!(Value::Object(claims), json!(theirs.claims()));
        }
    }
}

// --- A pinned-secret issuer next to a JWKS issuer, through `decide` ----------------------

const ISS: &str = "https://idp.example.com";
const DATAHUB: &str = "datahub-metadata-service";
const SECRET: &str = "a-datahub-token-signing-key-of-48-bytes-00000000";
const NOW: u64 = 1_800_000_000;

fn config(datahub: Value) -> Config {
    let mut issuer = json!({"issuer": DATAHUB, "hs256_secret_env": "DATAHUB_SECRET",
                            "userid_claim": "actorId"});
    for (k, v) in datahub.as_object().unwrap() {
        issuer[k] = v.clone();
    }
    let raw = json!({
        "issuer": ISS, "idp_cluster": "idp", "client_id": "app", "client_secret": "s",
        "session_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
        "extra_issuers": [issuer],
    });
    let env = |name: &str| (name == "DATAHUB_SECRET").then(|| SECRET.to_string());
    Config::from_json(raw.to_string().as_bytes(), &env).unwrap()
}

/// The main issuer's JWKS when `with_jwks`, and the pinned sets the configuration gives.
fn verifier(config: &Config, with_jwks: bool) -> Verifier {
    let mut verifier = Verifier::new(config.issuers.len());
    if with_jwks {
        verifier.set_keys(0, KeySet::parse(&jwks_body(all_jwks())).unwrap());
    }
    for (index, keys) in pinned_key_sets(&config.issuers) {
        verifier.set_keys(index, keys);
    }
    verifier
}

/// DataHub's personal access token claims (its StatelessTokenService): no `aud`.
fn datahub_claims() -> Value {
    json!({"actorId": "datahub", "actorType": "USER", "type": "PERSONAL", "version": "2",
           "jti": "3b1a7a3e-3c57-4a5c-9a43-5f5b0c0e1f7d", "sub": "datahub",
           "exp": NOW + 3600, "iat": NOW - 60, "iss": DATAHUB})
}

fn signed(alg: &str, key: &[u8], claims: &Value) -> String {
    let input = signing_input(&json!({"alg": alg}), claims);
    let tag = match alg {
        "HS512" => {
            use hmac::{Hmac, Mac};
            let mut mac = <Hmac<sha2::Sha512> as Mac>::new_from_slice(key).unwrap();
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        _ => reference_tag(key, input.as_bytes()),
    };
    format!("{input}.{}", b64(&tag))
}

fn run(config: &Config, verifier: &mut Verifier, token: &str) -> Decision {
    let authorization = format!("Bearer {token}");
    let request = Request::from_headers(vec![
        (":path", b"/api/v2/graphql".as_slice()),
        ("authorization", authorization.as_bytes()),
    ]);
    decide(
        config,
        &request,
        verifier,
        &NoneRevoked,
        NOW,
        OnUnknownKid::AwaitRefetch,
    )
}

fn userid(decision: &Decision) -> Option<&str> {
    match decision {
        Decision::Allow {
            identity: Some(identity),
            ..
        } => Some(&identity.userid),
        _ => None,
    }
}

fn refusal(decision: &Decision) -> Option<(u16, &'static str)> {
    match decision {
        Decision::Deny(deny) => Some((deny.status, deny.reason)),
        _ => None,
    }
}

#[test]
fn a_datahub_token_passes_with_actor_id_as_the_user_before_any_key_fetch() {
    let config = config(json!({}));
    let mut verifier = verifier(&config, false);
    let token = signed("HS256", SECRET.as_bytes(), &datahub_claims());
    assert_eq!(
        userid(&run(&config, &mut verifier, &token)),
        Some("datahub")
    );
    let session = with(datahub_claims(), "type", json!("SESSION"));
    let token = signed("HS256", SECRET.as_bytes(), &session);
    assert_eq!(
        userid(&run(&config, &mut verifier, &token)),
        Some("datahub")
    );
    // The main issuer's tokens still wait for its JWKS, and pass once it is there.
    let main = mint(
        Alg::Rs256,
        &json!({"alg": "RS256", "kid": "rsa"}),
        &json!({"iss": ISS, "aud": "app", "exp": NOW + 60, "email": "alice@example.com"}),
    );
    assert!(matches!(
        run(&config, &mut verifier, &main),
        Decision::AwaitKeys { issuer: 0 }
    ));
    let mut verifier = self::verifier(&config, true);
    assert_eq!(
        userid(&run(&config, &mut verifier, &main)),
        Some("alice@example.com")
    );
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

#[test]
fn a_token_header_never_chooses_the_secret() {
    let config = config(json!({}));
    let mut verifier = verifier(&config, true);
    // A kid is no lookup: the iss chose the one secret, whatever the kid names.
    for kid in ["rsa", "no-such-kid", ""] {
        let input = signing_input(&json!({"alg": "HS256", "kid": kid}), &datahub_claims());
        let token = format!(
            "{input}.{}",
            b64(&reference_tag(SECRET.as_bytes(), input.as_bytes()))
        );
        assert_eq!(
            userid(&run(&config, &mut verifier, &token)),
            Some("datahub"),
            "{kid}"
        );
    }
    // An embedded key or key URL is refused outright, even with the right MAC.
    for (name, value) in [
        ("jku", json!("https://evil/jwks")),
        ("jwk", json!({"kty": "oct", "k": "AA"})),
    ] {
        let input = signing_input(&json!({"alg": "HS256", name: value}), &datahub_claims());
        let token = format!(
            "{input}.{}",
            b64(&reference_tag(SECRET.as_bytes(), input.as_bytes()))
        );
        assert_eq!(
            refusal(&run(&config, &mut verifier, &token)),
            Some((401, "embedded_key"))
        );
    }
}

#[test]
fn datahub_tokens_are_refused_when_anything_is_off() {
    let config = config(json!({}));
    let mut verifier = verifier(&config, true);
    let claims = datahub_claims();
    let cases = [
        (
            "wrong secret",
            signed("HS256", &[b'x'; 48], &claims),
            "bad_signature",
        ),
        (
            "HS512 with the secret",
            signed("HS512", SECRET.as_bytes(), &claims),
            "symmetric_alg",
        ),
        (
            "RS256 from the main IdP's key",
            mint(Alg::Rs256, &json!({"alg": "RS256", "kid": "rsa"}), &claims),
            "no_key_for_alg",
        ),
        (
            "none",
            format!("{}.", signing_input(&json!({"alg": "none"}), &claims)),
            "alg_none",
        ),
        (
            "none with a signature",
            format!("{}.AAAA", signing_input(&json!({"alg": "none"}), &claims)),
            "alg_none",
        ),
        (
            "an aud although no audience is configured",
            signed(
                "HS256",
                SECRET.as_bytes(),
                &with(claims.clone(), "aud", json!("datahub")),
            ),
            "wrong_aud",
        ),
        (
            "expired",
            signed(
                "HS256",
                SECRET.as_bytes(),
                &with(claims.clone(), "exp", json!(NOW - 61)),
            ),
            "expired",
        ),
        (
            "another iss",
            signed(
                "HS256",
                SECRET.as_bytes(),
                &with(claims.clone(), "iss", json!("datahub")),
            ),
            "unknown_issuer",
        ),
    ];
    for (case, token, reason) in cases {
        let decision = run(&config, &mut verifier, &token);
        assert_eq!(refusal(&decision), Some((401, reason)), "{case}");
    }
}

#[test]
fn configured_audiences_are_required_and_matched() {
    let config = config(json!({"audiences": ["datahub-frontend"]}));
    let mut verifier = verifier(&config, true);
    let good = with(datahub_claims(), "aud", json!(["datahub-frontend"]));
    let token = signed("HS256", SECRET.as_bytes(), &good);
    assert_eq!(
        userid(&run(&config, &mut verifier, &token)),
        Some("datahub")
    );
    for (aud, reason) in [(None, "missing_aud"), (Some(json!("app")), "wrong_aud")] {
        let claims = match aud {
            Some(aud) => with(datahub_claims(), "aud", aud),
            None => datahub_claims(),
        };
        let token = signed("HS256", SECRET.as_bytes(), &claims);
        assert_eq!(
            refusal(&run(&config, &mut verifier, &token)),
            Some((401, reason))
        );
    }
}

/// The classic confusion: an HS256 token naming the JWKS issuer, MACed with that issuer's
/// public RSA key in every form an attacker could guess the verifier would use.
#[test]
fn an_rsa_public_key_is_never_an_hmac_secret() {
    let config = config(json!({}));
    let mut verifier = verifier(&config, true);
    let public = keys().rsa.to_public_key();
    let forms: Vec<Vec<u8>> = vec![
        public
            .to_public_key_pem(Default::default())
            .unwrap()
            .into_bytes(),
        public.to_public_key_der().unwrap().as_bytes().to_vec(),
        public.n().to_bytes_be(),
        b64(&public.n().to_bytes_be()).into_bytes(),
        rsa_jwk("rsa").to_string().into_bytes(),
        jwks_body(all_jwks()),
    ];
    let claims = json!({"iss": ISS, "aud": "app", "exp": NOW + 60, "email": "mallory@example.com"});
    for secret in &forms {
        for header in [
            json!({"alg": "HS256"}),
            json!({"alg": "HS256", "kid": "rsa"}),
        ] {
            let input = signing_input(&header, &claims);
            let token = format!("{input}.{}", b64(&reference_tag(secret, input.as_bytes())));
            let decision = run(&config, &mut verifier, &token);
            assert_eq!(refusal(&decision), Some((401, "symmetric_alg")));
        }
    }
    // Nor is the pinned secret good for the JWKS issuer's tokens.
    let token = signed("HS256", SECRET.as_bytes(), &claims);
    assert_eq!(
        refusal(&run(&config, &mut verifier, &token)),
        Some((401, "symmetric_alg"))
    );
}

#[test]
fn only_pinned_issuers_get_a_key_set_at_configure_time() {
    let config = config(json!({}));
    let sets = pinned_key_sets(&config.issuers);
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].0, 1);
    assert!(sets[0].1.pinned_hs256_key().is_some());
    assert!(sets[0].1.keys().is_empty());
}
