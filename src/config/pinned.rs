//! `extra_issuers[i].hs256_secret_env`: an issuer whose tokens are HS256 with one secret read
//! from the VM environment (`core::hs256`), such as DataHub's metadata service.
//!
//! The secret is never inline: a plugin configuration ends up in WasmPlugin objects, Envoy
//! config dumps and bug reports. Errors name the field and the variable, never the value.

use super::fields::Fields;
use super::{check_list_not_empty, check_non_empty, error, ConfigError, Environment, KeySource};
use crate::core::hs256::{Hs256Key, MIN_SECRET_BYTES};

/// The issuer's pinned secret, when it has `hs256_secret_env`.
pub(super) fn hs256_secret(
    f: &mut Fields,
    env: &dyn Environment,
) -> Result<Option<Hs256Key>, ConfigError> {
    // Any value at all is refused, whatever its type: its mere presence is the mistake.
    if !matches!(f.optional_str("hs256_secret"), Ok(None)) {
        return Err(error(
            f.path("hs256_secret"),
            "a secret is never inline in the configuration: set hs256_secret_env to the name \
             of a VM environment variable holding it",
        ));
    }
    let Some(name) = f.optional_str("hs256_secret_env")? else {
        return Ok(None);
    };
    let field = f.path("hs256_secret_env");
    let value = env.var(&name).ok_or_else(|| {
        error(
            &field,
            format!("environment variable {name:?} is not set in the Wasm VM (vm_config.environment_variables / vmConfig.env)"),
        )
    })?;
    match Hs256Key::new(value.as_bytes()) {
        Some(key) => Ok(Some(key)),
        None => Err(error(
            field,
            format!("environment variable {name:?} must hold at least {MIN_SECRET_BYTES} bytes"),
        )),
    }
}

/// A pinned-secret issuer fetches nothing, so it has no cluster or JWKS; its `iss` need not be
/// a URL (DataHub's is `datahub-metadata-service`). Without `audiences` its tokens must carry
/// no `aud` (DataHub's carry none); with them, `aud` must name one.
pub(super) fn key_source(f: &mut Fields, issuer: &str) -> Result<KeySource, ConfigError> {
    check_non_empty(&f.path("issuer"), issuer)?;
    for key in ["cluster", "jwks_uri"] {
        if !matches!(f.optional_str(key), Ok(None)) {
            return Err(error(
                f.path(key),
                "not for an issuer with hs256_secret_env: its key is the secret, nothing is fetched",
            ));
        }
    }
    let audiences = match f.optional_string_list("audiences")? {
        Some(list) => {
            check_list_not_empty(&f.path("audiences"), &list)?;
            list
        }
        None => Vec::new(),
    };
    Ok(KeySource {
        cluster: String::new(),
        jwks_uri: None,
        audiences,
    })
}

#[cfg(test)]
mod tests;
