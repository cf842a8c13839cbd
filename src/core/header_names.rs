//! Header names as the servers behind the proxy read them.
//!
//! Envoy forwards `kubeflow_userid` (underscores are allowed by default, and Istio gateways
//! run so) next to `kubeflow-userid`, and many upstreams fold the two into one name: CGI and
//! WSGI (PEP 3333; Flask, Django, Rack likewise) read a header as `HTTP_` + its name in upper
//! case with `-` turned into `_`, and lighttpd turns every byte that is not a letter or a digit
//! into `_`. A client-sent variant of an identity header would then arrive as, or next to, the
//! identity the filter sets. So a name folds to another when the two agree under the widest of
//! these readings: ASCII letters without case, digits as they are, and every other byte the
//! same separator.

/// True when an upstream may read header `name` as header `identity` (see the module docs).
pub fn folds_to(name: &str, identity: &str) -> bool {
    name.len() == identity.len()
        && name
            .bytes()
            .zip(identity.bytes())
            .all(|(a, b)| fold(a) == fold(b))
}

/// One byte as the folding readers see it: upper case for letters, `_` for any separator.
fn fold(byte: u8) -> u8 {
    if byte.is_ascii_alphanumeric() {
        byte.to_ascii_uppercase()
    } else {
        b'_'
    }
}

/// A name the filter can set and every upstream reads the same way: lower-case ASCII letters
/// and digits in words joined by single `-` (no `_`, which nginx and recent WSGI servers drop,
/// and no other separator, which CGI servers fold).
pub fn is_unambiguous(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_an_upstream_reads_as_the_identity_fold_to_it() {
        for name in [
            "kubeflow-userid",
            "Kubeflow-Userid",
            "KUBEFLOW-USERID",
            "kubeflow_userid",
            "Kubeflow_UserID",
            "KUBEFLOW_USERID",
            "kUbEfLoW_uSeRiD",
            "kubeflow.userid",
            "kubeflow~userid",
            "kubeflow|userid",
            "kubeflow'userid",
        ] {
            assert!(folds_to(name, "kubeflow-userid"), "{name}");
        }
        for name in ["kubeflow_groups", "Kubeflow_Groups", "KUBEFLOW-GROUPS"] {
            assert!(folds_to(name, "kubeflow-groups"), "{name}");
        }
        assert!(folds_to("x_user_2", "x-user-2"));
    }

    #[test]
    fn other_names_do_not_fold_to_the_identity() {
        for name in [
            "kubeflow-userid2",
            "xkubeflow-userid",
            "kubeflow-userid-",
            "-kubeflow-userid",
            "_kubeflow_userid",
            "kubeflow--userid",
            "kubeflowuserid",
            "kubeflow-user-id",
            "http-kubeflow-userid",
            "http_kubeflow_userid",
            "kubeflow-groups",
            "kubeflow-useri",
            "",
        ] {
            assert!(!folds_to(name, "kubeflow-userid"), "{name}");
        }
        // Letters and digits are never separators.
        assert!(!folds_to("x-user-2", "x-user-z"));
        assert!(!folds_to("x0user", "x-user"));
    }

    #[test]
    fn non_ascii_bytes_fold_as_separators_never_as_letters() {
        // 'ſ' (U+017F) upper-cases to 'S' in Unicode: it must not match an ASCII 's'.
        assert!(!folds_to("ſ", "s"));
        assert!(!folds_to("kubeflow-uſerid", "kubeflow-userid"));
        // A two-byte character stands for two separators.
        assert!(folds_to("a\u{e9}b", "a--b"));
    }

    #[test]
    fn unambiguous_names_are_lower_case_words_joined_by_single_dashes() {
        for ok in [
            "kubeflow-userid",
            "x-user",
            "x-goog-authenticated-user-email",
            "u2",
        ] {
            assert!(is_unambiguous(ok), "{ok}");
        }
        for bad in [
            "",
            "kubeflow_userid",
            "Kubeflow-Userid",
            "kubeflow.userid",
            "-x",
            "x-",
            "x--y",
            "x y",
            "x~y",
            "\u{e9}",
        ] {
            assert!(!is_unambiguous(bad), "{bad}");
        }
    }
}
