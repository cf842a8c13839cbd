//! `mint-sessions`: session cookies for the benchmark, as many as it needs, without a login
//! each. Sessions are sealed exactly as the filter seals them after a login
//! (`session::session_cookies`), for the session key, cookie name and issuer of a plugin
//! configuration, so the filter opens them like any other.
//!
//! ```text
//! cargo run --release --example mint-sessions -- CONFIG_FILE COUNT \
//!     [--groups N] [--id-token-bytes N] [--forward-token-bytes N]
//! ```
//!
//! Prints COUNT lines, each the `Cookie` header value of one session (`name=value` pairs of
//! its chunks, joined by `; `). Every session has its own user and session id, and tokens that
//! expire in 30 days, so no refresh falls due while it is used. `--groups N`: the user is in N
//! groups (`group-0`...; default the test IdP's `ml-admin`, `dev`). `--id-token-bytes` and
//! `--forward-token-bytes`: random stand-ins of that many characters for the id_token (only
//! logout reads it) and the token to forward, to make cookies as large as a real login's or
//! large enough to take several chunks. Variables the configuration names (`*_env`) are read
//! from this process's environment.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use oidc_gate::config::Config;
use oidc_gate::core::session::{session_cookies, Session};

const USAGE: &str = "usage: mint-sessions CONFIG_FILE COUNT [--groups N] [--id-token-bytes N] \
                     [--forward-token-bytes N]";
/// Far enough ahead that no refresh falls due during a benchmark run.
const TOKENS_LIFETIME_SECONDS: u64 = 30 * 86400;

struct Args {
    config: String,
    count: u64,
    groups: Option<usize>,
    id_token_bytes: usize,
    forward_token_bytes: usize,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let [config, count, options @ ..] = args else {
        return Err(USAGE.to_string());
    };
    let mut parsed = Args {
        config: config.clone(),
        count: number(count)?,
        groups: None,
        id_token_bytes: 0,
        forward_token_bytes: 0,
    };
    for pair in options.chunks(2) {
        let [flag, value] = pair else {
            return Err(USAGE.to_string());
        };
        let value = number(value)? as usize;
        match flag.as_str() {
            "--groups" => parsed.groups = Some(value),
            "--id-token-bytes" => parsed.id_token_bytes = value,
            "--forward-token-bytes" => parsed.forward_token_bytes = value,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

fn number(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("not a number: {text}\n{USAGE}"))
}

/// `len` random base64url characters (a stand-in for a token nobody verifies).
fn filler(len: usize) -> Result<String, String> {
    let mut bytes = vec![0u8; len.div_ceil(4) * 3];
    getrandom::getrandom(&mut bytes).map_err(|e| e.to_string())?;
    let mut text = URL_SAFE_NO_PAD.encode(bytes);
    text.truncate(len);
    Ok(text)
}

fn optional_filler(len: usize) -> Result<Option<String>, String> {
    (len > 0).then(|| filler(len)).transpose()
}

fn session(i: u64, args: &Args, now: u64, max_age: u64) -> Result<Session, String> {
    let groups = match args.groups {
        Some(n) => (0..n).map(|k| format!("group-{k}")).collect(),
        None => vec!["ml-admin".to_string(), "dev".to_string()],
    };
    Ok(Session {
        userid: format!("user{i}@example.com"),
        groups,
        sub: format!("user{i}"),
        sid: format!("bench-{i}-{}", filler(16)?),
        issued_at: now,
        expires_at: now + max_age,
        refresh_token: Some(filler(43)?),
        id_token: optional_filler(args.id_token_bytes)?,
        tokens_expire_at: now + TOKENS_LIFETIME_SECONDS,
        idp_sid: None,
        validated_at: now,
        grants: Default::default(),
        forward_token: optional_filler(args.forward_token_bytes)?,
    })
}

fn cookie_header(config: &Config, session: &Session) -> Result<String, String> {
    let key = config.session.keys.first().ok_or("no session key")?;
    let mut nonce = [0u8; 24];
    getrandom::getrandom(&mut nonce).map_err(|e| e.to_string())?;
    let issuer = &config.login_issuer().issuer;
    let cookies = session_cookies(session, key, &config.session.cookie_name, issuer, &nonce)
        .map_err(|_| "the session does not fit in the session cookies")?;
    let pairs: Vec<String> = cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
    Ok(pairs.join("; "))
}

fn run(args: &Args) -> Result<(), String> {
    let raw = std::fs::read(&args.config).map_err(|e| format!("{}: {e}", args.config))?;
    let env = |name: &str| std::env::var(name).ok();
    let config = Config::from_json(&raw, &env).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for i in 0..args.count {
        let session = session(i, args, now, config.session.max_age_seconds)?;
        writeln!(out, "{}", cookie_header(&config, &session)?).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&args).and_then(|args| run(&args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mint-sessions: {message}");
            ExitCode::from(2)
        }
    }
}
