//! OIDC Back-Channel Logout: the IdP posts a logout token; a valid one ends the sessions it
//! names on this Envoy, and is answered `200`; anything else `400`. Never a redirect, never a
//! page: the caller is a server.

use serde::Serialize;

use crate::core::decide::Request;
use crate::core::logout_token::{self, LogoutToken, LogoutTokenError};
use crate::core::revocation::{Entry, Revoked};

use super::answer::reply;
use super::{Effect, Flow, Inputs, Step};

/// The request's body is awaited, if it is a form.
pub fn begin(request: &Request) -> Step {
    if !request.form_body {
        return Step::done(refused(LogoutTokenError::BadForm));
    }
    Step::then(Flow::ReadingLogoutToken, Vec::new())
}

/// The body arrived (`None`: larger than `logout_token::MAX_BODY_BYTES`).
pub fn on_body(body: Option<&[u8]>, inputs: &Inputs) -> Step {
    let Some(keys) = inputs.keys else {
        // No keys yet to check it with: the IdP retries a logout it could not deliver.
        let body = error_body("temporarily_unavailable", "keys_unavailable");
        return Step::done(vec![
            Effect::count("backchannel_logout", "keys_unavailable"),
            reply(503, json_headers(), body),
        ]);
    };
    let checked = body
        .ok_or(LogoutTokenError::BadForm)
        .and_then(logout_token::from_form)
        .and_then(|token| logout_token::validate(inputs.config, keys, &token, inputs.now_s()));
    match checked {
        Ok(token) => {
            let record = Effect::RecordLogoutToken {
                jti: token.jti.clone(),
                until: token.exp.saturating_add(inputs.config.clock_skew_seconds),
            };
            Step::then(Flow::RecordingLogoutToken(Box::new(token)), vec![record])
        }
        Err(e) => Step::done(refused(e)),
    }
}

/// The record of seen tokens answered: a fresh token ends its sessions.
pub fn on_recorded(token: LogoutToken, fresh: bool, inputs: &Inputs) -> Step {
    if !fresh {
        return Step::done(refused(LogoutTokenError::Replayed));
    }
    let max_age = inputs.config.session.max_age_seconds;
    let revoked = match (token.sid, token.sub) {
        (Some(sid), _) => Revoked::IdpSession(sid),
        (None, Some(sub)) => Revoked::Subject(sub),
        (None, None) => return Step::done(refused(LogoutTokenError::NoSessionOrSubject)),
    };
    let entry = Entry::up_to(revoked, inputs.now_s(), max_age);
    Step::done(vec![
        Effect::Revoke {
            slot_key: entry.slot_key("").to_string(),
            entry,
        },
        Effect::count("backchannel_logout", "accepted"),
        reply(200, vec![], String::new()),
    ])
}

fn refused(error: LogoutTokenError) -> Vec<Effect> {
    let mut effects = vec![Effect::count("backchannel_logout", error.reason())];
    if error == LogoutTokenError::Jwt(crate::core::jwt::JwtError::UnknownKid) {
        // Signed with a key not fetched yet: fetch it, so the IdP's retry succeeds.
        effects.push(Effect::ExpediteKeyFetch { issuer: 0 });
    }
    let body = error_body("invalid_request", error.reason());
    effects.push(reply(400, json_headers(), body));
    effects
}

fn json_headers() -> Vec<(&'static str, String)> {
    vec![("content-type", "application/json".to_string())]
}

/// The OAuth error object. A struct, not `json!`: a `Value`'s Display is serde_json's only
/// user here, and its two serializer instances were ~4 KB of the module.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

fn error_body(error: &str, description: &str) -> String {
    let body = ErrorBody {
        error,
        error_description: description,
    };
    // Two string members: serializing cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}
