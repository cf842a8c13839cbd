//! A whole request decision: the host's serialized header map read into a `Request`, decided
//! with the fixed configuration, keys and clock. Deciding again from the warm caches must give
//! the same answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::core::decide::{decide, Decision, OnUnknownKid, Request};
use oidc_gate::core::header_map::Pairs;
use oidc_gate::core::revocation::NoneRevoked;
use oidc_gate_fuzz::{config, verifier, NOW};

fuzz_target!(|data: &[u8]| {
    let request = Request::from_headers(Pairs::new(data));
    let config = config();
    let mut verifier = verifier();
    let first = decide(
        &config,
        &request,
        &mut verifier,
        &NoneRevoked,
        NOW,
        OnUnknownKid::AwaitRefetch,
    );
    let again = decide(
        &config,
        &request,
        &mut verifier,
        &NoneRevoked,
        NOW,
        OnUnknownKid::AwaitRefetch,
    );
    assert_eq!(first, again, "the caches changed the decision");
    if let Decision::Allow {
        identity: Some(identity),
        ..
    } = &first
    {
        assert!(!identity.userid.is_empty());
    }
    let _ = decide(
        &config,
        &request,
        &mut verifier,
        &NoneRevoked,
        NOW,
        OnUnknownKid::Refuse,
    );
});
