use super::*;
use crate::core::identity::IdentityError;
use crate::core::jwt::JwtError;
use crate::core::login::{CallbackError, TokenError};

/// Every `JwtError`; the match fails to compile when a variant is added and not listed here.
fn every_jwt_error() -> Vec<JwtError> {
    use JwtError::*;
    let all = vec![
        TooLarge,
        Jwe,
        Malformed,
        BadBase64,
        HeaderNotJson,
        PayloadNotJson,
        DuplicateMember,
        EmptySignature,
        MissingAlg,
        AlgNotString,
        AlgNone,
        SymmetricAlg,
        UnsupportedAlg,
        EmbeddedKey,
        UnsupportedCrit,
        NestedToken,
        WrongType,
        BadKid,
        UnknownKid,
        NoKeyForAlg,
        AmbiguousKey,
        KeyAlgMismatch,
        BadSignature,
        MissingIssuer,
        WrongIssuer,
        MissingAudience,
        WrongAudience,
        AzpRequired,
        WrongAzp,
        MissingExp,
        Expired,
        NotYetValid,
        IssuedInFuture,
        MissingIat,
        MissingSub,
        InvalidSub,
        WrongClaimType("x"),
        InvalidNumericDate("x"),
    ];
    for e in &all {
        match e {
            TooLarge
            | Jwe
            | Malformed
            | BadBase64
            | HeaderNotJson
            | PayloadNotJson
            | DuplicateMember
            | EmptySignature
            | MissingAlg
            | AlgNotString
            | AlgNone
            | SymmetricAlg
            | UnsupportedAlg
            | EmbeddedKey
            | UnsupportedCrit
            | NestedToken
            | WrongType
            | BadKid
            | UnknownKid
            | NoKeyForAlg
            | AmbiguousKey
            | KeyAlgMismatch
            | BadSignature
            | MissingIssuer
            | WrongIssuer
            | MissingAudience
            | WrongAudience
            | AzpRequired
            | WrongAzp
            | MissingExp
            | Expired
            | NotYetValid
            | IssuedInFuture
            | MissingIat
            | MissingSub
            | InvalidSub
            | WrongClaimType(_)
            | InvalidNumericDate(_) => {}
        }
    }
    all
}

fn every_token_error() -> Vec<TokenError> {
    use TokenError::*;
    let all = vec![
        Status(String::new()),
        TooLarge,
        NotJson,
        Refused(String::new()),
        BadTokenType,
        MissingAccessToken,
        MissingIdToken,
        IdToken(JwtError::Expired),
        NonceMismatch,
        AtHashMismatch,
        IssuedTooLongAgo,
        UserinfoSubjectMismatch,
    ];
    for e in &all {
        match e {
            Status(_)
            | TooLarge
            | NotJson
            | Refused(_)
            | BadTokenType
            | MissingAccessToken
            | MissingIdToken
            | IdToken(_)
            | NonceMismatch
            | AtHashMismatch
            | IssuedTooLongAgo
            | UserinfoSubjectMismatch => {}
        }
    }
    all
}

fn listed(reason: &str) -> bool {
    all().any(|(label, _)| label == reason)
}

#[test]
fn every_token_error_is_listed_among_token_reasons() {
    for e in every_jwt_error() {
        assert!(TOKEN.iter().any(|(l, _)| *l == e.reason()), "{e:?}");
    }
    assert_eq!(TOKEN.len(), every_jwt_error().len());
}

#[test]
fn every_error_the_flows_refuse_with_is_listed() {
    use CallbackError::*;
    let callback = [
        MissingState,
        MissingCode,
        DuplicateParameter,
        StateMismatch,
        Expired,
    ]
    .into_iter()
    .chain([IssuerMismatch]);
    for e in callback {
        assert!(listed(e.reason()), "{e:?}");
    }
    for e in every_token_error() {
        assert!(listed(e.reason()), "{e:?}");
    }
    use IdentityError::*;
    for e in [MissingUserid, GroupsNotAList, NotInAllowedGroups] {
        assert!(listed(e.reason()), "{e:?}");
    }
}

#[test]
fn reasons_are_distinct_labels_with_header_safe_texts() {
    let labels: Vec<&str> = all().map(|(label, _)| label).collect();
    for (i, label) in labels.iter().enumerate() {
        assert!(!labels[..i].contains(label), "{label} twice");
        assert!(label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    }
    for (label, text) in all() {
        let safe = |c: char| (' '..='~').contains(&c) && c != '"' && c != '\\';
        assert!(
            !text.is_empty() && text.chars().all(safe),
            "{label}: {text}"
        );
    }
}

#[test]
fn description_is_the_reasons_fixed_text() {
    assert_eq!(description("expired"), "the token has expired");
    assert_eq!(description("not a reason"), "the request was refused");
}

#[test]
fn troubleshooting_guide_explains_every_reason() {
    let guide = include_str!("../../../docs/troubleshooting.md");
    for (label, _) in all() {
        assert!(
            guide.contains(&format!("`{label}`")),
            "docs/troubleshooting.md lacks {label}"
        );
    }
}
