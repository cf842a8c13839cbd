//! `oidc-gate-check`: validates a plugin configuration exactly as the filter does when Envoy
//! loads it (`Config::from_json`), without Envoy.
//!
//! ```text
//! oidc-gate-check config.json        # or: oidc-gate-check < config.json, oidc-gate-check -
//! ```
//!
//! Prints `ok` and exits 0, or prints the filter's one-line error
//! (`oidc-gate: invalid configuration: <field>: <reason>`) to stderr and exits 1; usage or I/O
//! errors exit 2. Variables named by `client_secret_env` / `session_keys_env` are read from
//! this process's environment, standing in for the Wasm VM's (`vm_config.environment_variables`,
//! Istio `vmConfig.env`). Secrets are never printed.

use std::io::Read;
use std::process::ExitCode;

use oidc_gate::config::Config;

const USAGE: &str = "usage: oidc-gate-check [FILE | -]   (reads standard input without FILE)";

fn read_input(args: &[String]) -> Result<Vec<u8>, String> {
    match args {
        [] => read_stdin(),
        [flag] if flag == "-h" || flag == "--help" => Err(USAGE.to_string()),
        [dash] if dash == "-" => read_stdin(),
        [path] => std::fs::read(path).map_err(|e| format!("oidc-gate-check: {path}: {e}")),
        _ => Err(USAGE.to_string()),
    }
}

fn read_stdin() -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    std::io::stdin()
        .read_to_end(&mut raw)
        .map_err(|e| format!("oidc-gate-check: standard input: {e}"))?;
    Ok(raw)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let raw = match read_input(&args) {
        Ok(raw) => raw,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    match Config::from_json(&raw, &env) {
        Ok(_) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oidc-gate: {e}");
            ExitCode::FAILURE
        }
    }
}
