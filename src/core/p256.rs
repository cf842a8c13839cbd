//! ES256 verification (ECDSA over P-256 with SHA-256, RFC 7518 §3.4), our own.
//!
//! Why not RustCrypto `p256` (what jwt-compact uses): its constant-time, general-purpose
//! double-scalar multiplication costs about 1.1 ms per check in V8, where Envoy runs the filter.
//! Verification only handles public values, so this code is variable time and trades memory
//! for speed: a comb table for the base point (built once per VM) and one per key (built on the
//! key's first use), 16 KiB each, make a check 32 doublings and up to 64 additions.
//! bench/p256 has the measurements; tests/wycheproof.rs and the differential test against
//! `p256` in tests.rs check it.

mod comb;
mod field;
mod point;

use std::fmt;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use comb::{double_mul, Comb};
use field::{add_in_place, from_be_bytes, less_than, Limbs, N, P};
use point::Affine;

/// A P-256 public key that lies on the curve, with its comb table once it has been used.
#[derive(Clone)]
pub struct P256VerifyingKey {
    point: Affine,
    comb: OnceLock<Option<Comb>>,
}

impl fmt::Debug for P256VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P256VerifyingKey")
    }
}

impl P256VerifyingKey {
    /// The key with big-endian affine coordinates `x` and `y` (a JWK's decoded members):
    /// `None` unless both are 32 bytes, below p, and the point lies on the curve.
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Option<P256VerifyingKey> {
        let x: &[u8; 32] = x.try_into().ok()?;
        let y: &[u8; 32] = y.try_into().ok()?;
        let point = Affine::from_coordinates(&from_be_bytes(x), &from_be_bytes(y))?;
        Some(P256VerifyingKey {
            point,
            comb: OnceLock::new(),
        })
    }

    /// Checks an ES256 `signature` (r ‖ s, 32 bytes each) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = <&[u8; 64]>::try_from(signature) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(message).into();
        self.verify_digest(&digest, signature)
    }

    fn verify_digest(&self, digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        let (r, s) = signature.split_at(32);
        let (Ok(r), Ok(s)) = (<&[u8; 32]>::try_from(r), <&[u8; 32]>::try_from(s)) else {
            return false;
        };
        let (r, s) = (from_be_bytes(r), from_be_bytes(s));
        let Some((u1, u2)) = signature_scalars(&from_be_bytes(digest), &r, &s) else {
            return false;
        };
        let (Some(base), Some(key)) = (base_comb(), self.comb()) else {
            return false;
        };
        let sum = double_mul(base, &u1, key, &u2);
        !sum.is_infinity() && x_matches(&sum.x, &sum.z, &r)
    }

    fn comb(&self) -> Option<&Comb> {
        self.comb.get_or_init(|| Comb::new(&self.point)).as_ref()
    }
}

/// u1 = e·s⁻¹ and u2 = r·s⁻¹ mod n (plain integers), where e is the digest reduced mod n.
/// `None` unless r and s are in 1..n-1.
fn signature_scalars(digest: &Limbs, r: &Limbs, s: &Limbs) -> Option<(Limbs, Limbs)> {
    let in_range = |x: &Limbs| *x != [0; 8] && less_than(x, &N.limbs);
    if !in_range(r) || !in_range(s) {
        return None;
    }
    // e < 2^256 < 2n, so one subtraction reduces it.
    let mut e = *digest;
    if !less_than(&e, &N.limbs) {
        field::subtract_in_place(&mut e, &N.limbs);
    }
    // w = s⁻¹·R; multiplying a plain number by it leaves Montgomery form: e·w·R·R⁻¹ = e·s⁻¹.
    let w = N.invert(&N.to_montgomery(s));
    Some((N.mul(&e, &w), N.mul(r, &w)))
}

/// Whether the affine x of (X : Z) (Jacobian, Montgomery form) is r modulo n, without an
/// inversion: x mod n = r means x = r or x = r + n (the latter only when r + n < p), and
/// x = X/Z², so compare X with r·Z².
fn x_matches(x: &Limbs, z: &Limbs, r: &Limbs) -> bool {
    let z_squared = P.mul(z, z);
    let matches = |candidate: &Limbs| P.mul(&P.to_montgomery(candidate), &z_squared) == *x;
    if matches(r) {
        return true;
    }
    let mut r_plus_n = *r;
    let carry = add_in_place(&mut r_plus_n, &N.limbs);
    !carry && less_than(&r_plus_n, &P.limbs) && matches(&r_plus_n)
}

/// The base point's comb table, built on the first verification in this VM.
fn base_comb() -> Option<&'static Comb> {
    static BASE: OnceLock<Option<Comb>> = OnceLock::new();
    BASE.get_or_init(|| {
        let x = [
            0xd898_c296,
            0xf4a1_3945,
            0x2deb_33a0,
            0x7703_7d81,
            0x63a4_40f2,
            0xf8bc_e6e5,
            0xe12c_4247,
            0x6b17_d1f2,
        ];
        let y = [
            0x37bf_51f5,
            0xcbb6_4068,
            0x6b31_5ece,
            0x2bce_3357,
            0x7c0f_9e16,
            0x8ee7_eb4a,
            0xfe1a_7f9b,
            0x4fe3_42e2,
        ];
        Comb::new(&Affine::from_coordinates(&x, &y)?)
    })
    .as_ref()
}

#[cfg(test)]
mod tests;
