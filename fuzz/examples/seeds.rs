//! Writes the seed corpora, `seeds/<target>/`: real inputs like the unit tests use (tokens
//! signed by the fixed key, the fixed JWKS and config, genuine sealed cookies), so fuzzing
//! starts past the parsers' first checks. Run from `fuzz/`:
//! `cargo run --example seeds`.

use std::fs;
use std::path::Path;

use oidc_gate::core::claims::Grants;
use oidc_gate::core::session::{self, LoginState, Session};
use oidc_gate_fuzz::{
    jwks, mint, serialize_headers, CLIENT_ID, CONFIG, COOKIE, ISS, NONCE, NOW, SA_ISS, SESSION_KEY,
};
use serde_json::{json, Value};

fn token(kid: &str, claims: Value) -> String {
    let header = json!({"alg": "EdDSA", "kid": kid, "typ": "JWT"});
    mint(header.to_string().as_bytes(), claims.to_string().as_bytes())
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": CLIENT_ID, "sub": "u1", "email": "alice@example.com",
           "groups": ["dev"], "iat": NOW - 10, "exp": NOW + 300, "nonce": "n0"})
}

/// A token of the RSA or EC key: the right shape, a signature that does not verify.
fn unverifiable(alg: &str, kid: &str, signature_len: usize) -> String {
    let header = oidc_gate_fuzz::b64(json!({"alg": alg, "kid": kid}).to_string().as_bytes());
    let payload = oidc_gate_fuzz::b64(claims().to_string().as_bytes());
    let signature = oidc_gate_fuzz::b64(&vec![1; signature_len]);
    format!("{header}.{payload}.{signature}")
}

fn session(groups: usize) -> Session {
    Session {
        userid: "alice@example.com".into(),
        groups: (0..groups)
            .map(|i| format!("group-{i}"))
            .chain(["dev".into()])
            .collect(),
        sub: "u1".into(),
        sid: "sid1".into(),
        issued_at: NOW - 10,
        expires_at: NOW + 3600,
        refresh_token: Some("rt".into()),
        id_token: Some(token("ed", claims())),
        tokens_expire_at: NOW + 30,
        idp_sid: None,
        validated_at: 0,
        grants: Grants {
            scopes: vec!["openid".into(), "pipelines".into()],
            claims: vec![("realm_access.roles".into(), vec!["admin".into()])],
        },
        forward_token: Some("at-1".into()),
    }
}

fn session_header(s: &Session) -> String {
    session::session_cookies(s, &SESSION_KEY, COOKIE, ISS, &NONCE)
        .expect("the seed session fits")
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn login_state() -> LoginState {
    LoginState {
        state: "abcdefgh12345678".into(),
        nonce: "n0".into(),
        code_verifier: "v".repeat(43),
        return_to: "/notebooks?ns=a".into(),
        expires_at: NOW + 600,
    }
}

fn flow_header() -> String {
    let (name, value) =
        session::seal_login_state(&login_state(), &SESSION_KEY, COOKIE, ISS, &NONCE)
            .expect("the seed login state fits");
    format!("other=1; {name}={value}")
}

fn request(pairs: &[(&str, &str)]) -> Vec<u8> {
    let pairs: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    serialize_headers(&pairs)
}

fn browser(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut pairs = vec![
        (":method", method),
        (":scheme", "https"),
        (":authority", "app.example.com"),
        (":path", path),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "none"),
        ("accept", "text/html"),
    ];
    pairs.extend_from_slice(extra);
    request(&pairs)
}

fn api(path: &str, authorization: &str) -> Vec<u8> {
    request(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "app.example.com"),
        (":path", path),
        ("authorization", authorization),
    ])
}

fn write(target: &str, seeds: Vec<Vec<u8>>) {
    let dir = Path::new("seeds").join(target);
    fs::create_dir_all(&dir).expect("seed directory");
    for (i, seed) in seeds.into_iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:02}")), seed).expect("seed file");
    }
}

fn text(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn main() {
    let good = token("ed", claims());
    let sa_token = token(
        "ed",
        json!({"iss": SA_ISS, "aud": ["kubeflow"], "sub": "system:serviceaccount:ns:sa",
               "exp": NOW + 300, "nbf": NOW - 5}),
    );
    let expired = token(
        "ed",
        json!({"iss": ISS, "aud": CLIENT_ID, "exp": NOW - 100}),
    );
    write(
        "bearer",
        vec![
            format!("t{good}").into_bytes(),
            format!("t{expired}").into_bytes(),
            format!("t{}", unverifiable("RS256", "rsa", 256)).into_bytes(),
            format!("t{}", unverifiable("PS384", "rsa", 256)).into_bytes(),
            format!("t{}", unverifiable("ES256", "ec", 64)).into_bytes(),
            format!(
                "s{}\n{}",
                json!({"alg": "EdDSA", "kid": "ed", "typ": "at+jwt"}),
                claims()
            )
            .into_bytes(),
            format!(
                "s{}\n{}",
                json!({"alg": "EdDSA"}),
                json!({"iss": ISS, "aud": [CLIENT_ID, "x"], "azp": CLIENT_ID, "exp": NOW as f64 + 1.5,
                       "nbf": NOW, "iat": NOW})
            )
            .into_bytes(),
        ],
    );

    let mut key_sets = vec![jwks()];
    key_sets.extend(text(&[
        r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","d":"x"}]}"#,
        r#"{"keys":[{"kty":"EC","crv":"P-384","kid":"p384","use":"sig","key_ops":["verify"],"x":"AA","y":"AA"}]}"#,
        r#"{"keys":[]}"#,
    ]));
    write("jwks", key_sets);

    write(
        "discovery",
        vec![json!({
            "issuer": ISS,
            "jwks_uri": format!("{ISS}/keys"),
            "authorization_endpoint": format!("{ISS}/auth"),
            "token_endpoint": format!("{ISS}/token"),
            "userinfo_endpoint": format!("{ISS}/userinfo"),
            "end_session_endpoint": format!("{ISS}/logout"),
            "revocation_endpoint": format!("{ISS}/revoke"),
            "authorization_response_iss_parameter_supported": true,
        })
        .to_string()
        .into_bytes()],
    );

    let tokens = json!({"access_token": "at", "token_type": "Bearer", "id_token": good,
                        "refresh_token": "rt", "expires_in": 300});
    write(
        "token_response",
        vec![
            format!("200\n{tokens}").into_bytes(),
            b"200\n{\"access_token\":\"at\",\"token_type\":\"bearer\",\"expires_in\":1e3}".to_vec(),
            b"400\n{\"error\":\"invalid_grant\",\"error_description\":\"no\"}".to_vec(),
            b"200\n{\"sub\":\"u1\",\"email\":\"alice@example.com\",\"groups\":[\"dev\"]}".to_vec(),
            b"302\n".to_vec(),
        ],
    );

    write(
        "opaque_answer",
        vec![
            b"200\n{\"active\":true,\"sub\":\"u1\",\"email\":\"a@example.com\",\"exp\":1800000030}"
                .to_vec(),
            b"200\n{\"active\":false}".to_vec(),
            b"200\n{\"active\":true,\"token_type\":\"refresh_token\",\"sub\":\"u1\"}".to_vec(),
            b"401\n".to_vec(),
            b"503\n".to_vec(),
        ],
    );

    let bearer = format!("Bearer {good}");
    let navigation = browser("GET", "/notebooks?ns=a", &[("cookie", "a=1")]);
    write(
        "header_map",
        vec![navigation.clone(), api("/api/x", &bearer), request(&[])],
    );

    let session_cookie = session_header(&session(0));
    let chunked = session_header(&session(400));
    write(
        "cookies",
        vec![
            format!("a=1; {session_cookie}\nb=2;c").into_bytes(),
            format!("{chunked}\n{}", flow_header()).into_bytes(),
            b" x = 1 ;\t;=;authservice_session=\xff".to_vec(),
        ],
    );

    let session_json = serde_json::to_string(&session(2)).expect("session JSON");
    let login_json = serde_json::to_string(&login_state()).expect("login JSON");
    write(
        "session",
        vec![
            format!("c{session_cookie}").into_bytes(),
            format!("c{chunked}").into_bytes(),
            format!("c{}", flow_header()).into_bytes(),
            format!("s{session_json}").into_bytes(),
            format!("l{login_json}").into_bytes(),
        ],
    );

    write(
        "paths",
        text(&[
            "/public\n/public/x?y=1",
            "/static/assets/\n/static/assets/%2e%2e/admin",
            "/a\n/public\\..\\admin",
            "\n//evil.example.com/x",
            "https\napp.example.com:8443",
            "\n/notebooks/lab?ns=a&x=%2F",
        ]),
    );

    write(
        "callback",
        text(&[
            "code=c0de&state=abcdefgh12345678&iss=https%3A%2F%2Fidp.example.com",
            "error=access_denied&error_description=%3Cscript%3E%22%27&state=abcdefgh",
            "code=a&code=b&state=s",
            "state=%2F%2E%2E%2Fx%3B%20Path%3D%2F&code=c",
        ]),
    );

    write(
        "fetch_state",
        text(&[
            "{}\na 1000\ne 2000\nw 2000\nf 3000\na 4000\ns 5000\ne 9000\nw 9001",
            r#"{"holder":3,"lease_until_ms":18446744073709551615,"next_attempt_ms":0,"failures":4,"last_success_ms":0,"last_attempt_ms":18446744073709551615,"last_completed_ms":0}
e 1800000000000
w 1800000000000
a 1800000000000
f 1800000000001"#,
        ]),
    );

    write(
        "refresh_board",
        text(&[
            "{}\nca 1000\nla 1500\nra 2000\nca 3000\nna 3000\ncb 3000\ntb 4000\ncb 4500\ncb 6000",
            r#"{"entries":[{"sid":"a","until_ms":18446744073709551615,"outcome":{"InFlight":{"holder":7,"failures":4294967295}}}]}
ta 1000
ca 18446744073709551615
xa 5"#,
        ]),
    );

    write(
        "config",
        vec![
            CONFIG.as_bytes().to_vec(),
            json!({
                "issuer": ISS, "idp_cluster": "idp", "client_id": CLIENT_ID,
                "client_secret_env": "SECRET", "session_keys_env": "KEYS",
                "redirect_uri": "https://app.example.com/authservice/oidc/callback",
                "userid_claim": "email", "userid_header": "kubeflow-userid",
                "userid_prefix": "", "groups_claim": "groups",
                "userid_transformers": [{"matches": "^(.*)@example\\.com$", "replaces": "$1"}],
                "clock_skew_seconds": 600, "idp_timeout_ms": 60000,
                "session_max_age_seconds": 31536000, "jwks_refresh_seconds": 86400,
                "mode": "audit", "login_path": "/sign-in", "skip_auth_paths": ["/healthz"],
                "rules": [
                    {"hosts": ["*.example.com"], "path_glob": "/a/**/*.js", "methods": ["GET"],
                     "action": "allow"},
                    {"path_prefix": "/p", "groups_allowlist": ["g"], "required_scopes": ["s"],
                     "required_claims": {"realm_access.roles": ["r"]}, "unauthenticated": "401"},
                    {"path_exact": "/m", "action": "deny"}
                ],
            })
            .to_string()
            .into_bytes(),
            b"{\"issuer\": 1, \"isuer\": \"x\"}".to_vec(),
        ],
    );

    let sa_bearer = format!("Bearer {sa_token}");
    let refreshing = format!("{session_cookie}; other=1");
    write(
        "decide",
        vec![
            navigation,
            api("/api/x", &bearer),
            api("/api/x", &sa_bearer),
            api("/api/x?access_token=1", &bearer),
            api("/public/../admin", "Basic dXNlcjpwYXNz"),
            browser("GET", "/x", &[("cookie", &refreshing)]),
            browser("GET", "/x", &[("cookie", &chunked)]),
            browser(
                "POST",
                "/authservice/logout",
                &[(
                    "authorization",
                    &format!(
                        "Bearer {}",
                        session_cookie
                            .split_once('=')
                            .map(|(_, v)| v)
                            .unwrap_or_default()
                    ),
                )],
            ),
            browser("GET", "/authservice/logout", &[("cookie", &session_cookie)]),
            browser("GET", "/authservice/oidc/callback?code=c&state=s", &[]),
        ],
    );

    let logout = |claims: Value| {
        let header = json!({"alg": "EdDSA", "kid": "ed", "typ": "logout+jwt"});
        mint(header.to_string().as_bytes(), claims.to_string().as_bytes())
    };
    let event = json!({"http://schemas.openid.net/event/backchannel-logout": {}});
    let by_sid = json!({"iss": ISS, "aud": CLIENT_ID, "iat": NOW, "exp": NOW + 120, "jti": "j1",
                        "sid": "idp-1", "events": event});
    write(
        "logout_token",
        vec![
            format!("flogout_token={}", logout(by_sid.clone())).into_bytes(),
            format!("flogout_token={}&logout_token=x", logout(by_sid.clone())).into_bytes(),
            format!(
                "s{}\n{}",
                json!({"alg": "EdDSA", "kid": "ed", "typ": "logout+jwt"}),
                by_sid
            )
            .into_bytes(),
            format!(
                "s{}\n{}",
                json!({"alg": "EdDSA", "kid": "ed"}),
                json!({"iss": ISS, "aud": [CLIENT_ID], "iat": NOW, "exp": NOW + 60, "jti": "j2",
                       "sub": "u1", "events": event})
            )
            .into_bytes(),
        ],
    );

    write(
        "revocation",
        text(&[
            "{}\na100 150\nb120 160\nc90 170",
            "{\"e\":[],\"f\":5}\na1 10\na1 20\nb2 1500",
            "garbage\nz0 0\nz18446744073709551615 18446744073709551615",
        ]),
    );
}
