//! ECDSA verification (RFC 7518 §3.4: ES256 on P-256 with SHA-256, ES384 on P-384 with
//! SHA-384), our own, one implementation for both curves: the limb count is a const generic
//! and each curve's constants are a [`Curve`] (`core::p256`, `core::p384`).
//!
//! Why not RustCrypto `p256` and `p384`: their constant-time, general-purpose double-scalar
//! multiplication costs 1.1-1.9 ms per ES256 check in V8, where Envoy runs the filter, and
//! `p384` alone was about 130 KB of the module. Verification only handles public values, so
//! this code is variable time and trades memory for speed: a comb table for the base point
//! (built once per VM) and one per key (built on the key's first use), 16 KiB each for P-256
//! and 24 KiB for P-384, make a check 32 (48) doublings and up to 64 (96) additions.
//! bench/p256 has the measurements; tests/wycheproof.rs and the differential tests against
//! `p256` and `p384` in tests.rs check it.

mod comb;
mod field;
mod point;

use std::fmt;
use std::sync::OnceLock;

use sha2::Digest;

pub use comb::Comb;
pub use field::{Limbs, Modulus};

use comb::double_mul;
use field::{add_in_place, from_be_bytes, less_than, subtract_in_place};
use point::Affine;

/// A prime curve y² = x³ - 3x + b of prime order n (cofactor 1) with L 32-bit limbs per
/// number, and the hash its JWS algorithm uses (as many bytes as a number: 4·L).
pub trait Curve<const L: usize>: Sized + 'static {
    /// The key type's name in `Debug` output.
    const NAME: &'static str;
    const P: Modulus<L>;
    const N: Modulus<L>;
    const B: Limbs<L>;
    const G_X: Limbs<L>;
    const G_Y: Limbs<L>;
    type Hash: Digest;

    /// Where the base point's comb table is kept once built: a static of the curve's own (a
    /// generic function cannot hold one per curve).
    fn base_comb_cell() -> &'static OnceLock<Option<Comb<Self, L>>>;
}

/// A public key that lies on the curve, with its comb table once it has been used.
pub struct VerifyingKey<C: Curve<L>, const L: usize> {
    point: Affine<C, L>,
    comb: OnceLock<Option<Comb<C, L>>>,
}

// By hand: derived impls would require the curve's marker type to be `Clone` and `Debug`.
impl<C: Curve<L>, const L: usize> Clone for VerifyingKey<C, L> {
    fn clone(&self) -> Self {
        VerifyingKey {
            point: self.point,
            comb: self.comb.clone(),
        }
    }
}

impl<C: Curve<L>, const L: usize> fmt::Debug for VerifyingKey<C, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(C::NAME)
    }
}

impl<C: Curve<L>, const L: usize> VerifyingKey<C, L> {
    /// The key with big-endian affine coordinates `x` and `y` (a JWK's decoded members):
    /// `None` unless both are 4·L bytes, below p, and the point lies on the curve.
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Option<VerifyingKey<C, L>> {
        let point = Affine::from_coordinates(&from_be_bytes(x)?, &from_be_bytes(y)?)?;
        Some(VerifyingKey {
            point,
            comb: OnceLock::new(),
        })
    }

    /// Checks a JWS `signature` (r ‖ s, 4·L bytes each) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verify_digest(&C::Hash::digest(message), signature)
    }

    fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> bool {
        if signature.len() != 8 * L {
            return false;
        }
        let (r, s) = signature.split_at(4 * L);
        let (Some(r), Some(s), Some(e)) =
            (from_be_bytes(r), from_be_bytes(s), from_be_bytes(digest))
        else {
            return false;
        };
        let Some((u1, u2)) = signature_scalars::<C, L>(&e, &r, &s) else {
            return false;
        };
        let (Some(base), Some(key)) = (base_comb::<C, L>(), self.comb()) else {
            return false;
        };
        let sum = double_mul(base, &u1, key, &u2);
        !sum.is_infinity() && x_matches::<C, L>(&sum.x, &sum.z, &r)
    }

    fn comb(&self) -> Option<&Comb<C, L>> {
        self.comb.get_or_init(|| Comb::new(&self.point)).as_ref()
    }
}

/// u1 = e·s⁻¹ and u2 = r·s⁻¹ mod n (plain integers), where e is the digest reduced mod n.
/// `None` unless r and s are in 1..n-1.
fn signature_scalars<C: Curve<L>, const L: usize>(
    digest: &Limbs<L>,
    r: &Limbs<L>,
    s: &Limbs<L>,
) -> Option<(Limbs<L>, Limbs<L>)> {
    let n = &C::N;
    let in_range = |x: &Limbs<L>| *x != [0; L] && less_than(x, &n.limbs);
    if !in_range(r) || !in_range(s) {
        return None;
    }
    // e < 2^(32·L) < 2n, so one subtraction reduces it.
    let mut e = *digest;
    if !less_than(&e, &n.limbs) {
        subtract_in_place(&mut e, &n.limbs);
    }
    // w = s⁻¹·R; multiplying a plain number by it leaves Montgomery form: e·w·R·R⁻¹ = e·s⁻¹.
    let w = n.invert(&n.to_montgomery(s));
    Some((n.mul(&e, &w), n.mul(r, &w)))
}

/// Whether the affine x of (X : Z) (Jacobian, Montgomery form) is r modulo n, without an
/// inversion: x mod n = r means x = r or x = r + n (the latter only when r + n < p), and
/// x = X/Z², so compare X with r·Z².
fn x_matches<C: Curve<L>, const L: usize>(x: &Limbs<L>, z: &Limbs<L>, r: &Limbs<L>) -> bool {
    let p = &C::P;
    let z_squared = p.mul(z, z);
    let matches = |candidate: &Limbs<L>| p.mul(&p.to_montgomery(candidate), &z_squared) == *x;
    if matches(r) {
        return true;
    }
    let mut r_plus_n = *r;
    let carry = add_in_place(&mut r_plus_n, &C::N.limbs);
    !carry && less_than(&r_plus_n, &p.limbs) && matches(&r_plus_n)
}

/// The base point's comb table, built on the first verification in this VM.
fn base_comb<C: Curve<L>, const L: usize>() -> Option<&'static Comb<C, L>> {
    C::base_comb_cell()
        .get_or_init(|| Comb::new(&Affine::from_coordinates(&C::G_X, &C::G_Y)?))
        .as_ref()
}

#[cfg(test)]
mod tests;
