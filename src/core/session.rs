//! Sealed cookies: the browser session and the per-login flow state, with no server-side store.
//!
//! `seal` seals and opens values bound to where they were issued; `session_cookie` carries a
//! [`Session`] in one or more chunked cookies; `login_state` carries one login's [`LoginState`]
//! in its own flow cookie. This module holds the cookie size budget they share and re-exports
//! their public items, so callers name them `session::X`.

mod login_state;
mod seal;
mod session_cookie;
#[cfg(test)]
mod tests;

pub use login_state::{
    flow_cookie_name, flow_cookies_to_evict, is_flow_cookie, open_login_state, seal_login_state,
    LoginState, LoginStateError, LoginStateTooLarge, MAX_FLOW_COOKIES,
};
pub use seal::{open, seal, OpenError, Purpose, SealContext};
pub use session_cookie::{
    fits, is_session_cookie, read_session, session_cookie_names, session_cookies, Session,
    SessionError, SessionTooLarge,
};

/// Largest cookie value we send. Browsers keep name + value up to 4096 bytes (RFC 6265 §6.1);
/// the rest is left for the name.
pub const MAX_COOKIE_VALUE_BYTES: usize = 4000;
/// Most cookies one session may span: `name`, `name_1`, `name_2`, `name_3`.
pub const MAX_SESSION_CHUNKS: usize = 4;
/// Longest sealed value [`open`] looks at; checked before any decoding, so a huge cookie costs
/// nothing. The session chunks together stay below it.
pub const MAX_SEALED_BYTES: usize = MAX_SESSION_CHUNKS * MAX_COOKIE_VALUE_BYTES;

/// True for any cookie of ours (session chunks and login flows): none of them goes upstream.
pub fn is_own_cookie(name: &str, base: &str) -> bool {
    is_session_cookie(name, base) || is_flow_cookie(name, base)
}
