//! `Cookie` headers (one per input line): parsed, and our own cookies stripped before upstream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::cookies;
use oidc_gate::core::session;
use oidc_gate_fuzz::COOKIE;

fuzz_target!(|data: &[u8]| {
    let headers: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let parsed = cookies::parse_cookies(headers.iter().copied());
    for (name, value) in &parsed {
        assert!(!name.is_empty());
        assert_eq!(name.trim_matches([' ', '\t']), *name);
        assert_eq!(value.trim_matches([' ', '\t']), *value);
    }
    let ours = |name: &str| session::is_own_cookie(name, COOKIE);
    let has_ours = cookies::any_cookie(headers.iter().copied(), ours);
    // A pair whose value is not UTF-8 is not parsed, but its name is still seen.
    assert!(has_ours || !parsed.iter().any(|(n, _)| ours(n)));
    if let Some(kept) = cookies::without_cookies(headers.iter().copied(), ours) {
        assert!(
            !cookies::any_cookie([kept.as_slice()], ours),
            "own cookie sent upstream"
        );
    }
});
