//! ES384: ECDSA over P-384 with SHA-384 (RFC 7518 §3.4), verified by `core::ec`. The constants
//! are SEC 2's secp384r1 (FIPS 186-4's P-384); tests check G on the curve and n·G = ∞.

use std::sync::OnceLock;

use sha2::Sha384;

use super::ec::{Comb, Curve, Limbs, Modulus, VerifyingKey};

/// The curve P-384: twelve 32-bit limbs per number.
pub enum P384 {}

/// A P-384 public key that lies on the curve.
pub type P384VerifyingKey = VerifyingKey<P384, 12>;

impl Curve<12> for P384 {
    const NAME: &'static str = "P384VerifyingKey";
    /// p = 2^384 - 2^128 - 2^96 + 2^32 - 1.
    const P: Modulus<12> = Modulus::new([
        0xffff_ffff,
        0,
        0,
        0xffff_ffff,
        0xffff_fffe,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ]);
    /// n, the order of the base point (and of every other point: the cofactor is 1).
    const N: Modulus<12> = Modulus::new([
        0xccc5_2973,
        0xecec_196a,
        0x48b0_a77a,
        0x581a_0db2,
        0xf437_2ddf,
        0xc763_4d81,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ]);
    const B: Limbs<12> = [
        0xd3ec_2aef,
        0x2a85_c8ed,
        0x8a2e_d19d,
        0xc656_398d,
        0x5013_875a,
        0x0314_088f,
        0xfe81_4112,
        0x181d_9c6e,
        0xe3f8_2d19,
        0x988e_056b,
        0xe23e_e7e4,
        0xb331_2fa7,
    ];
    const G_X: Limbs<12> = [
        0x7276_0ab7,
        0x3a54_5e38,
        0xbf55_296c,
        0x5502_f25d,
        0x8254_2a38,
        0x59f7_41e0,
        0x8ba7_9b98,
        0x6e1d_3b62,
        0xf320_ad74,
        0x8eb1_c71e,
        0xbe8b_0537,
        0xaa87_ca22,
    ];
    const G_Y: Limbs<12> = [
        0x90ea_0e5f,
        0x7a43_1d7c,
        0x1d7e_819d,
        0x0a60_b1ce,
        0xb5f0_b8c0,
        0xe9da_3113,
        0x289a_147c,
        0xf8f4_1dbd,
        0x9292_dc29,
        0x5d9e_98bf,
        0x9626_2c6f,
        0x3617_de4a,
    ];
    type Hash = Sha384;

    fn base_comb_cell() -> &'static OnceLock<Option<Comb<P384, 12>>> {
        static BASE: OnceLock<Option<Comb<P384, 12>>> = OnceLock::new();
        &BASE
    }
}
