use serde_json::json;

use super::*;
use crate::config::Config;
use crate::core::identity::IdentityError;

const ISS: &str = "https://idp.example.com";
const NOW: u64 = 1_800_000_000;

fn config(opaque: serde_json::Value) -> Config {
    let raw = json!({
        "issuer": ISS, "idp_cluster": "idp", "client_id": "app", "client_secret": "s3cret",
        "session_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
        "userid_claim": ["email", "username", "sub"], "opaque_tokens": opaque,
    });
    Config::from_json(raw.to_string().as_bytes(), &|_: &str| None).unwrap()
}

fn settings(config: &Config) -> &OpaqueTokens {
    config.opaque_tokens.as_ref().unwrap()
}

fn introspected(body: serde_json::Value) -> Result<Checked, Unanswered> {
    let config = config(json!("introspection"));
    let body = body.to_string();
    read_answer(
        &config,
        settings(&config),
        Some(b"200"),
        body.as_bytes(),
        NOW,
    )
}

fn active_until(checked: Result<Checked, Unanswered>) -> (String, u64) {
    match checked {
        Ok(Checked::Active { verdict, until_s }) => (verdict.identity.unwrap().userid, until_s),
        other => panic!("not active: {other:?}"),
    }
}

fn is_inactive(checked: &Result<Checked, Unanswered>) -> bool {
    matches!(checked, Ok(Checked::Inactive { .. }))
}

#[test]
fn an_active_token_is_reused_until_its_exp_or_the_cache_limit_whichever_is_first() {
    let (user, until) = active_until(introspected(
        json!({"active": true, "sub": "u1", "username": "ann", "exp": NOW - 30}),
    ));
    assert_eq!(
        user, "ann",
        "the user id falls back to the claims introspection has"
    );
    assert_eq!(
        until,
        NOW + 30,
        "exp plus the clock skew (60 s), under 60 s of cache"
    );
    let (_, until) = active_until(introspected(
        json!({"active": true, "sub": "u1", "exp": NOW + 9000}),
    ));
    assert_eq!(until, NOW + 60, "cache_seconds (default 60) caps it");
    let (_, until) = active_until(introspected(json!({"active": true, "sub": "u1"})));
    assert_eq!(until, NOW + 60, "no exp: cache_seconds");
}

#[test]
fn every_answer_that_does_not_say_live_is_a_refusal() {
    for body in [
        json!({"active": false}),
        json!({"active": "true", "sub": "u1"}),
        json!({"active": 1, "sub": "u1"}),
        json!({"sub": "u1"}),
        json!({"active": true, "sub": "u1", "exp": NOW - 61}),
        json!({"active": true, "sub": "u1", "nbf": NOW + 61}),
        json!({"active": true, "sub": "u1", "iss": "https://other.example.com"}),
        json!({"active": true, "sub": "u1", "token_type": "refresh_token"}),
        json!({"active": true, "sub": "u1", "token_type": "Refresh"}),
    ] {
        assert!(is_inactive(&introspected(body.clone())), "{body}");
    }
    assert!(!is_inactive(&introspected(
        json!({"active": true, "sub": "u1", "iss": ISS, "token_type": "Bearer", "exp": NOW - 59})
    )));
}

#[test]
fn an_idp_that_fails_or_refuses_us_says_nothing_about_the_token() {
    let config = config(json!("introspection"));
    let s = settings(&config);
    for (status, body) in [
        (Some(&b"500"[..]), &b"{}"[..]),
        (Some(b"401"), b"{\"error\":\"invalid_client\"}"),
        (None, b""),
        (Some(b"200"), b"not json"),
        (Some(b"200"), b"[]"),
    ] {
        assert!(
            read_answer(&config, s, status, body, NOW).is_err(),
            "{status:?}"
        );
    }
    let huge = format!(
        "{{\"active\":true,\"x\":\"{}\"}}",
        "a".repeat(MAX_ANSWER_BYTES)
    );
    assert!(read_answer(&config, s, Some(b"200"), huge.as_bytes(), NOW).is_err());
}

#[test]
fn userinfo_names_the_user_and_its_401_refuses_the_token() {
    let config = config(json!({"method": "userinfo", "cache_seconds": 120}));
    let s = settings(&config);
    let body = json!({"sub": "u1", "email": "ann@example.com"}).to_string();
    let (user, until) = active_until(read_answer(&config, s, Some(b"200"), body.as_bytes(), NOW));
    assert_eq!((user.as_str(), until), ("ann@example.com", NOW + 120));
    for status in [&b"401"[..], b"403"] {
        assert!(is_inactive(&read_answer(
            &config,
            s,
            Some(status),
            b"",
            NOW
        )));
    }
    assert!(read_answer(&config, s, Some(b"503"), b"", NOW).is_err());
}

#[test]
fn a_live_token_without_a_usable_user_id_is_known_as_such() {
    let checked = introspected(json!({"active": true, "scope": "read"}));
    let Ok(Checked::Active { verdict, .. }) = checked else {
        panic!("{checked:?}")
    };
    assert_eq!(verdict.identity, Err(IdentityError::MissingUserid));
}

#[test]
fn one_call_per_token_at_a_time_and_its_answer_serves_the_rest() {
    let config = config(json!("introspection"));
    let s = settings(&config);
    let mut state = OpaqueState::default();
    assert_eq!(state.lookup("t1", s, NOW, NOW + 6), Lookup::Ask);
    assert_eq!(state.lookup("t1", s, NOW, NOW + 6), Lookup::InFlight);
    assert_eq!(state.lookup("t1", s, NOW + 6, NOW + 12), Lookup::InFlight);
    let verdict = Verdict {
        issuer: 0,
        identity: Err(IdentityError::MissingUserid),
    };
    let active = Checked::Active {
        verdict: verdict.clone(),
        until_s: NOW + 10,
    };
    state.settle("t1", Some(active));
    assert_eq!(
        state.lookup("t1", s, NOW + 9, NOW + 15),
        Lookup::Known(verdict)
    );
    assert_eq!(
        state.lookup("t1", s, NOW + 10, NOW + 16),
        Lookup::Ask,
        "expired: asked again"
    );
}

#[test]
fn a_call_never_answered_is_presumed_lost_after_its_deadline() {
    let config = config(json!("introspection"));
    let s = settings(&config);
    let mut state = OpaqueState::default();
    assert_eq!(state.lookup("t1", s, NOW, NOW + 6), Lookup::Ask);
    assert_eq!(state.lookup("t1", s, NOW + 7, NOW + 13), Lookup::Ask);
    state.settle("t1", None);
    assert_eq!(
        state.lookup("t1", s, NOW + 8, NOW + 14),
        Lookup::Ask,
        "nothing kept"
    );
}

#[test]
fn refusals_are_remembered_apart_so_random_tokens_cannot_push_out_good_answers() {
    let config = config(json!("introspection"));
    let s = settings(&config);
    let mut state = OpaqueState::default();
    let verdict = Verdict {
        issuer: 0,
        identity: Err(IdentityError::MissingUserid),
    };
    state.settle(
        "good",
        Some(Checked::Active {
            verdict: verdict.clone(),
            until_s: NOW + 60,
        }),
    );
    for i in 0..3000 {
        state.settle(
            &format!("junk{i}"),
            Some(Checked::Inactive { until_s: NOW + 60 }),
        );
    }
    assert_eq!(
        state.lookup("good", s, NOW, NOW + 6),
        Lookup::Known(verdict)
    );
    assert_eq!(state.lookup("junk2999", s, NOW, NOW + 6), Lookup::Refused);
}

#[test]
fn calls_per_second_bounds_what_unknown_tokens_cost_the_idp() {
    let config = config(json!({"method": "introspection", "calls_per_second": 3}));
    let s = settings(&config);
    let mut state = OpaqueState::default();
    let asked: Vec<Lookup> = (0..5)
        .map(|i| state.lookup(&format!("t{i}"), s, NOW, NOW + 6))
        .collect();
    assert_eq!(asked[..3], [Lookup::Ask, Lookup::Ask, Lookup::Ask]);
    assert_eq!(asked[3..], [Lookup::Limited, Lookup::Limited]);
    assert_eq!(
        state.lookup("t9", s, NOW + 1, NOW + 7),
        Lookup::Ask,
        "a new second"
    );
}

#[test]
fn only_rfc_6750_tokens_of_cacheable_size_are_sent() {
    for good in ["abc", "a-b_c.d~e+f/g==", "Zm9v"] {
        assert!(is_sendable(good), "{good}");
    }
    let long = "a".repeat(MAX_CACHED_TOKEN_BYTES + 1);
    for bad in ["", "==", "a b", "a\"b", "a=b", "ä", "a,b", long.as_str()] {
        assert!(!is_sendable(bad), "{bad}");
    }
}
