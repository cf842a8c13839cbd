//! Every error of a configuration at once, for `oidc-gate-check`: the filter stops at the
//! first (`Config::from_json`, one log line), but an operator fixing a configuration wants
//! the whole list. Each section is read on its own, the way `compile` reads it.

use super::fields::{unknown_keys, Fields};
use super::*;

impl Config {
    /// Every error of the configuration: each unknown key, and the first error of each
    /// section. A section that needs another's result is skipped when that one failed.
    /// Empty exactly when [`Config::from_json`] accepts the configuration.
    pub fn check_all(raw: &[u8], env: &dyn Environment) -> Vec<ConfigError> {
        let mut map = match json_object(raw) {
            Ok(map) => map,
            Err(e) => return vec![e],
        };
        let mut errors = unknown_keys(&map, "", TOP_LEVEL_KEYS);
        map.retain(|key, _| TOP_LEVEL_KEYS.contains(&key.as_str()));
        match Fields::new(map, "", TOP_LEVEL_KEYS) {
            Ok(mut f) => check_sections(&mut f, env, &mut errors),
            Err(e) => errors.push(e),
        }
        // Should a section be missing above, the filter's own reading still has the last word.
        if errors.is_empty() {
            errors.extend(Config::from_json(raw, env).err());
        }
        errors
    }
}

/// The section's value, or its error recorded.
fn keep<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

fn check_sections(f: &mut Fields, env: &dyn Environment, errors: &mut Vec<ConfigError>) {
    let login_issuer = keep(errors, login_issuer(f));
    keep(errors, f.string_map("idp_clusters"));
    let client_id = keep(errors, client_id(f));
    keep(
        errors,
        secret_from(f, "client_secret", "client_secret_env", env),
    );
    keep(errors, client_auth(f));
    // The login issuer only heads the duplicate check and the client id is only the default
    // audience: the claim settings and extra issuers are worth checking without them.
    let (issuer, cluster) = login_issuer.unwrap_or_default();
    let client_id = client_id.unwrap_or_else(|| "client_id".to_string());
    keep(errors, issuers(f, issuer, cluster, &client_id, env));
    let login = keep(errors, login_endpoints(f));
    keep(errors, session_config(f, env));
    let identity = keep(errors, identity_rules(f));
    keep(errors, rules::rules(f));
    let logout = keep(errors, logout_config(f));
    if let (Some(login), Some(logout)) = (&login, &logout) {
        keep(errors, login_path(f, &login.callback_path, logout));
    }
    if let Some(identity) = &identity {
        let identity_headers = headers::identity_headers(identity);
        keep(errors, headers::forward_token(f, &identity_headers));
    }
    keep(errors, headers::token_headers(f));
    keep(errors, opaque::opaque_tokens(f));
    keep(errors, allow_cors_preflight(f));
    keep(errors, mode(f));
    keep(errors, jwks_refresh_seconds(f));
    keep(errors, clock_skew_seconds(f));
    keep(errors, idp_timeout_ms(f));
    keep(errors, cache_entries(f));
}

#[cfg(test)]
mod tests;
