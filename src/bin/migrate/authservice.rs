//! oidc-authservice's environment (`KEY=value` lines of a `.env` file or a ConfigMap's
//! `params.env`) as an oidc-gate configuration, after docs/migrate-from-oidc-authservice.md.

use serde_json::{json, Value};

use super::{capitalised, scopes_with_openid, split_list, Conversion};
use oidc_gate::core::http_url;

/// Converts the text of an environment file.
pub fn convert(text: &str) -> Result<Conversion, String> {
    let mut settings = Settings::new(parse_env(text)?);
    let mut c = Conversion::default();
    client(&mut c, &mut settings);
    paths(&mut c, &mut settings);
    sessions(&mut c, &mut settings);
    identity(&mut c, &mut settings);
    credentials(&mut c, &mut settings);
    for key in settings.rest() {
        c.drop(&key, gone_reason(&key));
    }
    Ok(c)
}

/// `KEY=value` lines; `export`, quotes, blank lines and `#` comments allowed.
fn parse_env(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut settings = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let bad = || format!("line {}: expected KEY=value", number + 1);
        let (key, value) = line.split_once('=').ok_or_else(bad)?;
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad());
        }
        settings.push((key.to_string(), unquote(value.trim())));
    }
    Ok(settings)
}

/// `"a b"` and `'a b'` as `a b` (`\"` and `\\` unescaped in double quotes); an unquoted value
/// ends at ` #`.
fn unquote(value: &str) -> String {
    let inner = |q: char| value.strip_prefix(q).and_then(|v| v.strip_suffix(q));
    if let Some(single) = inner('\'') {
        return single.to_string();
    }
    if let Some(double) = inner('"') {
        return double.replace("\\\"", "\"").replace("\\\\", "\\");
    }
    value
        .split_once(" #")
        .map_or(value, |(v, _)| v.trim_end())
        .to_string()
}

/// An env file's settings not yet converted.
type Settings = super::Settings<String>;

/// The OIDC client: issuer, id, secret, scopes and endpoints.
fn client(c: &mut Conversion, s: &mut Settings) {
    c.issuer(s.take("OIDC_PROVIDER").as_deref(), "OIDC_PROVIDER");
    c.client_id(s.take("CLIENT_ID").as_deref(), "CLIENT_ID");
    let secret_from = if s.take("CLIENT_SECRET").is_some() {
        "the value of CLIENT_SECRET in the input (not printed)"
    } else {
        "the OIDC client secret (authservice's CLIENT_SECRET, usually from a Secret)"
    };
    c.secrets(
        secret_from,
        "new keys, `openssl rand -base64 32` (comma-separated; the first seals): sessions are \
         sealed cookies now, nothing is stored",
    );
    if let Some(url) = s.take("OIDC_AUTH_URL") {
        c.set("authorization_endpoint", url, "OIDC_AUTH_URL");
    }
    // authservice's own default, so that the IdP is asked for the same scopes as before.
    let scopes = s
        .take("OIDC_SCOPES")
        .unwrap_or_else(|| "openid,email".into());
    c.set(
        "scopes",
        scopes_with_openid(split_list(&scopes)),
        "OIDC_SCOPES",
    );
}

/// The callback, logout and skip paths; `AUTHSERVICE_URL_PREFIX` gave the defaults.
fn paths(c: &mut Conversion, s: &mut Settings) {
    let prefix = s.take("AUTHSERVICE_URL_PREFIX").map(|p| url_path(&p));
    let prefix = prefix.as_deref().unwrap_or("/authservice/");
    let prefix = format!("{}/", prefix.trim_end_matches('/'));
    let redirect = s
        .take("REDIRECT_URL")
        .unwrap_or(format!("{prefix}oidc/callback"));
    c.set("redirect_uri", redirect, "REDIRECT_URL");
    c.set(
        "logout_path",
        format!("{prefix}logout"),
        "AUTHSERVICE_URL_PREFIX",
    );
    let after_logout = s.take("AFTER_LOGOUT_URL").map(|v| ("AFTER_LOGOUT_URL", v));
    let after_logout = after_logout.or(s
        .take("STATIC_DESTINATION_URL")
        .map(|v| ("STATIC_DESTINATION_URL", v)));
    match after_logout {
        Some((setting, url)) => c.set("after_logout_url", url, setting),
        None => c.check(
            "after_logout_url",
            format!("authservice's default, {prefix}site/homepage, no longer exists: the filter's / is used"),
        ),
    }
    for setting in ["SKIP_AUTH_URLS", "SKIP_AUTH_URI"] {
        for entry in s.take(setting).map(|v| split_list(&v)).unwrap_or_default() {
            if url_path(&entry) == prefix {
                c.drop(
                    &format!("{setting} {entry}"),
                    "authservice's own prefix: the filter answers its callback and logout \
                     paths before any rule, and nothing else lives there now",
                );
            } else {
                c.skip_path(&url_path(&entry), &format!("{setting} {entry}"));
            }
        }
    }
}

/// The path of a URL, or the value itself when it is a path.
fn url_path(value: &str) -> String {
    http_url::parse(value).map_or(value.to_string(), |u| u.path().to_string())
}

fn sessions(c: &mut Conversion, s: &mut Settings) {
    if let Some(age) = s.take("SESSION_MAX_AGE") {
        match age.parse::<u64>() {
            Ok(seconds) => c.set("session_max_age_seconds", seconds, "SESSION_MAX_AGE"),
            Err(_) => c.drop(
                "SESSION_MAX_AGE",
                format!("{age:?} is not a number of seconds"),
            ),
        }
    }
    if let Some(same_site) = s.take("SESSION_SAME_SITE") {
        c.set(
            "session_same_site",
            capitalised(&same_site),
            "SESSION_SAME_SITE",
        );
    }
    if s.take("STRICT_SESSION_VALIDATION").as_deref() == Some("true") {
        c.set(
            "session_revalidate_seconds",
            300,
            "STRICT_SESSION_VALIDATION",
        );
        c.check(
            "session_revalidate_seconds",
            "authservice asked the IdP on every request; 300 s bounds how long a session the \
             IdP ended goes on",
        );
    }
}

/// The identity headers and who may pass: the same names, snake_case.
fn identity(c: &mut Conversion, s: &mut Settings) {
    for (setting, key) in [
        ("USERID_CLAIM", "userid_claim"),
        ("GROUPS_CLAIM", "groups_claim"),
        ("USERID_HEADER", "userid_header"),
        ("GROUPS_HEADER", "groups_header"),
        ("USERID_PREFIX", "userid_prefix"),
    ] {
        if let Some(value) = s.take(setting) {
            c.set(key, value, setting);
        }
    }
    if let Some(list) = s.take("GROUPS_ALLOWLIST") {
        c.set("groups_allowlist", split_list(&list), "GROUPS_ALLOWLIST");
    }
    if let Some(transformers) = s.take("USERID_TRANSFORMERS") {
        match serde_json::from_str::<Value>(&transformers) {
            Ok(list @ Value::Array(_)) => {
                c.set("userid_transformers", list, "USERID_TRANSFORMERS");
                c.check(
                    "userid_transformers",
                    "only the first match in the user id is replaced (authservice replaced \
                     all), in regex-lite's dialect",
                );
            }
            _ => c.drop(
                "USERID_TRANSFORMERS",
                "not a JSON list of {matches, replaces}",
            ),
        }
    }
}

/// Which bearer credentials are accepted.
fn credentials(c: &mut Conversion, s: &mut Settings) {
    if let Some(header) = s.take("ID_TOKEN_HEADER") {
        if !header.eq_ignore_ascii_case("authorization") {
            c.set(
                "token_headers",
                json!([header.to_ascii_lowercase()]),
                "ID_TOKEN_HEADER",
            );
            c.check(
                "token_headers",
                "the token is read as `Bearer <token>` there; add \"authorization\" to keep                  reading that header too",
            );
        }
    }
    if s.take("IDTOKEN_AUTHN_ENABLED").as_deref() == Some("false") {
        c.drop(
            "IDTOKEN_AUTHN_ENABLED",
            "ID tokens of the issuer always pass when their aud is in audiences (default \
             [client_id]): set audiences to something else to refuse them",
        );
    }
    let access = s.take("ACCESS_TOKEN_AUTHN");
    let access_on = s.take("ACCESS_TOKEN_AUTHN_ENABLED").as_deref() != Some("false");
    if access_on && access.as_deref() == Some("opaque") {
        c.set("opaque_tokens", "userinfo", "ACCESS_TOKEN_AUTHN");
    }
    let audiences = s.take("AUDIENCES");
    if s.take("KUBERNETES_AUTHN_ENABLED").as_deref() != Some("false") {
        let audience =
            audiences.unwrap_or("istio-ingressgateway.istio-system.svc.cluster.local".into());
        c.drop(
            "KUBERNETES_AUTHN_ENABLED (on by default)",
            format!(
                "service-account tokens need an extra_issuers entry the input does not describe: \
                 {}",
                json!({"issuer": "<service-account issuer>", "cluster": "<cluster>",
                       "jwks_uri": "<its JWKS>", "audiences": [audience], "userid_claim": "sub"})
            ),
        );
    }
}

/// Why a setting with no oidc-gate key is gone (the guide's tables).
fn gone_reason(key: &str) -> String {
    const GONE: &[(&[&str], &str)] = &[
        (&["CLIENT_NAME", "HOMEPAGE_URL", "TEMPLATE_PATH", "THEMES_URL", "THEME"],
         "no pages are rendered"),
        (&["CA_BUNDLE"], "TLS to the IdP is the Envoy cluster's (trusted_ca; Istio: a DestinationRule with caCertificates)"),
        (&["AUTH_HEADER"], "sessions are cookies only; programs use bearer tokens"),
        (&["CACHE_ENABLED", "CACHE_EXPIRATION_MINUTES"], "verified tokens are always cached, never past their exp"),
        (&["AFTER_LOGIN_URL"], "after login the user returns to the page the login started from"),
        (&["VERIFY_AUTH_URL"], "there is no side endpoint: the filter is in the request path"),
        (&["SESSION_STORE_TYPE", "SESSION_STORE_PATH", "SESSION_STORE_REDIS_ADDR", "SESSION_STORE_REDIS_PWD",
           "SESSION_STORE_REDIS_DB", "OIDC_STATE_STORE_PATH", "STORE_PATH"],
         "nothing is stored: sessions and login state are sealed cookies"),
        (&["SESSION_DOMAIN"], "the session cookie is host-only (no Domain attribute)"),
        (&["USERID_TOKEN_HEADER", "AUTH_METHOD_HEADER", "TOKEN_HEADER", "TOKEN_SCHEME"],
         "only the identity headers are sent upstream"),
        (&["EXTERNAL_AUTHZ_URL"], "use an Istio AuthorizationPolicy (ALLOW/DENY) on the identity headers"),
        (&["AUTHZ_CONFIG_PATH"], "a file this tool does not read: each host's groups become a rule {\"hosts\": [host], \"groups_allowlist\": groups}, its default a last rule {\"groups_allowlist\": groups}"),
        (&["SCHEME_DEFAULT", "SCHEME_HEADER"], "the callback URL takes the request's :scheme as Envoy sees it"),
        (&["SERVER_HOSTNAME", "SERVER_PORT", "PORT", "WEB_SERVER_PORT", "READINESS_PROBE_PORT"],
         "nothing listens: the filter runs inside Envoy"),
        (&["LOG_LEVEL"], "Envoy's log level for the wasm component (--component-log-level wasm:debug)"),
    ];
    if key.starts_with("TEMPLATE_CONTEXT_") {
        return "no pages are rendered".to_string();
    }
    GONE.iter()
        .find(|(keys, _)| keys.contains(&key))
        .map_or(
            "not an oidc-authservice setting this tool knows",
            |(_, why)| why,
        )
        .to_string()
}

#[cfg(test)]
mod tests;
