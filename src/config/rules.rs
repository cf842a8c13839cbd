//! `skip_auth_paths` and `rules`, compiled into [`Rules`]: the skip paths become leading
//! `allow` rules. Every error names the rule's index and field.

use crate::core::paths;
use crate::core::policy::{
    Action, ClaimRequirement, HostPattern, PathPattern, Requirements, Rule, Rules, Unauthenticated,
};

use super::fields::Fields;
use super::{check_path, error, groups_allowlist_of, is_token_char, ConfigError};

const RULE_KEYS: &[&str] = &[
    "hosts",
    "path_prefix",
    "path_exact",
    "path_glob",
    "methods",
    "action",
    "groups_allowlist",
    "required_scopes",
    "required_claims",
    "unauthenticated",
];

/// Globs with more `**` than this are refused: each one multiplies the matching work.
const MAX_DEEP_WILDCARDS: usize = 2;

pub(super) fn rules(f: &mut Fields) -> Result<Rules, ConfigError> {
    let mut rules = skip_auth_paths(f)?;
    for (index, mut fields) in f.object_list("rules", RULE_KEYS)?.into_iter().enumerate() {
        rules.push(rule(&mut fields, index)?);
    }
    Ok(Rules { rules })
}

fn skip_auth_paths(f: &mut Fields) -> Result<Vec<Rule>, ConfigError> {
    let list = f.string_list_or("skip_auth_paths", Vec::new())?;
    list.into_iter()
        .enumerate()
        .map(|(i, prefix)| {
            let field = format!("skip_auth_paths[{i}]");
            let prefix = prefix_of(&field, &prefix)?;
            Ok(Rule::allow_prefix(field, prefix))
        })
        .collect()
}

fn rule(f: &mut Fields, index: usize) -> Result<Rule, ConfigError> {
    let hosts: Vec<HostPattern> = f
        .string_list_or("hosts", Vec::new())?
        .iter()
        .map(|h| host_pattern(&f.path("hosts"), h))
        .collect::<Result<_, _>>()?;
    let path = path_pattern(f)?;
    let methods = f
        .string_list_or("methods", Vec::new())?
        .into_iter()
        .map(|m| method(&f.path("methods"), m))
        .collect::<Result<_, _>>()?;
    let action = action(f)?;
    if matches!(action, Action::Allow) && path.is_none() && hosts.is_empty() {
        return Err(error(
            f.path("action"),
            "an allow rule needs hosts or a path: this one would switch authentication off \
             everywhere",
        ));
    }
    Ok(Rule {
        label: format!("rules[{index}]"),
        hosts,
        path,
        methods,
        action,
    })
}

fn host_pattern(field: &str, host: &str) -> Result<HostPattern, ConfigError> {
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    let name = lower.strip_prefix("*.").unwrap_or(&lower);
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !valid {
        return Err(error(
            field,
            format!("{host:?}: a host name, or *.suffix (no port, no other wildcard)"),
        ));
    }
    Ok(match lower.strip_prefix('*') {
        Some(suffix) => HostPattern::Subdomains(suffix.to_string()),
        None => HostPattern::Exact(lower),
    })
}

/// One of `path_prefix`, `path_exact`, `path_glob`, or none.
fn path_pattern(f: &mut Fields) -> Result<Option<PathPattern>, ConfigError> {
    let mut given = Vec::new();
    for key in ["path_prefix", "path_exact", "path_glob"] {
        if let Some(value) = f.optional_str(key)? {
            given.push((key, value));
        }
    }
    let Some((key, value)) = given.pop() else {
        return Ok(None);
    };
    if !given.is_empty() {
        return Err(error(
            f.path(key),
            "give one of path_prefix, path_exact, path_glob",
        ));
    }
    let field = f.path(key);
    Ok(Some(match key {
        "path_prefix" => PathPattern::Prefix(prefix_of(&field, &value)?),
        "path_exact" => PathPattern::Exact(plain_path(&field, &value)?),
        _ => glob(&field, &value)?,
    }))
}

/// A prefix in the form paths resolve to; `/` alone would match everything.
fn prefix_of(field: &str, prefix: &str) -> Result<String, ConfigError> {
    let plain = plain_path(field, prefix)?;
    let trimmed = plain.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(error(field, "\"/\" matches every path: leave the path out"));
    }
    Ok(trimmed.to_string())
}

/// A path as requests resolve to: no escapes, dot segments, parameters or empty segments.
fn plain_path(field: &str, path: &str) -> Result<String, ConfigError> {
    check_path(field, path)?;
    paths::canonical_prefix(path)
        .map(|_| path.to_string())
        .ok_or_else(|| {
            error(
                field,
                "must be a plain path: printable ASCII without '%', '\\', ';', '?' or '#', no \
                 empty segment, no segment ending in '.'",
            )
        })
}

fn glob(field: &str, pattern: &str) -> Result<PathPattern, ConfigError> {
    let literal = pattern.replace('*', "x");
    plain_path(field, &literal)?;
    let segments: Vec<String> = pattern[1..].split('/').map(str::to_string).collect();
    if segments.iter().any(|s| s.contains("**") && s != "**") {
        return Err(error(field, "'**' must be a whole segment: /a/**/b"));
    }
    if segments.iter().filter(|s| *s == "**").count() > MAX_DEEP_WILDCARDS {
        return Err(error(
            field,
            format!("at most {MAX_DEEP_WILDCARDS} '**' segments"),
        ));
    }
    Ok(PathPattern::Glob(segments))
}

fn method(field: &str, method: String) -> Result<String, ConfigError> {
    if method.is_empty() || !method.bytes().all(is_token_char) {
        return Err(error(field, format!("{method:?} is not an HTTP method")));
    }
    Ok(method.to_ascii_uppercase())
}

fn action(f: &mut Fields) -> Result<Action, ConfigError> {
    let action = f.str_or("action", "authenticate")?;
    let requirements = requirements(f)?;
    match (action.as_str(), requirements) {
        ("authenticate", requirements) => Ok(Action::Authenticate(requirements)),
        ("allow" | "deny", requirements) if requirements != Requirements::default() => Err(error(
            f.path("action"),
            format!(
                "groups_allowlist, required_scopes, required_claims and unauthenticated \
                     belong to authenticate rules, not {action}"
            ),
        )),
        ("allow", _) => Ok(Action::Allow),
        ("deny", _) => Ok(Action::Deny),
        _ => Err(error(
            f.path("action"),
            format!("{action:?}: one of authenticate, allow, deny"),
        )),
    }
}

fn requirements(f: &mut Fields) -> Result<Requirements, ConfigError> {
    let groups_allowlist = match f.optional_string_list("groups_allowlist")? {
        Some(list) => groups_allowlist_of(&f.path("groups_allowlist"), list)?,
        None => None,
    };
    let required_scopes = f.string_list_or("required_scopes", Vec::new())?;
    if let Some(bad) = required_scopes
        .iter()
        .find(|s| s.is_empty() || s.contains(' '))
    {
        return Err(error(
            f.path("required_scopes"),
            format!("{bad:?}: a scope is one non-empty word"),
        ));
    }
    let required_claims = f
        .string_list_map("required_claims")?
        .into_iter()
        .map(|(claim, accepted)| ClaimRequirement { claim, accepted })
        .collect();
    let unauthenticated = match f.optional_str("unauthenticated")?.as_deref() {
        None => Unauthenticated::Heuristic,
        Some("redirect") => Unauthenticated::Redirect,
        Some("401") => Unauthenticated::Refuse,
        Some(other) => {
            return Err(error(
                f.path("unauthenticated"),
                format!("{other:?}: \"redirect\" or \"401\""),
            ))
        }
    };
    Ok(Requirements {
        groups_allowlist,
        required_scopes,
        required_claims,
        unauthenticated,
    })
}
