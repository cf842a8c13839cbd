//! `oidc-gate-check`: validates a plugin configuration exactly as the filter does when Envoy
//! loads it (`Config::from_json`), without Envoy, and shows which rule sample requests hit.
//!
//! ```text
//! oidc-gate-check config.json        # or: oidc-gate-check < config.json, oidc-gate-check -
//! oidc-gate-check config.json --request "GET https://kubeflow.example.com/pipeline/runs" \
//!                             --requests samples.txt
//! ```
//!
//! Prints `ok` and exits 0, or prints the filter's one-line error
//! (`oidc-gate: invalid configuration: <field>: <reason>`) to stderr and exits 1; usage or I/O
//! errors exit 2. Each sample request (`METHOD [scheme://]host/path`, one per line in a
//! `--requests` file; `#` starts a comment) gets a line saying what the rules make of it:
//! `GET kubeflow.example.com /pipeline/runs -> authenticate (rules[2])`. Variables named by
//! `client_secret_env` / `session_keys_env` are read from this process's environment, standing
//! in for the Wasm VM's (`vm_config.environment_variables`, Istio `vmConfig.env`). Secrets are
//! never printed.
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
#[path = "migrate/mod.rs"]
mod migrate;

use std::io::Read;
use std::process::ExitCode;

use oidc_gate::config::Config;
use oidc_gate::core::decide::Request;
use oidc_gate::core::policy::Picked;

const USAGE: &str = "\
usage: oidc-gate-check [FILE | -] [--request \"METHOD URL\"]... [--requests FILE]
         check a plugin configuration (standard input without FILE)
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
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        config: None,
        samples: Vec::new(),
        migrate: None,
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

fn run(args: &[String]) -> Result<(), (String, u8)> {
    let args = parse_args(args).map_err(|e| (e, 2))?;
    if let Some((source, path)) = &args.migrate {
        if args.config.is_some() || !args.samples.is_empty() {
            return Err((USAGE.to_string(), 2));
        }
        return convert(*source, path);
    }
    let raw = read_config(args.config.as_deref()).map_err(|e| (e, 2))?;
    let requests = args
        .samples
        .iter()
        .map(|s| sample_request(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (e, 2))?;
    let env = |name: &str| std::env::var(name).ok();
    let config = Config::from_json(&raw, &env).map_err(|e| (format!("oidc-gate: {e}"), 1))?;
    println!("ok");
    for (sample, request) in args.samples.iter().zip(&requests) {
        println!("{sample} -> {}", describe(&config, request));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((message, code)) => {
            eprintln!("{message}");
            ExitCode::from(code)
        }
    }
}
