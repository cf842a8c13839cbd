use super::*;
use crate::core::test_keys::{all_jwks, jwks_body, mint};
use serde_json::json;

const ISS: &str = "https://idp.example.com";
const NOW: u64 = 1_800_000_000;

fn config(secret: &str) -> Config {
    let raw = json!({
        "issuer": ISS, "idp_cluster": "idp", "client_id": "kubeflow app", "client_secret": secret,
        "session_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
    });
    Config::from_json(raw.to_string().as_bytes(), &|_: &str| None).unwrap()
}

struct Counter(u8);

impl Random for Counter {
    fn fill(&mut self, bytes: &mut [u8]) -> bool {
        for b in bytes {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
        true
    }
}

struct Broken;

impl Random for Broken {
    fn fill(&mut self, _: &mut [u8]) -> bool {
        false
    }
}

#[test]
fn pkce_challenge_matches_rfc_7636_appendix_b() {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    assert_eq!(
        code_challenge(verifier),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn flow_secrets_are_long_enough_and_need_randomness() {
    let secrets = FlowSecrets::generate(&mut Counter(0)).unwrap();
    assert_eq!(secrets.code_verifier.len(), 43);
    assert!(secrets
        .code_verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(secrets.state.len(), 22);
    assert_ne!(secrets.state, secrets.nonce);
    assert_eq!(FlowSecrets::generate(&mut Broken), None);
}

#[test]
fn authorization_url_carries_every_parameter() {
    let cfg = config("s");
    let secrets = FlowSecrets::generate(&mut Counter(0)).unwrap();
    let url = authorization_url(&cfg, "/dex/auth", "https://kf.example.com/cb", &secrets);
    let parsed = url::Url::parse(&format!("https://kf.example.com{url}")).unwrap();
    let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(parsed.path(), "/dex/auth");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "kubeflow app");
    assert_eq!(q["redirect_uri"], "https://kf.example.com/cb");
    assert_eq!(q["scope"], "openid email profile groups");
    assert_eq!(q["state"], secrets.state);
    assert_eq!(q["nonce"], secrets.nonce);
    assert_eq!(q["code_challenge"], code_challenge(&secrets.code_verifier));
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!url.contains(&secrets.code_verifier));
    assert!(
        authorization_url(&cfg, "https://idp/auth?x=1", "r", &secrets)
            .starts_with("https://idp/auth?x=1&")
    );
}

#[test]
fn origins_come_only_from_plain_host_headers() {
    let o = Origin::from_request(b"https", b"KF.example.com:8443").unwrap();
    assert_eq!(o.absolute("/cb"), "https://kf.example.com:8443/cb");
    assert_eq!(o.absolute("https://fixed/cb"), "https://fixed/cb");
    for bad in [&b"evil.com/x"[..], b"a@evil.com", b"", b"a b", b"x\\y"] {
        assert_eq!(Origin::from_request(b"https", bad), None, "{bad:?}");
    }
    assert_eq!(Origin::from_request(b"javascript", b"x"), None);
}

#[test]
fn return_paths_stay_on_this_origin() {
    assert_eq!(return_path(b"/notebooks/x?a=1"), "/notebooks/x?a=1");
    for bad in [
        &b"//evil.com"[..],
        b"/\\evil.com",
        b"https://evil.com",
        b"/a b",
        b"/\t/x",
        b"",
        b"/x\\y",
    ] {
        assert_eq!(return_path(bad), "/", "{bad:?}");
    }
    assert_eq!(return_path(&[b'/'; 3000]), "/");
}

#[test]
fn callback_parameters() {
    assert_eq!(
        parse_callback("code=c&state=s&iss=https%3A%2F%2Fidp"),
        Ok(CallbackParams::Code {
            code: "c".into(),
            state: "s".into(),
            iss: Some("https://idp".into())
        })
    );
    assert_eq!(parse_callback("code=c"), Err(CallbackError::MissingState));
    assert_eq!(parse_callback("state=s"), Err(CallbackError::MissingCode));
    assert_eq!(
        parse_callback("code=c&state="),
        Err(CallbackError::MissingState)
    );
    assert_eq!(
        parse_callback("code=c&state=a&state=b"),
        Err(CallbackError::DuplicateParameter)
    );
    assert_eq!(parse_callback(""), Err(CallbackError::MissingState));
    assert!(matches!(
        parse_callback("error=access_denied&state=s"),
        Ok(CallbackParams::Error { .. })
    ));
}

#[test]
fn rfc_9207_issuer_parameter() {
    assert_eq!(check_response_issuer(Some(ISS), ISS, true), Ok(()));
    assert_eq!(
        check_response_issuer(None, ISS, true),
        Err(CallbackError::IssuerMismatch)
    );
    assert_eq!(
        check_response_issuer(Some("https://evil"), ISS, false),
        Err(CallbackError::IssuerMismatch)
    );
    assert_eq!(check_response_issuer(None, ISS, false), Ok(()));
}

#[test]
fn client_credentials_are_form_encoded_before_basic() {
    let cfg = config("a:b+c%d é");
    let request = code_exchange(&cfg, "the code", "https://x/cb", "verifier");
    let basic = request.authorization.unwrap();
    let encoded = basic.strip_prefix("Basic ").unwrap();
    let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
    assert_eq!(decoded, "kubeflow+app:a%3Ab%2Bc%25d+%C3%A9");
    assert_eq!(
        request.body,
        "grant_type=authorization_code&code=the+code&redirect_uri=https%3A%2F%2Fx%2Fcb&code_verifier=verifier"
    );
    assert!(refresh_request(&cfg, "rt")
        .body
        .contains("grant_type=refresh_token&refresh_token=rt"));
}

#[test]
fn a_huge_expires_in_is_capped_at_a_year() {
    let ok = Some(&b"200"[..]);
    for huge in [
        u64::MAX.to_string(),
        (MAX_EXPIRES_IN_SECONDS + 1).to_string(),
    ] {
        let body = format!(r#"{{"access_token":"at","token_type":"Bearer","expires_in":{huge}}}"#);
        let parsed = parse_token_response(ok, body.as_bytes()).unwrap();
        assert_eq!(parsed.expires_in, Some(MAX_EXPIRES_IN_SECONDS), "{huge}");
    }
    let year = format!(
        r#"{{"access_token":"at","token_type":"Bearer","expires_in":{MAX_EXPIRES_IN_SECONDS}}}"#
    );
    let parsed = parse_token_response(ok, year.as_bytes()).unwrap();
    assert_eq!(parsed.expires_in, Some(MAX_EXPIRES_IN_SECONDS));
    for unusable in ["-1", "1e30", "\"300\"", "1.5"] {
        let body =
            format!(r#"{{"access_token":"at","token_type":"Bearer","expires_in":{unusable}}}"#);
        let parsed = parse_token_response(ok, body.as_bytes()).unwrap();
        assert_eq!(parsed.expires_in, None, "{unusable}");
    }
}

#[test]
fn token_endpoint_anomalies_are_refused() {
    let ok = Some(&b"200"[..]);
    let good =
        br#"{"access_token":"at","token_type":"Bearer","id_token":"x.y.z","expires_in":300}"#;
    let parsed = parse_token_response(ok, good).unwrap();
    assert_eq!(parsed.expires_in, Some(300));
    assert_eq!(
        parse_token_response(ok, br#"{"access_token":"at","token_type":"mac"}"#),
        Err(TokenError::BadTokenType)
    );
    assert_eq!(
        parse_token_response(ok, b"<html>"),
        Err(TokenError::NotJson)
    );
    assert_eq!(
        parse_token_response(ok, br#"{"error":"invalid_grant"}"#),
        Err(TokenError::Refused("invalid_grant".into()))
    );
    assert_eq!(
        parse_token_response(Some(b"400"), br#"{"error":"invalid_grant"}"#),
        Err(TokenError::Refused("invalid_grant".into()))
    );
    assert!(matches!(
        parse_token_response(Some(b"302"), b""),
        Err(TokenError::Status(_))
    ));
    assert!(matches!(
        parse_token_response(None, b""),
        Err(TokenError::Status(_))
    ));
    assert_eq!(
        parse_token_response(ok, br#"{"token_type":"bearer"}"#),
        Err(TokenError::MissingAccessToken)
    );
    assert_eq!(
        parse_token_response(ok, &vec![b' '; MAX_TOKEN_RESPONSE_BYTES + 1]),
        Err(TokenError::TooLarge)
    );
}

#[test]
fn only_an_answered_refusal_ends_a_grant() {
    let refusal = |status: &[u8], body: &[u8]| {
        parse_token_response(Some(status), body)
            .err()
            .is_some_and(|e| e.is_refusal())
    };
    for code in [
        "invalid_grant",
        "invalid_client",
        "unauthorized_client",
        "invalid_scope",
    ] {
        let body = format!(r#"{{"error":"{code}"}}"#);
        assert!(refusal(b"400", body.as_bytes()), "{code}");
        assert!(refusal(b"401", body.as_bytes()), "{code}");
        assert!(refusal(b"200", body.as_bytes()), "{code}");
    }
    // The IdP is down, overloaded, or says so: the grant may still be good.
    for (status, body) in [
        (&b"500"[..], &br#"{"error":"invalid_grant"}"#[..]),
        (b"502", b"upstream connect error"),
        (b"503", b"no healthy upstream"),
        (b"504", b""),
        (b"429", br#"{"error":"invalid_grant"}"#),
        (b"400", br#"{"error":"temporarily_unavailable"}"#),
        (b"400", br#"{"error":"server_error"}"#),
        (b"400", b"<html>Bad Request</html>"),
        (b"200", b"{not json"),
        (b"302", b""),
    ] {
        assert!(
            !refusal(status, body),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(!parse_token_response(None, b"").unwrap_err().is_refusal());
    assert!(parse_token_response(None, b"").unwrap_err().is_transient());
    assert!(TokenError::IdToken(JwtError::UnknownKid).is_transient());
    for definite in [
        TokenError::Refused("invalid_grant".into()),
        TokenError::IdToken(JwtError::BadSignature),
        TokenError::UserinfoSubjectMismatch,
    ] {
        assert!(!definite.is_transient(), "{definite:?}");
    }
    let huge = vec![b' '; MAX_TOKEN_RESPONSE_BYTES + 1];
    assert!(!parse_token_response(Some(b"200"), &huge)
        .unwrap_err()
        .is_refusal());
}

fn id_token(claims: serde_json::Value) -> String {
    mint(Alg::Rs256, &json!({"alg": "RS256", "kid": "rsa"}), &claims)
}

fn claims() -> serde_json::Value {
    json!({"iss": ISS, "aud": "kubeflow app", "sub": "u1", "iat": NOW, "exp": NOW + 300,
           "nonce": "n0", "email": "a@b", "at_hash": token_hash(TokenAlg::Published(Alg::Rs256), "at")})
}

fn validate(claims: serde_json::Value, nonce: Option<&str>) -> Result<VerifiedClaims, TokenError> {
    let keys = KeySet::parse(&jwks_body(all_jwks())).unwrap();
    validate_id_token(&config("s"), &keys, &id_token(claims), nonce, "at", NOW)
}

#[test]
fn id_tokens_are_checked_in_full() {
    assert!(validate(claims(), Some("n0")).is_ok());
    assert_eq!(
        validate(claims(), Some("other")).unwrap_err(),
        TokenError::NonceMismatch
    );
    let mut no_nonce = claims();
    no_nonce.as_object_mut().unwrap().remove("nonce");
    assert_eq!(
        validate(no_nonce, Some("n0")).unwrap_err(),
        TokenError::NonceMismatch
    );
    let mut bad_hash = claims();
    bad_hash["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(
        validate(bad_hash, Some("n0")).unwrap_err(),
        TokenError::AtHashMismatch
    );
    let mut no_hash = claims();
    no_hash.as_object_mut().unwrap().remove("at_hash");
    assert!(
        validate(no_hash, Some("n0")).is_ok(),
        "at_hash is optional in the code flow"
    );
    let mut old = claims();
    old["iat"] = json!(NOW - 7 * 86_400);
    assert_eq!(
        validate(old, Some("n0")).unwrap_err(),
        TokenError::IssuedTooLongAgo
    );
    let mut no_iat = claims();
    no_iat.as_object_mut().unwrap().remove("iat");
    assert!(matches!(
        validate(no_iat, Some("n0")),
        Err(TokenError::IdToken(JwtError::MissingIat))
    ));
    let mut no_sub = claims();
    no_sub.as_object_mut().unwrap().remove("sub");
    assert!(matches!(
        validate(no_sub, Some("n0")),
        Err(TokenError::IdToken(JwtError::MissingSub))
    ));
    let mut other_aud = claims();
    other_aud["aud"] = json!("someone-else");
    assert!(matches!(
        validate(other_aud, Some("n0")),
        Err(TokenError::IdToken(_))
    ));
}

#[test]
fn userinfo_must_be_about_the_same_subject() {
    let ok = Some(&b"200"[..]);
    assert!(parse_userinfo(ok, br#"{"sub":"u1","groups":["a"]}"#, "u1").is_ok());
    assert_eq!(
        parse_userinfo(ok, br#"{"sub":"u2"}"#, "u1").unwrap_err(),
        TokenError::UserinfoSubjectMismatch
    );
    assert_eq!(
        parse_userinfo(ok, br#"{}"#, "u1").unwrap_err(),
        TokenError::UserinfoSubjectMismatch
    );
}

#[test]
fn error_text_is_escaped() {
    assert_eq!(
        escape_html("<script>alert('x')&\"</script>\n"),
        "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;"
    );
}
