//! The query of a request to the callback path, and what is built from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::login::{self, CallbackParams};
use oidc_gate::core::session::flow_cookie_name;
use oidc_gate_fuzz::{COOKIE, ISS};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let state = match login::parse_callback(query) {
        Ok(CallbackParams::Code { code, state, iss }) => {
            assert!(!code.is_empty() && !state.is_empty());
            for supported in [false, true] {
                let _ = login::check_response_issuer(iss.as_deref(), ISS, supported);
            }
            Some(state)
        }
        Ok(CallbackParams::Error {
            error,
            description,
            state,
        }) => {
            for shown in [Some(error), description].into_iter().flatten() {
                let page = login::escape_html(&shown);
                assert!(!page.contains(['<', '>', '"', '\'']), "unescaped: {page:?}");
                assert!(!page.chars().any(char::is_control));
            }
            state
        }
        Err(e) => {
            let _ = e.reason();
            None
        }
    };
    // The state names the flow cookie, and the name may be echoed in a Set-Cookie.
    if let Some(state) = state {
        let name = flow_cookie_name(COOKIE, &state);
        let id = &name[COOKIE.len() + "_flow_".len()..];
        assert!(id.len() <= 8);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
});
