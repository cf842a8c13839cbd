//! Path matching for `skip_auth_paths`.
//!
//! A request skips authentication only when every way a common upstream resolves its path
//! lies under a configured prefix. Upstreams disagree: some decode `%XX` before routing, some
//! do not; Java servlet containers (Tomcat, Jetty, Spring) cut a `;parameter` off every
//! segment before resolving `.` and `..` (so `/public/..;/admin` is `/admin` to them), other
//! servers keep it as part of the name; Windows servers drop trailing dots and read `\` as `/`;
//! some merge `//`. So the path is read four ways — as sent or decoded, with or without
//! `;` parameters — and each reading must resolve under the prefix. What those readings cannot
//! settle is refused outright, whatever the prefix: a path that escapes `/`, `\`, `.`, `%`,
//! `;`, `?` or `#`, or any byte outside printable ASCII (control bytes, NUL, space, overlong
//! UTF-8 such as `%c0%ae`, any non-ASCII); a raw `\` or `#`; an empty segment (`//`) before the
//! last one; a segment that ends in `.` other than `.` and `..`. Envoy may normalise or refuse
//! some of these first; this rule does not rely on it.

/// Normalises a configured prefix; `None` when it is not a plain path.
pub fn canonical_prefix(prefix: &str) -> Option<String> {
    let trimmed = prefix.trim_end_matches('/');
    let plain = trimmed.starts_with('/')
        && trimmed
            .bytes()
            .all(|b| is_printable(b) && !b"%\\?#;".contains(&b))
        && trimmed
            .split('/')
            .skip(1)
            .all(|segment| !segment.is_empty() && !segment.ends_with('.'));
    plain.then(|| trimmed.to_string())
}

/// True when `raw_path` (the `:path` header, query included) is under one of `prefixes`.
pub fn is_skipped(raw_path: &[u8], prefixes: &[String]) -> bool {
    if prefixes.is_empty() {
        return false;
    }
    let Some(readings) = readings(raw_path) else {
        return false;
    };
    prefixes.iter().any(|prefix| {
        readings
            .iter()
            .all(|reading| under(reading, prefix.as_bytes()))
    })
}

/// The resolved path as each kind of upstream reads it; `None` when they could disagree in a
/// way the readings do not cover.
fn readings(raw_path: &[u8]) -> Option<Vec<Vec<u8>>> {
    if raw_path.contains(&b'#') {
        return None;
    }
    let path = &raw_path[..raw_path
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(raw_path.len())];
    if path.first() != Some(&b'/') || !path.iter().all(|&b| is_printable(b) && b != b'\\') {
        return None;
    }
    let decoded = percent_decode(path)?;
    let mut out = Vec::with_capacity(4);
    for form in [path, decoded.as_slice()] {
        for strip_params in [false, true] {
            out.push(resolve(form, strip_params)?);
        }
    }
    Some(out)
}

/// Printable ASCII: no control byte, space, DEL or non-ASCII byte.
fn is_printable(b: u8) -> bool {
    (0x21..0x7f).contains(&b)
}

fn under(path: &[u8], prefix: &[u8]) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
}

/// RFC 3986 dot-segment removal on an absolute path, after cutting each segment's `;`
/// parameter when `strip_params`; `None` for a segment whose reading differs between servers.
fn resolve(path: &[u8], strip_params: bool) -> Option<Vec<u8>> {
    let parts: Vec<&[u8]> = path[1..].split(|&b| b == b'/').collect();
    let last = parts.len() - 1;
    let mut segments: Vec<&[u8]> = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        let segment = match part.iter().position(|&b| b == b';') {
            Some(at) if strip_params => &part[..at],
            _ => part,
        };
        match segment {
            b"." => {}
            b".." => {
                segments.pop();
            }
            // Merged by some servers, kept by others.
            b"" if i != last => return None,
            // Dropped by Windows servers: `..` to them.
            _ if segment.ends_with(b".") => return None,
            _ => segments.push(segment),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for segment in segments {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Some(out)
}

/// Decodes every `%XX`; `None` on a malformed escape or one that stands for a byte with a
/// meaning in a path, or for a byte outside printable ASCII.
fn percent_decode(path: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' {
            let hex = std::str::from_utf8(path.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let byte = u8::from_str_radix(hex, 16).ok()?;
            if !is_printable(byte) || b"/\\.%;?#".contains(&byte) {
                return None;
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(path[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
                "/public/caf%c3%a9",
                "/public/caf\u{e9}",
                "/public/%ef%bc%8e%ef%bc%8e/admin",
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
}
