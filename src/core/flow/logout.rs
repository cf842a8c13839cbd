//! Logout, in the two styles of the Kubeflow central dashboard: a navigation that ends at the
//! IdP's end_session endpoint, and the legacy API call answered `201`.

use crate::config::Config;
use crate::core::decide::{Logout, Request};
use crate::core::discovery::Discovery;
use crate::core::login::Origin;
use crate::core::session::Session;

use super::answer::{clear_session_cookies, redirect, reply};
use super::{Effect, Inputs};

pub fn respond(inputs: &Inputs, request: &Request, logout: Logout) -> Vec<Effect> {
    let config = inputs.config;
    let mut headers = clear_session_cookies(config);
    let answer = match logout {
        Logout::Api(_) => {
            let body = serde_json::json!({ "afterLogoutURL": config.after_logout_url });
            headers.push(("content-type", "application/json".to_string()));
            reply(201, headers, body.to_string())
        }
        Logout::Navigate(session) => {
            let origin = Origin::from_request(&request.scheme, &request.authority);
            let location = end_session_url(
                config,
                inputs.discovery,
                origin.as_ref(),
                session.as_deref(),
            )
            .unwrap_or_else(|| config.after_logout_url.clone());
            redirect(location, headers)
        }
    };
    vec![Effect::count("logout", ""), answer]
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
        || config.after_logout_url.clone(),
        |o| o.absolute(&config.after_logout_url),
    );
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", &config.client_id);
    query.append_pair("post_logout_redirect_uri", &after);
    if let Some(hint) = session.and_then(|s| s.id_token.as_deref()) {
        query.append_pair("id_token_hint", hint);
    }
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    Some(format!("{endpoint}{separator}{}", query.finish()))
}
