//! Request paths: `skip_auth_paths` matching, the return path kept across a login, and the
//! origin built from `:scheme`/`:authority`. Input: `<configured prefix>\n<path>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::login::{self, Origin};
use oidc_gate::core::paths;
use oidc_gate_fuzz::split_line;

fuzz_target!(|data: &[u8]| {
    let (prefix, path) = split_line(data);
    let mut prefixes = vec!["/public".to_string()];
    if let Some(p) = std::str::from_utf8(prefix)
        .ok()
        .and_then(paths::canonical_prefix)
    {
        assert!(p.starts_with('/') && !p.contains(['%', '\\', '?', '#']));
        prefixes.push(p);
    }
    if paths::is_skipped(path, &prefixes) {
        assert!(
            path.starts_with(b"/"),
            "a path that is not absolute was skipped"
        );
        let end = path
            .iter()
            .position(|&b| b == b'?' || b == b'#')
            .unwrap_or(path.len());
        assert!(!path[..end].contains(&0), "a path with a NUL was skipped");
    }

    let back = login::return_path(path);
    assert!(back.starts_with('/'));
    assert!(
        !back.starts_with("//") && !back.starts_with("/\\"),
        "open redirect: {back:?}"
    );
    assert!(back.bytes().all(|b| b > 0x20 && b < 0x7f && b != b'\\'));

    for scheme in [&b"https"[..], b"http", prefix] {
        if let Some(origin) = Origin::from_request(scheme, path) {
            assert!(!origin.authority.contains(['/', '@', '?', '#', ' ', '\\']));
            let url = origin.absolute("/cb");
            assert_eq!(url, format!("{}://{}/cb", origin.scheme, origin.authority));
            assert_eq!(origin.absolute("https://idp/x"), "https://idp/x");
        }
    }
});
