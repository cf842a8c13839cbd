//! The http(s) URLs the filter is given (configuration, discovery documents) split into their
//! parts. Narrower than a WHATWG parser on purpose: a URL is accepted only when it means the
//! same to every parser, so the value kept as written (it ends up in `Location` headers and
//! token requests) is the one that was checked. Whatever a browser would silently rewrite —
//! spaces, tabs, backslashes, dot segments, non-ASCII, user:password@ — is refused instead.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An absolute `http` or `https` URL, borrowed from the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl<'a> {
    /// `"http"` or `"https"` (the scheme is case-insensitive in the input).
    pub scheme: &'static str,
    /// As written: a DNS name, a dotted-decimal IPv4 address, or `[IPv6]`.
    pub host: &'a str,
    /// `None` when absent or the scheme's default (80, 443).
    pub port: Option<u16>,
    /// As written; `""` when the URL has no path (see [`HttpUrl::path`]).
    raw_path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

/// Why a value is not an http(s) URL; the text completes "... is not an http(s) URL: ".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlError(&'static str);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl HttpUrl<'_> {
    /// The path, `/` when the URL has none (as browsers and HTTP clients request it).
    pub fn path(&self) -> &str {
        if self.raw_path.is_empty() {
            "/"
        } else {
            self.raw_path
        }
    }

    /// The port, the scheme's default when none is written.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(default_port(self.scheme))
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

pub fn parse(value: &str) -> Result<HttpUrl<'_>, UrlError> {
    if let Some(bad) = value.chars().find(|&c| !is_url_char(c)) {
        return Err(UrlError(match bad {
            c if !c.is_ascii() => {
                "non-ASCII (write the host in its punycode xn-- form and percent-encode the rest)"
            }
            '\\' => "a backslash",
            c if c.is_ascii_whitespace() => "a space, tab or line break",
            c if c.is_ascii_control() => "a control character",
            _ => "a character that must be percent-encoded",
        }));
    }
    let (scheme, rest) = split_scheme(value)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(end);
    let (host, port) = split_authority(authority, scheme)?;
    let (rest, fragment) = split_off(rest, '#');
    let (raw_path, query) = split_off(rest, '?');
    check_percent_escapes(value)?;
    if has_dot_segment(raw_path) {
        return Err(UrlError("a '.' or '..' path segment"));
    }
    Ok(HttpUrl {
        scheme,
        host,
        port,
        raw_path,
        query,
        fragment,
    })
}

/// RFC 3986's characters (unreserved, reserved and `%`): nothing a parser would encode or drop.
fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

fn split_scheme(value: &str) -> Result<(&'static str, &str), UrlError> {
    for (scheme, prefix) in [("http", "http://"), ("https", "https://")] {
        if let Some(head) = value.get(..prefix.len()) {
            if head.eq_ignore_ascii_case(prefix) {
                return Ok((scheme, &value[prefix.len()..]));
            }
        }
    }
    Err(UrlError("it must start with http:// or https://"))
}

fn split_off(value: &str, separator: char) -> (&str, Option<&str>) {
    match value.split_once(separator) {
        Some((head, tail)) => (head, Some(tail)),
        None => (value, None),
    }
}

/// `host[:port]`, refusing userinfo and hosts that parsers read differently.
fn split_authority<'a>(
    authority: &'a str,
    scheme: &str,
) -> Result<(&'a str, Option<u16>), UrlError> {
    if authority.contains('@') {
        return Err(UrlError("a user name or password (user@host)"));
    }
    let (host, port) = if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or(UrlError("an unclosed IPv6 '['"))?;
        let (host, rest) = authority.split_at(close + 1);
        (host, port_text(rest)?)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    check_host(host)?;
    let port = match port {
        Some(text) => parse_port(text)?,
        None => None,
    };
    Ok((host, port.filter(|&p| p != default_port(scheme))))
}

/// What follows `]` in an IPv6 authority: nothing or `:port`.
fn port_text(rest: &str) -> Result<Option<&str>, UrlError> {
    match rest.strip_prefix(':') {
        Some(port) => Ok(Some(port)),
        None if rest.is_empty() => Ok(None),
        None => Err(UrlError("text after the IPv6 address")),
    }
}

fn parse_port(text: &str) -> Result<Option<u16>, UrlError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError("the port is not a number from 1 to 65535"));
    }
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(Some(port)),
        _ => Err(UrlError("the port is not a number from 1 to 65535")),
    }
}

/// A DNS name, a dotted-decimal IPv4 address or a bracketed IPv6 address. A name whose last
/// label is a number is an IPv4 address to browsers (`http://2130706433/` is 127.0.0.1), so
/// it must be one written the usual way.
fn check_host(host: &str) -> Result<(), UrlError> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match inner.parse::<Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(UrlError("an invalid IPv6 address")),
        };
    }
    if host.is_empty() {
        return Err(UrlError("no host"));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(UrlError("a character that is not allowed in a host name"));
    }
    let last = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    if numeric && host.trim_end_matches('.').parse::<Ipv4Addr>().is_err() {
        return Err(UrlError(
            "a numeric host that is not a dotted-decimal IPv4 address",
        ));
    }
    Ok(())
}

fn check_percent_escapes(value: &str) -> Result<(), UrlError> {
    let bytes = value.as_bytes();
    let valid = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if valid {
        Ok(())
    } else {
        Err(UrlError("a '%' that is not followed by two hex digits"))
    }
}

/// `.` and `..` segments, also percent-encoded: parsers remove them, so the path requested
/// would not be the one written.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let segment = segment.to_ascii_lowercase().replace("%2e", ".");
        segment == "." || segment == ".."
    })
}

#[cfg(test)]
mod tests;
