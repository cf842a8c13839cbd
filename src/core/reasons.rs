//! Every reason a request can be refused for, with the fixed text that explains it. The one
//! list: the `denied` counters are defined from it when the filter starts (so each exists at
//! zero), bearer refusals carry its text as `error_description`, and docs/troubleshooting.md
//! explains each entry (tests check all three).

#[cfg(test)]
mod tests;

/// A refusal reason: its metric label, and a short fixed explanation (never request data,
/// so it is safe in a response header).
pub type Reason = (&'static str, &'static str);

/// Reasons from reading a bearer token (`core::jwt::JwtError`).
pub const TOKEN: &[Reason] = &[
    (
        "token_too_large",
        "the token is larger than the filter accepts",
    ),
    (
        "jwe",
        "the token is encrypted (JWE); a signed JWT is required",
    ),
    (
        "malformed",
        "the token is not a JWT (three dot-separated parts)",
    ),
    ("bad_base64", "a part of the token is not base64url"),
    ("bad_header", "the token header is not a JSON object"),
    ("bad_payload", "the token payload is not a JSON object"),
    ("duplicate_member", "the token repeats a JSON member"),
    ("empty_signature", "the token has no signature"),
    ("missing_alg", "the token header has no alg"),
    ("alg_not_string", "the token header's alg is not a string"),
    ("alg_none", "unsigned tokens (alg none) are refused"),
    (
        "symmetric_alg",
        "the issuer does not sign with a shared secret",
    ),
    (
        "unsupported_alg",
        "the token's signature algorithm is not supported",
    ),
    (
        "embedded_key",
        "the token carries its own key (jwk, jku, x5u, x5c)",
    ),
    (
        "unsupported_crit",
        "the token marks an unsupported extension critical",
    ),
    ("nested_token", "nested tokens (cty JWT) are refused"),
    (
        "wrong_typ",
        "the token's typ is not a JWT access or ID token",
    ),
    ("bad_kid", "the token's kid is not a short string"),
    ("unknown_kid", "the issuer has no key with the token's kid"),
    (
        "no_key_for_alg",
        "the issuer has no key for the token's algorithm",
    ),
    (
        "ambiguous_key",
        "the token has no kid and the issuer has several keys",
    ),
    (
        "key_alg_mismatch",
        "the key named by kid is for another algorithm",
    ),
    ("bad_signature", "the token's signature does not verify"),
    ("missing_iss", "the token has no iss claim"),
    (
        "wrong_iss",
        "the token's issuer is not the one its key belongs to",
    ),
    ("missing_aud", "the token has no aud claim"),
    ("wrong_aud", "the token is not for this audience"),
    ("missing_azp", "the token has several audiences and no azp"),
    ("wrong_azp", "the token was issued to another client (azp)"),
    ("missing_exp", "the token has no exp claim"),
    ("expired", "the token has expired"),
    ("not_yet_valid", "the token is not valid yet (nbf)"),
    ("iat_in_future", "the token was issued in the future (iat)"),
    ("missing_iat", "the token has no iat claim"),
    ("missing_sub", "the token has no sub claim"),
    ("invalid_sub", "the token's sub is empty or too long"),
    ("claim_type", "a claim of the token has the wrong JSON type"),
    (
        "bad_numeric_date",
        "a date claim of the token is out of range",
    ),
];

/// Reasons from the request, the session, the rules and the identity.
pub const REQUEST: &[Reason] = &[
    ("no_credential", "no bearer token and no session"),
    ("session_expired", "the session has expired"),
    (
        "session_invalid",
        "the session cookie does not open with the session keys",
    ),
    ("session_revoked", "the session was logged out"),
    (
        "session_not_revalidated",
        "the session could not be checked with the IdP",
    ),
    (
        "session_refresh_failed",
        "the IdP refused to refresh the session",
    ),
    (
        "token_in_query",
        "tokens are only accepted in headers, not the query string",
    ),
    (
        "several_authorization_headers",
        "the request has a token header twice",
    ),
    (
        "malformed_authorization",
        "the token header is not one token after its scheme",
    ),
    (
        "conflicting_credentials",
        "the token headers carry different tokens",
    ),
    ("unknown_issuer", "the token's issuer is not configured"),
    (
        "token_inactive",
        "the IdP says the opaque token is not active",
    ),
    (
        "token_check_rate_limited",
        "too many unknown opaque tokens to check now",
    ),
    (
        "token_check_unavailable",
        "the IdP could not be asked about the token in time",
    ),
    (
        "keys_unavailable",
        "the issuer's keys could not be fetched yet",
    ),
    (
        "userid_claim_invalid",
        "the user id claim is missing or not a safe string",
    ),
    (
        "groups_claim_invalid",
        "the groups claim is not a list of strings",
    ),
    (
        "group_not_allowed",
        "the user is in none of the allowed groups",
    ),
    (
        "claim_not_accepted",
        "a claim does not have a value the rule requires",
    ),
    (
        "insufficient_scope",
        "the token lacks a scope the rule requires",
    ),
    ("denied_by_rule", "a deny rule matches the request"),
    (
        "identity_not_published",
        "Envoy refused to store the identity for later filters",
    ),
];

/// Reasons of the filter's own endpoints: login, callback, logout.
pub const ENDPOINT: &[Reason] = &[
    ("login_not_get", "the login path only answers GET"),
    ("bad_host", "the request's host is not a valid origin"),
    (
        "login_unavailable",
        "the IdP's discovery document is not fetched yet",
    ),
    (
        "return_url_too_long",
        "the page to return to is too long for the login cookie",
    ),
    ("no_randomness", "the host gave no random bytes"),
    ("idp_error", "the IdP answered the login with an error"),
    ("callback_missing_state", "the callback has no state"),
    ("callback_missing_code", "the callback has no code"),
    (
        "callback_duplicate_parameter",
        "the callback repeats a parameter",
    ),
    (
        "callback_state_mismatch",
        "the callback's state matches no login of this browser",
    ),
    ("callback_expired", "the login took too long"),
    (
        "callback_issuer_mismatch",
        "the callback's iss is not the configured issuer",
    ),
    (
        "token_endpoint_unreachable",
        "the token request could not be sent",
    ),
    (
        "token_endpoint_status",
        "the token endpoint did not answer 200",
    ),
    (
        "token_response_too_large",
        "the token endpoint's answer is too large",
    ),
    (
        "token_response_not_json",
        "the token endpoint's answer is not JSON",
    ),
    ("token_refused", "the IdP refused the code or refresh token"),
    (
        "token_type_not_bearer",
        "the IdP issued a token type other than Bearer",
    ),
    (
        "token_missing_access_token",
        "the token endpoint's answer has no access_token",
    ),
    (
        "token_missing_id_token",
        "the token endpoint's answer has no id_token",
    ),
    ("id_token_invalid", "the ID token does not verify"),
    (
        "id_token_nonce_mismatch",
        "the ID token's nonce is not this login's",
    ),
    (
        "id_token_at_hash_mismatch",
        "the ID token's at_hash does not match the access token",
    ),
    ("id_token_too_old", "the ID token was issued too long ago"),
    (
        "userinfo_sub_mismatch",
        "userinfo names another subject than the ID token",
    ),
    ("logout_cross_site", "another site asked for the logout"),
    (
        "logout_not_navigation",
        "logout needs a browser navigation or a POST with the session",
    ),
    (
        "logout_without_session",
        "the logout POST carries no session",
    ),
    (
        "backchannel_logout_not_post",
        "back-channel logout only answers POST",
    ),
];

/// Every refusal reason: the labels of the `denied` counter.
pub fn all() -> impl Iterator<Item = Reason> {
    TOKEN.iter().chain(REQUEST).chain(ENDPOINT).copied()
}

/// The fixed explanation of `reason` (the reason itself for one not listed).
pub fn description(reason: &str) -> &'static str {
    all()
        .find(|(label, _)| *label == reason)
        .map_or("the request was refused", |(_, text)| text)
}
