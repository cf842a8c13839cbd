//! The plugin configuration (JSON from the Envoy or Istio resource), parsed and validated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::config::Config;
use oidc_gate::core::paths;
use oidc_gate::core::policy::PathPattern;

const ENV_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fuzz_target!(|data: &[u8]| {
    // Any `*_env` variable is set, to a valid session key (which also serves as a secret).
    let env = |_: &str| Some(ENV_KEY.to_string());
    match Config::from_json(data, &env) {
        Ok(config) => {
            assert!(!config.issuers.is_empty() && !config.session.keys.is_empty());
            for rule in &config.rules.rules {
                if let Some(PathPattern::Prefix(prefix)) = &rule.path {
                    assert_eq!(paths::canonical_prefix(prefix).as_ref(), Some(prefix));
                }
            }
            let _ = format!("{config:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
