//! Our ES256 verifier against RustCrypto `p256` (the reference), and the edge cases of the
//! arithmetic that random inputs would practically never reach.

use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::PrimeField;
use p256::{Scalar, U256};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use super::field::{add_in_place, less_than, subtract_in_place, to_be_bytes, Limbs, N, P};
use super::P256VerifyingKey;

fn ours(key: &VerifyingKey) -> P256VerifyingKey {
    let point = key.to_encoded_point(false);
    P256VerifyingKey::from_coordinates(point.x().unwrap(), point.y().unwrap()).unwrap()
}

fn reference_accepts(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    Signature::from_slice(signature).is_ok_and(|signature| key.verify(message, &signature).is_ok())
}

/// A signing key with the given private scalar.
fn signing_key(scalar: &Scalar) -> SigningKey {
    SigningKey::from_bytes(&scalar.to_repr()).unwrap()
}

/// Flips one random bit, or replaces r or s with a value at or around the edges of 1..n-1.
fn corrupt(signature: &[u8; 64], rng: &mut StdRng) -> [u8; 64] {
    let mut bad = *signature;
    let n = to_be_bytes(&N.limbs);
    let half = 32 * rng.gen_range(0..2usize);
    match rng.gen_range(0..5) {
        0 => bad[half..half + 32].copy_from_slice(&[0; 32]),
        1 => bad[half..half + 32].copy_from_slice(&n),
        2 => bad[half..half + 32].copy_from_slice(&[0xff; 32]),
        // s → n - s is still a valid signature (ECDSA verification has no low-s rule).
        3 => {
            let s: [u8; 32] = signature[32..].try_into().unwrap();
            let s = Scalar::from_repr(s.into()).unwrap();
            bad[32..].copy_from_slice(&(-s).to_repr());
        }
        _ => bad[rng.gen_range(0..64)] ^= 1 << rng.gen_range(0..8),
    }
    bad
}

#[test]
fn agrees_with_p256_on_random_keys_messages_and_corrupted_signatures() {
    let mut rng = StdRng::seed_from_u64(0x5eed_e256);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..64 {
        let signing = SigningKey::random(&mut rng);
        let reference = *signing.verifying_key();
        let key = ours(&reference);
        for _ in 0..24 {
            let mut message = vec![0u8; rng.gen_range(0..200)];
            rng.fill_bytes(&mut message);
            let signature: Signature = signing.sign(&message);
            let good: [u8; 64] = signature.to_bytes().into();
            let bad = corrupt(&good, &mut rng);
            for candidate in [good, bad] {
                let expected = reference_accepts(&reference, &message, &candidate);
                assert_eq!(
                    key.verify(&message, &candidate),
                    expected,
                    "{candidate:02x?}"
                );
                if expected {
                    accepted += 1
                } else {
                    refused += 1
                }
            }
        }
    }
    assert!(accepted > 1536 && refused > 1000, "{accepted} / {refused}");
}

#[test]
fn agrees_with_p256_on_random_signatures_for_other_keys() {
    let mut rng = StdRng::seed_from_u64(7);
    let keys: Vec<SigningKey> = (0..8).map(|_| SigningKey::random(&mut rng)).collect();
    let ours_keys: Vec<P256VerifyingKey> = keys.iter().map(|k| ours(k.verifying_key())).collect();
    for i in 0..400 {
        let message = format!("message {i}");
        let signature: Signature = keys[i % 8].sign(message.as_bytes());
        let other = (i + 1 + i / 8 % 7) % 8;
        assert!(!ours_keys[other].verify(message.as_bytes(), &signature.to_bytes()));
        let mut random = [0u8; 64];
        rng.fill_bytes(&mut random);
        assert_eq!(
            ours_keys[other].verify(message.as_bytes(), &random),
            reference_accepts(keys[other].verifying_key(), message.as_bytes(), &random)
        );
    }
}

/// Keys whose small or extreme private scalars put equal or opposite points into one sum.
#[test]
fn keys_with_extreme_private_scalars_verify_their_signatures() {
    let mut rng = StdRng::seed_from_u64(11);
    for d in [1u64, 2, 3, 4, 5, 255, 256, 1 << 32] {
        for scalar in [Scalar::from(d), -Scalar::from(d)] {
            let signing = signing_key(&scalar);
            let key = ours(signing.verifying_key());
            for _ in 0..16 {
                let mut digest = [0u8; 32];
                rng.fill_bytes(&mut digest);
                let signature: Signature = signing.sign_prehash(&digest).unwrap();
                let bytes: [u8; 64] = signature.to_bytes().into();
                assert!(key.verify_digest(&digest, &bytes), "d = ±{d}");
                digest[0] ^= 1;
                assert!(!key.verify_digest(&digest, &bytes), "d = ±{d}");
            }
        }
    }
}

/// e = r makes u1 = u2, so with Q = G both scalars have the same comb columns and the first
/// non-zero column adds a table point to itself (the addition must double); with Q = -G the
/// two additions of every column cancel to infinity.
#[test]
fn equal_and_opposite_points_inside_the_sum() {
    let mut rng = StdRng::seed_from_u64(13);
    for _ in 0..16 {
        let k = Scalar::from(rng.gen::<u64>()) * Scalar::from(rng.gen::<u64>()) + Scalar::ONE;
        let r_point = (p256::ProjectivePoint::GENERATOR * k).to_affine();
        let r = <Scalar as Reduce<U256>>::reduce_bytes(
            &p256::elliptic_curve::point::AffineCoordinates::x(&r_point),
        );
        let digest: [u8; 32] = r.to_repr().into();
        // Q = G (d = 1): s = k⁻¹(e + r) with e = r.
        let s = k.invert().unwrap() * (r + r);
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r.to_repr());
        signature[32..].copy_from_slice(&s.to_repr());
        let g = ours(signing_key(&Scalar::ONE).verifying_key());
        assert!(g.verify_digest(&digest, &signature));
        // Q = -G: u1·G + u2·Q = (e - r)·s⁻¹·G = infinity, which no signature may verify to.
        let minus_g = ours(signing_key(&-Scalar::ONE).verifying_key());
        assert!(!minus_g.verify_digest(&digest, &signature));
    }
}

#[test]
fn r_and_s_must_be_between_1_and_n_minus_1() {
    let signing = SigningKey::random(&mut StdRng::seed_from_u64(17));
    let key = ours(signing.verifying_key());
    let signature: Signature = signing.sign(b"m");
    let good: [u8; 64] = signature.to_bytes().into();
    assert!(key.verify(b"m", &good));
    let n = to_be_bytes(&N.limbs);
    for half in [0, 32] {
        for value in [[0u8; 32], n, [0xff; 32]] {
            let mut bad = good;
            bad[half..half + 32].copy_from_slice(&value);
            assert!(!key.verify(b"m", &bad));
        }
    }
    assert!(!key.verify(b"m", &good[..63]));
    assert!(!key.verify(b"m", &[good.as_slice(), &[0]].concat()));
}

/// The curve point with the first x, stepping by one from `x` up or down, that has one.
fn point_from(mut x: Limbs, up: bool) -> (Limbs, VerifyingKey) {
    let one = [1, 0, 0, 0, 0, 0, 0, 0];
    loop {
        let encoded = [&[0x02u8][..], &to_be_bytes(&x)].concat();
        if let Ok(key) = VerifyingKey::from_sec1_bytes(&encoded) {
            return (x, key);
        }
        if up {
            add_in_place(&mut x, &one);
        } else {
            subtract_in_place(&mut x, &one);
        }
    }
}

/// The signature (r, r) of the digest 0 under the key R itself: u1 = 0 and u2 = r·r⁻¹ = 1, so
/// the sum is R, whatever x(R) is. This reaches x values that random signatures never do.
fn nonce_free(r: &Limbs) -> [u8; 64] {
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&to_be_bytes(r));
    signature[32..].copy_from_slice(&to_be_bytes(r));
    signature
}

/// When x(R) ≥ n, r is x(R) - n (about 2^-128 of signatures): the check must try r + n.
#[test]
fn x_coordinates_above_n_match_r_plus_n() {
    let mut below_p = P.limbs;
    subtract_in_place(&mut below_p, &[1, 0, 0, 0, 0, 0, 0, 0]);
    let (x, point) = point_from(below_p, false);
    assert!(!less_than(&x, &N.limbs));
    let mut r = x;
    subtract_in_place(&mut r, &N.limbs);
    let key = ours(&point);
    let signature = nonce_free(&r);
    assert!(key.verify_digest(&[0; 32], &signature));
    // A digest of n is 0 mod n too.
    assert!(key.verify_digest(&to_be_bytes(&N.limbs), &signature));
    let mut other = r;
    add_in_place(&mut other, &[1, 0, 0, 0, 0, 0, 0, 0]);
    assert!(!key.verify_digest(&[0; 32], &nonce_free(&other)));
}

/// r + n and s + n reduce to the same scalars but are not valid encodings; neither are keys
/// with a coordinate at or above p.
#[test]
fn values_at_or_above_their_modulus_are_refused() {
    let (x, point) = point_from([1, 0, 0, 0, 0, 0, 0, 0], true);
    let key = ours(&point);
    let signature = nonce_free(&x);
    assert!(key.verify_digest(&[0; 32], &signature));
    for half in [0, 32] {
        let mut shifted = x;
        assert!(!add_in_place(&mut shifted, &N.limbs));
        let mut bad = signature;
        bad[half..half + 32].copy_from_slice(&to_be_bytes(&shifted));
        assert!(!key.verify_digest(&[0; 32], &bad));
    }
    let encoded = point.to_encoded_point(false);
    let y = encoded.y().unwrap();
    let mut x_plus_p = x;
    assert!(!add_in_place(&mut x_plus_p, &P.limbs));
    assert!(P256VerifyingKey::from_coordinates(&to_be_bytes(&x_plus_p), y).is_none());
    assert!(P256VerifyingKey::from_coordinates(&to_be_bytes(&x), y).is_some());
}

#[test]
fn keys_must_be_points_on_the_curve() {
    let signing = SigningKey::random(&mut StdRng::seed_from_u64(19));
    let point = signing.verifying_key().to_encoded_point(false);
    let (x, y) = (point.x().unwrap().to_vec(), point.y().unwrap().to_vec());
    assert!(P256VerifyingKey::from_coordinates(&x, &y).is_some());
    let mut off = y.clone();
    off[31] ^= 1;
    assert!(P256VerifyingKey::from_coordinates(&x, &off).is_none());
    assert!(P256VerifyingKey::from_coordinates(&x, &y[1..]).is_none());
    assert!(P256VerifyingKey::from_coordinates(&[0; 32], &[0; 32]).is_none());
    assert!(P256VerifyingKey::from_coordinates(&to_be_bytes(&P.limbs), &y).is_none());
}
