//! Sealed cookies, opened with the fixed session key.
//! `c<Cookie header>`: the cookies as a browser sends them (session chunks, flow cookies).
//! `s<JSON>` / `l<JSON>`: a session / login-state plaintext, sealed here with the key first,
//! so what is inside a genuine cookie (its JSON, its times) is fuzzed too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::cookies;
use oidc_gate::core::session::{
    self, flow_cookie_name, Purpose, SealContext, SessionError, MAX_FLOW_COOKIES,
};
use oidc_gate_fuzz::{COOKIE, ISS, NONCE, NOW, SESSION_KEY};

const STATE: &str = "abcdefgh12345678";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let flow_name = flow_cookie_name(COOKIE, STATE);
    let header = match mode {
        b's' | b'l' => {
            let (purpose, name) = match mode {
                b's' => (Purpose::Session, COOKIE),
                _ => (Purpose::LoginState, flow_name.as_str()),
            };
            let context = SealContext {
                purpose,
                cookie_name: name,
                issuer: ISS,
            };
            let sealed = session::seal(&SESSION_KEY, &context, rest, &NONCE);
            assert_eq!(
                session::open(&[SESSION_KEY], &context, &sealed).as_deref(),
                Ok(rest)
            );
            format!("{name}={sealed}").into_bytes()
        }
        _ => rest.to_vec(),
    };
    let cookies = cookies::parse_cookies([header.as_slice()]);
    let keys = [SESSION_KEY];
    match session::read_session(&cookies, &keys, COOKIE, ISS, NOW) {
        Ok(s) => assert!(!s.is_expired(NOW)),
        Err(SessionError::Absent) => assert!(mode == b'l' || mode != b's'),
        Err(_) => {}
    }
    for (name, _) in cookies
        .iter()
        .filter(|(n, _)| session::is_flow_cookie(n, COOKIE))
    {
        let state = name.strip_prefix(COOKIE).unwrap_or_default();
        let _ = session::open_login_state(&cookies, &keys, COOKIE, ISS, state, NOW);
    }
    if let Ok(login) = session::open_login_state(&cookies, &keys, COOKIE, ISS, STATE, NOW) {
        assert_eq!(login.state, STATE);
        assert!(NOW < login.expires_at);
    }
    let evict = session::flow_cookies_to_evict(&cookies, &keys, COOKIE, ISS, NOW);
    // Clearing a name clears every cookie of that name: count names.
    let kept: std::collections::BTreeSet<&str> = cookies
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| session::is_flow_cookie(n, COOKIE) && !evict.iter().any(|e| e == n))
        .collect();
    assert!(
        kept.len() < MAX_FLOW_COOKIES,
        "{} flow cookies left",
        kept.len()
    );
});
