use serde_json::json;

use super::*;
use crate::core::flow::tests::{config, config_with, ISS};
use crate::core::jwks::Alg;
use crate::core::test_keys::mint;

fn bearer(iss: &str) -> (String, Request) {
    let token = mint(Alg::Rs256, &json!({"alg": "RS256"}), &json!({"iss": iss}));
    let value = format!("Bearer {token}");
    let request = Request::from_headers([
        (":path", b"/api".as_slice()),
        ("authorization", value.as_bytes()),
    ]);
    (token, request)
}

#[test]
fn a_bearer_refusal_is_about_the_configured_issuer_its_token_names() {
    let extra = json!({"extra_issuers": [{"issuer": "https://k8s.example", "cluster": "k",
        "audiences": ["a"], "name": "cluster"}]});
    let config = config_with(extra);
    assert_eq!(
        issuer_of(&bearer("https://k8s.example").1, &config),
        Some(1)
    );
    assert_eq!(issuer_of(&bearer(ISS).1, &config), Some(0));
    // A name the configuration does not know is never echoed.
    assert_eq!(issuer_of(&bearer("https://evil.example").1, &config), None);
}

#[test]
fn a_browser_refusal_is_about_the_login_issuer_and_an_anonymous_one_about_none() {
    let config = config();
    let cookie = Request::from_headers([
        (":path", b"/".as_slice()),
        ("cookie", b"authservice_session=x".as_slice()),
    ]);
    assert_eq!(issuer_of(&cookie, &config), Some(0));
    let callback =
        Request::from_headers([(":path", b"/authservice/oidc/callback?code=c".as_slice())]);
    assert_eq!(issuer_of(&callback, &config), Some(0));
    let anonymous = Request::from_headers([(":path", b"/api".as_slice())]);
    assert_eq!(issuer_of(&anonymous, &config), None);
}

#[test]
fn the_line_names_reason_issuer_and_request_and_nothing_else() {
    let id = RequestId::parse(b"5f0c-41.a_b");
    assert_eq!(
        line("expired", Some("dex"), id.as_ref()),
        "request refused: reason=expired issuer=dex request_id=5f0c-41.a_b"
    );
    assert_eq!(
        line("no_credential", None, None),
        "request refused: reason=no_credential issuer=- request_id=-"
    );
}

#[test]
fn only_a_short_safe_request_id_is_kept() {
    assert!(RequestId::parse(b"0f8fad5b-d9cb-469f-a165-70867728950e").is_some());
    assert_eq!(
        RequestId::parse(&[b'a'; 64]).map(|id| id.as_str().len()),
        Some(64)
    );
    for unsafe_id in [
        &b""[..],
        &[b'a'; 65],
        b"a b",
        b"a\"b",
        b"<script>",
        b"a\r\nb",
        "é".as_bytes(),
    ] {
        assert_eq!(RequestId::parse(unsafe_id), None, "{unsafe_id:?}");
    }
    let request = Request::from_headers([("x-request-id", b"abc-1".as_slice())]);
    assert_eq!(
        request.request_id.map(|id| id.as_str().to_string()),
        Some("abc-1".into())
    );
}
