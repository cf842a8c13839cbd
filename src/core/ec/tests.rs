//! Our ES256 and ES384 verifier against RustCrypto `p256` and `p384` (the references), the
//! curve constants, and the edge cases of the arithmetic that random inputs would practically
//! never reach. One set of tests, instantiated per curve by `curve_tests!`: the two crates
//! share their API but no trait that would let a generic function drive them.

use super::field::{add_in_place, small, subtract_in_place, Limbs};
use super::point::Affine;
use super::{base_comb, double_mul, Curve, VerifyingKey};

/// G lies on the curve, n·G is infinity and (n-1)·G is -G (same x), through the comb;
/// the hash gives as many bytes as a number has.
fn check_constants<C: Curve<L>, const L: usize>() {
    assert!(Affine::<C, L>::from_coordinates(&C::G_X, &C::G_Y).is_some());
    let base = base_comb::<C, L>().unwrap();
    let zero = [0; L];
    assert!(double_mul(base, &C::N.limbs, base, &zero).is_infinity());
    let mut n_minus_1 = C::N.limbs;
    subtract_in_place(&mut n_minus_1, &small(1));
    let minus_g = double_mul(base, &n_minus_1, base, &zero);
    let z_squared = C::P.mul(&minus_g.z, &minus_g.z);
    assert_eq!(
        minus_g.x,
        C::P.mul(&C::P.to_montgomery(&C::G_X), &z_squared)
    );
    assert_eq!(<C::Hash as sha2::Digest>::output_size(), 4 * L);
}

/// x + 1 (or x - 1), wrapping.
fn step<const L: usize>(x: &mut Limbs<L>, up: bool) {
    if up {
        add_in_place(x, &small(1));
    } else {
        subtract_in_place(x, &small(1));
    }
}

/// x + y, which must not carry out of the top.
fn plus<const L: usize>(x: &Limbs<L>, y: &Limbs<L>) -> Limbs<L> {
    let mut sum = *x;
    assert!(!add_in_place(&mut sum, y));
    sum
}

/// The signature (r, r) of the digest 0 under the key R itself: u1 = 0 and u2 = r·r⁻¹ = 1, so
/// the sum is R, whatever x(R) is. This reaches x values that random signatures never do.
fn nonce_free<const L: usize>(r: &Limbs<L>) -> Vec<u8> {
    let r = super::field::to_be_bytes(r);
    [r.as_slice(), &r].concat()
}

fn verify_digest<C: Curve<L>, const L: usize>(
    key: &VerifyingKey<C, L>,
    digest: &[u8],
    signature: &[u8],
) -> bool {
    key.verify_digest(digest, signature)
}

/// `$keys` keys with `$messages` messages each, `$others` signatures checked against other keys,
/// `$digests` signatures per extreme key. P-384 runs fewer: in unoptimised test builds `p384`'s
/// field arithmetic is `#[inline]`, so compiled at this crate's opt-level 0 (its
/// `[profile.dev.package]` setting cannot reach it), and it takes about 15 ms to sign and 30 ms
/// to verify.
macro_rules! curve_tests {
    (
        $module:ident, $crate_name:ident, $curve:ty, $limbs:literal, $uint:ident, $seed:literal,
        keys: $keys:literal, messages: $messages:literal, others: $others:literal,
        digests: $digests:literal
    ) => {
        mod $module {
            use ::$crate_name::ecdsa::signature::hazmat::PrehashSigner;
            use ::$crate_name::ecdsa::signature::{Signer, Verifier};
            use ::$crate_name::ecdsa::{Signature, SigningKey, VerifyingKey};
            use ::$crate_name::elliptic_curve::ops::Reduce;
            use ::$crate_name::elliptic_curve::point::AffineCoordinates;
            use ::$crate_name::elliptic_curve::PrimeField;
            use ::$crate_name::{$uint, FieldBytes, ProjectivePoint, Scalar};
            use rand::rngs::StdRng;
            use rand::{Rng, RngCore, SeedableRng};

            use super::super::field::{less_than, to_be_bytes, Limbs};
            use super::super::Curve;
            use super::{nonce_free, plus, small, step, subtract_in_place, verify_digest};

            type Ours = super::super::VerifyingKey<$curve, $limbs>;
            /// Bytes per number.
            const BYTES: usize = 4 * $limbs;
            const N: Limbs<$limbs> = <$curve as Curve<$limbs>>::N.limbs;
            const P: Limbs<$limbs> = <$curve as Curve<$limbs>>::P.limbs;

            fn ours(key: &VerifyingKey) -> Ours {
                let point = key.to_encoded_point(false);
                Ours::from_coordinates(point.x().unwrap(), point.y().unwrap()).unwrap()
            }

            fn reference_accepts(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
                Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok())
            }

            /// A signing key with the given private scalar.
            fn signing_key(scalar: &Scalar) -> SigningKey {
                SigningKey::from_bytes(&scalar.to_repr()).unwrap()
            }

            fn sign(key: &SigningKey, message: &[u8]) -> Vec<u8> {
                let signature: Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }

            /// Flips one random bit, or replaces r or s with a value at or around the edges of
            /// 1..n-1.
            fn corrupt(signature: &[u8], rng: &mut StdRng) -> Vec<u8> {
                let mut bad = signature.to_vec();
                let half = BYTES * rng.gen_range(0..2usize);
                let part = half..half + BYTES;
                match rng.gen_range(0..5) {
                    0 => bad[part].fill(0),
                    1 => bad[part].copy_from_slice(&to_be_bytes(&N)),
                    2 => bad[part].fill(0xff),
                    // s → n - s is still a valid signature (ECDSA verification has no low-s
                    // rule).
                    3 => {
                        let mut s = FieldBytes::default();
                        s.copy_from_slice(&signature[BYTES..]);
                        let s = Scalar::from_repr(s).unwrap();
                        bad[BYTES..].copy_from_slice(&(-s).to_repr());
                    }
                    _ => bad[rng.gen_range(0..2 * BYTES)] ^= 1 << rng.gen_range(0..8),
                }
                bad
            }

            #[test]
            fn curve_constants() {
                super::check_constants::<$curve, $limbs>();
            }

            #[test]
            fn agrees_with_the_reference_on_random_keys_messages_and_corrupted_signatures() {
                let mut rng = StdRng::seed_from_u64($seed);
                let (mut accepted, mut refused) = (0, 0);
                for _ in 0..$keys {
                    let signing = SigningKey::random(&mut rng);
                    let reference = *signing.verifying_key();
                    let key = ours(&reference);
                    for _ in 0..$messages {
                        let mut message = vec![0u8; rng.gen_range(0..200)];
                        rng.fill_bytes(&mut message);
                        // The reference made it, so it is valid: no need to ask the reference.
                        let good = sign(&signing, &message);
                        assert!(key.verify(&message, &good), "{good:02x?}");
                        let bad = corrupt(&good, &mut rng);
                        let expected = reference_accepts(&reference, &message, &bad);
                        assert_eq!(key.verify(&message, &bad), expected, "{bad:02x?}");
                        if expected {
                            accepted += 1
                        } else {
                            refused += 1
                        }
                    }
                }
                // Each message: its signature, and a corrupted one (a fifth of them n - s, valid).
                let signatures = $keys * $messages;
                assert!(
                    accepted > signatures / 10 && refused > signatures / 2,
                    "{accepted} / {refused}"
                );
            }

            #[test]
            fn agrees_with_the_reference_on_random_signatures_for_other_keys() {
                let mut rng = StdRng::seed_from_u64($seed + 1);
                let keys: Vec<SigningKey> = (0..8).map(|_| SigningKey::random(&mut rng)).collect();
                let ours_keys: Vec<Ours> = keys.iter().map(|k| ours(k.verifying_key())).collect();
                for i in 0..$others {
                    let message = format!("message {i}");
                    let signature = sign(&keys[i % 8], message.as_bytes());
                    let other = (i + 1 + i / 8 % 7) % 8;
                    assert!(!ours_keys[other].verify(message.as_bytes(), &signature));
                    let mut random = vec![0u8; 2 * BYTES];
                    rng.fill_bytes(&mut random);
                    assert_eq!(
                        ours_keys[other].verify(message.as_bytes(), &random),
                        reference_accepts(keys[other].verifying_key(), message.as_bytes(), &random)
                    );
                }
            }

            /// Keys whose small or extreme private scalars put equal or opposite points into
            /// one sum.
            #[test]
            fn keys_with_extreme_private_scalars_verify_their_signatures() {
                let mut rng = StdRng::seed_from_u64($seed + 2);
                for d in [1u64, 2, 3, 4, 5, 255, 256, 1 << 32] {
                    for scalar in [Scalar::from(d), -Scalar::from(d)] {
                        let signing = signing_key(&scalar);
                        let key = ours(signing.verifying_key());
                        for _ in 0..$digests {
                            let mut digest = vec![0u8; BYTES];
                            rng.fill_bytes(&mut digest);
                            let signature: Signature = signing.sign_prehash(&digest).unwrap();
                            let bytes = signature.to_bytes();
                            assert!(verify_digest(&key, &digest, &bytes), "d = ±{d}");
                            digest[0] ^= 1;
                            assert!(!verify_digest(&key, &digest, &bytes), "d = ±{d}");
                        }
                    }
                }
            }

            /// e = r makes u1 = u2, so with Q = G both scalars have the same comb columns and
            /// the first non-zero column adds a table point to itself (the addition must
            /// double); with Q = -G the two additions of every column cancel to infinity.
            #[test]
            fn equal_and_opposite_points_inside_the_sum() {
                let mut rng = StdRng::seed_from_u64($seed + 3);
                for _ in 0..16 {
                    let k = Scalar::from(rng.gen::<u64>()) * Scalar::from(rng.gen::<u64>())
                        + Scalar::ONE;
                    let r_point = (ProjectivePoint::GENERATOR * k).to_affine();
                    let r = <Scalar as Reduce<$uint>>::reduce_bytes(&r_point.x());
                    let digest = r.to_repr();
                    // Q = G (d = 1): s = k⁻¹(e + r) with e = r.
                    let s = k.invert().unwrap() * (r + r);
                    let signature = [r.to_repr(), s.to_repr()].concat();
                    let g = ours(signing_key(&Scalar::ONE).verifying_key());
                    assert!(verify_digest(&g, &digest, &signature));
                    // Q = -G: u1·G + u2·Q = (e - r)·s⁻¹·G = infinity, which no signature may
                    // verify to.
                    let minus_g = ours(signing_key(&-Scalar::ONE).verifying_key());
                    assert!(!verify_digest(&minus_g, &digest, &signature));
                }
            }

            #[test]
            fn r_and_s_must_be_between_1_and_n_minus_1_and_fill_their_bytes() {
                let signing = SigningKey::random(&mut StdRng::seed_from_u64($seed + 4));
                let key = ours(signing.verifying_key());
                let good = sign(&signing, b"m");
                assert!(key.verify(b"m", &good));
                for half in [0, BYTES] {
                    for value in [vec![0u8; BYTES], to_be_bytes(&N), vec![0xff; BYTES]] {
                        let mut bad = good.clone();
                        bad[half..half + BYTES].copy_from_slice(&value);
                        assert!(!key.verify(b"m", &bad));
                    }
                }
                assert!(!key.verify(b"m", &[]));
                assert!(!key.verify(b"m", &good[..2 * BYTES - 1]));
                assert!(!key.verify(b"m", &[good.as_slice(), &[0]].concat()));
                // A DER-encoded signature is not the JWS format.
                let der = Signature::from_slice(&good).unwrap().to_der();
                assert!(!key.verify(b"m", der.as_bytes()));
            }

            /// The curve point with the first x, stepping by one from `x` up or down, that has
            /// one.
            fn point_from(mut x: Limbs<$limbs>, up: bool) -> (Limbs<$limbs>, VerifyingKey) {
                loop {
                    let encoded = [&[0x02u8][..], &to_be_bytes(&x)].concat();
                    if let Ok(key) = VerifyingKey::from_sec1_bytes(&encoded) {
                        return (x, key);
                    }
                    step(&mut x, up);
                }
            }

            /// When x(R) ≥ n, r is x(R) - n (about 2^-190 of signatures on P-384, 2^-128 on
            /// P-256): the check must try r + n.
            #[test]
            fn x_coordinates_above_n_match_r_plus_n() {
                let mut below_p = P;
                step(&mut below_p, false);
                let (x, point) = point_from(below_p, false);
                assert!(!less_than(&x, &N));
                let mut r = x;
                subtract_in_place(&mut r, &N);
                let key = ours(&point);
                let signature = nonce_free(&r);
                assert!(verify_digest(&key, &[0; BYTES], &signature));
                // A digest of n is 0 mod n too.
                assert!(verify_digest(&key, &to_be_bytes(&N), &signature));
                let mut other = r;
                step(&mut other, true);
                assert!(!verify_digest(&key, &[0; BYTES], &nonce_free(&other)));
            }

            /// r + n and s + n reduce to the same scalars but are not valid encodings; neither
            /// are keys with a coordinate at or above p.
            #[test]
            fn values_at_or_above_their_modulus_are_refused() {
                let (x, point) = point_from(small(1), true);
                let key = ours(&point);
                let signature = nonce_free(&x);
                assert!(verify_digest(&key, &[0; BYTES], &signature));
                for half in [0, BYTES] {
                    let mut bad = signature.clone();
                    bad[half..half + BYTES].copy_from_slice(&to_be_bytes(&plus(&x, &N)));
                    assert!(!verify_digest(&key, &[0; BYTES], &bad));
                }
                let encoded = point.to_encoded_point(false);
                let y = encoded.y().unwrap();
                assert!(Ours::from_coordinates(&to_be_bytes(&plus(&x, &P)), y).is_none());
                assert!(Ours::from_coordinates(&to_be_bytes(&x), y).is_some());
            }

            #[test]
            fn keys_must_be_points_on_the_curve() {
                let signing = SigningKey::random(&mut StdRng::seed_from_u64($seed + 5));
                let point = signing.verifying_key().to_encoded_point(false);
                let (x, y) = (point.x().unwrap().to_vec(), point.y().unwrap().to_vec());
                assert!(Ours::from_coordinates(&x, &y).is_some());
                let mut off = y.clone();
                off[BYTES - 1] ^= 1;
                assert!(Ours::from_coordinates(&x, &off).is_none());
                assert!(Ours::from_coordinates(&x, &y[1..]).is_none());
                assert!(Ours::from_coordinates(&[0; BYTES], &[0; BYTES]).is_none());
                assert!(Ours::from_coordinates(&to_be_bytes(&P), &y).is_none());
            }
        }
    };
}

curve_tests!(
    p256, p256, crate::core::p256::P256, 8, U256, 0x5eed_e256,
    keys: 64, messages: 24, others: 400, digests: 16
);
curve_tests!(
    p384, p384, crate::core::p384::P384, 12, U384, 0x5eed_e384,
    keys: 16, messages: 16, others: 100, digests: 4
);
