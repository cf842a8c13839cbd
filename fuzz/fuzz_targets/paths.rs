//! Request paths: the rules' path matching (a skip path, a deny rule under an allow prefix),
//! the return path kept across a login, and the origin built from `:scheme`/`:authority`.
//! Input: `<configured prefix>\n<path>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::decide::Request;
use oidc_gate::core::login::{self, Origin};
use oidc_gate::core::paths;
use oidc_gate::core::policy::{Action, PathPattern, Picked, Rule, Rules};
use oidc_gate_fuzz::split_line;

/// The policy for a GET of `path`.
fn policy_of(rules: &Rules, path: &[u8]) -> String {
    let request = Request {
        method: b"GET".to_vec(),
        path: path.to_vec(),
        ..Request::default()
    };
    let mut picked = Picked::new();
    format!("{:?}", rules.evaluate(&request, &mut picked))
}

fuzz_target!(|data: &[u8]| {
    let (prefix, path) = split_line(data);
    let mut rules = vec![
        Rule {
            label: "deny".into(),
            hosts: Vec::new(),
            path: Some(PathPattern::Prefix("/public/admin".into())),
            methods: Vec::new(),
            action: Action::Deny,
        },
        Rule::allow_prefix("public".into(), "/public".into()),
    ];
    if let Some(p) = std::str::from_utf8(prefix)
        .ok()
        .and_then(paths::canonical_prefix)
    {
        assert!(p.starts_with('/') && !p.contains(['%', '\\', '?', '#']));
        rules.push(Rule::allow_prefix("input".into(), p));
    }
    let rules = Rules { rules };
    let policy = policy_of(&rules, path);
    // A reading under the denied prefix is denied, however else the path reads.
    let readings = paths::readings(path);
    let denied_reading = readings.as_ref().is_some_and(|all| {
        all.iter()
            .any(|r| r == b"/public/admin" || r.starts_with(b"/public/admin/"))
    });
    if denied_reading {
        assert!(policy.starts_with("Deny"), "{policy} for {path:?}");
    }
    if policy.starts_with("Allow") {
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
