//! The `Cookie` request header in, `Set-Cookie` response values out.
//!
//! Request cookies are read from raw header bytes: a client may send anything, and one odd byte
//! in somebody else's cookie must neither panic the VM nor hide our own cookies. Cookies that
//! are not ours are passed upstream exactly as they came.

use crate::config::SameSite;

/// Every `name=value` pair of the `Cookie` headers, in order. HTTP/2 clients may split the
/// cookies over several headers (RFC 9113 §8.2.3), so all of them are read. Pairs that are not
/// UTF-8, have no `=` or have an empty name are skipped; whitespace around names and values is
/// trimmed.
pub fn parse_cookies<'a>(headers: impl IntoIterator<Item = &'a [u8]>) -> Vec<(&'a str, &'a str)> {
    headers
        .into_iter()
        .flat_map(split_pairs)
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let name = name.trim_matches(is_ows);
            (!name.is_empty()).then(|| (name, value.trim_matches(is_ows)))
        })
        .collect()
}

/// The `Cookie` header value to send upstream once the cookies named by `drop` are removed, or
/// `None` when nothing is left (remove the header then). Kept pairs are copied byte for byte,
/// whatever they contain, and joined with `"; "` into a single header.
pub fn without_cookies<'a>(
    headers: impl IntoIterator<Item = &'a [u8]>,
    drop: impl Fn(&str) -> bool,
) -> Option<Vec<u8>> {
    let mut kept: Vec<u8> = Vec::new();
    for pair in headers.into_iter().flat_map(split_pairs) {
        if pair_name(pair).is_some_and(&drop) {
            continue;
        }
        if !kept.is_empty() {
            kept.extend_from_slice(b"; ");
        }
        kept.extend_from_slice(pair);
    }
    (!kept.is_empty()).then_some(kept)
}

/// Whether any cookie of these headers has a name `wanted` accepts.
pub fn any_cookie<'a>(
    headers: impl IntoIterator<Item = &'a [u8]>,
    wanted: impl Fn(&str) -> bool,
) -> bool {
    headers
        .into_iter()
        .flat_map(split_pairs)
        .any(|pair| pair_name(pair).is_some_and(&wanted))
}

/// The non-empty `;`-separated pairs of one header value, trimmed of optional whitespace.
fn split_pairs(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    header
        .split(|&b| b == b';')
        .map(trim_ows)
        .filter(|pair| !pair.is_empty())
}

/// The name of a raw pair, when it has one we can read.
fn pair_name(pair: &[u8]) -> Option<&str> {
    let end = pair.iter().position(|&b| b == b'=')?;
    std::str::from_utf8(trim_ows(&pair[..end])).ok()
}

fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The attributes every cookie of ours carries. No `Domain`: a host-only cookie is never sent
/// to sibling hosts, and a name with the `__Host-` prefix stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieAttributes {
    pub secure: bool,
    pub same_site: SameSite,
    pub http_only: bool,
}

/// A `Set-Cookie` value: `name=value; Path=/; Max-Age=N; HttpOnly; Secure; SameSite=Lax`.
/// `name` and `value` must already be cookie-safe (ours are tokens and base64url).
pub fn set_cookie(
    name: &str,
    value: &str,
    attrs: &CookieAttributes,
    max_age_seconds: u64,
) -> String {
    let mut out = format!("{name}={value}; Path=/; Max-Age={max_age_seconds}");
    if attrs.http_only {
        out.push_str("; HttpOnly");
    }
    if attrs.secure {
        out.push_str("; Secure");
    }
    out.push_str("; SameSite=");
    out.push_str(same_site_label(attrs.same_site));
    out
}

/// A `Set-Cookie` value that deletes `name`: empty value, `Max-Age=0`, and the same Path,
/// Secure and SameSite as when it was set, so the browser matches it to the stored cookie.
pub fn clear_cookie(name: &str, attrs: &CookieAttributes) -> String {
    set_cookie(name, "", attrs, 0)
}

fn same_site_label(same_site: SameSite) -> &'static str {
    match same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
        SameSite::None => "None",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(headers: &[&[u8]]) -> Vec<(String, String)> {
        parse_cookies(headers.iter().copied())
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_pairs_in_order() {
        assert_eq!(
            parse(&[b"a=1; b=2;c=3"]),
            pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
        );
    }

    #[test]
    fn values_keep_inner_equals_signs() {
        assert_eq!(parse(&[b"a=x=y=="]), pairs(&[("a", "x=y==")]));
    }

    #[test]
    fn reads_every_cookie_header() {
        assert_eq!(
            parse(&[b"a=1", b"b=2; a=3"]),
            pairs(&[("a", "1"), ("b", "2"), ("a", "3")])
        );
    }

    #[test]
    fn skips_junk_and_trims_whitespace() {
        assert_eq!(
            parse(&[b";; junk ; =novalue;  a = 1 ;\tb=\t;;c=3;", b"", b";"]),
            pairs(&[("a", "1"), ("b", ""), ("c", "3")])
        );
    }

    #[test]
    fn skips_pairs_that_are_not_utf8_but_keeps_the_others() {
        assert_eq!(
            parse(&[b"a=\xff\xfe; b=2; \xc3=x; c=\xe2\x82"]),
            pairs(&[("b", "2")])
        );
        assert_eq!(parse(&[b"name=caf\xc3\xa9"]), pairs(&[("name", "café")]));
    }

    #[test]
    fn parsing_never_panics_on_odd_bytes() {
        let inputs: [&[u8]; 6] = [b"", b"=", b";=;", b"\0=\0", b"\xff", b" = ; = "];
        for input in inputs {
            let _ = parse(&[input]);
            let _ = without_cookies([input], |_| true);
        }
    }

    fn strip_ours(headers: &[&[u8]]) -> Option<Vec<u8>> {
        without_cookies(headers.iter().copied(), |name| name.starts_with("ours"))
    }

    #[test]
    fn any_cookie_looks_at_names_in_every_header() {
        let ours = |name: &str| name.starts_with("ours");
        assert!(any_cookie([&b"a=1"[..], b"b=2; ours_1=x"], ours));
        assert!(!any_cookie([&b"a=ours; x=\xff"[..], b"ours"], ours));
        assert!(!any_cookie([], ours));
    }

    #[test]
    fn without_cookies_removes_only_ours() {
        assert_eq!(
            strip_ours(&[b"a=1; ours=secret; b=2; ours_1=more"]).as_deref(),
            Some(b"a=1; b=2".as_slice())
        );
    }

    #[test]
    fn without_cookies_keeps_foreign_cookies_byte_for_byte() {
        let foreign: &[u8] = b"x=\xff\x00\"q\"; y=a=b=; noequals; z=\xe2\x82; w= spaced";
        assert_eq!(strip_ours(&[foreign]).as_deref(), Some(foreign));
        assert_eq!(
            strip_ours(&[b"ours=1; x=\xff", b"ours_flow_abc=2; y=\"1\""]).as_deref(),
            Some(b"x=\xff; y=\"1\"".as_slice())
        );
    }

    #[test]
    fn without_cookies_joins_several_headers() {
        assert_eq!(
            strip_ours(&[b"a=1", b"ours=x", b"b=2;  ; c=3"]).as_deref(),
            Some(b"a=1; b=2; c=3".as_slice())
        );
    }

    #[test]
    fn without_cookies_is_none_when_nothing_is_left() {
        assert_eq!(strip_ours(&[b"ours=1; ours_2=x", b" ; "]), None);
        assert_eq!(strip_ours(&[]), None);
        assert_eq!(strip_ours(&[b""]), None);
    }

    #[test]
    fn without_cookies_matches_names_after_trimming() {
        assert_eq!(
            strip_ours(&[b"a=1;\tours =x ;b=2"]).as_deref(),
            Some(b"a=1; b=2".as_slice())
        );
    }

    const LAX_SECURE: CookieAttributes = CookieAttributes {
        secure: true,
        same_site: SameSite::Lax,
        http_only: true,
    };

    #[test]
    fn set_cookie_carries_every_attribute() {
        assert_eq!(
            set_cookie("s", "v1.abc", &LAX_SECURE, 86_400),
            "s=v1.abc; Path=/; Max-Age=86400; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn set_cookie_omits_attributes_that_are_off() {
        let attrs = CookieAttributes {
            secure: false,
            same_site: SameSite::Strict,
            http_only: false,
        };
        assert_eq!(
            set_cookie("s", "x", &attrs, 60),
            "s=x; Path=/; Max-Age=60; SameSite=Strict"
        );
        let none = CookieAttributes {
            same_site: SameSite::None,
            ..LAX_SECURE
        };
        assert!(set_cookie("s", "x", &none, 1).ends_with("; Secure; SameSite=None"));
    }

    #[test]
    fn set_cookie_never_sets_a_domain() {
        assert!(!set_cookie("__Host-s", "x", &LAX_SECURE, 1).contains("Domain"));
    }

    #[test]
    fn clear_cookie_matches_the_set_attributes() {
        assert_eq!(
            clear_cookie("s_1", &LAX_SECURE),
            "s_1=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
        );
    }
}
