use super::*;

fn same(key: &'static str, value: &str) -> Translation {
    Translation::Same((key, value.to_string()))
}

#[test]
fn anchored_directories_are_prefixes() {
    assert_eq!(translate("^/dex/"), same("path_prefix", "/dex"));
    assert_eq!(translate("^/assets/.*"), same("path_prefix", "/assets"));
    assert_eq!(
        translate("^/static/js/.*$"),
        same("path_prefix", "/static/js")
    );
}

#[test]
fn anchored_both_ends_is_an_exact_path() {
    assert_eq!(translate("^/healthz$"), same("path_exact", "/healthz"));
    assert_eq!(
        translate("^/robots\\.txt$"),
        same("path_exact", "/robots.txt")
    );
}

#[test]
fn an_open_segment_end_becomes_a_glob_that_also_covers_what_follows() {
    // `^/ml_metadata` matches /ml_metadata.MetadataStoreService/GetArtifacts too.
    assert_eq!(
        translate("^/ml_metadata"),
        same("path_glob", "/ml_metadata*/**")
    );
    assert_eq!(translate("^/favicon"), same("path_glob", "/favicon*/**"));
}

#[test]
fn unanchored_regexes_match_anywhere_in_the_path() {
    assert_eq!(
        translate("\\.bundle\\.js$"),
        same("path_glob", "/**/*.bundle.js")
    );
    assert_eq!(translate("/api/"), same("path_glob", "/**/api/**"));
    assert_eq!(
        translate("^/static/[^/]*\\.css$"),
        same("path_glob", "/static/*.css")
    );
    assert_eq!(translate("^/a/.*/b$"), same("path_glob", "/a/**/b"));
}

#[test]
fn near_misses_are_suggested_with_the_difference() {
    let Translation::Close(key, why) = translate("^/favicon.ico$") else {
        panic!("expected a close translation");
    };
    assert_eq!(key, ("path_exact", "/favicon.ico".to_string()));
    assert!(why.contains("unescaped '.'"), "{why}");
    let Translation::Close(key, why) = translate("^/static/.+\\.js$") else {
        panic!("expected a close translation");
    };
    assert_eq!(key, ("path_glob", "/static/*.js".to_string()));
    assert!(
        why.contains("crosses '/'") && why.contains("at least one"),
        "{why}"
    );
}

#[test]
fn regexes_without_a_path_pattern_are_refused_with_the_reason() {
    for (regex, expected) in [
        ("^/(api|apis)/", "\"(\""),
        ("^/v[0-9]+/", "[0-9]"),
        ("^/a?b", "\"?\""),
        ("\\d+", "\\\\d"),
        ("^api", "anchored"),
        (".*", "every path"),
        ("^/", "every path"),
        ("", "every path"),
    ] {
        let Translation::No(why) = translate(regex) else {
            panic!("{regex:?} should not translate");
        };
        assert!(why.contains(expected), "{regex:?}: {why}");
    }
}
