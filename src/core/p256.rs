//! ES256: ECDSA over P-256 with SHA-256 (RFC 7518 §3.4), verified by `core::ec`. The constants
//! are SEC 2's secp256r1 (FIPS 186-4's P-256); tests check G on the curve and n·G = ∞.

use std::sync::OnceLock;

use sha2::Sha256;

use super::ec::{Comb, Curve, Limbs, Modulus, VerifyingKey};

/// The curve P-256: eight 32-bit limbs per number.
pub enum P256 {}

/// A P-256 public key that lies on the curve.
pub type P256VerifyingKey = VerifyingKey<P256, 8>;

impl Curve<8> for P256 {
    const NAME: &'static str = "P256VerifyingKey";
    /// p = 2^256 - 2^224 + 2^192 + 2^96 - 1.
    const P: Modulus<8> = Modulus::new([
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0,
        0,
        0,
        1,
        0xffff_ffff,
    ]);
    /// n, the order of the base point (and of every other point: the cofactor is 1).
    const N: Modulus<8> = Modulus::new([
        0xfc63_2551,
        0xf3b9_cac2,
        0xa717_9e84,
        0xbce6_faad,
        0xffff_ffff,
        0xffff_ffff,
        0,
        0xffff_ffff,
    ]);
    const B: Limbs<8> = [
        0x27d2_604b,
        0x3bce_3c3e,
        0xcc53_b0f6,
        0x651d_06b0,
        0x7698_86bc,
        0xb3eb_bd55,
        0xaa3a_93e7,
        0x5ac6_35d8,
    ];
    const G_X: Limbs<8> = [
        0xd898_c296,
        0xf4a1_3945,
        0x2deb_33a0,
        0x7703_7d81,
        0x63a4_40f2,
        0xf8bc_e6e5,
        0xe12c_4247,
        0x6b17_d1f2,
    ];
    const G_Y: Limbs<8> = [
        0x37bf_51f5,
        0xcbb6_4068,
        0x6b31_5ece,
        0x2bce_3357,
        0x7c0f_9e16,
        0x8ee7_eb4a,
        0xfe1a_7f9b,
        0x4fe3_42e2,
    ];
    type Hash = Sha256;

    fn base_comb_cell() -> &'static OnceLock<Option<Comb<P256, 8>>> {
        static BASE: OnceLock<Option<Comb<P256, 8>>> = OnceLock::new();
        &BASE
    }
}
