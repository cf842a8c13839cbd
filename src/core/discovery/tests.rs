use super::*;
use serde_json::json;

const ISS: &str = "https://idp.example.com/realms/a";

fn doc(extra: Value) -> Vec<u8> {
    let mut d = json!({"issuer": ISS, "jwks_uri": "https://idp.example.com/keys"});
    for (k, v) in extra.as_object().unwrap() {
        d[k] = v.clone();
    }
    serde_json::to_vec(&d).unwrap()
}

#[test]
fn parses_endpoints() {
    let d = parse(
        &doc(json!({"token_endpoint": "https://idp.example.com/token",
        "authorization_response_iss_parameter_supported": true})),
        ISS,
    )
    .unwrap();
    assert_eq!(d.jwks_uri, "https://idp.example.com/keys");
    assert_eq!(
        d.token_endpoint.as_deref(),
        Some("https://idp.example.com/token")
    );
    assert!(d.iss_parameter_supported);
}

#[test]
fn issuer_must_match_exactly() {
    for other in [
        format!("{ISS}/"),
        ISS.to_uppercase(),
        ISS.replace("https", "http"),
    ] {
        let body = doc(json!({"issuer": other}));
        assert!(matches!(
            parse(&body, ISS),
            Err(DiscoveryError::IssuerMismatch(_))
        ));
    }
}

#[test]
fn endpoints_that_parsers_would_rewrite_are_refused() {
    for bad in [
        " https://idp.example.com/keys",
        "https://idp.example.com/keys ",
        "https://idp.exa\nmple.com/keys",
        "https://idp.example.com/k\teys",
        "https://idp.example.com/k\u{7f}",
        "https://idp.example.com\\@evil.example/keys",
        "https://idp.example.com@evil.example/keys",
        "https://bücher.example/keys",
        "https://idp.example.com/a/../keys",
    ] {
        assert_eq!(
            parse(&doc(json!({"jwks_uri": bad})), ISS),
            Err(DiscoveryError::BadEndpoint("jwks_uri")),
            "{bad:?}"
        );
        assert!(parse(&doc(json!({"authorization_endpoint": bad})), ISS).is_err());
    }
}

#[test]
fn rejects_garbage_and_bad_endpoints() {
    assert_eq!(parse(b"<html>", ISS), Err(DiscoveryError::NotJson));
    assert_eq!(parse(b"[]", ISS), Err(DiscoveryError::NotJson));
    assert_eq!(
        parse(&vec![b' '; MAX_DISCOVERY_BYTES + 1], ISS),
        Err(DiscoveryError::TooLarge)
    );
    assert_eq!(
        parse(&doc(json!({"jwks_uri": null})), ISS),
        Err(DiscoveryError::BadEndpoint("jwks_uri"))
    );
    assert_eq!(
        parse(&doc(json!({"jwks_uri": "file:///etc/passwd"})), ISS),
        Err(DiscoveryError::BadEndpoint("jwks_uri"))
    );
    assert_eq!(
        parse(&doc(json!({"token_endpoint": 7})), ISS),
        Err(DiscoveryError::BadEndpoint("token_endpoint"))
    );
}
