//! A navigation without a credential: seal a login flow into its own cookie and send the
//! browser to the IdP (authorization code flow with PKCE).

use crate::core::cookies;
use crate::core::decide::Request;
use crate::core::login::{self, FlowSecrets, Origin, Random};
use crate::core::session::{self, LoginState};

use super::answer::{attributes, error_page, redirect, seal_nonce};
use super::{Effect, Inputs};

/// Sends the browser to the IdP, to come back to the page it asked for.
pub fn start(inputs: &Inputs, request: &Request, random: &mut dyn Random) -> Vec<Effect> {
    start_to(inputs, request, login::return_path(&request.path), random)
}

/// The login path: to the IdP, coming back to the `rd` parameter (a same-origin path; `/`
/// when absent or anything else).
pub fn sign_in(inputs: &Inputs, request: &Request, random: &mut dyn Random) -> Vec<Effect> {
    let rd = request.query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "rd")
            .map(|(_, value)| value.into_owned())
    });
    let return_to = login::return_path(rd.as_deref().unwrap_or("/").as_bytes());
    start_to(inputs, request, return_to, random)
}

fn start_to(
    inputs: &Inputs,
    request: &Request,
    return_to: String,
    random: &mut dyn Random,
) -> Vec<Effect> {
    let config = inputs.config;
    let Some(origin) = Origin::from_request(&request.scheme, &request.authority) else {
        return error_page(400, "bad_host", "The request's host is not valid.", vec![]);
    };
    let (Some(endpoint), Some(secrets), Some(nonce)) = (
        inputs.authorization_endpoint(),
        FlowSecrets::generate(random),
        seal_nonce(random),
    ) else {
        return error_page(
            503,
            "login_unavailable",
            "The identity provider is not reachable yet; try again shortly.",
            vec![],
        );
    };
    let redirect_uri = origin.absolute(&config.redirect_uri);
    let location =
        login::authorization_url(config, &origin.absolute(endpoint), &redirect_uri, &secrets);
    let state = LoginState {
        state: secrets.state,
        nonce: secrets.nonce,
        code_verifier: secrets.code_verifier,
        return_to,
        expires_at: inputs.now_s().saturating_add(login::LOGIN_TTL_SECONDS),
    };
    let base = &config.session.cookie_name;
    let issuer = &inputs.login_issuer().issuer;
    let Ok((name, value)) =
        session::seal_login_state(&state, &config.session.keys[0], base, issuer, &nonce)
    else {
        return error_page(
            400,
            "return_url_too_long",
            "The address is too long to return to after sign-in.",
            vec![],
        );
    };
    vec![
        Effect::count("login", "started"),
        redirect(location, flow_cookies(inputs, request, &name, &value)),
    ]
}

/// `Set-Cookie`s for a new login flow's cookie, and clears for the stale flows it evicts.
fn flow_cookies(
    inputs: &Inputs,
    request: &Request,
    name: &str,
    value: &str,
) -> Vec<(&'static str, String)> {
    let config = inputs.config;
    let attrs = attributes(config);
    let ttl = login::LOGIN_TTL_SECONDS;
    let mut headers = vec![("set-cookie", cookies::set_cookie(name, value, &attrs, ttl))];
    let stale = session::flow_cookies_to_evict(
        &request.cookies(),
        &config.session.keys,
        &config.session.cookie_name,
        &inputs.login_issuer().issuer,
        inputs.now_s(),
    );
    for name in stale {
        headers.push(("set-cookie", cookies::clear_cookie(&name, &attrs)));
    }
    headers
}
