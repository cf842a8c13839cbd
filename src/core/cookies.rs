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
/// `memchr` finds each `;` a word at a time: session cookies run to kilobytes, and every
/// request that carries them is scanned.
fn split_pairs(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(header);
    std::iter::from_fn(move || loop {
        let bytes = rest?;
        let (pair, next) = match memchr::memchr(b';', bytes) {
            Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
            None => (bytes, None),
        };
        rest = next;
        let pair = trim_ows(pair);
        if !pair.is_empty() {
            return Some(pair);
        }
    })
}

/// The name of a raw pair, when it has one we can read.
fn pair_name(pair: &[u8]) -> Option<&str> {
    let end = memchr::memchr(b'=', pair)?;
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
mod tests;
