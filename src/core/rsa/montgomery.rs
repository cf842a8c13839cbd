//! Modular exponentiation for the RSA public-key operation, with Montgomery multiplication.
//!
//! Limbs are 32 bits, least significant first, because WebAssembly has a native 64-bit multiply
//! but no 64×64→128 one: a 32×32 product plus two 32-bit addends always fits in a `u64`.
//!
//! Nothing here is constant time, and nothing needs to be: the modulus, the exponent and the
//! signature are all public. Only verification uses this code; there are no private keys.

/// Largest modulus in limbs (4096 bits). Callers check key sizes; this bounds stack buffers.
pub const MAX_LIMBS: usize = 4096 / 32;

/// An odd modulus with its precomputed Montgomery constants (R = 2^(32·limbs)).
#[derive(Clone, PartialEq, Eq)]
pub struct Modulus {
    /// n, least significant limb first, with a non-zero top limb.
    limbs: Vec<u32>,
    /// -n⁻¹ mod 2^32, the per-limb reduction factor.
    n0_inv: u32,
    /// R² mod n, which moves a number into Montgomery form with one multiplication.
    r_squared: Vec<u32>,
}

impl std::fmt::Debug for Modulus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Modulus({} bits)", self.bits())
    }
}

impl Modulus {
    /// Parses a big-endian modulus (leading zero bytes allowed). `None` unless it is odd, greater
    /// than one and at most [`MAX_LIMBS`] limbs: Montgomery reduction needs an odd modulus.
    pub fn from_be_bytes(bytes: &[u8]) -> Option<Modulus> {
        let limbs = limbs_from_be_bytes(bytes);
        let low = limbs.first().copied().unwrap_or(0);
        if low & 1 == 0 || limbs.len() > MAX_LIMBS || (limbs.len() == 1 && low == 1) {
            return None;
        }
        let r_squared = r_squared_mod(&limbs);
        Some(Modulus {
            n0_inv: neg_inverse_mod_2_32(low),
            limbs,
            r_squared,
        })
    }

    /// Number of significant bits in n.
    pub fn bits(&self) -> usize {
        let top = self
            .limbs
            .last()
            .map_or(0, |&limb| 32 - limb.leading_zeros() as usize);
        (self.limbs.len() - 1) * 32 + top
    }

    /// Length of n in bytes, which is also the length of every signature for it.
    pub fn byte_len(&self) -> usize {
        self.bits().div_ceil(8)
    }

    /// base^e mod n, as big-endian bytes of [`Modulus::byte_len`]. `None` when `base` (big-endian)
    /// is not below n, or e is even or below 3 (RSA public exponents never are).
    pub fn pow_be(&self, base: &[u8], e: u64) -> Option<Vec<u8>> {
        let mut base = limbs_from_be_bytes(base);
        if base.len() > self.limbs.len() || e < 3 || e % 2 == 0 {
            return None;
        }
        base.resize(self.limbs.len(), 0);
        if !less_than(&base, &self.limbs) {
            return None;
        }
        let result = self.pow_odd(&base, e);
        Some(limbs_to_be_bytes(&result, self.byte_len()))
    }

    /// Left-to-right square-and-multiply in Montgomery form. Because e is odd, the last
    /// multiplication uses the plain base, which also leaves Montgomery form: for e = 65537 that
    /// is 1 + 16 + 1 multiplications in all.
    fn pow_odd(&self, base: &[u32], e: u64) -> Vec<u32> {
        let k = self.limbs.len();
        let base_mont = self.mul(base, &self.r_squared);
        let mut acc = base_mont.clone();
        let mut tmp = vec![0u32; k];
        let top_bit = 63 - e.leading_zeros();
        // acc holds base^(e >> bit) after each step; stop before bit 0.
        for bit in (1..top_bit).rev() {
            self.mul_into(&acc, &acc, &mut tmp);
            std::mem::swap(&mut acc, &mut tmp);
            if (e >> bit) & 1 == 1 {
                self.mul_into(&acc, &base_mont, &mut tmp);
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        // Square to base^(e - 1)·R, then multiply by the plain base: base^e·R·R⁻¹ = base^e.
        self.mul_into(&acc, &acc, &mut tmp);
        self.mul(&tmp, base)
    }

    fn mul(&self, a: &[u32], b: &[u32]) -> Vec<u32> {
        let mut out = vec![0u32; self.limbs.len()];
        self.mul_into(a, b, &mut out);
        out
    }

    /// out = a·b·R⁻¹ mod n, for a, b < n (each exactly `limbs` long), fully reduced.
    ///
    /// Finely integrated operand scanning: each pass adds a·b[i] and m·n (m chosen so the low
    /// limb cancels) in one loop with two carry chains, then drops the zero low limb. The
    /// running total stays below 2n, so one extra limb holds its top.
    fn mul_into(&self, a: &[u32], b: &[u32], out: &mut [u32]) {
        let n = self.limbs.as_slice();
        let k = n.len();
        let mut buffer = [0u32; MAX_LIMBS + 1];
        let t = &mut buffer[..=k];
        let (a, b) = (&a[..k], &b[..k]);
        for &b_i in b {
            let b_i = u64::from(b_i);
            let first = u64::from(t[0]) + u64::from(a[0]) * b_i;
            let m = u64::from((first as u32).wrapping_mul(self.n0_inv));
            let mut carry_ab = first >> 32;
            let mut carry_mn = (u64::from(first as u32) + m * u64::from(n[0])) >> 32;
            for j in 1..k {
                let ab = u64::from(t[j]) + u64::from(a[j]) * b_i + carry_ab;
                let mn = u64::from(ab as u32) + m * u64::from(n[j]) + carry_mn;
                t[j - 1] = mn as u32;
                carry_ab = ab >> 32;
                carry_mn = mn >> 32;
            }
            let top = u64::from(t[k]) + carry_ab + carry_mn;
            t[k - 1] = top as u32;
            t[k] = (top >> 32) as u32;
        }
        let out = &mut out[..k];
        out.copy_from_slice(&t[..k]);
        if t[k] != 0 || !less_than(out, n) {
            subtract_in_place(out, n);
        }
    }
}

/// -n⁻¹ mod 2^32 for odd n, by Newton's iteration: each step doubles the correct low bits,
/// starting from 3 (n·n ≡ 1 mod 8 for odd n).
fn neg_inverse_mod_2_32(n: u32) -> u32 {
    let mut inverse = n;
    for _ in 0..4 {
        inverse = inverse.wrapping_mul(2u32.wrapping_sub(n.wrapping_mul(inverse)));
    }
    inverse.wrapping_neg()
}

/// R² mod n by doubling 1 modulo n, 2·32·k times. Only runs when a key is parsed, so simple
/// beats fast here; it costs about as much as one verification.
fn r_squared_mod(n: &[u32]) -> Vec<u32> {
    let mut x = vec![0u32; n.len()];
    x[0] = 1;
    if !less_than(&x, n) {
        subtract_in_place(&mut x, n);
    }
    for _ in 0..64 * n.len() {
        let carry = shift_left_one(&mut x);
        if carry || !less_than(&x, n) {
            subtract_in_place(&mut x, n);
        }
    }
    x
}

/// x <<= 1, returning the bit shifted out of the top.
fn shift_left_one(x: &mut [u32]) -> bool {
    let mut carry = 0;
    for limb in x.iter_mut() {
        let next = *limb >> 31;
        *limb = (*limb << 1) | carry;
        carry = next;
    }
    carry == 1
}

/// x -= n, wrapping; callers only use it where the true result is below n.
fn subtract_in_place(x: &mut [u32], n: &[u32]) {
    let mut borrow = false;
    for (x, &n) in x.iter_mut().zip(n) {
        let (difference, borrow_a) = x.overflowing_sub(n);
        let (difference, borrow_b) = difference.overflowing_sub(u32::from(borrow));
        *x = difference;
        borrow = borrow_a || borrow_b;
    }
}

/// a < b for equal-length little-endian numbers.
fn less_than(a: &[u32], b: &[u32]) -> bool {
    a.iter().rev().cmp(b.iter().rev()).is_lt()
}

/// Big-endian bytes to limbs, dropping leading zero limbs but keeping at least one.
fn limbs_from_be_bytes(bytes: &[u8]) -> Vec<u32> {
    let mut limbs: Vec<u32> = bytes
        .rchunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0u32, |acc, &byte| (acc << 8) | u32::from(byte))
        })
        .collect();
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    if limbs.is_empty() {
        limbs.push(0);
    }
    limbs
}

/// Limbs to exactly `len` big-endian bytes; the value must fit (it is below the modulus).
fn limbs_to_be_bytes(limbs: &[u32], len: usize) -> Vec<u8> {
    let little_endian: Vec<u8> = limbs.iter().flat_map(|limb| limb.to_le_bytes()).collect();
    let mut bytes: Vec<u8> = little_endian.into_iter().take(len).collect();
    bytes.resize(len, 0);
    bytes.reverse();
    bytes
}

#[cfg(test)]
mod tests {
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
}
