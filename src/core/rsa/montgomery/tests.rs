use super::*;
use ::rsa::BigUint;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// A random odd modulus of exactly `bits` bits, big-endian.
fn random_modulus(rng: &mut StdRng, bits: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; bits.div_ceil(8)];
    rng.fill_bytes(&mut bytes);
    let top_bits = bits - (bytes.len() - 1) * 8;
    bytes[0] &= 0xff >> (8 - top_bits);
    bytes[0] |= 1 << (top_bits - 1);
    *bytes.last_mut().unwrap() |= 1;
    bytes
}

fn reference_pow(base: &[u8], e: u64, n: &[u8]) -> Vec<u8> {
    let n = BigUint::from_bytes_be(n);
    let result = BigUint::from_bytes_be(base).modpow(&BigUint::from(e), &n);
    let bytes = result.to_bytes_be();
    let len = n.bits().div_ceil(8);
    [vec![0u8; len - bytes.len()], bytes].concat()
}

fn check(n: &[u8], base: &[u8], e: u64) {
    let modulus = Modulus::from_be_bytes(n).unwrap();
    assert_eq!(
        modulus.pow_be(base, e).unwrap(),
        reference_pow(base, e, n),
        "n={n:02x?} base={base:02x?} e={e}"
    );
}

#[test]
fn pow_matches_a_reference_on_random_inputs() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    // Sizes around limb boundaries, small ones, and the RSA sizes.
    let sizes = [
        2, 3, 31, 32, 33, 63, 64, 65, 255, 1023, 2047, 2048, 2049, 3072, 4095, 4096,
    ];
    for &bits in &sizes {
        for round in 0..3 {
            let n = random_modulus(&mut rng, bits);
            let mut base = vec![0u8; n.len()];
            rng.fill_bytes(&mut base);
            // Keep the base below n: clear its top byte (n's top byte is non-zero).
            base[0] = 0;
            let e = match round {
                0 => 65537,
                1 => 3,
                _ => rng.gen_range(3u64..1 << 33) | 1,
            };
            check(&n, &base, e);
        }
    }
}

#[test]
fn pow_edge_bases() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    for bits in [2048, 4096] {
        let n = random_modulus(&mut rng, bits);
        let n_big = BigUint::from_bytes_be(&n);
        let n_minus_one = (&n_big - 1u32).to_bytes_be();
        for base in [vec![0u8], vec![1u8], vec![2u8], n_minus_one, vec![]] {
            check(&n, &base, 65537);
        }
        // Leading zero bytes are not significant.
        let mut padded = vec![0u8; 7];
        padded.extend_from_slice(&[5, 6, 7]);
        check(&n, &padded, 65537);
        // An all-ones modulus (2^bits - 1, odd) stresses every carry.
        let ones = vec![0xffu8; bits / 8];
        check(
            &ones,
            &(BigUint::from_bytes_be(&ones) - 2u32).to_bytes_be(),
            65537,
        );
    }
}

#[test]
fn pow_rejects_bases_not_below_the_modulus() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0003);
    let n = random_modulus(&mut rng, 2048);
    let modulus = Modulus::from_be_bytes(&n).unwrap();
    let n_big = BigUint::from_bytes_be(&n);
    assert_eq!(modulus.pow_be(&n, 3), None);
    assert_eq!(modulus.pow_be(&(&n_big + 1u32).to_bytes_be(), 3), None);
    assert_eq!(modulus.pow_be(&[0xff; 256], 3), None);
    assert_eq!(modulus.pow_be(&[0x01; 257], 3), None);
    assert_eq!(modulus.pow_be(&[0x01; 600], 3), None);
    // Exponents the square-and-multiply shortcut does not handle.
    for e in [0, 1, 2, 65536] {
        assert_eq!(modulus.pow_be(&[2], e), None, "{e}");
    }
}

#[test]
fn modulus_must_be_odd_and_at_most_4096_bits() {
    assert!(Modulus::from_be_bytes(&[]).is_none());
    assert!(Modulus::from_be_bytes(&[0, 0]).is_none());
    assert!(Modulus::from_be_bytes(&[1]).is_none());
    assert!(Modulus::from_be_bytes(&[0x10, 0x00]).is_none());
    assert!(Modulus::from_be_bytes(&[3]).is_some());
    let mut too_big = vec![0xffu8; 513];
    too_big[0] = 1;
    assert!(Modulus::from_be_bytes(&too_big).is_none());
    let mut max = vec![0u8; 3];
    max.extend_from_slice(&[0xff; 512]);
    let modulus = Modulus::from_be_bytes(&max).unwrap();
    assert_eq!((modulus.bits(), modulus.byte_len()), (4096, 512));
    assert_eq!(format!("{modulus:?}"), "Modulus(4096 bits)");
}

#[test]
fn montgomery_constants() {
    for n in [1u32, 3, 0xffff_ffff, 0x8000_0001, 0x1234_5677] {
        assert_eq!(n.wrapping_mul(neg_inverse_mod_2_32(n)), u32::MAX, "{n:#x}");
    }
    let mut rng = StdRng::seed_from_u64(0x5eed_0004);
    let n = random_modulus(&mut rng, 2080);
    let modulus = Modulus::from_be_bytes(&n).unwrap();
    // R² mod n with R = 2^(32·65): 2080 bits are 65 limbs.
    let r_squared = BigUint::from(1u32) << (2 * 32 * 65);
    let expected = (r_squared % BigUint::from_bytes_be(&n)).to_bytes_be();
    assert_eq!(
        limbs_to_be_bytes(&modulus.r_squared, expected.len()),
        expected
    );
}

/// Random limbs below `modulus` (at most its limb count, top limb cleared).
fn random_below(rng: &mut StdRng, modulus: &Modulus) -> Vec<u32> {
    let mut limbs: Vec<u32> = (0..modulus.limbs.len()).map(|_| rng.gen()).collect();
    if let Some(top) = limbs.last_mut() {
        *top %= modulus.limbs.last().copied().unwrap_or(1).max(1);
    }
    limbs
}

fn assert_square_is_mul(modulus: &Modulus, a: &[u32]) {
    let mut squared = vec![0u32; a.len()];
    let mut multiplied = vec![0u32; a.len()];
    modulus.square_into(a, &mut squared);
    modulus.mul_into(a, a, &mut multiplied);
    assert_eq!(squared, multiplied, "{modulus:?} a={a:08x?}");
}

#[test]
fn squaring_agrees_with_multiplication() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0003);
    for bits in [2, 31, 32, 33, 64, 65, 255, 1024, 2047, 2048, 3072, 4096] {
        for _ in 0..20 {
            let modulus = Modulus::from_be_bytes(&random_modulus(&mut rng, bits)).unwrap();
            let a = random_below(&mut rng, &modulus);
            assert_square_is_mul(&modulus, &a);
        }
    }
}

#[test]
fn squaring_edge_values() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0004);
    for bits in [32, 2048, 4096] {
        // An all-ones modulus, and a random one: the largest value, the smallest, and values
        // whose limbs are all ones below the top (every carry chain runs its full length).
        let ones = Modulus::from_be_bytes(&vec![0xffu8; bits / 8]).unwrap();
        let random = Modulus::from_be_bytes(&random_modulus(&mut rng, bits)).unwrap();
        for modulus in [ones, random] {
            let mut n_minus_one = modulus.limbs.clone();
            n_minus_one[0] -= 1;
            let mut all_ones_below = vec![u32::MAX; modulus.limbs.len()];
            if let Some(top) = all_ones_below.last_mut() {
                *top = modulus.limbs.last().unwrap() - 1;
            }
            let k = modulus.limbs.len();
            let (zero, mut one) = (vec![0u32; k], vec![0u32; k]);
            one[0] = 1;
            for a in [n_minus_one, all_ones_below, zero, one] {
                assert_square_is_mul(&modulus, &a);
            }
        }
    }
}
