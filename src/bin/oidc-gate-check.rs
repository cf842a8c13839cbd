//! `oidc-gate-check`: validates a plugin configuration exactly as the filter does when Envoy
//! loads it, without Envoy, reporting every error at once, and shows which rule sample
//! requests hit.
//!
//! ```text
//! oidc-gate-check config.json        # or: oidc-gate-check < config.json, oidc-gate-check -
//! oidc-gate-check config.json --request "GET https://kubeflow.example.com/pipeline/runs" \
//!                             --requests samples.txt
//! oidc-gate-check wasmplugin.yaml --no-env     # or an Envoy config: envoy.yaml, a config dump
//! ```
//!
//! The file is a plugin configuration (JSON or YAML), a Kubernetes manifest whose `WasmPlugin`s
//! are checked (`spec.pluginConfig`), or an Envoy config whose Wasm HTTP filters are
//! (`config.configuration`, a `google.protobuf.StringValue`); each found is named before its
//! result. Prints `ok`, or one line per error in the filter's words
//! (`oidc-gate: invalid configuration: <field>: <reason>`, to stderr): each unknown key and the
//! first error of each part of the configuration. Exits 0 when all are valid, 1 when one is
//! not, 2 on usage errors and input that cannot be read. Each sample request
//! (`METHOD [scheme://]host/path`, one per line in a `--requests` file; `#` starts a comment)
//! gets a line saying what the rules make of it:
//! `GET kubeflow.example.com /pipeline/runs -> authenticate (rules[2])`. Variables named by
//! `client_secret_env` / `session_keys_env` / `hs256_secret_env` are read from this process's
//! environment, standing in for the Wasm VM's (`vm_config.environment_variables`, Istio
//! `vmConfig.env`); with `--no-env` each is taken as set (its name must still be one). Secrets
//! are never printed.
//!
//! ```text
//! oidc-gate-check --from-oidc-authservice params.env   # or --from-oauth2-proxy oauth2_proxy.cfg
//! ```
//!
//! converts the settings of the tool being replaced (docs/migrate-from-*.md): the plugin
//! configuration on standard output, and on standard error one line per thing to do or lost
//! (`set VAR: ...`, `check KEY: ...`, `not carried over SETTING: why`). Exits 0 when converted,
//! 2 when the file cannot be read or parsed.

// A directory without main.rs, so that Cargo does not take it for a binary of its own.
#[path = "found/mod.rs"]
mod found;
#[path = "migrate/mod.rs"]
mod migrate;

use std::io::Read;
use std::process::ExitCode;

use oidc_gate::config::{Config, Environment};
use oidc_gate::core::decide::Request;
use oidc_gate::core::policy::Picked;

const USAGE: &str = "\
usage: oidc-gate-check [FILE | -] [--no-env] [--request \"METHOD URL\"]... [--requests FILE]
         check a plugin configuration, JSON or YAML (standard input without FILE), or those
         of the WasmPlugins of a Kubernetes manifest or the Wasm filters of an Envoy config;
         every error at once; exit 0 when valid, 1 when not, 2 on unreadable input
         --no-env: take the variables *_env settings name as set (secrets not at hand)
       oidc-gate-check --from-oidc-authservice ENV_FILE
       oidc-gate-check --from-oauth2-proxy CFG_FILE
         convert oidc-authservice's KEY=value environment, or oauth2-proxy's configuration
         file (or its --flags), into a plugin configuration: the JSON on standard output;
         on standard error one line each, starting with its kind:
           set VAR: <where its value comes from>      (secrets are named, never printed)
           check KEY: <a guess or placeholder to review>
           not carried over SETTING: <why>
         exit 0 when converted (even with settings not carried over), 2 on unreadable input";

/// What the command line asks for.
struct Args {
    config: Option<String>,
    samples: Vec<String>,
    migrate: Option<(migrate::Source, String)>,
    no_env: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        config: None,
        samples: Vec::new(),
        migrate: None,
        no_env: false,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-h" | "--help" => return Err(USAGE.to_string()),
            "--from-oidc-authservice" | "--from-oauth2-proxy" if parsed.migrate.is_none() => {
                let source = if arg == "--from-oauth2-proxy" {
                    migrate::Source::Oauth2Proxy
                } else {
                    migrate::Source::OidcAuthservice
                };
                parsed.migrate = Some((source, rest.next().ok_or(USAGE)?.clone()));
            }
            "--no-env" => parsed.no_env = true,
            "--request" => parsed.samples.push(rest.next().ok_or(USAGE)?.clone()),
            "--requests" => {
                let path = rest.next().ok_or(USAGE)?;
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("oidc-gate-check: {path}: {e}"))?;
                let lines = text.lines().map(str::trim);
                let samples = lines.filter(|l| !l.is_empty() && !l.starts_with('#'));
                parsed.samples.extend(samples.map(str::to_string));
            }
            _ if parsed.config.is_none() => parsed.config = Some(arg.clone()),
            _ => return Err(USAGE.to_string()),
        }
    }
    Ok(parsed)
}

fn read_config(path: Option<&str>) -> Result<Vec<u8>, String> {
    match path {
        None | Some("-") => {
            let mut raw = Vec::new();
            std::io::stdin()
                .read_to_end(&mut raw)
                .map_err(|e| format!("oidc-gate-check: standard input: {e}"))?;
            Ok(raw)
        }
        Some(path) => std::fs::read(path).map_err(|e| format!("oidc-gate-check: {path}: {e}")),
    }
}

/// A sample request from `METHOD [scheme://]host/path`.
fn sample_request(sample: &str) -> Result<Request, String> {
    let bad = || format!("oidc-gate-check: {sample:?}: expected \"METHOD [scheme://]host/path\"");
    let (method, url) = sample.split_once(' ').ok_or_else(bad)?;
    let url = url.trim();
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (host, path) = match without_scheme.find('/') {
        Some(at) => without_scheme.split_at(at),
        None => (without_scheme, "/"),
    };
    if method.is_empty() || host.is_empty() {
        return Err(bad());
    }
    Ok(Request {
        method: method.as_bytes().to_vec(),
        authority: host.as_bytes().to_vec(),
        path: path.as_bytes().to_vec(),
        ..Request::default()
    })
}

/// What the filter makes of a sample request: its own endpoints, or the rules' policy.
fn describe(config: &Config, request: &Request) -> String {
    let path = request.path_only();
    let own = [
        (Some(config.callback_path.as_str()), "login callback"),
        (Some(config.logout.path.as_str()), "logout"),
        (Some(config.login_path.as_str()), "login path"),
        (
            config.logout.backchannel_path.as_deref(),
            "back-channel logout",
        ),
    ];
    if let Some((_, name)) = own.iter().find(|(p, _)| p.map(str::as_bytes) == Some(path)) {
        return format!("the filter's {name}");
    }
    let mut picked = Picked::new();
    config
        .rules
        .evaluate(request, &mut picked)
        .describe(&config.rules)
}

/// Prints the configuration converted from another tool's settings, and the report.
fn convert(source: migrate::Source, path: &str) -> Result<(), (String, u8)> {
    let text =
        std::fs::read_to_string(path).map_err(|e| (format!("oidc-gate-check: {path}: {e}"), 2))?;
    let conversion = migrate::convert(source, &text)
        .map_err(|e| (format!("oidc-gate-check: {path}: {e}"), 2))?
        .finish()
        .map_err(|e| {
            (
                format!("oidc-gate: converted configuration refused: {e}"),
                1,
            )
        })?;
    let json = serde_json::to_string_pretty(&conversion.config)
        .map_err(|e| (format!("oidc-gate-check: {e}"), 1))?;
    println!("{json}");
    eprint!("{}", conversion.report());
    Ok(())
}

/// `--no-env`: any validly named variable holds a value that passes for every secret (a
/// session key is 32 bytes of base64), so that only the names are checked.
fn stand_in_env(name: &str) -> Option<String> {
    let mut bytes = name.bytes();
    let first = bytes
        .next()
        .filter(|b| b.is_ascii_alphabetic() || *b == b'_');
    let valid = first.is_some() && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then(|| "YSBzdGFuZC1pbiBzZWNyZXQgb2YgMzIgYnl0ZXMuLi4=".to_string())
}

/// Checks one configuration, printing its result under its place; whether it is valid.
fn check(found: &found::Found, env: &dyn Environment, args: &Args, requests: &[Request]) -> bool {
    let place = found
        .place
        .as_ref()
        .map_or(String::new(), |p| format!("{p}: "));
    let errors = Config::check_all(&found.raw, env);
    for error in &errors {
        eprintln!("{place}oidc-gate: {error}");
    }
    let Ok(config) = Config::from_json(&found.raw, env) else {
        return false;
    };
    println!("{place}ok");
    for (sample, request) in args.samples.iter().zip(requests) {
        println!("{place}{sample} -> {}", describe(&config, request));
    }
    errors.is_empty()
}

fn run(args: &[String]) -> Result<u8, (String, u8)> {
    let args = parse_args(args).map_err(|e| (e, 2))?;
    if let Some((source, path)) = &args.migrate {
        if args.config.is_some() || !args.samples.is_empty() || args.no_env {
            return Err((USAGE.to_string(), 2));
        }
        return convert(*source, path).map(|()| 0);
    }
    let raw = read_config(args.config.as_deref()).map_err(|e| (e, 2))?;
    let requests = args
        .samples
        .iter()
        .map(|s| sample_request(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (e, 2))?;
    let name = args.config.as_deref().unwrap_or("standard input");
    let configs =
        found::plugin_configs(&raw).map_err(|e| (format!("oidc-gate-check: {name}: {e}"), 2))?;
    let process_env = |name: &str| std::env::var(name).ok();
    let env: &dyn Environment = if args.no_env {
        &stand_in_env
    } else {
        &process_env
    };
    let mut valid = true;
    for found in &configs {
        valid &= check(found, env, &args, &requests);
    }
    Ok(if valid { 0 } else { 1 })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err((message, code)) => {
            eprintln!("{message}");
            ExitCode::from(code)
        }
    }
}
