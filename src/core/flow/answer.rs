//! Final answers: a decision carried out, and the replies the browser flows send.

use crate::config::Config;
use crate::core::cookies::{self, CookieAttributes};
use crate::core::decide::{AllowReason, Decision, Deny, Request, RequestId};
use crate::core::grpc::{self, Protocol};
use crate::core::login::{self, Random};
use crate::core::reasons;
use crate::core::session::{self, Session};

use super::{Effect, Pass, Reply};

/// Size of the random nonce each sealed cookie gets.
const SEAL_NONCE_BYTES: usize = 24;

/// The effects of a final decision. A decision that is not final (a wait, a browser flow)
/// cannot be carried out here and is answered as "keys unavailable"; `Flow::step` never
/// passes one.
pub fn of(decision: Decision, request: &Request, config: &Config) -> Vec<Effect> {
    match decision {
        Decision::Allow { identity, reason } => vec![
            Effect::Pass(Pass {
                identity,
                cookie: upstream_cookie(config, request),
                set_cookies: Vec::new(),
                audit: None,
                strip_tokens: reason == AllowReason::Bearer && config.forward_token.strip_bearer,
            }),
            Effect::count("allowed", reason.label()),
        ],
        Decision::Deny(deny) => denied(&deny, Vec::new()),
        _ => of(Decision::keys_unavailable(), request, config),
    }
}

/// The `Cookie` header the upstream gets instead of the request's, when the request carries
/// cookies of the filter's own (session chunks, login flows): the others, joined into one
/// header. `None` (most requests): the request's cookies go as they are.
pub fn upstream_cookie(config: &Config, request: &Request) -> Option<Option<Vec<u8>>> {
    let headers = || request.cookie_headers.iter().map(Vec::as_slice);
    let base = &config.session.cookie_name;
    let is_own = |name: &str| session::is_own_cookie(name, base);
    cookies::any_cookie(headers(), is_own).then(|| cookies::without_cookies(headers(), is_own))
}

/// A plain-text refusal, with extra headers (cleared cookies).
pub fn denied(deny: &Deny, mut headers: Vec<(&'static str, String)>) -> Vec<Effect> {
    headers.push(("content-type", "text/plain; charset=utf-8".to_string()));
    if let Some(value) = deny.www_authenticate {
        headers.push(("www-authenticate", www_authenticate(value, deny.reason)));
    }
    vec![
        Effect::count("denied", deny.reason),
        reply(deny.status, headers, deny.body().to_string()),
    ]
}

/// A challenge naming an error (RFC 6750 3) also says why, in the reason's fixed text: never
/// anything from the request.
fn www_authenticate(challenge: &str, reason: &str) -> String {
    if challenge.contains("error=") {
        format!(
            "{challenge}, error_description=\"{}\"",
            reasons::description(reason)
        )
    } else {
        challenge.to_string()
    }
}

/// An error reply (4xx, 5xx) naming its request, so that a user can quote the id and an
/// operator find the request's log lines: a line of a plain-text body, a paragraph of a page.
/// Other bodies (the JSON of back-channel logout, RFC 6749 errors) are a protocol's, and stay
/// as they are.
pub fn with_request_id(mut reply: Reply, id: &RequestId) -> Reply {
    let content_type = reply
        .headers
        .iter()
        .find(|(name, _)| *name == "content-type")
        .map(|(_, value)| value.as_str());
    // The id holds only [A-Za-z0-9._-]: nothing to escape.
    let line = match content_type {
        _ if reply.status < 400 => return reply,
        Some(html) if html.starts_with("text/html") => {
            format!("<p>Request id: <code>{}</code></p>\n", id.as_str())
        }
        Some(plain) if plain.starts_with("text/plain") => {
            format!("request id: {}\n", id.as_str())
        }
        _ => return reply,
    };
    reply.body.push_str(&line);
    reply
}

/// A local reply; every reply of the filter is uncacheable.
pub fn reply(status: u16, headers: Vec<(&'static str, String)>, body: String) -> Effect {
    let mut all = vec![("cache-control", "no-store".to_string())];
    all.extend(headers);
    Effect::Reply(Reply {
        status,
        headers: all,
        body,
    })
}

/// A reply as a gRPC client of `protocol` must get it: a trailers-only response (`200`,
/// `grpc-status`, `grpc-message`, no body), with the reply's other headers
/// (`www-authenticate`, cleared cookies) as its metadata. A redirect loses its `location`:
/// the call fails instead of going to a login page. The message is the reply's plain-text
/// body, or names its status (an HTML page is no message), and ends with the request's id when
/// it has one, as other clients' refusals do: the id the refusal's log line names.
pub fn for_grpc(reply: Reply, protocol: Protocol, id: Option<&RequestId>) -> Reply {
    let plain_text = reply
        .headers
        .iter()
        .any(|(name, value)| *name == "content-type" && value.starts_with("text/plain"));
    let message = if plain_text {
        reply.body.trim_end().to_string()
    } else {
        format!(
            "refused by the authentication gateway (HTTP {})",
            reply.status
        )
    };
    let message = match id {
        // The id holds only [A-Za-z0-9._-]: nothing to escape.
        Some(id) if reply.status >= 300 => format!("{message} (request id: {})", id.as_str()),
        _ => message,
    };
    let mut headers: Vec<_> = reply
        .headers
        .into_iter()
        .filter(|(name, _)| !matches!(*name, "content-type" | "location"))
        .collect();
    headers.extend(grpc::trailers(protocol, reply.status, &message));
    Reply {
        status: 200,
        headers,
        body: String::new(),
    }
}

pub fn redirect(location: String, mut headers: Vec<(&'static str, String)>) -> Effect {
    headers.push(("location", location));
    reply(302, headers, String::new())
}

/// A short HTML error page whose "Start again" link goes to `/`.
pub fn error_page(
    status: u16,
    reason: &'static str,
    detail: &str,
    headers: Vec<(&'static str, String)>,
) -> Vec<Effect> {
    error_page_to(status, reason, detail, "/", headers)
}

/// An HTML error page whose "Start again" link goes to `again` (a same-origin path: signing
/// in starts from there). `detail` is escaped, and never holds tokens or codes.
pub fn error_page_to(
    status: u16,
    reason: &'static str,
    detail: &str,
    again: &str,
    mut headers: Vec<(&'static str, String)>,
) -> Vec<Effect> {
    let body = format!(
        "<!doctype html><title>Sign-in failed</title><h1>Sign-in failed</h1><p>{}</p><p><a href=\"{}\">Start again</a></p>\n",
        login::escape_html(detail),
        login::escape_html(again)
    );
    headers.push(("content-type", "text/html; charset=utf-8".to_string()));
    vec![
        Effect::count("denied", reason),
        reply(status, headers, body),
    ]
}

/// The attributes of every cookie the filter sets.
pub fn attributes(config: &Config) -> CookieAttributes {
    CookieAttributes {
        secure: config.session.secure,
        same_site: config.session.same_site,
        http_only: true,
    }
}

/// `Set-Cookie` headers clearing one cookie.
pub fn clear_cookie(config: &Config, name: &str) -> (&'static str, String) {
    (
        "set-cookie",
        cookies::clear_cookie(name, &attributes(config)),
    )
}

/// `Set-Cookie` headers clearing every session cookie chunk.
pub fn clear_session_cookies(config: &Config) -> Vec<(&'static str, String)> {
    session::session_cookie_names(&config.session.cookie_name)
        .iter()
        .map(|name| clear_cookie(config, name))
        .collect()
}

/// A random nonce for sealing a cookie; `None` without randomness.
pub fn seal_nonce(random: &mut dyn Random) -> Option<[u8; SEAL_NONCE_BYTES]> {
    let mut nonce = [0u8; SEAL_NONCE_BYTES];
    random.fill(&mut nonce).then_some(nonce)
}

/// `Set-Cookie` values for a session: its chunks, and clears for chunk names it no longer
/// uses. `None` without randomness to seal it.
pub fn session_set_cookies(
    config: &Config,
    session: &Session,
    random: &mut dyn Random,
) -> Option<Vec<String>> {
    let attrs = attributes(config);
    let base = &config.session.cookie_name;
    let issuer = &config.login_issuer().issuer;
    let nonce = seal_nonce(random)?;
    let pairs =
        session::session_cookies(session, &config.session.keys[0], base, issuer, &nonce).ok()?;
    let max_age = config.session.max_age_seconds;
    let mut set: Vec<String> = pairs
        .iter()
        .map(|(name, value)| cookies::set_cookie(name, value, &attrs, max_age))
        .collect();
    for name in session::session_cookie_names(base) {
        if !pairs.iter().any(|(n, _)| *n == name) {
            set.push(cookies::clear_cookie(&name, &attrs));
        }
    }
    Some(set)
}

/// The session as its cookies will hold it: without the token to forward when that would
/// not fit, which is logged and counted (the upstream then gets no token for this session).
pub fn fitted(mut session: Session) -> (Session, Vec<Effect>) {
    if session.forward_token.is_none() || session::fits(&session) {
        return (session, Vec::new());
    }
    session.forward_token = None;
    let effects = vec![
        Effect::count("session", "forward_token_dropped"),
        Effect::warn(
            "the token to forward does not fit the session cookies: this session's requests \
             go upstream without it"
                .to_string(),
        ),
    ];
    (session, effects)
}

/// A final decision whose request also carries `Set-Cookie` values for its response (a
/// session refreshed on the way).
pub fn with_cookies(
    decision: Decision,
    request: &Request,
    config: &Config,
    cookies: Vec<String>,
) -> Vec<Effect> {
    let mut effects = of(decision, request, config);
    if let Some(Effect::Pass(pass)) = effects.first_mut() {
        pass.set_cookies = cookies;
    }
    effects
}
