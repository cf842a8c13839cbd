//! Path matching for `skip_auth_paths` and the `rules`.
//!
//! A path decision holds only when every way a common upstream resolves the path agrees.
//! Upstreams disagree: some decode `%XX` before routing, some do not; Java servlet containers
//! (Tomcat, Jetty, Spring) cut a `;parameter` off every segment before resolving `.` and `..`
//! (so `/public/..;/admin` is `/admin` to them), other servers keep it as part of the name;
//! Windows servers drop trailing dots and spaces and read `\` as `/`; some merge `//`. So the
//! path is read four ways — as sent or decoded, with or without `;` parameters — the
//! [`readings`]. What those readings cannot settle makes the path unreadable: a path that
//! escapes `/`, `\`, `.`, `%`, `;`, `?` or `#`; a raw byte outside printable ASCII; an escaped
//! control byte, NUL or DEL; escaped bytes that are not UTF-8 (overlong forms such as
//! `%c0%ae`) or that spell a character other than a letter or digit (fullwidth `．`, `∕`,
//! which some servers fold into ASCII); a raw `\` or `#`; an empty segment (`//`) before the
//! last one; a segment that starts or ends with a space, or ends in `.` other than `.` and
//! `..`. An escaped space inside a segment (`Untitled%20Folder`) and escaped letters of any
//! script (`caf%c3%a9`) read as themselves. Envoy may normalise or refuse some of these
//! first; these rules do not rely on it.

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

/// The resolved path as each kind of upstream reads it; `None` when they could disagree in a
/// way the readings do not cover.
pub fn readings(raw_path: &[u8]) -> Option<Vec<Vec<u8>>> {
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
            // Dropped by Windows servers (`..` to them), or trimmed by some.
            _ if segment.ends_with(b".") || segment.ends_with(b" ") => return None,
            _ if segment.starts_with(b" ") => return None,
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

/// Decodes every `%XX`; `None` on a malformed escape, one that stands for a byte with a
/// meaning in a path or a control byte, or escapes that spell anything but UTF-8 letters and
/// digits outside ASCII.
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
            let allowed = is_printable(byte) || byte == b' ' || !byte.is_ascii();
            if !allowed || b"/\\.%;?#".contains(&byte) {
                return None;
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(path[i]);
            i += 1;
        }
    }
    let text = std::str::from_utf8(&out).ok()?;
    text.chars()
        .all(|c| c.is_ascii() || c.is_alphanumeric())
        .then_some(out)
}

#[cfg(test)]
mod tests;
