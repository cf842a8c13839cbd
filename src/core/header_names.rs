//! Header names as the servers behind the proxy read them.
//!
//! Envoy forwards `kubeflow_userid` (underscores are allowed by default, and Istio gateways
//! run so) next to `kubeflow-userid`, and many upstreams fold the two into one name: CGI and
//! WSGI (PEP 3333; Flask, Django, Rack likewise) read a header as `HTTP_` + its name in upper
//! case with `-` turned into `_`, and lighttpd turns every byte that is not a letter or a digit
//! into `_`. A client-sent variant of an identity header would then arrive as, or next to, the
//! identity the filter sets. So a name folds to another when the two agree under the widest of
//! these readings: ASCII letters without case, digits as they are, and every other byte the
//! same separator.

/// True when an upstream may read header `name` as header `identity` (see the module docs).
pub fn folds_to(name: &str, identity: &str) -> bool {
    name.len() == identity.len()
        && name
            .bytes()
            .zip(identity.bytes())
            .all(|(a, b)| fold(a) == fold(b))
}

/// One byte as the folding readers see it: upper case for letters, `_` for any separator.
fn fold(byte: u8) -> u8 {
    if byte.is_ascii_alphanumeric() {
        byte.to_ascii_uppercase()
    } else {
        b'_'
    }
}

/// A name the filter can set and every upstream reads the same way: lower-case ASCII letters
/// and digits in words joined by single `-` (no `_`, which nginx and recent WSGI servers drop,
/// and no other separator, which CGI servers fold).
pub fn is_unambiguous(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests;
