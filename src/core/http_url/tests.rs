use super::*;

fn refused(value: &str) -> String {
    match parse(value) {
        Ok(url) => panic!("{value:?} was accepted as {url:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn splits_scheme_host_port_path_query_and_fragment() {
    let url = parse("HTTPS://Idp.Example.com:8443/realms/a?x=1&y=%20#frag").unwrap();
    assert_eq!(url.scheme, "https");
    assert_eq!(url.host, "Idp.Example.com");
    assert_eq!(url.port, Some(8443));
    assert_eq!(url.path(), "/realms/a");
    assert_eq!(url.query, Some("x=1&y=%20"));
    assert_eq!(url.fragment, Some("frag"));
}

#[test]
fn a_missing_path_is_slash_and_default_ports_are_dropped() {
    let url = parse("http://idp:80").unwrap();
    assert_eq!(
        (url.path(), url.port, url.port_or_default()),
        ("/", None, 80)
    );
    let url = parse("https://idp:443?q").unwrap();
    assert_eq!((url.path(), url.port, url.query), ("/", None, Some("q")));
    assert_eq!(parse("https://idp:80/").unwrap().port, Some(80));
    assert_eq!(parse("https://idp/").unwrap().port_or_default(), 443);
}

#[test]
fn ip_literals() {
    let url = parse("http://[::1]:5556/dex").unwrap();
    assert_eq!((url.host, url.port), ("[::1]", Some(5556)));
    assert_eq!(
        parse("http://[::ffff:127.0.0.1]/").unwrap().host,
        "[::ffff:127.0.0.1]"
    );
    assert_eq!(parse("http://127.0.0.1:8080/").unwrap().host, "127.0.0.1");
    assert!(refused("http://[::1/").contains("unclosed"));
    assert!(refused("http://[::g]/").contains("IPv6"));
    assert!(refused("http://[::1]x/").contains("after the IPv6"));
    for numeric in [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://1.2.3.04/",
    ] {
        assert!(refused(numeric).contains("dotted-decimal"), "{numeric}");
    }
}

#[test]
fn ports_must_be_numbers_in_range() {
    for bad in [
        "http://idp:/",
        "http://idp:0/",
        "http://idp:65536/",
        "http://idp:8x/",
        "http://idp:+80/",
    ] {
        assert!(refused(bad).contains("port"), "{bad}");
    }
    assert_eq!(parse("http://idp:65535/").unwrap().port, Some(65535));
}

/// What a browser or the WHATWG parser would rewrite silently is refused, so the value used is
/// the value checked.
#[test]
fn refuses_what_parsers_would_rewrite() {
    let cases = [
        (" https://idp/", "space"),
        ("https://idp/ ", "space"),
        ("https://idp/a\tb", "space, tab"),
        ("https://idp/a\nb", "line break"),
        ("https://idp/\u{7f}", "control"),
        ("https://idp\\evil/", "backslash"),
        ("https:\\\\idp/", "backslash"),
        ("https://user:pw@idp/", "user name"),
        ("https://idp@evil/", "user name"),
        ("https://bücher.example/", "punycode"),
        ("https://idp/päth", "non-ASCII"),
        ("https://idp/a/../b", "'..'"),
        ("https://idp/a/%2E%2e/b", "'..'"),
        ("https://idp/./b", "'.'"),
        ("https://idp/a/..", "'..'"),
        ("https://idp/a%zz", "'%'"),
        ("https://idp/a%2", "'%'"),
        ("https://idp/a\"b", "percent-encoded"),
        ("https://idp/{x}", "percent-encoded"),
        ("https://i<p/", "percent-encoded"),
        ("https://i!dp/", "host name"),
        ("https:///path", "no host"),
        ("https://:443/", "no host"),
        ("https:idp/", "http:// or https://"),
        ("ftp://idp/", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("//idp/", "http:// or https://"),
        ("", "http:// or https://"),
    ];
    for (value, why) in cases {
        let error = refused(value);
        assert!(error.contains(why), "{value:?}: {error}");
    }
}

#[test]
fn punycode_hosts_are_kept_as_written() {
    let url = parse("https://xn--bcher-kva.example/").unwrap();
    assert_eq!(url.host, "xn--bcher-kva.example");
}

/// Where both parse, the parts are the WHATWG parser's (the `url` crate's).
#[test]
fn agrees_with_the_whatwg_parser_on_what_it_accepts() {
    for value in [
        "https://idp.example.com",
        "https://idp.example.com/",
        "http://IDP.example.com:5556/dex?x=1",
        "https://idp.example.com:443/realms/kf/protocol/openid-connect/auth",
        "http://127.0.0.1:8080/a%20b?c=%2F#f",
        "http://[2001:db8::1]:8443/x",
        "https://under_score.example/",
        "https://idp.example.com./trailing-dot",
        "https://idp/a/b;c=d/e@f:g",
        "https://idp/.well-known/openid-configuration",
    ] {
        let ours = parse(value).unwrap();
        let theirs = url::Url::parse(value).unwrap();
        assert_eq!(ours.scheme, theirs.scheme(), "{value}");
        assert_eq!(
            ours.host.to_ascii_lowercase(),
            theirs.host_str().unwrap(),
            "{value}"
        );
        assert_eq!(ours.port, theirs.port(), "{value}");
        assert_eq!(ours.path(), theirs.path(), "{value}");
        assert_eq!(ours.query, theirs.query(), "{value}");
        assert_eq!(ours.fragment, theirs.fragment(), "{value}");
    }
}
