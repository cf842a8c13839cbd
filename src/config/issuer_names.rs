//! `issuer_name` and `extra_issuers[i].name`: the name an issuer goes by in metric labels
//! (`issuer="dex"`) and log lines. Without one, it is named after its URL's host and port.

use super::fields::Fields;
use super::{error, ConfigError, IssuerConfig};

/// Longer names make unwieldy labels.
pub const MAX_NAME_BYTES: usize = 64;

/// A configured name: a metric name part, so letters, digits, `_` and `-` only.
pub(super) fn explicit(f: &mut Fields, key: &str) -> Result<Option<String>, ConfigError> {
    let Some(name) = f.optional_str(key)? else {
        return Ok(None);
    };
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || name.len() > MAX_NAME_BYTES || !name.chars().all(safe) {
        let reason = format!("must be 1 to {MAX_NAME_BYTES} letters, digits, '_' or '-'");
        return Err(error(f.path(key), reason));
    }
    Ok(Some(name))
}

/// Names every issuer: its configured name, else its host's. Configured names must differ;
/// a derived one that is taken gets the issuer's position appended (`_2`).
pub(super) fn assign(
    issuers: &mut [IssuerConfig],
    explicit: Vec<Option<String>>,
) -> Result<(), ConfigError> {
    for (i, name) in explicit.iter().enumerate() {
        if name.is_some() && explicit[..i].contains(name) {
            return Err(error(field(i), "duplicates another issuer's name"));
        }
    }
    for (i, name) in explicit.into_iter().enumerate() {
        let name = name.unwrap_or_else(|| derived(&issuers[i].issuer));
        let taken = |n: &str| issuers.iter().any(|other| other.name == n);
        issuers[i].name = if taken(&name) {
            format!("{name}_{}", i + 1)
        } else {
            name
        };
    }
    Ok(())
}

fn field(index: usize) -> String {
    match index {
        0 => "issuer_name".to_string(),
        i => format!("extra_issuers[{}].name", i - 1),
    }
}

/// `https://Dex.example.com:5556/dex` -> `dex_example_com_5556`.
fn derived(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let name: String = host
        .chars()
        .take(MAX_NAME_BYTES)
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    if name.is_empty() {
        "issuer".to_string()
    } else {
        name
    }
}
