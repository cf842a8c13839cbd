//! `oidc-gate-check --from-oidc-authservice ENV_FILE` and `--from-oauth2-proxy CFG_FILE`: the
//! settings of the tool being replaced, turned into an oidc-gate plugin configuration, with what
//! does not carry over and why. The mapping is the one in docs/migrate-from-*.md.
//!
//! Secrets are never copied: the client secret and the session keys are named by
//! `client_secret_env` / `session_keys_env`, and the report says what to put there.

mod authservice;
mod oauth2_proxy;
mod route;
mod toml_subset;

use std::fmt::Write as _;

use base64::Engine;
use oidc_gate::config::{Config, ConfigError};
use oidc_gate::core::http_url;
use serde_json::{Map, Value};

/// Which tool the settings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    OidcAuthservice,
    Oauth2Proxy,
}

/// The variables the converted configuration names for its secrets.
pub const CLIENT_SECRET_VAR: &str = "OIDC_CLIENT_SECRET";
pub const SESSION_KEYS_VAR: &str = "OIDC_SESSION_KEYS";

/// Stands in for a required value the input does not hold; reported as `check`.
const PLACEHOLDER_CLIENT_ID: &str = "REPLACE-WITH-CLIENT-ID";

/// A converted configuration and what the operator must know about it.
#[derive(Debug, Default)]
pub struct Conversion {
    pub config: Map<String, Value>,
    /// Which source setting each top-level key came from, to name it when the filter refuses it.
    origin: Vec<(String, String)>,
    /// (variable, where its value comes from)
    pub variables: Vec<(String, String)>,
    /// (key, what to check): guesses and placeholders.
    pub checks: Vec<(String, String)>,
    /// (source setting, why it does not carry over)
    pub dropped: Vec<(String, String)>,
    skip_paths: Vec<Value>,
    rules: Vec<Value>,
}

impl Conversion {
    fn set(&mut self, key: &str, value: impl Into<Value>, from: &str) {
        self.config.insert(key.to_string(), value.into());
        self.origin.push((key.to_string(), from.to_string()));
    }

    fn check(&mut self, key: &str, what: impl Into<String>) {
        self.checks.push((key.to_string(), what.into()));
    }

    fn drop(&mut self, setting: &str, why: impl Into<String>) {
        self.dropped.push((setting.to_string(), why.into()));
    }

    fn variable(&mut self, name: &str, from: impl Into<String>) {
        self.variables.push((name.to_string(), from.into()));
    }

    /// Adds a rule when the filter accepts it on its own; otherwise reports why not.
    fn rule(&mut self, rule: Value, setting: &str) {
        match check_rule(&rule) {
            Ok(()) => self.rules.push(rule),
            Err(e) => self.drop(setting, format!("the filter refuses {rule}: {}", e.reason)),
        }
    }

    /// Adds a `skip_auth_paths` prefix when the filter accepts it; otherwise reports why not.
    fn skip_path(&mut self, prefix: &str, setting: &str) {
        let prefix = skip_prefix(prefix);
        let as_rule = serde_json::json!({"path_prefix": prefix, "action": "allow"});
        match check_rule(&as_rule) {
            Ok(()) => self.skip_paths.push(prefix.into()),
            Err(e) => self.drop(
                setting,
                format!("the filter refuses {prefix:?}: {}", e.reason),
            ),
        }
    }

    /// The login issuer and a guess at the Envoy cluster that reaches it (Istio's naming).
    fn issuer(&mut self, issuer: Option<&str>, setting: &str) {
        let Some(issuer) = issuer.filter(|i| !i.is_empty()) else {
            self.set("issuer", "https://REPLACE-WITH-ISSUER", setting);
            self.check(
                "issuer",
                format!("{setting} is not in the input: set the issuer URL"),
            );
            self.set("idp_cluster", "REPLACE-WITH-CLUSTER", setting);
            self.check("idp_cluster", "the Envoy cluster that reaches the issuer");
            return;
        };
        let trimmed = issuer.trim_end_matches('/');
        if trimmed != issuer {
            self.check(
                "issuer",
                format!("{setting} without its trailing '/': it must equal the tokens' iss"),
            );
        }
        self.set("issuer", trimmed, setting);
        match istio_cluster(trimmed) {
            Some(cluster) => {
                self.set("idp_cluster", cluster.as_str(), setting);
                self.check(
                    "idp_cluster",
                    format!(
                        "{cluster:?} is Istio's name for the issuer's host and port; under plain \
                         Envoy, name the cluster that reaches it"
                    ),
                );
            }
            None => {
                self.set("idp_cluster", "REPLACE-WITH-CLUSTER", setting);
                self.check("idp_cluster", "the Envoy cluster that reaches the issuer");
            }
        }
    }

    fn client_id(&mut self, client_id: Option<&str>, setting: &str) {
        match client_id.filter(|c| !c.is_empty()) {
            Some(id) => self.set("client_id", id, setting),
            None => {
                self.set("client_id", PLACEHOLDER_CLIENT_ID, setting);
                self.check(
                    "client_id",
                    format!(
                        "{setting} is not in the input (Kubeflow keeps it in a Secret): replace \
                         {PLACEHOLDER_CLIENT_ID}"
                    ),
                );
            }
        }
    }

    /// The secrets, by name only.
    fn secrets(&mut self, client_secret: &str, session_keys: &str) {
        self.set("client_secret_env", CLIENT_SECRET_VAR, "client secret");
        self.variable(CLIENT_SECRET_VAR, client_secret.to_string());
        self.set("session_keys_env", SESSION_KEYS_VAR, "session keys");
        self.variable(SESSION_KEYS_VAR, session_keys.to_string());
    }

    /// Puts the rules in, then drops, one at a time, any setting the filter refuses in the
    /// whole configuration (a combination no single value shows, such as `SameSite=None`
    /// without `Secure`). Fails only when a required key is refused.
    pub fn finish(mut self) -> Result<Conversion, ConfigError> {
        for (key, list) in [
            ("skip_auth_paths", &mut self.skip_paths),
            ("rules", &mut self.rules),
        ] {
            if !list.is_empty() {
                self.config
                    .insert(key.to_string(), Value::Array(std::mem::take(list)));
            }
        }
        loop {
            let Err(e) = validate(&self.config) else {
                return Ok(self);
            };
            let key = e
                .field
                .split(['[', '.'])
                .next()
                .unwrap_or_default()
                .to_string();
            let from = self
                .origin
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, f)| f.clone());
            match from {
                Some(from) if !REQUIRED.contains(&key.as_str()) => {
                    self.config.remove(&key);
                    self.drop(&from, format!("the filter refuses {key}: {}", e.reason));
                }
                _ => return Err(e),
            }
        }
    }

    /// The report for standard error: one item a line, each starting with its kind.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for (name, from) in &self.variables {
            let _ = writeln!(out, "set {name}: {from}");
        }
        for (key, what) in &self.checks {
            let _ = writeln!(out, "check {key}: {what}");
        }
        for (setting, why) in &self.dropped {
            let _ = writeln!(out, "not carried over {setting}: {why}");
        }
        out
    }
}

/// Keys the filter cannot do without: never dropped to make a configuration pass.
const REQUIRED: &[&str] = &[
    "issuer",
    "idp_cluster",
    "client_id",
    "client_secret_env",
    "session_keys_env",
];

/// Converts the text of a settings file; `Err` when it cannot be read as one. The result is
/// complete after [`Conversion::finish`].
pub fn convert(source: Source, text: &str) -> Result<Conversion, String> {
    match source {
        Source::OidcAuthservice => authservice::convert(text),
        Source::Oauth2Proxy => oauth2_proxy::convert(text),
    }
}

/// The filter's own validation, with stand-ins for the variables the configuration names.
pub fn validate(config: &Map<String, Value>) -> Result<Config, ConfigError> {
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let env = move |name: &str| match name {
        SESSION_KEYS_VAR => Some(key.clone()),
        CLIENT_SECRET_VAR => Some("stand-in".to_string()),
        _ => None,
    };
    let raw = serde_json::to_vec(config).map_err(|e| ConfigError {
        field: "configuration".to_string(),
        reason: e.to_string(),
    })?;
    Config::from_json(&raw, &env)
}

/// Whether the filter accepts `rule` in an otherwise minimal configuration.
fn check_rule(rule: &Value) -> Result<(), ConfigError> {
    let mut config = Map::new();
    config.insert("issuer".into(), "https://idp.example".into());
    config.insert("idp_cluster".into(), "idp".into());
    config.insert("client_id".into(), "c".into());
    config.insert("client_secret_env".into(), CLIENT_SECRET_VAR.into());
    config.insert("session_keys_env".into(), SESSION_KEYS_VAR.into());
    config.insert("rules".into(), Value::Array(vec![rule.clone()]));
    validate(&config).map(|_| ())
}

/// `outbound|<port>||<host>` for an http(s) URL.
fn istio_cluster(url: &str) -> Option<String> {
    let parsed = http_url::parse(url).ok()?;
    let host = parsed.host.to_ascii_lowercase();
    let port = parsed.port_or_default();
    Some(format!("outbound|{port}||{host}"))
}

/// A list setting written as one string: items split at commas and whitespace.
fn split_list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `openid` first, as both tools send it.
fn scopes_with_openid(mut scopes: Vec<String>) -> Vec<String> {
    scopes.retain(|s| s != "openid");
    scopes.insert(0, "openid".to_string());
    scopes
}

/// `lax` as `Lax`, the filter's spelling.
fn capitalised(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

/// A path prefix for `skip_auth_paths`, in the form the guides write it (no trailing `/`).
fn skip_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

/// The settings of an input not yet converted, in file order; a later one wins.
struct Settings<V>(Vec<(String, V)>);

impl<V> Settings<V> {
    fn new(lines: Vec<(String, V)>) -> Settings<V> {
        let mut unique: Vec<(String, V)> = Vec::new();
        for (key, value) in lines {
            unique.retain(|(k, _)| *k != key);
            unique.push((key, value));
        }
        Settings(unique)
    }

    fn take(&mut self, key: &str) -> Option<V> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    /// The keys of what was not converted.
    fn rest(self) -> Vec<String> {
        self.0.into_iter().map(|(k, _)| k).collect()
    }
}

/// A conversion the filter accepts, for the converters' tests.
#[cfg(test)]
fn accepted(converted: Result<Conversion, String>) -> Conversion {
    converted
        .expect("parses")
        .finish()
        .expect("the filter accepts it")
}

/// The settings a conversion reports as not carried over, for the converters' tests.
#[cfg(test)]
fn dropped_settings(c: &Conversion) -> Vec<&str> {
    c.dropped
        .iter()
        .map(|(setting, _)| setting.as_str())
        .collect()
}

#[cfg(test)]
mod tests;
