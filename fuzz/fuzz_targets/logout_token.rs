//! A back-channel logout request: `f<form body>` (the form as the IdP posts it), or
//! `s<header JSON>\n<claims JSON>` (signed with the fixed key, so fuzzed claims reach every
//! check behind the signature). An accepted token names a jti and a session or subject, and
//! carries no nonce; the record of seen jtis accepts it once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::logout_token::{self, JtiSlot};
use oidc_gate_fuzz::{config, key_set, mint, split_line, NOW};

fuzz_target!(|data: &[u8]| {
    let token = match data.split_first() {
        Some((b'f', form)) => match logout_token::from_form(form) {
            Ok(token) => token,
            Err(_) => return,
        },
        Some((b's', rest)) => {
            let (header, claims) = split_line(rest);
            mint(header, claims)
        }
        _ => return,
    };
    let Ok(accepted) = logout_token::validate(&config(), &key_set(), &token, NOW) else {
        return;
    };
    assert!(!accepted.jti.is_empty());
    assert!(accepted.sid.is_some() || accepted.sub.is_some());
    assert!(!token.is_empty());
    let seen = JtiSlot::default()
        .record(&accepted.jti, accepted.exp, NOW)
        .expect("a first jti is recorded");
    assert!(
        seen.record(&accepted.jti, accepted.exp, NOW).is_none(),
        "replay accepted"
    );
});
