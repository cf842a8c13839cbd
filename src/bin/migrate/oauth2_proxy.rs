//! oauth2-proxy's configuration (its TOML file, as Kubeflow's `oauth2_proxy.cfg`, or its
//! command-line flags) as an oidc-gate configuration, after docs/migrate-from-oauth2-proxy.md.

use serde_json::{json, Value as Json};

use super::route::{translate, Translation};
use super::toml_subset::{self, Value};
use super::{capitalised, istio_cluster, scopes_with_openid, split_list, Conversion};

pub fn convert(text: &str) -> Result<Conversion, String> {
    let settings = if is_flags(text) {
        parse_flags(text)
    } else {
        toml_subset::parse(text)?
    };
    let mut s = Settings::new(settings);
    let mut c = Conversion::default();
    client(&mut c, &mut s);
    endpoints(&mut c, &mut s);
    cookies(&mut c, &mut s);
    routes(&mut c, &mut s);
    identity(&mut c, &mut s);
    bearer_tokens(&mut c, &mut s);
    for key in s.rest() {
        c.drop(&key, gone_reason(&key));
    }
    Ok(c)
}

/// Flags (`--skip-auth-route=^/dex/`, one or more a line, `- ` of a YAML list allowed) rather
/// than a configuration file.
fn is_flags(text: &str) -> bool {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    first.is_some_and(|l| l.trim_start_matches("- ").starts_with("--"))
}

/// Flags as the file's settings: `--cookie-name=x` is `cookie_name`, and repeated list flags
/// (`--skip-auth-route`) gather under the file's plural name (`skip_auth_routes`).
fn parse_flags(text: &str) -> Vec<(String, Value)> {
    let mut settings: Vec<(String, Value)> = Vec::new();
    let lines = text.lines().map(|l| l.trim().trim_start_matches("- "));
    let args = lines.filter(|l| !l.starts_with('#')).flat_map(shell_words);
    for arg in args {
        let Some(flag) = arg.strip_prefix("--") else {
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, flag_value(value)),
            None => (flag, Value::Bool(true)),
        };
        let name = name.replace('-', "_");
        match LIST_FLAGS.iter().find(|(single, _)| *single == name) {
            Some((_, plural)) => push_item(&mut settings, plural, value),
            None => settings.push((name, value)),
        }
    }
    settings
}

/// A line's arguments as a shell splits them: whitespace separates them, and quotes (`'` or
/// `"`) group what is between them and are dropped, so `--scope="openid email"` and
/// `"--scope=openid email"` are both the one argument `--scope=openid email`.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.get_or_insert_with(String::new).push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            None if c.is_whitespace() => words.extend(word.take()),
            None => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

const LIST_FLAGS: &[(&str, &str)] = &[
    ("skip_auth_route", "skip_auth_routes"),
    ("skip_auth_regex", "skip_auth_regex"),
    ("api_route", "api_routes"),
    ("allowed_group", "allowed_groups"),
    ("email_domain", "email_domains"),
    ("upstream", "upstreams"),
    ("cookie_domain", "cookie_domains"),
    ("whitelist_domain", "whitelist_domains"),
    ("extra_jwt_issuers", "extra_jwt_issuers"),
];

fn flag_value(value: &str) -> Value {
    let unquoted = value.trim_matches(|c| c == '"' || c == '\'');
    match unquoted {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        other => Value::Str(other.to_string()),
    }
}

fn push_item(settings: &mut Vec<(String, Value)>, key: &str, item: Value) {
    match settings.iter_mut().find(|(k, _)| k == key) {
        Some((_, Value::List(items))) => items.push(item),
        _ => settings.push((key.to_string(), Value::List(vec![item]))),
    }
}

/// A config file's settings not yet converted.
type Settings = super::Settings<Value>;

impl Settings {
    fn text(&mut self, key: &str) -> Option<String> {
        self.take(key).map(|v| v.text())
    }

    fn list(&mut self, key: &str) -> Vec<String> {
        self.take(key).map(|v| v.items()).unwrap_or_default()
    }

    fn flag(&mut self, key: &str) -> Option<bool> {
        self.text(key).map(|v| v == "true")
    }
}

fn client(c: &mut Conversion, s: &mut Settings) {
    let provider = s.text("provider").unwrap_or_else(|| "google".into());
    if provider != "oidc" && provider != "keycloak-oidc" {
        c.drop(
            &format!("provider = {provider:?}"),
            "the filter speaks OpenID Connect only: set issuer to the provider's OIDC issuer",
        );
    }
    c.issuer(s.text("oidc_issuer_url").as_deref(), "oidc_issuer_url");
    c.client_id(s.text("client_id").as_deref(), "client_id");
    let secret_from = if s.take("client_secret").is_some() {
        "the value of client_secret in the input (not printed)".to_string()
    } else if let Some(file) = s.text("client_secret_file") {
        format!("the contents of client_secret_file {file}")
    } else {
        "the OIDC client secret (oauth2-proxy's client-secret, in Kubeflow the Secret oauth2-proxy)"
            .to_string()
    };
    let replaced = ["cookie_secret", "cookie_secret_file"].map(|k| s.take(k).is_some());
    let keys_from = format!(
        "new keys, `openssl rand -base64 32` (comma-separated; the first seals){}",
        if replaced.contains(&true) {
            ", not cookie_secret: oauth2-proxy's sessions do not carry over, and Kubeflow's \
             default cookie secret is published"
        } else {
            ""
        }
    );
    c.secrets(&secret_from, &keys_from);
    let scopes = s
        .text("scope")
        .unwrap_or_else(|| "openid email profile".into());
    c.set("scopes", scopes_with_openid(split_list(&scopes)), "scope");
}

/// The browser-facing endpoints: the IdP's login page and the filter's own paths under
/// `proxy_prefix`.
fn endpoints(c: &mut Conversion, s: &mut Settings) {
    if let Some(url) = s.text("login_url") {
        c.set("authorization_endpoint", url, "login_url");
    }
    let prefix = s.text("proxy_prefix").unwrap_or_else(|| "/oauth2".into());
    let prefix = prefix.trim_end_matches('/');
    let redirect = s
        .text("redirect_url")
        .unwrap_or(format!("{prefix}/callback"));
    c.set("redirect_uri", redirect, "redirect_url");
    c.set("logout_path", format!("{prefix}/sign_out"), "proxy_prefix");
    c.set("login_path", format!("{prefix}/start"), "proxy_prefix");
    // A path already means "this request's scheme and host" to the filter.
    s.take("relative_redirect_url");
    for key in [
        "skip_oidc_discovery",
        "redeem_url",
        "oidc_jwks_url",
        "profile_url",
        "validate_url",
    ] {
        if s.take(key).is_some() {
            c.drop(
                key,
                "not needed: discovery and every IdP call go through idp_cluster",
            );
        }
    }
}

fn cookies(c: &mut Conversion, s: &mut Settings) {
    if let Some(name) = s.text("cookie_name") {
        c.set("session_cookie_name", name, "cookie_name");
    }
    if let Some(expire) = s.text("cookie_expire") {
        match go_duration_seconds(&expire) {
            Some(seconds) => c.set("session_max_age_seconds", seconds, "cookie_expire"),
            None => c.drop(
                "cookie_expire",
                format!("{expire:?} is not a duration in h, m and s"),
            ),
        }
    }
    match s.text("cookie_refresh").as_deref().map(go_duration_seconds) {
        Some(Some(0)) | None => {}
        Some(Some(seconds)) => c.set("session_revalidate_seconds", seconds, "cookie_refresh"),
        Some(None) => c.drop("cookie_refresh", "not a duration in h, m and s"),
    }
    if s.flag("cookie_secure") == Some(false) {
        c.set("session_cookie_secure", false, "cookie_secure");
        c.check(
            "session_cookie_secure",
            "browsers keep Secure cookies on https:// and http://localhost; false only for plain \
             HTTP on other hosts",
        );
    }
    match s.text("cookie_samesite").as_deref() {
        None | Some("") => {}
        Some(same_site) => c.set(
            "session_same_site",
            capitalised(same_site),
            "cookie_samesite",
        ),
    }
    if s.flag("cookie_httponly") == Some(false) {
        c.drop("cookie_httponly", "the session cookie is always HttpOnly");
    }
    if s.text("cookie_path").is_some_and(|p| p != "/") {
        c.drop("cookie_path", "the session cookie's path is always /");
    }
    for key in ["cookie_domains", "cookie_domain"] {
        if s.take(key).is_some() {
            c.drop(key, "the session cookie is host-only (no Domain attribute)");
        }
    }
}

/// `24h`, `1h30m`, `168h0m0s`, `90s` in seconds.
fn go_duration_seconds(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut number = String::new();
    for ch in text.trim().chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(number.parse::<u64>().ok()?.checked_mul(unit)?)?;
        number.clear();
    }
    match number.as_str() {
        "" => Some(total),
        "0" if total == 0 => Some(0),
        _ => None,
    }
}

/// `skip_auth_routes` (allow rules) first, as oauth2-proxy checks them first; then
/// `api_routes` (never redirect).
fn routes(c: &mut Conversion, s: &mut Settings) {
    for key in ["skip_auth_routes", "skip_auth_regex"] {
        for route in s.list(key) {
            let (methods, regex) = method_and_regex(&route);
            let extra = json!({"action": "allow"});
            route_rule(c, &format!("{key} {route:?}"), regex, methods, extra);
        }
    }
    for route in s.list("api_routes") {
        let extra = json!({"unauthenticated": "401"});
        route_rule(c, &format!("api_routes {route:?}"), &route, None, extra);
    }
    if s.flag("set_xauthrequest") == Some(true) {
        let headers = json!({
            "x-auth-request-user": "sub",
            "x-auth-request-email": "email",
            "x-auth-request-groups": "groups",
            "x-auth-request-preferred-username": "preferred_username",
        });
        c.set("claim_headers", headers, "set_xauthrequest");
        c.check(
            "claim_headers",
            "x-auth-request-user is the token's sub here; point it at the claim oauth2-proxy's user came from (user_id_claim) if apps read it",
        );
    }
    if s.flag("skip_auth_preflight") == Some(true) {
        c.set("allow_cors_preflight", true, "skip_auth_preflight");
        c.check(
            "allow_cors_preflight",
            "only CORS preflights without credentials pass (oauth2-proxy let every OPTIONS through)",
        );
    }
}

/// `GET=^/favicon` as `(Some("GET"), "^/favicon")`.
fn method_and_regex(route: &str) -> (Option<&str>, &str) {
    match route.split_once('=') {
        Some((method, regex))
            if !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) =>
        {
            (Some(method), regex)
        }
        _ => (None, route),
    }
}

/// One rule for a route regex, or why there is none (with the closest rule when one is near).
fn route_rule(c: &mut Conversion, setting: &str, regex: &str, method: Option<&str>, extra: Json) {
    let rule = |(key, value): (&str, String)| {
        let mut rule = json!({ key: value });
        if let Some(method) = method {
            rule["methods"] = json!([method]);
        }
        if let (Some(rule), Json::Object(extra)) = (rule.as_object_mut(), &extra) {
            rule.extend(extra.clone());
        }
        rule
    };
    const ONE_READING: &str =
        "a regex sees one reading of the path, a rule every reading, so only prefixes, exact \
         paths and globs carry over";
    let allow = extra.get("action").is_some_and(|a| a == "allow");
    match translate(regex) {
        // skip_auth_paths are leading allow rules, and allow rules come first here anyway.
        Translation::Same(("path_prefix", prefix)) if allow && method.is_none() => {
            c.skip_path(&prefix, setting)
        }
        Translation::Same(key) => c.rule(rule(key), setting),
        Translation::Close(key, differs) => c.drop(
            setting,
            format!("{ONE_READING}; close: {} ({differs})", rule(key)),
        ),
        Translation::No(why) => c.drop(setting, format!("{ONE_READING}: {why}")),
    }
}

/// The identity: claims, groups, domains.
fn identity(c: &mut Conversion, s: &mut Settings) {
    for key in ["user_id_claim", "oidc_email_claim"] {
        if let Some(claim) = s.text(key) {
            c.set("userid_claim", claim, key);
        }
    }
    if let Some(claim) = s.text("oidc_groups_claim") {
        c.set("groups_claim", claim, "oidc_groups_claim");
    }
    let groups = s.list("allowed_groups");
    if !groups.is_empty() {
        c.set("groups_allowlist", groups, "allowed_groups");
    }
    let domains = s.list("email_domains");
    if !domains.is_empty() && domains != ["*"] {
        c.drop(
            &format!("email_domains {domains:?}"),
            "no equivalent: restrict users with groups_allowlist, or an Istio \
             AuthorizationPolicy on the userid header (values like *@example.com)",
        );
    }
}

/// Bearer tokens: the issuer's always pass; `extra_jwt_issuers` (`issuer=audience`) become
/// `extra_issuers` when oauth2-proxy took them (`skip_jwt_bearer_tokens`).
fn bearer_tokens(c: &mut Conversion, s: &mut Settings) {
    let skip_jwt = s.flag("skip_jwt_bearer_tokens");
    let extra = s.list("extra_jwt_issuers");
    if skip_jwt == Some(false) {
        c.drop(
            "skip_jwt_bearer_tokens = false",
            "bearer tokens of the issuer always pass when their aud is in audiences",
        );
    }
    if skip_jwt != Some(true) {
        if !extra.is_empty() {
            c.drop(
                "extra_jwt_issuers",
                "oauth2-proxy ignored them without skip_jwt_bearer_tokens",
            );
        }
        return;
    }
    let issuers: Vec<Json> = extra
        .iter()
        .filter_map(|entry| extra_issuer(c, entry))
        .collect();
    if !issuers.is_empty() {
        c.set("extra_issuers", issuers, "extra_jwt_issuers");
    }
}

fn extra_issuer(c: &mut Conversion, entry: &str) -> Option<Json> {
    let Some((issuer, audience)) = entry.split_once('=') else {
        c.drop(
            &format!("extra_jwt_issuers {entry:?}"),
            "expected issuer=audience",
        );
        return None;
    };
    let cluster = istio_cluster(issuer).unwrap_or_else(|| "REPLACE-WITH-CLUSTER".into());
    c.check(
        "extra_issuers",
        format!(
            "{issuer}: {cluster:?} is Istio's name for its host; set jwks_uri when discovery is \
             not reachable (Kubeflow: the cluster-jwks-proxy); the user id is the token's sub"
        ),
    );
    Some(
        json!({"issuer": issuer, "cluster": cluster, "audiences": [audience], "userid_claim": "sub"}),
    )
}

/// Why a setting with no oidc-gate key is gone (the guide's table).
fn gone_reason(key: &str) -> String {
    const GONE: &[(&[&str], &str)] = &[
        (
            &[
                "skip_provider_button",
                "provider_display_name",
                "custom_sign_in_logo",
                "banner",
                "footer",
                "custom_templates_dir",
                "display_htpasswd_form",
            ],
            "there is no sign-in page: a browser navigation goes straight to the IdP",
        ),
        (&["prompt", "approval_prompt"], "not configurable"),
        (
            &["code_challenge_method"],
            "nothing to set: the filter always uses PKCE with S256",
        ),
        (
            &["upstreams"],
            "there is no ext_authz check: requests go on to Envoy's route",
        ),
        (
            &[
                "set_authorization_header",
                "pass_authorization_header",
                "pass_access_token",
                "pass_user_headers",
                "pass_basic_auth",
            ],
            "only the identity headers (userid_header, groups_header) are set upstream",
        ),
        (
            &["ssl_insecure_skip_verify", "provider_ca_files"],
            "TLS to the IdP is the Envoy cluster's (Istio: a DestinationRule with caCertificates)",
        ),
        (
            &["whitelist_domains"],
            "after login the filter only returns to a path of the request's own origin",
        ),
        (
            &[
                "http_address",
                "https_address",
                "reverse_proxy",
                "metrics_address",
                "config",
            ],
            "nothing listens: the filter runs inside Envoy",
        ),
    ];
    GONE.iter()
        .find(|(keys, _)| keys.contains(&key))
        .map_or("not an oauth2-proxy setting this tool knows", |(_, why)| {
            why
        })
        .to_string()
}

#[cfg(test)]
mod tests;
