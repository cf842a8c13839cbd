use super::*;

fn parse(headers: &[&[u8]]) -> Vec<(String, String)> {
    parse_cookies(headers.iter().copied())
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parses_pairs_in_order() {
    assert_eq!(
        parse(&[b"a=1; b=2;c=3"]),
        pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
    );
}

#[test]
fn values_keep_inner_equals_signs() {
    assert_eq!(parse(&[b"a=x=y=="]), pairs(&[("a", "x=y==")]));
}

#[test]
fn reads_every_cookie_header() {
    assert_eq!(
        parse(&[b"a=1", b"b=2; a=3"]),
        pairs(&[("a", "1"), ("b", "2"), ("a", "3")])
    );
}

#[test]
fn skips_junk_and_trims_whitespace() {
    assert_eq!(
        parse(&[b";; junk ; =novalue;  a = 1 ;\tb=\t;;c=3;", b"", b";"]),
        pairs(&[("a", "1"), ("b", ""), ("c", "3")])
    );
}

#[test]
fn skips_pairs_that_are_not_utf8_but_keeps_the_others() {
    assert_eq!(
        parse(&[b"a=\xff\xfe; b=2; \xc3=x; c=\xe2\x82"]),
        pairs(&[("b", "2")])
    );
    assert_eq!(parse(&[b"name=caf\xc3\xa9"]), pairs(&[("name", "café")]));
}

#[test]
fn parsing_never_panics_on_odd_bytes() {
    let inputs: [&[u8]; 6] = [b"", b"=", b";=;", b"\0=\0", b"\xff", b" = ; = "];
    for input in inputs {
        let _ = parse(&[input]);
        let _ = without_cookies([input], |_| true);
    }
}

fn strip_ours(headers: &[&[u8]]) -> Option<Vec<u8>> {
    without_cookies(headers.iter().copied(), |name| name.starts_with("ours"))
}

#[test]
fn any_cookie_looks_at_names_in_every_header() {
    let ours = |name: &str| name.starts_with("ours");
    assert!(any_cookie([&b"a=1"[..], b"b=2; ours_1=x"], ours));
    assert!(!any_cookie([&b"a=ours; x=\xff"[..], b"ours"], ours));
    assert!(!any_cookie([], ours));
}

#[test]
fn without_cookies_removes_only_ours() {
    assert_eq!(
        strip_ours(&[b"a=1; ours=secret; b=2; ours_1=more"]).as_deref(),
        Some(b"a=1; b=2".as_slice())
    );
}

#[test]
fn without_cookies_keeps_foreign_cookies_byte_for_byte() {
    let foreign: &[u8] = b"x=\xff\x00\"q\"; y=a=b=; noequals; z=\xe2\x82; w= spaced";
    assert_eq!(strip_ours(&[foreign]).as_deref(), Some(foreign));
    assert_eq!(
        strip_ours(&[b"ours=1; x=\xff", b"ours_flow_abc=2; y=\"1\""]).as_deref(),
        Some(b"x=\xff; y=\"1\"".as_slice())
    );
}

#[test]
fn without_cookies_joins_several_headers() {
    assert_eq!(
        strip_ours(&[b"a=1", b"ours=x", b"b=2;  ; c=3"]).as_deref(),
        Some(b"a=1; b=2; c=3".as_slice())
    );
}

#[test]
fn without_cookies_is_none_when_nothing_is_left() {
    assert_eq!(strip_ours(&[b"ours=1; ours_2=x", b" ; "]), None);
    assert_eq!(strip_ours(&[]), None);
    assert_eq!(strip_ours(&[b""]), None);
}

#[test]
fn without_cookies_matches_names_after_trimming() {
    assert_eq!(
        strip_ours(&[b"a=1;\tours =x ;b=2"]).as_deref(),
        Some(b"a=1; b=2".as_slice())
    );
}

const LAX_SECURE: CookieAttributes = CookieAttributes {
    secure: true,
    same_site: SameSite::Lax,
    http_only: true,
};

#[test]
fn set_cookie_carries_every_attribute() {
    assert_eq!(
        set_cookie("s", "v1.abc", &LAX_SECURE, 86_400),
        "s=v1.abc; Path=/; Max-Age=86400; HttpOnly; Secure; SameSite=Lax"
    );
}

#[test]
fn set_cookie_omits_attributes_that_are_off() {
    let attrs = CookieAttributes {
        secure: false,
        same_site: SameSite::Strict,
        http_only: false,
    };
    assert_eq!(
        set_cookie("s", "x", &attrs, 60),
        "s=x; Path=/; Max-Age=60; SameSite=Strict"
    );
    let none = CookieAttributes {
        same_site: SameSite::None,
        ..LAX_SECURE
    };
    assert!(set_cookie("s", "x", &none, 1).ends_with("; Secure; SameSite=None"));
}

#[test]
fn set_cookie_never_sets_a_domain() {
    assert!(!set_cookie("__Host-s", "x", &LAX_SECURE, 1).contains("Domain"));
}

#[test]
fn clear_cookie_matches_the_set_attributes() {
    assert_eq!(
        clear_cookie("s_1", &LAX_SECURE),
        "s_1=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
    );
}
