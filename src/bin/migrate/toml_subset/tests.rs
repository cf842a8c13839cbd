use super::*;

fn s(text: &str) -> Value {
    Value::Str(text.to_string())
}

#[test]
fn reads_strings_lists_booleans_and_integers_with_comments() {
    let text = "# top\nprovider = \"oidc\" # trailing\nskip_auth_routes = [\n  # generic\n  \"^/dex/\",\n  'GET=^/x\\.js$',\n]\n\ncookie_refresh = 0\nrelative_redirect_url = true\n";
    let settings = parse(text).expect("parses");
    assert_eq!(
        settings,
        vec![
            ("provider".to_string(), s("oidc")),
            (
                "skip_auth_routes".to_string(),
                Value::List(vec![s("^/dex/"), s("GET=^/x\\.js$")])
            ),
            ("cookie_refresh".to_string(), Value::Int(0)),
            ("relative_redirect_url".to_string(), Value::Bool(true)),
        ]
    );
}

#[test]
fn basic_strings_unescape_as_toml_says() {
    let settings = parse(r#"a = "\\.bundle\\.js$ \"q\" \u00e9""#).expect("parses");
    assert_eq!(settings[0].1, s("\\.bundle\\.js$ \"q\" é"));
    assert_eq!(parse("a = \"\"").expect("parses")[0].1, s(""));
}

#[test]
fn refuses_what_it_does_not_read_with_the_line() {
    for (text, expected) in [
        ("a = 1\n[section]\n", "line 2: tables"),
        ("a = \"\"\"x\"\"\"", "multi-line"),
        ("a = \"open\n", "line 1: unterminated"),
        ("a = 1.5", "not a string, boolean or integer"),
        ("a = [\"x\" \"y\"]", "expected ',' or ']'"),
        ("a \"x\"", "expected '='"),
        ("a = \"x\" b", "end of the line"),
    ] {
        let error = parse(text).expect_err(text);
        assert!(error.contains(expected), "{text:?}: {error}");
    }
}
