use serde_json::{json, Value};

use super::*;
use crate::core::jwks::Alg;
use crate::core::test_keys::{all_jwks, jwks_body, mint};

const ISS: &str = "https://idp.example.com";
const NOW: u64 = 1_800_000_000;

fn config() -> Config {
    let raw = json!({
        "issuer": ISS, "idp_cluster": "idp", "client_id": "app", "client_secret": "s",
        "session_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
    });
    Config::from_json(raw.to_string().as_bytes(), &|_: &str| None).unwrap()
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": "app", "iat": NOW, "exp": NOW + 120, "jti": "j1", "sid": "idp-1",
           "sub": "u1", "events": {BACKCHANNEL_EVENT: {}}})
}

fn token_with(header: Value, claims: Value) -> String {
    mint(Alg::Rs256, &header, &claims)
}

fn token(claims: Value) -> String {
    token_with(
        json!({"alg": "RS256", "kid": "rsa", "typ": "logout+jwt"}),
        claims,
    )
}

fn check(token: &str) -> Result<LogoutToken, LogoutTokenError> {
    let keys = KeySet::parse(&jwks_body(all_jwks())).unwrap();
    validate(&config(), &keys, token, NOW)
}

fn without(name: &str) -> Value {
    let mut claims = claims();
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn with(name: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[name] = value;
    claims
}

#[test]
fn a_valid_logout_token_names_its_session_and_subject() {
    let checked = check(&token(claims())).unwrap();
    assert_eq!(checked.jti, "j1");
    assert_eq!(checked.sid.as_deref(), Some("idp-1"));
    assert_eq!(checked.sub.as_deref(), Some("u1"));
    assert!(check(&token(without("sub"))).is_ok(), "sid alone");
    assert!(check(&token(without("sid"))).is_ok(), "sub alone");
    let untyped = token_with(json!({"alg": "RS256", "kid": "rsa"}), claims());
    assert!(check(&untyped).is_ok(), "typ is recommended, not required");
    let long_typ = token_with(
        json!({"alg": "RS256", "kid": "rsa", "typ": "application/logout+jwt"}),
        claims(),
    );
    assert!(check(&long_typ).is_ok());
}

#[test]
fn every_check_of_section_2_6_refuses() {
    use LogoutTokenError::*;
    let jwt = |e: JwtError| Err(Jwt(e));
    let cases: Vec<(&str, String, Result<(), LogoutTokenError>)> = vec![
        (
            "wrong iss",
            token(with("iss", json!("https://evil.example.com"))),
            jwt(JwtError::WrongIssuer),
        ),
        (
            "wrong aud",
            token(with("aud", json!("other-app"))),
            jwt(JwtError::WrongAudience),
        ),
        ("no iat", token(without("iat")), jwt(JwtError::MissingIat)),
        (
            "iat in the future",
            token(with("iat", json!(NOW + 3600))),
            jwt(JwtError::IssuedInFuture),
        ),
        (
            "iat long ago",
            token(with("iat", json!(NOW - 3600))),
            Err(IssuedTooLongAgo),
        ),
        (
            "expired",
            token(with("exp", json!(NOW - 3600))),
            jwt(JwtError::Expired),
        ),
        ("no jti", token(without("jti")), Err(MissingJti)),
        ("empty jti", token(with("jti", json!(""))), Err(MissingJti)),
        ("no events", token(without("events")), Err(NotALogoutEvent)),
        (
            "other event",
            token(with(
                "events",
                json!({"http://schemas.openid.net/event/other": {}}),
            )),
            Err(NotALogoutEvent),
        ),
        (
            "event not an object",
            token(with("events", json!({BACKCHANNEL_EVENT: true}))),
            Err(NotALogoutEvent),
        ),
        ("nonce", token(with("nonce", json!("n"))), Err(HasNonce)),
        (
            "neither sid nor sub",
            {
                let mut c = without("sid");
                c.as_object_mut().unwrap().remove("sub");
                token(c)
            },
            Err(NoSessionOrSubject),
        ),
        (
            "an id_token's typ",
            token_with(
                json!({"alg": "RS256", "kid": "rsa", "typ": "JWT"}),
                claims(),
            ),
            jwt(JwtError::WrongType),
        ),
        (
            "an access token's typ",
            token_with(
                json!({"alg": "RS256", "kid": "rsa", "typ": "at+jwt"}),
                claims(),
            ),
            jwt(JwtError::WrongType),
        ),
        (
            "unknown key",
            token_with(
                json!({"alg": "RS256", "kid": "other", "typ": "logout+jwt"}),
                claims(),
            ),
            jwt(JwtError::UnknownKid),
        ),
    ];
    for (case, token, expected) in cases {
        assert_eq!(check(&token).map(|_| ()), expected, "{case}");
    }
    let good = token(claims());
    let forged = format!("{}AAAA", &good[..good.len() - 4]);
    assert!(matches!(check(&forged), Err(Jwt(_))), "forged signature");
    let none = json!({"alg": "none", "typ": "logout+jwt"});
    let unsigned = format!(
        "{}.",
        crate::core::test_keys::signing_input(&none, &claims())
    );
    assert!(matches!(check(&unsigned), Err(Jwt(_))), "alg none");
}

#[test]
fn a_bearer_or_id_token_parser_never_takes_a_logout_token() {
    assert_eq!(
        jwt::parse(&token(claims())).map(|_| ()),
        Err(JwtError::WrongType)
    );
}

#[test]
fn the_form_carries_exactly_one_logout_token() {
    assert_eq!(from_form(b"logout_token=abc").as_deref(), Ok("abc"));
    assert_eq!(from_form(b"x=1&logout_token=a%2Eb").as_deref(), Ok("a.b"));
    for body in [
        &b""[..],
        b"logout_token=",
        b"token=abc",
        b"logout_token=a&logout_token=b",
    ] {
        assert_eq!(from_form(body), Err(LogoutTokenError::BadForm), "{body:?}");
    }
}

#[test]
fn a_jti_is_accepted_once_until_its_token_expires() {
    let slot = JtiSlot::default();
    let slot = slot.record("j1", NOW + 100, NOW).unwrap();
    assert!(slot.record("j1", NOW + 100, NOW + 50).is_none(), "replayed");
    assert!(slot.record("j2", NOW + 100, NOW + 50).is_some());
    assert!(
        slot.record("j1", NOW + 300, NOW + 100).is_some(),
        "its token has expired"
    );
    let mut full = JtiSlot::default();
    for i in 0..JTIS_PER_SLOT + 3 {
        full = full
            .record(&format!("j{i}"), NOW + 100 + i as u64, NOW)
            .unwrap();
    }
    assert_eq!(full.seen.len(), JTIS_PER_SLOT);
    assert!(full
        .record(&format!("j{}", JTIS_PER_SLOT + 2), NOW + 999, NOW)
        .is_none());
    assert_eq!(JtiSlot::decode(Some(&full.encode())), full);
    assert_eq!(JtiSlot::decode(Some(b"nonsense")), JtiSlot::default());
}
