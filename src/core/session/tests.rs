use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::seal::{associated_data, sealed_len, NONCE_BYTES, TAG_BYTES, VERSION_PREFIX};
use super::session_cookie::{chunk_count, chunk_name};
use super::*;

const K1: [u8; 32] = [1; 32];
const K2: [u8; 32] = [2; 32];
const BASE: &str = "authservice_session";
const ISSUER: &str = "https://idp.example.com";

fn nonce() -> [u8; 24] {
    rand::random()
}

fn ctx(purpose: Purpose, cookie_name: &str) -> SealContext<'_> {
    SealContext {
        purpose,
        cookie_name,
        issuer: ISSUER,
    }
}

fn session_ctx() -> SealContext<'static> {
    ctx(Purpose::Session, BASE)
}

fn sealed(plaintext: &[u8]) -> String {
    seal(&K1, &session_ctx(), plaintext, &nonce())
}

fn open_k1(value: &str) -> Result<Vec<u8>, OpenError> {
    open(&[K1], &session_ctx(), value)
}

fn decoded(value: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(value.strip_prefix(VERSION_PREFIX).unwrap())
        .unwrap()
}

fn encoded(raw: &[u8]) -> String {
    format!("{VERSION_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
}

fn flip_bit(value: &str, byte: usize, bit: u8) -> String {
    let mut raw = decoded(value);
    raw[byte] ^= 1 << bit;
    encoded(&raw)
}

// --- seal / open ---------------------------------------------------------------------

#[test]
fn seal_then_open_round_trips() {
    for plaintext in [&b""[..], b"x", b"{\"u\":\"alice\"}", &[0u8; 5000][..]] {
        assert_eq!(open_k1(&sealed(plaintext)).unwrap(), plaintext);
    }
}

#[test]
fn sealed_format_is_prefix_and_base64url_of_nonce_ciphertext_tag() {
    let n = nonce();
    let value = seal(&K1, &session_ctx(), b"hello", &n);
    assert!(value.starts_with("v1."));
    let raw = decoded(&value);
    assert_eq!(raw.len(), NONCE_BYTES + 5 + TAG_BYTES);
    assert_eq!(raw[..NONCE_BYTES], n);
    assert!(value[3..]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
}

#[test]
fn predicted_length_matches_the_sealed_length() {
    for len in 0..200 {
        assert_eq!(sealed(&vec![b'a'; len]).len(), sealed_len(len), "{len}");
    }
}

#[test]
fn tampering_any_region_gives_the_same_error() {
    let value = sealed(b"{\"u\":\"alice@example.com\"}");
    let raw_len = decoded(&value).len();
    let regions = [
        ("nonce", 0),
        ("nonce end", NONCE_BYTES - 1),
        ("ciphertext", NONCE_BYTES),
        ("ciphertext end", raw_len - TAG_BYTES - 1),
        ("tag", raw_len - TAG_BYTES),
        ("tag end", raw_len - 1),
    ];
    for (region, byte) in regions {
        for bit in 0..8 {
            assert_eq!(
                open_k1(&flip_bit(&value, byte, bit)),
                Err(OpenError),
                "{region} bit {bit}"
            );
        }
    }
    for (i, replacement) in [(0, "w"), (0, "V"), (1, "2"), (1, "0"), (2, "_")] {
        let mut prefix_tampered = value.clone();
        prefix_tampered.replace_range(i..i + 1, replacement);
        assert_eq!(open_k1(&prefix_tampered), Err(OpenError), "prefix {i}");
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let value = sealed(b"{\"u\":\"bob\",\"g\":[\"a\"]}");
    let raw_len = decoded(&value).len();
    for byte in 0..raw_len {
        for bit in 0..8 {
            assert_eq!(open_k1(&flip_bit(&value, byte, bit)), Err(OpenError));
        }
    }
}

#[test]
fn every_character_substitution_is_rejected() {
    let value = sealed(b"{\"u\":\"carol\"}");
    for i in 0..value.len() {
        for replacement in ["A", "z", "0", "-", "_", ".", "=", "+", "/", " "] {
            if &value[i..i + 1] == replacement {
                continue;
            }
            let mut mutated = value.clone();
            mutated.replace_range(i..i + 1, replacement);
            assert_eq!(open_k1(&mutated), Err(OpenError), "at {i}: {replacement}");
        }
    }
}

#[test]
fn truncation_and_extension_are_rejected() {
    let value = sealed(b"{\"u\":\"dave\"}");
    for end in 0..value.len() {
        assert_eq!(open_k1(&value[..end]), Err(OpenError), "cut at {end}");
    }
    for suffix in ["A", "AA", "AAAA", "=", "=="] {
        assert_eq!(open_k1(&format!("{value}{suffix}")), Err(OpenError));
    }
    assert_eq!(open_k1(&value[3..]), Err(OpenError), "without prefix");
}

#[test]
fn empty_and_malformed_values_are_rejected() {
    let just_short = encoded(&[0; NONCE_BYTES + TAG_BYTES - 1]);
    let inputs = [
        "",
        "v1.",
        "v1",
        "v2.AAAA",
        "v1.!!!!",
        "v1.AAAA====",
        "v1.AA AA",
        "v1.AA+/",
        "v1.\u{e9}\u{e9}",
        just_short.as_str(),
    ];
    for input in inputs {
        assert_eq!(open_k1(input), Err(OpenError), "{input:?}");
    }
}

#[test]
fn non_canonical_base64_is_rejected() {
    // With 43 raw bytes the last character carries 2 data bits and 4 unused ones. Setting
    // an unused bit decodes to the same bytes leniently; strict decoding refuses it, so a
    // cookie has exactly one spelling.
    let value = sealed(b"abc");
    assert_eq!(decoded(&value).len() % 3, 1);
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (head, last) = value.split_at(value.len() - 1);
    let index = ALPHABET.find(last).unwrap();
    assert_eq!(index % 16, 0);
    let sibling = &ALPHABET[index + 1..index + 2];
    assert_eq!(open_k1(&format!("{head}{sibling}")), Err(OpenError));
    assert!(open_k1(&value).is_ok());
}

#[test]
fn oversized_values_are_rejected_before_decoding() {
    let huge = format!("v1.{}", "A".repeat(MAX_SEALED_BYTES));
    assert_eq!(open_k1(&huge), Err(OpenError));
    let huge_but_valid = seal(&K1, &session_ctx(), &[7; MAX_SEALED_BYTES], &nonce());
    assert_eq!(open_k1(&huge_but_valid), Err(OpenError));
}

#[test]
fn no_keys_opens_nothing() {
    assert_eq!(open(&[], &session_ctx(), &sealed(b"x")), Err(OpenError));
}

#[test]
fn same_plaintext_seals_to_distinct_values() {
    let mut seen = HashSet::new();
    for _ in 0..100_000 {
        assert!(seen.insert(sealed(b"{\"u\":\"alice@example.com\",\"g\":[]}")));
    }
}

#[test]
fn key_rotation_phases() {
    let ctx = session_ctx();
    let old = seal(&K1, &ctx, b"old", &nonce());
    // Phase 1: K1 only.
    assert_eq!(open(&[K1], &ctx, &old).unwrap(), b"old");
    // Phase 2: K2 primary, K1 decrypt-only: old cookies still open.
    assert_eq!(open(&[K2, K1], &ctx, &old).unwrap(), b"old");
    let new = seal(&K2, &ctx, b"new", &nonce());
    assert_eq!(open(&[K2, K1], &ctx, &new).unwrap(), b"new");
    // Phase 3: K1 removed: old cookies fail, new ones open with K2 alone.
    assert_eq!(open(&[K2], &ctx, &old), Err(OpenError));
    assert_eq!(open(&[K2], &ctx, &new).unwrap(), b"new");
    assert_eq!(open(&[K1], &ctx, &new), Err(OpenError));
}

#[test]
fn context_is_bound_to_purpose_name_and_issuer() {
    let value = seal(&K1, &session_ctx(), b"x", &nonce());
    let others = [
        ctx(Purpose::LoginState, BASE),
        ctx(Purpose::Session, "other_session"),
        ctx(Purpose::Session, "authservice_session_1"),
        SealContext {
            issuer: "https://idp.example.com/",
            ..session_ctx()
        },
    ];
    for other in others {
        assert_eq!(open(&[K1], &other, &value), Err(OpenError), "{other:?}");
    }
}

#[test]
fn context_fields_cannot_be_shifted_into_each_other() {
    let a = SealContext {
        purpose: Purpose::Session,
        cookie_name: "ab",
        issuer: "c",
    };
    let b = SealContext {
        cookie_name: "a",
        issuer: "bc",
        ..a
    };
    assert_ne!(associated_data(&a), associated_data(&b));
    assert_eq!(
        open(&[K1], &b, &seal(&K1, &a, b"x", &nonce())),
        Err(OpenError)
    );
}

// --- sessions ------------------------------------------------------------------------

const NOW: u64 = 1_700_000_000;

fn session(groups: usize, group_len: usize) -> Session {
    Session {
        userid: "alice@example.com".into(),
        groups: (0..groups)
            .map(|i| format!("{i:03}{}", "g".repeat(group_len.saturating_sub(3))))
            .collect(),
        sub: "CgVhbGljZRIFbG9jYWw".into(),
        sid: "sid-123".into(),
        issued_at: NOW,
        expires_at: NOW + 86_400,
        refresh_token: Some("refresh".into()),
        id_token: Some("eyJ.id.token".into()),
        tokens_expire_at: NOW + 300,
        idp_sid: None,
        validated_at: 0,
        grants: Default::default(),
        forward_token: None,
    }
}

fn write(s: &Session) -> Vec<(String, String)> {
    session_cookies(s, &K1, BASE, ISSUER, &nonce()).unwrap()
}

fn borrowed(cookies: &[(String, String)]) -> Vec<(&str, &str)> {
    cookies
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

fn read(cookies: &[(String, String)]) -> Result<Session, SessionError> {
    read_session(&borrowed(cookies), &[K1], BASE, ISSUER, NOW)
}

#[test]
fn small_session_is_one_cookie() {
    let s = session(3, 10);
    let cookies = write(&s);
    assert_eq!(cookies.len(), 1);
    assert_eq!(cookies[0].0, BASE);
    assert!(cookies[0].1.starts_with("v1."));
    assert_eq!(cookies[0].1.matches('.').count(), 1);
    assert_eq!(read(&cookies).unwrap(), s);
}

#[test]
fn session_json_uses_compact_names_and_omits_absent_tokens() {
    let mut s = session(1, 3);
    s.id_token = None;
    let cookies = write(&s);
    let plaintext = open(&[K1], &session_ctx(), &cookies[0].1).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&plaintext).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(keys, ["ea", "g", "i", "ia", "rt", "s", "te", "u", "va"]);
    assert_eq!(read(&cookies).unwrap().id_token, None);
}

#[test]
fn large_session_is_chunked_and_reassembled() {
    let s = session(30, 200);
    let cookies = write(&s);
    assert!(cookies.len() > 1 && cookies.len() <= MAX_SESSION_CHUNKS);
    let names: Vec<&str> = cookies.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, session_cookie_names(BASE)[..cookies.len()]);
    assert!(cookies[0].1.starts_with(&format!("v1.{}.", cookies.len())));
    assert!(cookies
        .iter()
        .all(|(_, v)| v.len() <= MAX_COOKIE_VALUE_BYTES));
    assert_eq!(read(&cookies).unwrap(), s);
    // The order of the cookies in the request does not matter; their names do.
    let mut reversed = cookies.clone();
    reversed.reverse();
    assert_eq!(read(&reversed).unwrap(), s);
}

#[test]
fn chunk_boundaries_round_trip() {
    let mut s = session(0, 0);
    s.id_token = None;
    s.refresh_token = None;
    s.userid.clear();
    let empty_len = serde_json::to_vec(&s).unwrap().len();
    // Userid lengths whose sealed value lands just below and above each chunk limit.
    let limits = [4000, 2 * 4000 - 5, 3 * 4000 - 5, 4 * 4000 - 5];
    for limit in limits {
        let around = (0..20_000).filter(|&k| sealed_len(empty_len + k).abs_diff(limit + 3) <= 8);
        for k in around {
            s.userid = "u".repeat(k);
            let len = sealed_len(empty_len + k);
            match session_cookies(&s, &K1, BASE, ISSUER, &nonce()) {
                Ok(cookies) => {
                    assert_eq!(Some(cookies.len()), chunk_count(len));
                    assert!(cookies
                        .iter()
                        .all(|(_, v)| v.len() <= MAX_COOKIE_VALUE_BYTES));
                    assert_eq!(read(&cookies).unwrap(), s, "sealed length {len}");
                }
                Err(SessionTooLarge) => assert!(len - 3 > limits[3], "{len}"),
            }
        }
    }
    assert_eq!(chunk_count(4000), Some(1));
    assert_eq!(chunk_count(4001), Some(2));
    assert_eq!(chunk_count(3 + 7995), Some(2));
    assert_eq!(chunk_count(3 + 7996), Some(3));
    assert_eq!(chunk_count(3 + 15995), Some(4));
    assert_eq!(chunk_count(3 + 15996), None);
}

#[test]
fn tampered_chunks_are_rejected() {
    let cookies = write(&session(30, 200));
    let n = cookies.len();
    assert!(n >= 3, "the test needs at least three chunks");
    let mut cases: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for i in 0..n {
        let mut missing = cookies.clone();
        missing.remove(i);
        cases.push((format!("chunk {i} missing"), missing));
        let mut duplicated = cookies.clone();
        duplicated.push(cookies[i].clone());
        cases.push((format!("chunk {i} twice"), duplicated));
        let mut flipped = cookies.clone();
        let value = &mut flipped[i].1;
        let at = value.len() - 10;
        let c = if &value[at..at + 1] == "A" { "B" } else { "A" };
        value.replace_range(at..at + 1, c);
        cases.push((format!("chunk {i} altered"), flipped));
        let mut cut = cookies.clone();
        let cut_len = cut[i].1.len() - 4;
        cut[i].1.truncate(cut_len);
        cases.push((format!("chunk {i} truncated"), cut));
    }
    let mut swapped = cookies.clone();
    let (a, b) = (swapped[1].1.clone(), swapped[2].1.clone());
    swapped[1].1 = b;
    swapped[2].1 = a;
    cases.push(("chunks 1 and 2 swapped".into(), swapped));
    let mut extra = cookies.clone();
    extra.push((chunk_name(BASE, n), "AAAA".into()));
    cases.push(("extra chunk past the count".into(), extra));
    for count in ["1", "3", "5", "9", "0", "33", "x", ""] {
        let mut recounted = cookies.clone();
        recounted[0].1 = recounted[0]
            .1
            .replacen(&format!("v1.{n}."), &format!("v1.{count}."), 1);
        if count != n.to_string() {
            cases.push((format!("count {count:?}"), recounted));
        }
    }
    let mut unframed = cookies.clone();
    unframed[0].1 = unframed[0].1.replacen(&format!("v1.{n}."), "v1.", 1);
    cases.push(("count removed".into(), unframed));
    let mut oversized = cookies.clone();
    oversized[1].1.push('A');
    oversized[1].1.push_str(&"A".repeat(MAX_COOKIE_VALUE_BYTES));
    cases.push(("chunk over the size limit".into(), oversized));
    for (label, case) in cases {
        assert_eq!(read(&case), Err(SessionError::Invalid), "{label}");
    }
}

#[test]
fn chunks_moved_to_another_base_name_fail() {
    let cookies = write(&session(30, 200));
    let moved: Vec<(String, String)> = cookies
        .iter()
        .map(|(n, v)| (n.replacen(BASE, "other", 1), v.clone()))
        .collect();
    let moved = borrowed(&moved);
    assert_eq!(
        read_session(&moved, &[K1], "other", ISSUER, NOW),
        Err(SessionError::Invalid)
    );
    assert_eq!(
        read_session(&moved, &[K1], BASE, ISSUER, NOW),
        Err(SessionError::Absent)
    );
}

#[test]
fn stale_chunk_next_to_a_single_cookie_fails() {
    let mut cookies = write(&session(1, 3));
    cookies.push((format!("{BASE}_1"), "AAAA".into()));
    assert_eq!(read(&cookies), Err(SessionError::Invalid));
}

#[test]
fn over_the_cap_drops_the_id_token_then_the_refresh_token() {
    let mut s = session(30, 200);
    s.id_token = Some("i".repeat(8_000));
    let kept = read(&write(&s)).unwrap();
    assert_eq!(kept.id_token, None);
    assert_eq!(kept.refresh_token, s.refresh_token);
    assert_eq!(kept.groups, s.groups);

    s.refresh_token = Some("r".repeat(8_000));
    let kept = read(&write(&s)).unwrap();
    assert_eq!((kept.id_token, kept.refresh_token), (None, None));
    assert_eq!(kept.userid, s.userid);

    s.id_token = Some("i".repeat(100));
    let kept = read(&write(&s)).unwrap();
    assert_eq!(
        kept.refresh_token, None,
        "the id token alone was not enough"
    );
}

#[test]
fn session_too_large_even_without_tokens_fails() {
    let s = session(100, 200);
    assert_eq!(
        session_cookies(&s, &K1, BASE, ISSUER, &nonce()),
        Err(SessionTooLarge)
    );
}

#[test]
fn absent_expired_and_foreign_cookies() {
    assert_eq!(read(&[]), Err(SessionError::Absent));
    let foreign = vec![
        ("other".to_string(), "x".to_string()),
        (format!("{BASE}x"), "y".to_string()),
        (format!("{BASE}_flow_abcdefgh"), "z".to_string()),
    ];
    assert_eq!(read(&foreign), Err(SessionError::Absent));
    let s = session(1, 3);
    let cookies = write(&s);
    let at = |now| read_session(&borrowed(&cookies), &[K1], BASE, ISSUER, now);
    assert!(at(s.expires_at - 1).is_ok());
    assert_eq!(at(s.expires_at), Err(SessionError::Expired));
    assert!(s.is_expired(s.expires_at) && !s.is_expired(s.expires_at - 1));
}

#[test]
fn rotation_applies_to_session_cookies() {
    let s = session(30, 200);
    let old = write(&s);
    let at = |keys: &[[u8; 32]]| read_session(&borrowed(&old), keys, BASE, ISSUER, NOW);
    assert_eq!(at(&[K2, K1]).unwrap(), s);
    assert_eq!(at(&[K2]), Err(SessionError::Invalid));
}

#[test]
fn session_cookie_names_and_predicates() {
    assert_eq!(
        session_cookie_names("s"),
        ["s", "s_1", "s_2", "s_3"].map(String::from)
    );
    for own in ["s", "s_1", "s_3"] {
        assert!(
            is_session_cookie(own, "s") && is_own_cookie(own, "s"),
            "{own}"
        );
    }
    for foreign in [
        "s_0", "s_4", "s_01", "s_", "s1", "sx", "x_1", "S", "_s", "s_1 ",
    ] {
        assert!(!is_session_cookie(foreign, "s"), "{foreign}");
    }
    assert!(is_own_cookie("s_flow_abc", "s") && !is_session_cookie("s_flow_abc", "s"));
    assert!(!is_own_cookie("s_flowx", "s"));
}

#[test]
fn own_cookies_are_found_in_and_stripped_from_request_headers() {
    use crate::core::cookies::{parse_cookies, without_cookies};
    let s = session(30, 200);
    let cookies = write(&s);
    let mut header: Vec<u8> = b"theme=dark; lang=\xff".to_vec();
    for (name, value) in &cookies {
        header.extend_from_slice(format!("; {name}={value}").as_bytes());
    }
    header.extend_from_slice(format!("; {BASE}_flow_abcdefgh=v1.x; z=1").as_bytes());
    let parsed = parse_cookies([header.as_slice()]);
    assert_eq!(read_session(&parsed, &[K1], BASE, ISSUER, NOW).unwrap(), s);
    let upstream = without_cookies([header.as_slice()], |n| is_own_cookie(n, BASE));
    assert_eq!(
        upstream.as_deref(),
        Some(b"theme=dark; lang=\xff; z=1".as_slice())
    );
}

#[test]
fn debug_output_hides_tokens() {
    let s = session(1, 3);
    let printed = format!("{s:?}");
    assert!(!printed.contains("refresh\"") && !printed.contains("eyJ"));
    assert!(printed.contains("alice@example.com"));
    let printed = format!("{:?}", login("abcdefghij", NOW + 10));
    assert!(!printed.contains("verifier-secret"));
}

// --- login state ---------------------------------------------------------------------

fn login(state: &str, expires_at: u64) -> LoginState {
    LoginState {
        state: state.into(),
        nonce: "n0nce".into(),
        code_verifier: "verifier-secret".into(),
        return_to: "/notebooks/?tab=1".into(),
        expires_at,
    }
}

fn seal_login(l: &LoginState) -> (String, String) {
    seal_login_state(l, &K1, BASE, ISSUER, &nonce()).unwrap()
}

fn open_login(
    cookies: &[(String, String)],
    state: &str,
    now: u64,
) -> Result<LoginState, LoginStateError> {
    open_login_state(&borrowed(cookies), &[K2, K1], BASE, ISSUER, state, now)
}

const STATE: &str = "Qm9vdHN0cmFwcGVkU3RhdGVWYWx1ZQ";

#[test]
fn login_state_round_trips_in_its_flow_cookie() {
    let l = login(STATE, NOW + crate::core::login::LOGIN_TTL_SECONDS);
    let cookie = seal_login(&l);
    assert_eq!(cookie.0, format!("{BASE}_flow_Qm9vdHN0"));
    assert_eq!(cookie.0, flow_cookie_name(BASE, STATE));
    assert!(is_flow_cookie(&cookie.0, BASE) && is_own_cookie(&cookie.0, BASE));
    assert_eq!(open_login(&[cookie], STATE, NOW).unwrap(), l);
}

#[test]
fn login_state_failures() {
    let l = login(STATE, NOW + 600);
    let cookie = seal_login(&l);
    let one = [cookie.clone()];
    assert_eq!(open_login(&[], STATE, NOW), Err(LoginStateError::Missing));
    assert_eq!(
        open_login(&one, "Qm9vdHN0-other-state", NOW),
        Err(LoginStateError::Invalid),
        "same 8-character prefix, different state"
    );
    assert_eq!(
        open_login(&one, "other-state", NOW),
        Err(LoginStateError::Missing)
    );
    assert_eq!(
        open_login(&one, STATE, NOW + 600),
        Err(LoginStateError::Expired)
    );
    assert_eq!(
        open_login(&[cookie.clone(), cookie.clone()], STATE, NOW),
        Err(LoginStateError::Invalid)
    );
    let mut tampered = cookie.clone();
    tampered.1 = flip_bit(&tampered.1, 30, 0);
    assert_eq!(
        open_login(&[tampered], STATE, NOW),
        Err(LoginStateError::Invalid)
    );
}

#[test]
fn login_state_and_session_cannot_stand_in_for_each_other() {
    let (_, flow_value) = seal_login(&login(STATE, NOW + 600));
    let as_session = vec![(BASE.to_string(), flow_value.clone())];
    assert_eq!(read(&as_session), Err(SessionError::Invalid));

    let session_value = write(&session(1, 3)).remove(0).1;
    let as_flow = vec![(flow_cookie_name(BASE, STATE), session_value)];
    assert_eq!(
        open_login(&as_flow, STATE, NOW),
        Err(LoginStateError::Invalid)
    );

    // A flow cookie moved under another flow's name, with the matching state, fails too.
    let other = "ZZZZZZZZ-other";
    let moved = vec![(flow_cookie_name(BASE, other), flow_value)];
    assert_eq!(
        open_login(&moved, other, NOW),
        Err(LoginStateError::Invalid)
    );
}

#[test]
fn flow_cookie_names_are_always_cookie_safe() {
    assert_eq!(flow_cookie_name("s", "ab;c=d e"), "s_flow_ab_c_d_e");
    assert_eq!(flow_cookie_name("s", "x\r\nSet"), "s_flow_x__Set");
    assert_eq!(flow_cookie_name("s", "\u{e9}abcdefg"), "s_flow___abcdef");
    assert_eq!(flow_cookie_name("s", "ab"), "s_flow_ab");
    assert_eq!(flow_cookie_name("s", ""), "s_flow_");
}

#[test]
fn login_state_with_a_huge_return_url_is_refused() {
    let mut l = login(STATE, NOW + 600);
    l.return_to = format!("/{}", "a".repeat(MAX_COOKIE_VALUE_BYTES));
    assert_eq!(
        seal_login_state(&l, &K1, BASE, ISSUER, &nonce()),
        Err(LoginStateTooLarge)
    );
}

fn flow(state: &str, expires_at: u64) -> (String, String) {
    seal_login(&login(state, expires_at))
}

fn evict(cookies: &[(String, String)]) -> Vec<String> {
    flow_cookies_to_evict(&borrowed(cookies), &[K1], BASE, ISSUER, NOW)
}

#[test]
fn few_flows_are_not_evicted() {
    let cookies = vec![flow("aaaaaaaa1", NOW + 100), flow("bbbbbbbb1", NOW + 50)];
    assert!(evict(&cookies).is_empty());
    assert!(evict(&[]).is_empty());
}

#[test]
fn oldest_flows_are_evicted_to_make_room() {
    let cookies = vec![
        flow("cccccccc", NOW + 300),
        flow("aaaaaaaa", NOW + 100),
        flow("dddddddd", NOW + 400),
        flow("bbbbbbbb", NOW + 200),
        flow("eeeeeeee", NOW + 500),
        ("session_unrelated".to_string(), "x".to_string()),
    ];
    let names = |states: &[&str]| -> Vec<String> {
        states.iter().map(|s| flow_cookie_name(BASE, s)).collect()
    };
    // Five live flows, room for four including the new one: the two oldest go.
    assert_eq!(evict(&cookies), names(&["aaaaaaaa", "bbbbbbbb"]));
}

#[test]
fn unreadable_and_expired_flows_are_evicted_first() {
    let mut garbage = flow("gggggggg", NOW + 900);
    garbage.1.push('A');
    let cookies = vec![
        flow("aaaaaaaa", NOW + 100),
        garbage,
        (flow_cookie_name(BASE, "hhhhhhhh"), "not-sealed".into()),
        flow("xxxxxxxx", NOW - 1),
        flow("bbbbbbbb", NOW + 200),
        flow("cccccccc", NOW + 300),
        flow("dddddddd", NOW + 400),
    ];
    let expected: Vec<String> = ["gggggggg", "hhhhhhhh", "xxxxxxxx", "aaaaaaaa"]
        .iter()
        .map(|s| flow_cookie_name(BASE, s))
        .collect();
    assert_eq!(evict(&cookies), expected);
}
