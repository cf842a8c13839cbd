//! Arithmetic modulo a curve's prime p (coordinates) and its group order n (scalars), in
//! Montgomery form with L 32-bit limbs, least significant first (8 for P-256, 12 for P-384).
//!
//! 32-bit limbs because WebAssembly multiplies 64×64→64 natively but has no 128-bit product:
//! a 32×32 product plus two 32-bit addends always fits in a `u64`, whereas `u128` arithmetic
//! becomes calls into compiler-rt (see bench/p256 for the measurements). L is a const generic,
//! so each curve gets its own fully unrolled copy, as fast as code written for one size.
//! Nothing here is constant time: verification only handles public values.

pub type Limbs<const L: usize> = [u32; L];

/// An odd modulus of 32·L bits (its top bit set) with its Montgomery constants (R = 2^(32·L)),
/// computed at compile time.
pub struct Modulus<const L: usize> {
    pub(super) limbs: Limbs<L>,
    /// -m⁻¹ mod 2^32, the per-limb reduction factor.
    n0_inv: u32,
    /// R² mod m: one multiplication by it moves a number into Montgomery form.
    r_squared: Limbs<L>,
    /// R mod m, which is 1 in Montgomery form.
    pub(super) one: Limbs<L>,
}

impl<const L: usize> Modulus<L> {
    pub(crate) const fn new(limbs: Limbs<L>) -> Modulus<L> {
        Modulus {
            limbs,
            n0_inv: neg_inverse_mod_2_32(limbs[0]),
            r_squared: power_of_two_mod(64 * L, &limbs),
            one: power_of_two_mod(32 * L, &limbs),
        }
    }

    /// x·R mod m, for x < m.
    #[inline]
    pub(super) fn to_montgomery(&self, x: &Limbs<L>) -> Limbs<L> {
        self.mul(x, &self.r_squared)
    }

    /// a·b·R⁻¹ mod m for a, b < m, fully reduced (so equal values have equal limbs).
    ///
    /// Finely integrated operand scanning, as `core::rsa`'s Montgomery code: each pass adds
    /// a·b[i] and q·m (q chosen so that the low limb cancels) with two carry chains. `top` is
    /// the accumulator's limb L (an array of L + 1 limbs needs unstable const generics).
    #[inline]
    pub(super) fn mul(&self, a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        let m = &self.limbs;
        let mut t = [0u32; L];
        let mut top = 0u32;
        for &b_i in b {
            let b_i = u64::from(b_i);
            let first = u64::from(t[0]) + u64::from(a[0]) * b_i;
            let q = u64::from((first as u32).wrapping_mul(self.n0_inv));
            let mut carry_ab = first >> 32;
            let mut carry_qm = (u64::from(first as u32) + q * u64::from(m[0])) >> 32;
            for j in 1..L {
                let ab = u64::from(t[j]) + u64::from(a[j]) * b_i + carry_ab;
                let qm = u64::from(ab as u32) + q * u64::from(m[j]) + carry_qm;
                t[j - 1] = qm as u32;
                carry_ab = ab >> 32;
                carry_qm = qm >> 32;
            }
            let sum = u64::from(top) + carry_ab + carry_qm;
            t[L - 1] = sum as u32;
            top = (sum >> 32) as u32;
        }
        if top != 0 || !less_than(&t, m) {
            subtract_in_place(&mut t, m);
        }
        t
    }

    /// a + b mod m, for a, b < m.
    #[inline]
    pub(super) fn add(&self, a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        let mut out = *a;
        let carry = add_in_place(&mut out, b);
        if carry || !less_than(&out, &self.limbs) {
            subtract_in_place(&mut out, &self.limbs);
        }
        out
    }

    /// a - b mod m, for a, b < m.
    #[inline]
    pub(super) fn sub(&self, a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        let mut out = *a;
        if subtract_in_place(&mut out, b) {
            add_in_place(&mut out, &self.limbs);
        }
        out
    }

    /// base^exponent in Montgomery form (base in Montgomery form, exponent plain), with a fixed
    /// 4-bit window: 32·L squarings and at most 8·L multiplications.
    pub(super) fn pow(&self, base: &Limbs<L>, exponent: &Limbs<L>) -> Limbs<L> {
        let mut table = [self.one; 16];
        for i in 1..16 {
            table[i] = self.mul(&table[i - 1], base);
        }
        let mut acc = self.one;
        for limb in exponent.iter().rev() {
            for shift in (0..8).rev() {
                for _ in 0..4 {
                    acc = self.mul(&acc, &acc);
                }
                let digit = (limb >> (4 * shift)) & 0xf;
                if digit != 0 {
                    acc = self.mul(&acc, &table[digit as usize]);
                }
            }
        }
        acc
    }

    /// x⁻¹ in Montgomery form by Fermat's little theorem (m is prime); 0 maps to 0.
    pub(super) fn invert(&self, x: &Limbs<L>) -> Limbs<L> {
        let mut exponent = self.limbs;
        subtract_in_place(&mut exponent, &small(2));
        self.pow(x, &exponent)
    }
}

/// The number `value` as limbs.
pub(super) const fn small<const L: usize>(value: u32) -> Limbs<L> {
    let mut limbs = [0u32; L];
    limbs[0] = value;
    limbs
}

/// -x⁻¹ mod 2^32 for odd x, by Newton's iteration (each step doubles the correct low bits).
const fn neg_inverse_mod_2_32(x: u32) -> u32 {
    let mut inverse = x;
    let mut step = 0;
    while step < 4 {
        inverse = inverse.wrapping_mul(2u32.wrapping_sub(x.wrapping_mul(inverse)));
        step += 1;
    }
    inverse.wrapping_neg()
}

/// 2^exponent mod m, by doubling 1 modulo m (m > 2^(32·L-1), so 1 is already reduced and one
/// subtraction reduces each doubling).
const fn power_of_two_mod<const L: usize>(exponent: usize, m: &Limbs<L>) -> Limbs<L> {
    let mut x: Limbs<L> = small(1);
    let mut round = 0;
    while round < exponent {
        let mut carry = 0;
        let mut i = 0;
        while i < L {
            let next = x[i] >> 31;
            x[i] = (x[i] << 1) | carry;
            carry = next;
            i += 1;
        }
        if carry == 1 || !less_than(&x, m) {
            subtract_in_place(&mut x, m);
        }
        round += 1;
    }
    x
}

/// a < b.
pub(super) const fn less_than<const L: usize>(a: &Limbs<L>, b: &Limbs<L>) -> bool {
    let mut i = L;
    while i > 0 {
        i -= 1;
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// x -= y, wrapping; returns the borrow out of the top.
pub(super) const fn subtract_in_place<const L: usize>(x: &mut Limbs<L>, y: &Limbs<L>) -> bool {
    let mut borrow = 0u64;
    let mut i = 0;
    while i < L {
        let difference = (x[i] as u64).wrapping_sub(y[i] as u64).wrapping_sub(borrow);
        x[i] = difference as u32;
        borrow = (difference >> 63) & 1;
        i += 1;
    }
    borrow == 1
}

/// x += y, wrapping; returns the carry out of the top.
pub(super) fn add_in_place<const L: usize>(x: &mut Limbs<L>, y: &Limbs<L>) -> bool {
    let mut carry = 0u64;
    for (x, &y) in x.iter_mut().zip(y) {
        let sum = u64::from(*x) + u64::from(y) + carry;
        *x = sum as u32;
        carry = sum >> 32;
    }
    carry == 1
}

/// A big-endian number of exactly 4·L bytes.
pub(super) fn from_be_bytes<const L: usize>(bytes: &[u8]) -> Option<Limbs<L>> {
    if bytes.len() != 4 * L {
        return None;
    }
    let mut limbs = [0u32; L];
    for (limb, chunk) in limbs.iter_mut().zip(bytes.rchunks_exact(4)) {
        *limb = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Some(limbs)
}

#[cfg(test)]
pub(super) fn to_be_bytes<const L: usize>(limbs: &Limbs<L>) -> Vec<u8> {
    limbs
        .iter()
        .rev()
        .flat_map(|limb| limb.to_be_bytes())
        .collect()
}
