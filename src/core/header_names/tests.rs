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
