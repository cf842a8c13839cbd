//! A token endpoint or userinfo response: `<:status>\n<body>`. A token response's id_token is
//! then validated in full (fixed keys, nonce `n0`), as at the end of a login.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::login::{self, MAX_EXPIRES_IN_SECONDS};
use oidc_gate_fuzz::{config, key_set, split_line, NOW};

fuzz_target!(|data: &[u8]| {
    let (status, body) = split_line(data);
    let status = (!status.is_empty()).then_some(status);
    if let Ok(tokens) = login::parse_token_response(status, body) {
        assert!(tokens.expires_in.unwrap_or(0) <= MAX_EXPIRES_IN_SECONDS);
        let _ = NOW
            .checked_add(tokens.expires_in.unwrap_or(0))
            .expect("no overflow");
        if let Some(id_token) = &tokens.id_token {
            let config = config();
            let keys = key_set();
            for nonce in [Some("n0"), None] {
                let _ = login::validate_id_token(
                    &config,
                    &keys,
                    id_token,
                    nonce,
                    &tokens.access_token,
                    NOW,
                );
            }
        }
    }
    if let Err(e) = login::parse_userinfo(status, body, "u1") {
        let _ = e.reason();
    }
});
