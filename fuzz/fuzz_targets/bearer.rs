//! A bearer token: parsed, then verified against the fixed key set and claim rules.
//! Input `t<token>`: the token as sent. Input `s<header JSON>\n<payload JSON>`: signed here
//! with the key set's Ed25519 key first, so the claim checks see fuzzed claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::jwt::{self, ClaimRules};
use oidc_gate_fuzz::{key_set, mint, split_line, CLIENT_ID, CLOCK_SKEW, ISS, NOW};

fuzz_target!(|data: &[u8]| {
    let token = match data.split_first() {
        Some((b's', rest)) => {
            let (header, payload) = split_line(rest);
            mint(header, payload)
        }
        Some((_, rest)) => match std::str::from_utf8(rest) {
            Ok(token) => token.to_string(),
            Err(_) => return,
        },
        None => return,
    };
    let Ok(parsed) = jwt::parse(&token) else {
        return;
    };
    let _ = (parsed.issuer(), parsed.kid(), parsed.typ(), parsed.alg());
    let audiences = [CLIENT_ID.to_string()];
    for strict in [false, true] {
        let rules = ClaimRules {
            issuer: ISS,
            audiences: &audiences,
            clock_skew_seconds: CLOCK_SKEW,
            require_iat: strict,
            require_sub: strict,
        };
        if let Ok(verified) = jwt::verify(&parsed, &key_set(), &rules, NOW) {
            assert!(
                NOW < verified.exp.saturating_add(CLOCK_SKEW),
                "expired token accepted"
            );
            assert_eq!(parsed.issuer(), Some(ISS));
            assert!(!strict || verified.sub().is_some());
        }
    }
});
