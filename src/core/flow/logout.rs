//! Logout, in the two styles of the Kubeflow central dashboard: a navigation that ends at the
//! IdP's end_session endpoint, and the legacy API call answered `201`. Either way the session
//! is revoked on this Envoy and its refresh token at the IdP.

use serde::Serialize;

use crate::config::Config;
use crate::core::decide::{Logout, Request};
use crate::core::discovery::Discovery;
use crate::core::login::{self, Origin};
use crate::core::revocation::Entry;
use crate::core::session::Session;

use super::answer::{clear_session_cookies, redirect, reply};
use super::callback::form_post;
use super::{Effect, Inputs};

/// The legacy API's answer (the dashboard reads `afterLogoutURL`). A struct, not `json!`: see
/// `backchannel::error_body`.
#[derive(Serialize)]
struct LogoutBody<'a> {
    #[serde(rename = "afterLogoutURL")]
    after_logout_url: &'a str,
}

pub fn respond(inputs: &Inputs, request: &Request, logout: Logout) -> Vec<Effect> {
    let config = inputs.config;
    let mut headers = clear_session_cookies(config);
    let (session, answer) = match logout {
        Logout::Api(session) => {
            let body = LogoutBody {
                after_logout_url: &config.logout.after_logout_url,
            };
            // One string member: serializing cannot fail.
            let body = serde_json::to_string(&body).unwrap_or_default();
            headers.push(("content-type", "application/json".to_string()));
            (Some(session), reply(201, headers, body))
        }
        Logout::Navigate(session) => {
            let origin = Origin::from_request(&request.scheme, &request.authority);
            let location = end_session_url(
                config,
                inputs.discovery,
                origin.as_ref(),
                session.as_deref(),
            )
            .unwrap_or_else(|| config.logout.after_logout_url.clone());
            (session, redirect(location, headers))
        }
    };
    let mut effects = vec![Effect::count("logout", "")];
    if let Some(session) = session {
        effects.extend(end_session(inputs, &session));
    }
    effects.push(answer);
    effects
}

/// The session ends on every worker of this Envoy at once, and its refresh token at the IdP.
fn end_session(inputs: &Inputs, session: &Session) -> Vec<Effect> {
    let mut effects = vec![Effect::Revoke {
        entry: Entry::session(session),
        slot_key: session.sub.clone(),
    }];
    let endpoint = inputs
        .discovery
        .and_then(|d| d.revocation_endpoint.as_deref());
    if let (true, Some(endpoint), Some(token)) = (
        inputs.config.logout.revoke_tokens,
        endpoint,
        session.refresh_token.as_deref(),
    ) {
        let request = login::revocation_request(inputs.config, token, "refresh_token");
        effects.push(Effect::RevokeAtIdp(form_post(endpoint, &request)));
    }
    effects
}

/// RP-initiated logout at the IdP, when it advertises `end_session_endpoint`.
fn end_session_url(
    config: &Config,
    discovery: Option<&Discovery>,
    origin: Option<&Origin>,
    session: Option<&Session>,
) -> Option<String> {
    let endpoint = discovery?.end_session_endpoint.as_deref()?;
    let after = origin.map_or_else(
        || config.logout.after_logout_url.clone(),
        |o| o.absolute(&config.logout.after_logout_url),
    );
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", &config.client_id);
    query.append_pair("post_logout_redirect_uri", &after);
    if let Some(hint) = session.and_then(|s| s.id_token.as_deref()) {
        query.append_pair("id_token_hint", hint);
    }
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    Some(format!("{endpoint}{separator}{}", query.finish()))
}
