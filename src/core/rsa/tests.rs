use std::sync::OnceLock;

use super::*;
use ::rsa::traits::PublicKeyParts;
use ::rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::{OsRng, StdRng};
use rand::{Rng, RngCore, SeedableRng};

const ALL: [RsaAlg; 6] = [
    RsaAlg::RS256,
    RsaAlg::RS384,
    RsaAlg::RS512,
    RsaAlg::PS256,
    RsaAlg::PS384,
    RsaAlg::PS512,
];

/// Keys made by RustCrypto `rsa`, once per test binary: 2048 bits (the usual), 2049 (the PSS
/// encoding is a byte shorter than the signature), 2052 (five unused top bits in PSS) and
/// 3072. 4096 comes from OpenSSL's vectors in `bench/rsa/vector.json`.
fn keys() -> &'static [(RsaPrivateKey, RsaVerifyingKey)] {
    static KEYS: OnceLock<Vec<(RsaPrivateKey, RsaVerifyingKey)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [2048, 2049, 2052, 3072]
            .into_iter()
            .map(|bits| {
                let private = RsaPrivateKey::new(&mut OsRng, bits).unwrap();
                let ours = ours(&private.to_public_key());
                assert_eq!(ours.modulus_bits(), bits);
                (private, ours)
            })
            .collect()
    })
}

fn ours(public: &RsaPublicKey) -> RsaVerifyingKey {
    RsaVerifyingKey::from_components(&public.n().to_bytes_be(), &public.e().to_bytes_be()).unwrap()
}

/// Signs with RustCrypto `rsa`; PSS with a random salt of `salt_len` bytes (default hLen).
fn sign(key: &RsaPrivateKey, alg: RsaAlg, message: &[u8], salt_len: Option<usize>) -> Vec<u8> {
    let hash = alg.hash.digest(&[message]);
    let salt = salt_len.unwrap_or(alg.hash.output_len());
    let result = match (alg.padding, alg.hash) {
        (Padding::Pkcs1v15, HashAlg::Sha256) => key.sign(Pkcs1v15Sign::new::<Sha256>(), &hash),
        (Padding::Pkcs1v15, HashAlg::Sha384) => key.sign(Pkcs1v15Sign::new::<Sha384>(), &hash),
        (Padding::Pkcs1v15, HashAlg::Sha512) => key.sign(Pkcs1v15Sign::new::<Sha512>(), &hash),
        (Padding::Pss, HashAlg::Sha256) => {
            key.sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha256>(salt), &hash)
        }
        (Padding::Pss, HashAlg::Sha384) => {
            key.sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha384>(salt), &hash)
        }
        (Padding::Pss, HashAlg::Sha512) => {
            key.sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha512>(salt), &hash)
        }
    };
    result.unwrap()
}

/// RustCrypto `rsa`'s verdict, for comparison (its PSS insists on salt length = hLen).
fn reference_verify(key: &RsaPrivateKey, alg: RsaAlg, message: &[u8], sig: &[u8]) -> bool {
    let public = key.to_public_key();
    let hash = alg.hash.digest(&[message]);
    let result = match (alg.padding, alg.hash) {
        (Padding::Pkcs1v15, HashAlg::Sha256) => {
            public.verify(Pkcs1v15Sign::new::<Sha256>(), &hash, sig)
        }
        (Padding::Pkcs1v15, HashAlg::Sha384) => {
            public.verify(Pkcs1v15Sign::new::<Sha384>(), &hash, sig)
        }
        (Padding::Pkcs1v15, HashAlg::Sha512) => {
            public.verify(Pkcs1v15Sign::new::<Sha512>(), &hash, sig)
        }
        (Padding::Pss, HashAlg::Sha256) => public.verify(Pss::new::<Sha256>(), &hash, sig),
        (Padding::Pss, HashAlg::Sha384) => public.verify(Pss::new::<Sha384>(), &hash, sig),
        (Padding::Pss, HashAlg::Sha512) => public.verify(Pss::new::<Sha512>(), &hash, sig),
    };
    result.is_ok()
}

fn random_message(rng: &mut StdRng) -> Vec<u8> {
    let mut message = vec![0u8; rng.gen_range(0..700)];
    rng.fill_bytes(&mut message);
    message
}

#[test]
fn verifies_what_rustcrypto_signs_and_nothing_else() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0101);
    for (private, key) in keys() {
        for alg in ALL {
            for _ in 0..3 {
                let message = random_message(&mut rng);
                let signature = sign(private, alg, &message, None);
                assert!(alg.verify(key, &message, &signature), "{}", alg.name());
                let mut other = message.clone();
                other.push(0);
                assert!(!alg.verify(key, &other, &signature), "{}", alg.name());
                // The same signature under every other algorithm is wrong.
                for wrong in ALL.into_iter().filter(|&wrong| wrong != alg) {
                    assert!(!wrong.verify(key, &message, &signature), "{}", wrong.name());
                }
            }
        }
    }
}

#[test]
fn another_key_does_not_verify() {
    let [(private, _), (_, other), ..] = keys() else {
        unreachable!()
    };
    for alg in ALL {
        let signature = sign(private, alg, b"m", None);
        assert!(!alg.verify(other, b"m", &signature), "{}", alg.name());
    }
}

#[test]
fn verifies_openssl_signatures() {
    let vector: serde_json::Value =
        serde_json::from_str(include_str!("../../../bench/rsa/vector.json")).unwrap();
    let decode =
        |value: &serde_json::Value| URL_SAFE_NO_PAD.decode(value.as_str().unwrap()).unwrap();
    let message = vector["signing_input"].as_str().unwrap().as_bytes();
    for (name, bits) in [("rsa2048", 2048), ("rsa4096", 4096)] {
        let entry = &vector[name];
        let key =
            RsaVerifyingKey::from_components(&decode(&entry["n"]), &decode(&entry["e"])).unwrap();
        assert_eq!(key.modulus_bits(), bits);
        let (rs256, ps256) = (decode(&entry["rs256"]), decode(&entry["ps256"]));
        assert!(RsaAlg::RS256.verify(&key, message, &rs256));
        assert!(RsaAlg::PS256.verify(&key, message, &ps256));
        assert!(!RsaAlg::RS256.verify(&key, &message[1..], &rs256));
        assert!(!RsaAlg::PS256.verify(&key, &message[1..], &ps256));
        assert!(!RsaAlg::PS256.verify(&key, message, &rs256));
        assert!(!RsaAlg::RS256.verify(&key, message, &ps256));
    }
}

/// RFC 7518 §3.5: the salt is as long as the hash. Every other length RFC 8017 allows is
/// refused, on a 2048-bit key and on a 2049-bit one (where emLen is k - 1).
#[test]
fn pss_accepts_only_the_hash_length_as_salt_length() {
    for (private, key) in &keys()[..2] {
        for alg in [RsaAlg::PS256, RsaAlg::PS384, RsaAlg::PS512] {
            let h_len = alg.hash.output_len();
            let em_len = (key.modulus_bits() - 1).div_ceil(8);
            let max = em_len - h_len - 2;
            for salt_len in [0, 1, 20, h_len - 1, h_len, h_len + 1, max] {
                let signature = sign(private, alg, b"salty", Some(salt_len));
                let label = format!("{} {} bits salt {salt_len}", alg.name(), key.modulus_bits());
                let verified = alg.verify(key, b"salty", &signature);
                assert_eq!(verified, salt_len == h_len, "{label}");
                assert_eq!(
                    verified,
                    reference_verify(private, alg, b"salty", &signature),
                    "{label}"
                );
                assert!(!alg.verify(key, b"salt", &signature), "{label}");
            }
        }
    }
}

#[test]
fn signature_must_be_exactly_the_modulus_length() {
    for (private, key) in keys() {
        for alg in [RsaAlg::RS256, RsaAlg::PS256] {
            let signature = sign(private, alg, b"m", None);
            let mut longer = vec![0u8];
            longer.extend_from_slice(&signature);
            assert!(!alg.verify(key, b"m", &longer));
            assert!(!alg.verify(key, b"m", &signature[1..]));
            assert!(!alg.verify(key, b"m", &signature[..signature.len() - 1]));
            assert!(!alg.verify(key, b"m", &[]));
            assert!(!alg.verify(key, b"m", &[0]));
            assert!(!alg.verify(key, b"m", &vec![0u8; 2 * signature.len()]));
        }
    }
}

#[test]
fn signature_not_below_the_modulus_is_rejected() {
    // s + n ≡ s (mod n), so only the range check stops s + n from verifying.
    let mut tried = 0;
    for (private, key) in keys() {
        let n = private.n();
        let k = key.modulus.byte_len();
        for alg in [RsaAlg::RS256, RsaAlg::PS256] {
            let signature = sign(private, alg, b"m", None);
            let shifted = (BigUint::from_bytes_be(&signature) + n).to_bytes_be();
            if shifted.len() <= k {
                let padded = [vec![0u8; k - shifted.len()], shifted].concat();
                assert!(!alg.verify(key, b"m", &padded), "{}", alg.name());
                tried += 1;
            }
            let n_bytes = n.to_bytes_be();
            assert!(!alg.verify(key, b"m", &n_bytes));
            assert!(!alg.verify(key, b"m", &vec![0xff; k]));
        }
    }
    assert!(
        tried >= 4,
        "the 2049- and 2052-bit keys leave room for s + n"
    );
}

#[test]
fn trivial_signatures_are_rejected() {
    for (private, key) in keys() {
        let k = key.modulus.byte_len();
        let n_minus_one = (private.n() - 1u32).to_bytes_be();
        let one = [vec![0u8; k - 1], vec![1]].concat();
        for alg in ALL {
            for signature in [&vec![0u8; k], &one, &n_minus_one] {
                assert!(!alg.verify(key, b"m", signature), "{}", alg.name());
            }
        }
    }
}

#[test]
fn every_flipped_byte_is_rejected() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0102);
    let (private, key) = &keys()[0];
    for alg in [RsaAlg::RS256, RsaAlg::PS512] {
        let signature = sign(private, alg, b"flip", None);
        for index in 0..signature.len() {
            let mut flipped = signature.clone();
            flipped[index] ^= 1 << rng.gen_range(0..8);
            assert!(
                !alg.verify(key, b"flip", &flipped),
                "{} byte {index}",
                alg.name()
            );
        }
    }
}

/// Random mutations of real signatures and messages, compared with RustCrypto's verdict:
/// never a panic, never a disagreement.
#[test]
fn mutations_agree_with_rustcrypto() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0103);
    for (index, (private, key)) in keys().iter().enumerate().take(2) {
        for alg in ALL {
            let message = random_message(&mut rng);
            let signature = sign(private, alg, &message, None);
            for round in 0..40 {
                let (message, signature) = mutate(&mut rng, &message, &signature);
                let ours = alg.verify(key, &message, &signature);
                let theirs = reference_verify(private, alg, &message, &signature);
                assert_eq!(ours, theirs, "key {index} {} round {round}", alg.name());
            }
        }
    }
}

fn mutate(rng: &mut StdRng, message: &[u8], signature: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut message, mut signature) = (message.to_vec(), signature.to_vec());
    let k = signature.len();
    match rng.gen_range(0..9) {
        0 => signature[rng.gen_range(0..k)] ^= 1 << rng.gen_range(0..8),
        1 => signature[rng.gen_range(0..k)] = rng.gen(),
        2 => signature.truncate(rng.gen_range(0..k)),
        3 => signature.insert(rng.gen_range(0..=k), rng.gen()),
        4 => rng.fill_bytes(&mut signature),
        5 => signature[..rng.gen_range(1..k)].fill(0xff),
        6 => signature[rng.gen_range(0..k)..].fill(0),
        7 => message.push(rng.gen()),
        _ => {} // unchanged: both must accept
    }
    (message, signature)
}

#[test]
fn random_keys_and_signatures_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0104);
    for _ in 0..12 {
        let bits = rng.gen_range(MIN_MODULUS_BITS..=MAX_MODULUS_BITS);
        let mut n = vec![0u8; bits.div_ceil(8)];
        rng.fill_bytes(&mut n);
        n[0] |= 0x80 >> ((8 - bits % 8) % 8);
        n[0] &= 0xff >> ((8 - bits % 8) % 8);
        *n.last_mut().unwrap() |= 1;
        let key = RsaVerifyingKey::from_components(&n, &[1, 0, 1]).unwrap();
        assert_eq!(key.modulus_bits(), bits);
        for alg in ALL {
            let mut signature = vec![0u8; n.len()];
            rng.fill_bytes(&mut signature);
            signature[0] = 0;
            assert!(!alg.verify(&key, b"m", &signature));
        }
    }
}

#[test]
fn key_component_checks() {
    let n = keys()[0].0.n().to_bytes_be();
    let ok = |n: &[u8], e: &[u8]| RsaVerifyingKey::from_components(n, e);
    for e in [
        &[3u8][..],
        &[1, 0, 1],
        &[0, 0, 1, 0, 1],
        &[1, 0xff, 0xff, 0xff, 0xff],
    ] {
        assert!(ok(&n, e).is_ok(), "{e:?}");
    }
    let padded_n = [vec![0u8; 4], n.clone()].concat();
    assert_eq!(ok(&padded_n, &[3]).unwrap().modulus_bits(), 2048);
    for e in [
        &[][..],
        &[0],
        &[1],
        &[2],
        &[1, 0, 0],
        &[2, 0, 0, 0, 1],
        &[1; 9],
        &[0xff; 8],
    ] {
        assert_eq!(ok(&n, e).unwrap_err(), KeyError::Exponent, "{e:?}");
    }
    let mut even = n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    assert_eq!(ok(&even, &[3]).unwrap_err(), KeyError::EvenModulus);
    assert_eq!(ok(&n[1..], &[3]).unwrap_err(), KeyError::ModulusSize);
    assert_eq!(ok(&[], &[3]).unwrap_err(), KeyError::ModulusSize);
    let mut huge = vec![0xffu8; 513];
    huge[0] = 1;
    assert_eq!(ok(&huge, &[3]).unwrap_err(), KeyError::ModulusSize);
    assert_eq!(ok(&[0xff; 512], &[3]).unwrap().modulus_bits(), 4096);
    assert!(KeyError::Exponent.to_string().contains("exponent"));
}

/// `00 01 FF.. 00 t`, `len` bytes in all.
fn pkcs1_padded(t: &[u8], len: usize) -> Vec<u8> {
    let mut em = vec![0x00, 0x01];
    em.resize(len - t.len() - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(t);
    em
}

/// EMSA-PKCS1-v1_5: `00 01 FF.. 00 DigestInfo H`.
fn pkcs1_encoding(hash: HashAlg, message_hash: &[u8], len: usize) -> Vec<u8> {
    pkcs1_padded(&[hash.digest_info_prefix(), message_hash].concat(), len)
}

#[test]
fn pkcs1_encoding_is_compared_exactly() {
    let hash = HashAlg::Sha256;
    let digest = hash.digest(&[b"m"]);
    let good = pkcs1_encoding(hash, &digest, 256);
    assert!(pkcs1v15_matches(&good, hash, &digest));
    // 00 01, FF at 2..204, the 00 separator at 204, DigestInfo at 205, H at 224.
    let mut variants: Vec<Vec<u8>> = Vec::new();
    for (index, value) in [
        (0, 0x01),
        (1, 0x02),
        (1, 0x00),
        (5, 0xfe),
        (203, 0x00),
        (204, 0xff),
        (205, 0x31),
        (223, 0x21),
        (255, good[255] ^ 1),
    ] {
        let mut em = good.clone();
        em[index] = value;
        variants.push(em);
    }
    let prefix = hash.digest_info_prefix();
    // DigestInfo without the NULL parameters (the lengths adjusted to match).
    let no_null = [
        &[0x30, 0x2f, 0x30, 0x0b][..],
        &prefix[4..13],
        &[0x04, 0x20],
        &digest,
    ]
    .concat();
    variants.push(pkcs1_padded(&no_null, 256));
    // Truncated DigestInfo: its first byte dropped, the padding one byte longer.
    variants.push(pkcs1_padded(&[&prefix[1..], &digest[..]].concat(), 256));
    // The hash value alone, without DigestInfo.
    variants.push(pkcs1_padded(&digest, 256));
    // Another hash's DigestInfo and value, and a trailing byte after a shorter encoding.
    variants.push(pkcs1_encoding(
        HashAlg::Sha384,
        &HashAlg::Sha384.digest(&[b"m"]),
        256,
    ));
    let mut trailing = pkcs1_encoding(hash, &digest, 255);
    trailing.push(0x00);
    variants.push(trailing);
    for (index, em) in variants.iter().enumerate() {
        assert_eq!(em.len(), 256, "variant {index}");
        assert!(!pkcs1v15_matches(em, hash, &digest), "variant {index}");
    }
    // At least 8 bytes of FF, and room for the DigestInfo.
    let t_len = prefix.len() + digest.len();
    assert!(pkcs1v15_matches(
        &pkcs1_encoding(hash, &digest, t_len + 11),
        hash,
        &digest
    ));
    assert!(!pkcs1v15_matches(
        &pkcs1_encoding(hash, &digest, t_len + 10),
        hash,
        &digest
    ));
    for len in [0, 1, 2, t_len, t_len + 2] {
        assert!(!pkcs1v15_matches(&good[..len], hash, &digest), "{len}");
    }
}

/// EMSA-PSS-ENCODE (RFC 8017 §9.1.1), returning `k` bytes for a `modulus_bits` modulus.
fn pss_encoding(hash: HashAlg, message_hash: &[u8], salt: &[u8], modulus_bits: usize) -> Vec<u8> {
    let em_bits = modulus_bits - 1;
    let em_len = em_bits.div_ceil(8);
    let h_len = hash.output_len();
    let h = hash.digest(&[&[0u8; 8], message_hash, salt]);
    let mut db = vec![0u8; em_len - salt.len() - h_len - 2];
    db.push(0x01);
    db.extend_from_slice(salt);
    let mask = mgf1(hash, &h, db.len());
    db.iter_mut().zip(&mask).for_each(|(d, m)| *d ^= m);
    db[0] &= 0xff >> (8 * em_len - em_bits);
    let k = modulus_bits.div_ceil(8);
    [vec![0u8; k - em_len], db, h, vec![0xbc]].concat()
}

#[test]
fn pss_encoding_checks() {
    let hash = HashAlg::Sha256;
    let digest = hash.digest(&[b"m"]);
    let salt = [7u8; 32];
    for bits in [2048, 2049, 2050, 2052, 2055, 4096] {
        let good = pss_encoding(hash, &digest, &salt, bits);
        assert!(pss_matches(&good, bits, hash, &digest), "{bits}");
        let wrong_hash = hash.digest(&[b"n"]);
        assert!(!pss_matches(&good, bits, hash, &wrong_hash), "{bits}");
        let last = good.len() - 1;
        let mut variants = Vec::new();
        // Trailer byte other than 0xbc.
        let mut em = good.clone();
        em[last] = 0xbb;
        variants.push(em);
        // A bit of H, of the masked salt, and of the masked separator flipped.
        for index in [last - 1, last - 33 - 1, last - 33 - 32 - 1] {
            let mut em = good.clone();
            em[index] ^= 0x01;
            variants.push(em);
        }
        // The bits above emBits set (for 8j + 1 bits: the whole leading byte).
        let mut em = good.clone();
        em[0] |= 0x80;
        variants.push(em);
        for (index, em) in variants.iter().enumerate() {
            assert!(
                !pss_matches(em, bits, hash, &digest),
                "{bits} variant {index}"
            );
        }
        // Same encoding checked as another modulus size.
        assert!(!pss_matches(&good, bits + 8, hash, &digest), "{bits}");
    }
}

#[test]
fn pss_separator_and_padding() {
    let hash = HashAlg::Sha256;
    let digest = hash.digest(&[b"m"]);
    let bits = 2048;
    // Build DB by hand: PS must be zeros followed by 0x01; anything else is inconsistent.
    let encode_db = |db: Vec<u8>| {
        let h = hash.digest(&[&[0u8; 8], &digest, &db[db.len() - 32..]]);
        let mut masked = db;
        let mask = mgf1(hash, &h, masked.len());
        masked.iter_mut().zip(&mask).for_each(|(d, m)| *d ^= m);
        masked[0] &= 0x7f;
        [masked, h, vec![0xbc]].concat()
    };
    let db_len = 256 - 32 - 1;
    let mut db = vec![0u8; db_len - 33];
    db.push(0x01);
    db.extend_from_slice(&[9u8; 32]);
    assert!(pss_matches(&encode_db(db.clone()), bits, hash, &digest));
    let separator = db_len - 33;
    for (index, value) in [(separator, 0x02), (separator, 0x00), (separator - 1, 0x05)] {
        let mut bad = db.clone();
        bad[index] = value;
        assert!(
            !pss_matches(&encode_db(bad), bits, hash, &digest),
            "{index}"
        );
    }
    // DB all zeros (no separator at all).
    let zeros = encode_db(vec![0u8; db_len]);
    assert!(!pss_matches(&zeros, bits, hash, &digest));
    // Too short for H and the trailer, including with SHA-512 on small sizes.
    for len in [0, 1, 33, 34] {
        assert!(!pss_matches(&vec![0xbc; len], 8 * len, hash, &digest));
    }
    assert!(!pss_matches(
        &[0u8; 65],
        8 * 65,
        HashAlg::Sha512,
        &[0u8; 64]
    ));
}

#[test]
fn mgf1_known_answer() {
    // MGF1-SHA256("abc", 40) from an independent implementation (Python hashlib).
    let mask = mgf1(HashAlg::Sha256, b"abc", 40);
    let first_block = Sha256::digest([b"abc".as_slice(), &[0, 0, 0, 0]].concat());
    let second_block = Sha256::digest([b"abc".as_slice(), &[0, 0, 0, 1]].concat());
    assert_eq!(&mask[..32], &first_block[..]);
    assert_eq!(&mask[32..], &second_block[..8]);
    assert!(mgf1(HashAlg::Sha512, b"", 0).is_empty());
}

#[test]
fn works_as_a_jwt_compact_algorithm() {
    use jwt_compact::{AlgorithmExt as _, Claims, Empty, UntrustedToken};
    let (private, key) = &keys()[0];
    for alg in ALL {
        assert_eq!(Algorithm::name(&alg), alg.name());
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{}"}}"#, alg.name()));
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Claims::new(Empty {})).unwrap());
        let signing_input = format!("{header}.{claims}");
        let signature = sign(private, alg, signing_input.as_bytes(), None);
        let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&signature));
        let token = UntrustedToken::new(&token).unwrap();
        assert!(
            alg.validator::<Empty>(key).validate(&token).is_ok(),
            "{}",
            alg.name()
        );
        let parsed = RsaSignature::try_from_slice(&signature).unwrap();
        assert_eq!(parsed.as_bytes().as_ref(), signature.as_slice());
        assert!(alg.verify_signature(&parsed, key, signing_input.as_bytes()));
    }
}
