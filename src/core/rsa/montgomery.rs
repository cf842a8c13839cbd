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
            self.square_into(&acc, &mut tmp);
            std::mem::swap(&mut acc, &mut tmp);
            if (e >> bit) & 1 == 1 {
                self.mul_into(&acc, &base_mont, &mut tmp);
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        // Square to base^(e - 1)·R, then multiply by the plain base: base^e·R·R⁻¹ = base^e.
        self.square_into(&acc, &mut tmp);
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

impl Modulus {
    /// out = a²·R⁻¹ mod n, for a < n (exactly `limbs` long), fully reduced: what
    /// `mul_into(a, a, out)` gives, for about three quarters of its multiplications.
    ///
    /// Separated operand scanning: the square first, computing each cross product a[i]·a[j]
    /// once and doubling their sum (k(k-1)/2 + k products instead of k²), then the k passes of
    /// Montgomery reduction over the 2k-limb result. Squarings are 16 of RS256's 18
    /// multiplications.
    fn square_into(&self, a: &[u32], out: &mut [u32]) {
        let n = self.limbs.as_slice();
        let k = n.len();
        let mut buffer = [0u32; 2 * MAX_LIMBS];
        let t = &mut buffer[..2 * k];
        let a = &a[..k];
        add_cross_products(a, t);
        // Their sum is below a²/2, so doubling shifts nothing out.
        shift_left_one(t);
        add_diagonal(a, t);
        let top = self.reduce_in_place(t);
        let out = &mut out[..k];
        out.copy_from_slice(&t[k..]);
        if top || !less_than(out, n) {
            subtract_in_place(out, n);
        }
    }

    /// Montgomery reduction of the 2k-limb `t` (below n·R): afterwards t[k..] holds
    /// t·R⁻¹ mod n plus possibly n, with the returned bit above it.
    fn reduce_in_place(&self, t: &mut [u32]) -> bool {
        let n = self.limbs.as_slice();
        let k = n.len();
        let mut top_carry = 0u64;
        for i in 0..k {
            let m = u64::from(t[i].wrapping_mul(self.n0_inv));
            let mut carry = 0u64;
            for (t_ij, &n_j) in t[i..i + k].iter_mut().zip(n) {
                let sum = u64::from(*t_ij) + m * u64::from(n_j) + carry;
                *t_ij = sum as u32;
                carry = sum >> 32;
            }
            let sum = u64::from(t[i + k]) + carry + top_carry;
            t[i + k] = sum as u32;
            top_carry = sum >> 32;
        }
        top_carry != 0
    }
}

/// t += Σ a[i]·a[j] for i < j, at limb i + j; t starts at zero.
fn add_cross_products(a: &[u32], t: &mut [u32]) {
    let k = a.len();
    for i in 0..k {
        let a_i = u64::from(a[i]);
        let mut carry = 0u64;
        for j in i + 1..k {
            let sum = u64::from(t[i + j]) + a_i * u64::from(a[j]) + carry;
            t[i + j] = sum as u32;
            carry = sum >> 32;
        }
        t[i + k] = carry as u32;
    }
}

/// t += Σ a[i]² at limb 2i.
fn add_diagonal(a: &[u32], t: &mut [u32]) {
    let mut carry = 0u64;
    for (i, &a_i) in a.iter().enumerate() {
        let square = u64::from(a_i) * u64::from(a_i);
        let low = u64::from(t[2 * i]) + (square & 0xffff_ffff) + carry;
        t[2 * i] = low as u32;
        let high = u64::from(t[2 * i + 1]) + (square >> 32) + (low >> 32);
        t[2 * i + 1] = high as u32;
        carry = high >> 32;
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
mod tests;
