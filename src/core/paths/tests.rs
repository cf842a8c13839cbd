use super::*;
use crate::core::decide::Request;
use crate::core::policy::{Picked, Policy, Rule, Rules};

/// Whether `skip_auth_paths` of `prefixes` let a GET of `path` through.
fn is_skipped(path: &[u8], prefixes: &[String]) -> bool {
    let rules = Rules {
        rules: prefixes
            .iter()
            .map(|p| Rule::allow_prefix(String::new(), p.clone()))
            .collect(),
    };
    let request = Request {
        method: b"GET".to_vec(),
        path: path.to_vec(),
        ..Request::default()
    };
    let mut picked = Picked::new();
    let policy = rules.evaluate(&request, &mut picked);
    matches!(policy, Policy::Allow { .. })
}

/// (family: why, skipped?, paths) against `skip_auth_paths: ["/public"]`.
const CORPUS: &[(&str, bool, &[&str])] = &[
    (
        "the prefix itself and what lies under it",
        true,
        &[
            "/public",
            "/public/",
            "/public/x",
            "/public/x/y?z=1",
            "/public/a.css",
        ],
    ),
    (
        "dot segments that stay inside",
        true,
        &[
            "/public/a/../b",
            "/x/../public/b",
            "/public/./x",
            "/public/x/..",
        ],
    ),
    (
        "escapes of plain characters decode inside in every reading",
        true,
        &["/public/%41bc", "/public/caf%7e"],
    ),
    (
        "a parameter on a deeper segment: inside with or without it",
        true,
        &["/public/x;jsessionid=1", "/public/x;a=b/y"],
    ),
    (
        "the query does not count, whatever it holds",
        true,
        &["/public/x?/../../admin", "/public?..;/admin"],
    ),
    (
        "segment boundaries: a longer name is another path",
        false,
        &[
            "/publicity",
            "/public-admin",
            "/public.x",
            "/",
            "/admin",
            "/PUBLIC/x",
        ],
    ),
    (
        "dot segments that leave the prefix",
        false,
        &[
            "/public/../admin",
            "/publicX/../admin",
            "/public/./../admin",
            "/public/x/../../admin",
        ],
    ),
    (
        "servlet containers cut ';' parameters, then resolve the dot segment",
        false,
        &[
            "/public/..;/admin",
            "/public/.;x/../..;/admin",
            "/public/..;jsessionid=1/admin",
            "/public/x/..;/..;/admin",
            "/public/..;a=b;c=d/admin",
            "/public/.;/..;/admin",
        ],
    ),
    (
        "a ';' right after the prefix: not the prefix to servers that keep it",
        false,
        &[
            "/public;x/../admin",
            "/public;x",
            "/public;/x",
            "/public;jsessionid=1/x",
        ],
    ),
    (
        "a parameter-only segment becomes an empty one that servers merge differently",
        false,
        &["/public/;x/../admin", "/public/;/x"],
    ),
    (
        "encoded '/', '\\', '.' or '%' (any case), read by some servers as the character",
        false,
        &[
            "/public/%2e%2e/admin",
            "/public/%2E%2E/admin",
            "/public/.%2e/admin",
            "/public/%2e./admin",
            "/public%2F..%2Fadmin",
            "/public%2f..%2fadmin",
            "/public/x%2fy",
            "/public%5c..%5cadmin",
            "/public/%5C",
            "/public/%252e%252e/admin",
            "/public/%25",
            "/public/%2e",
        ],
    ),
    (
        "encoded ';', '?' or '#': re-parsed by servers that decode first",
        false,
        &[
            "/public/..%3b/admin",
            "/public/..%3B/admin",
            "/public/%3f/../../admin",
            "/public/x%23",
        ],
    ),
    (
        "backslashes, which Windows and lenient routers read as '/'",
        false,
        &["/public\\..\\admin", "/public/..\\admin", "/public\\x"],
    ),
    (
        "malformed or non-standard escapes",
        false,
        &[
            "/public/%zz",
            "/public/%",
            "/public/%4",
            "/public/%u002e%u002e/admin",
            "/public/%+1",
        ],
    ),
    (
        "control bytes, NUL, space, DEL (raw or escaped)",
        false,
        &[
            "/public/\u{0}x",
            "/public/a%00",
            "/public/a%0a",
            "/public/a%0d%0a",
            "/public/a\tb",
            "/public/a%09",
            "/public/..%20/admin",
            "/public/a b",
            "/public/a%7f",
            "/public/a\u{7f}",
        ],
    ),
    (
        "non-ASCII, raw or escaped, including overlong UTF-8 for '.' and '/'",
        false,
        &[
            "/public/%c0%ae%c0%ae/admin",
            "/public/%c0%af",
            "/public/%e0%80%ae",
            "/public/caf\u{e9}",
            "/public/%ef%bc%8e%ef%bc%8e/admin",
            "/public/%e2%88%95admin",
            "/public/%c3",
        ],
    ),
    (
        "spaces at a segment's edge, which some servers trim",
        false,
        &[
            "/public/..%20/admin",
            "/public/%20../admin",
            "/public/a%20/x",
        ],
    ),
    (
        "escaped spaces inside a segment and escaped letters of any script",
        true,
        &[
            "/public/Untitled%20Folder",
            "/public/caf%c3%a9",
            "/public/%e6%97%a5%e6%9c%ac",
        ],
    ),
    (
        "'//' that some servers merge: another path to them",
        false,
        &[
            "//public",
            "//public/x",
            "/public//../admin",
            "/public//x",
            "/x//../public/y",
        ],
    ),
    (
        "trailing dots, which Windows servers drop",
        false,
        &[
            "/public/.../admin",
            "/public/x./../../admin",
            "/public/..../admin",
            "/public./x",
            "/public/x.",
        ],
    ),
    (
        "fragments, never sent by browsers, kept in the path by some servers",
        false,
        &[
            "/public#/../admin",
            "/public/x#",
            "/admin#/public",
            "/public/x?a#b",
        ],
    ),
    (
        "the prefix only in the query",
        false,
        &["/admin?/public", "/admin?x=/public/"],
    ),
    (
        "escapes that decode to the prefix: servers that do not decode route elsewhere",
        false,
        &["/%70ublic", "/%70ublic/x", "/pub%6cic/x"],
    ),
    (
        "not an absolute path",
        false,
        &["public/x", "*", "", "?/public", "http://h/public"],
    ),
];

fn skipped(path: &str) -> bool {
    is_skipped(path.as_bytes(), &["/public".to_string()])
}

#[test]
fn corpus_of_spellings() {
    let mut count = 0;
    for (why, expected, paths) in CORPUS {
        for path in *paths {
            assert_eq!(skipped(path), *expected, "{path:?}: {why}");
            count += 1;
        }
    }
    assert!(count >= 60, "{count} paths");
}

#[test]
fn raw_bytes_outside_ascii_are_never_skipped() {
    for bytes in [
        &b"/public/\xff"[..],
        b"/public/\xc0\xae\xc0\xae/admin",
        b"/public/\x80",
    ] {
        assert!(!is_skipped(bytes, &["/public".to_string()]), "{bytes:?}");
    }
}

#[test]
fn nothing_is_skipped_without_prefixes() {
    assert!(!is_skipped(b"/public", &[]));
}

#[test]
fn several_prefixes_and_deeper_ones() {
    let prefixes = ["/a/b".to_string(), "/dex".to_string()];
    assert!(is_skipped(b"/a/b/c", &prefixes));
    assert!(is_skipped(b"/dex/auth?x=1", &prefixes));
    assert!(!is_skipped(b"/a/c", &prefixes));
    assert!(!is_skipped(b"/a/b/../c", &prefixes));
    assert!(!is_skipped(b"/a;x/b/c", &prefixes));
}

#[test]
fn configured_prefixes_are_canonicalised() {
    assert_eq!(canonical_prefix("/public/").as_deref(), Some("/public"));
    assert_eq!(canonical_prefix("/a/b").as_deref(), Some("/a/b"));
    for bad in [
        "/a/../b",
        "/a//b",
        "/a%2f",
        "relative",
        "/a;b",
        "/a/.",
        "/a.",
        "/a\\b",
        "/a?b",
        "/a#b",
        "/a b",
        "/caf\u{e9}",
    ] {
        assert_eq!(canonical_prefix(bad), None, "{bad}");
    }
}
