//! Audit mode: every decision is computed, counted and logged as in enforce mode, but a
//! request that enforce mode would refuse or send to the IdP passes without identity, and
//! its response says what enforce mode would have done. The filter's own endpoints (login,
//! callback, logout, back-channel logout) work as in enforce mode, so a team can run the gate
//! beside the authentication it replaces and compare.

use crate::config::{Config, Mode};
use crate::core::decide::Request;

use super::answer::upstream_cookie;
use super::{Effect, Level, Pass};

/// The response header that says what enforce mode would have answered: `401
/// no_credential`, `302 login`, `403 group_not_allowed`.
pub const HEADER: &str = "x-oidc-gate-audit";

/// The effects of a request to an application, as the mode carries them out.
pub fn carry_out(effects: Vec<Effect>, request: &Request, config: &Config) -> Vec<Effect> {
    if config.mode == Mode::Enforce || is_own_endpoint(request, config) {
        return effects;
    }
    let Some(status) = effects.iter().find_map(|e| match e {
        Effect::Reply(reply) => Some(reply.status),
        _ => None,
    }) else {
        return effects;
    };
    let note = format!("{status} {}", reason(&effects));
    let mut audited: Vec<Effect> = effects
        .into_iter()
        .filter(|e| !matches!(e, Effect::Reply(_)))
        .collect();
    audited.push(Effect::count("audit", "passed_instead"));
    audited.push(Effect::Log(
        Level::Info,
        format!("audit: enforce mode would answer {note}"),
    ));
    audited.push(Effect::Pass(Pass {
        identity: None,
        cookie: upstream_cookie(config, request),
        set_cookies: Vec::new(),
        audit: Some(note),
        strip_tokens: false,
    }));
    audited
}

/// Why the reply was made, from the counter it came with.
fn reason(effects: &[Effect]) -> &'static str {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Count {
                prefix: "denied",
                label,
            } => Some(*label),
            Effect::Count {
                prefix: "login",
                label: "started",
            } => Some("login"),
            _ => None,
        })
        .unwrap_or("refused")
}

fn is_own_endpoint(request: &Request, config: &Config) -> bool {
    let path = request.path_only();
    let own = [
        Some(config.callback_path.as_str()),
        Some(config.logout.path.as_str()),
        Some(config.login_path.as_str()),
        config.logout.backchannel_path.as_deref(),
    ];
    own.iter().flatten().any(|p| p.as_bytes() == path)
}
