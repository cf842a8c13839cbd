//! Path matching for `skip_auth_paths`.
//!
//! A request skips authentication only when every reasonable reading of its path lies under a
//! configured prefix: the path as sent (dot segments resolved) and the path as a lenient router
//! or upstream might read it (percent-decoded, backslashes as slashes, repeated slashes merged,
//! dot segments resolved). If the two readings could disagree about where the request goes, it
//! is not skipped. That keeps `/public/%2e%2e/admin` and `/public\..\admin` protected.

/// Normalises a configured prefix; `None` when it is not a plain path.
pub fn canonical_prefix(prefix: &str) -> Option<String> {
    let trimmed = prefix.trim_end_matches('/');
    let plain = trimmed.starts_with('/')
        && !trimmed.contains(['%', '\\', '?', '#'])
        && trimmed
            .split('/')
            .skip(1)
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    plain.then(|| trimmed.to_string())
}

/// True when `raw_path` (the `:path` header, query included) is under one of `prefixes`.
pub fn is_skipped(raw_path: &[u8], prefixes: &[String]) -> bool {
    if prefixes.is_empty() {
        return false;
    }
    let path = strip_query(raw_path);
    let Some(as_sent) = resolve_dots(path, false) else {
        return false;
    };
    let Some(decoded) = percent_decode(path) else {
        return false;
    };
    let lenient: Vec<u8> = decoded
        .iter()
        .map(|&b| if b == b'\\' { b'/' } else { b })
        .collect();
    let Some(as_routed) = resolve_dots(&lenient, true) else {
        return false;
    };
    prefixes
        .iter()
        .any(|p| under(&as_sent, p.as_bytes()) && under(&as_routed, p.as_bytes()))
}

fn strip_query(raw: &[u8]) -> &[u8] {
    let end = raw
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(raw.len());
    &raw[..end]
}

fn under(path: &[u8], prefix: &[u8]) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
}

/// RFC 3986 dot-segment removal on an absolute path; `None` for anything that is not one or
/// that carries control bytes.
fn resolve_dots(path: &[u8], merge_slashes: bool) -> Option<Vec<u8>> {
    if path.first() != Some(&b'/') || path.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let mut segments: Vec<&[u8]> = Vec::new();
    let parts: Vec<&[u8]> = path[1..].split(|&b| b == b'/').collect();
    let last = parts.len() - 1;
    for (i, segment) in parts.into_iter().enumerate() {
        match segment {
            b"." => {}
            b".." => {
                segments.pop();
            }
            b"" if merge_slashes && i != last => {}
            other => segments.push(other),
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

/// Decodes every `%XX`; `None` on a malformed escape.
fn percent_decode(path: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
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

    fn skipped(path: &str) -> bool {
        is_skipped(path.as_bytes(), &["/public".to_string()])
    }

    #[test]
    fn prefix_matches_at_segment_boundaries_only() {
        assert!(skipped("/public"));
        assert!(skipped("/public/"));
        assert!(skipped("/public/x/y?q=1"));
        assert!(!skipped("/publicity"));
        assert!(!skipped("/public-admin"));
        assert!(!skipped("/"));
        assert!(!skipped("/admin"));
    }

    #[test]
    fn dot_segments_cannot_escape_the_prefix() {
        assert!(!skipped("/public/../admin"));
        assert!(!skipped("/publicX/../admin"));
        assert!(!skipped("/public/%2e%2e/admin"));
        assert!(!skipped("/public/%2E%2E%2Fadmin"));
        assert!(!skipped("/public\\..\\admin"));
        assert!(!skipped("/public%5c..%5cadmin"));
        assert!(!skipped("/public/./../admin"));
        assert!(skipped("/public/a/../b"));
        assert!(skipped("/x/../public/b"));
    }

    #[test]
    fn ambiguous_or_malformed_paths_are_not_skipped() {
        assert!(!skipped("/public/%zz"));
        assert!(!skipped("/public/%"));
        assert!(!skipped("/public/\u{0}x"));
        assert!(!skipped("/public/a%00"));
        assert!(!skipped("public/x"));
        assert!(!skipped("*"));
        assert!(!skipped(""));
        assert!(!skipped("//public"));
        assert!(!skipped("/%70ublic"));
    }

    #[test]
    fn query_and_fragment_do_not_count() {
        assert!(!skipped("/admin?/public"));
        assert!(!skipped("/admin#/public"));
    }

    #[test]
    fn configured_prefixes_are_canonicalised() {
        assert_eq!(canonical_prefix("/public/").as_deref(), Some("/public"));
        assert_eq!(canonical_prefix("/a/b").as_deref(), Some("/a/b"));
        assert_eq!(canonical_prefix("/a/../b"), None);
        assert_eq!(canonical_prefix("/a//b"), None);
        assert_eq!(canonical_prefix("/a%2f"), None);
        assert_eq!(canonical_prefix("relative"), None);
    }
}
