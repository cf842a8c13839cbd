//! Which limb size suits WebAssembly: one Montgomery multiplication mod the P-256 prime with
//! eight 32-bit limbs (u32×u32→u64, what `core::p256` uses) against four 64-bit limbs
//! (u64×u64→u128, which wasm32 has no instruction for).

use std::hint::black_box;

const P32: [u32; 8] = [
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0,
    0,
    1,
    0xffff_ffff,
];
const P64: [u64; 4] = [
    0xffff_ffff_ffff_ffff,
    0x0000_0000_ffff_ffff,
    0,
    0xffff_ffff_0000_0001,
];

/// a·b·2^-256 mod p, 32-bit limbs (-p⁻¹ mod 2^32 = 1).
fn mul32(a: &[u32; 8], b: &[u32; 8]) -> [u32; 8] {
    let mut t = [0u32; 9];
    for &b_i in b {
        let b_i = u64::from(b_i);
        let first = u64::from(t[0]) + u64::from(a[0]) * b_i;
        let q = u64::from(first as u32);
        let mut carry_ab = first >> 32;
        let mut carry_qm = (u64::from(first as u32) + q * u64::from(P32[0])) >> 32;
        for j in 1..8 {
            let ab = u64::from(t[j]) + u64::from(a[j]) * b_i + carry_ab;
            let qm = u64::from(ab as u32) + q * u64::from(P32[j]) + carry_qm;
            t[j - 1] = qm as u32;
            carry_ab = ab >> 32;
            carry_qm = qm >> 32;
        }
        let top = u64::from(t[8]) + carry_ab + carry_qm;
        t[7] = top as u32;
        t[8] = (top >> 32) as u32;
    }
    let mut out = [0u32; 8];
    out.copy_from_slice(&t[..8]);
    if t[8] != 0 || out.iter().rev().cmp(P32.iter().rev()).is_ge() {
        let mut borrow = 0u64;
        for (o, &p) in out.iter_mut().zip(&P32) {
            let d = u64::from(*o)
                .wrapping_sub(u64::from(p))
                .wrapping_sub(borrow);
            *o = d as u32;
            borrow = (d >> 63) & 1;
        }
    }
    out
}

/// The same with 64-bit limbs (-p⁻¹ mod 2^64 = 1).
fn mul64(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let mut t = [0u64; 5];
    for &b_i in b {
        let b_i = u128::from(b_i);
        let first = u128::from(t[0]) + u128::from(a[0]) * b_i;
        let q = u128::from(first as u64);
        let mut carry_ab = first >> 64;
        let mut carry_qm = (u128::from(first as u64) + q * u128::from(P64[0])) >> 64;
        for j in 1..4 {
            let ab = u128::from(t[j]) + u128::from(a[j]) * b_i + carry_ab;
            let qm = u128::from(ab as u64) + q * u128::from(P64[j]) + carry_qm;
            t[j - 1] = qm as u64;
            carry_ab = ab >> 64;
            carry_qm = qm >> 64;
        }
        let top = u128::from(t[4]) + carry_ab + carry_qm;
        t[3] = top as u64;
        t[4] = (top >> 64) as u64;
    }
    let mut out = [0u64; 4];
    out.copy_from_slice(&t[..4]);
    if t[4] != 0 || out.iter().rev().cmp(P64.iter().rev()).is_ge() {
        let mut borrow = 0u128;
        for (o, &p) in out.iter_mut().zip(&P64) {
            let d = u128::from(*o)
                .wrapping_sub(u128::from(p))
                .wrapping_sub(borrow);
            *o = d as u64;
            borrow = (d >> 127) & 1;
        }
    }
    out
}

/// Times 1000 chained multiplications per call with each limb size (the same numbers).
pub fn report() {
    let a32: [u32; 8] = [0x1234_5678, 0x9abc_def0, 7, 8, 9, 10, 11, 0x7fff_ffff];
    let mut a64 = [0u64; 4];
    for (i, limb) in a64.iter_mut().enumerate() {
        *limb = u64::from(a32[2 * i]) | u64::from(a32[2 * i + 1]) << 32;
    }
    let chain32 = || {
        let mut x = black_box(a32);
        for _ in 0..1000 {
            x = mul32(&x, &a32);
        }
        black_box(x);
    };
    let chain64 = || {
        let mut x = black_box(a64);
        for _ in 0..1000 {
            x = mul64(&x, &a64);
        }
        black_box(x);
    };
    // Both compute the same Montgomery product, so the results must agree limb for limb.
    let (mut x32, mut x64) = (a32, a64);
    for _ in 0..10 {
        x32 = mul32(&x32, &a32);
        x64 = mul64(&x64, &a64);
    }
    for i in 0..4 {
        assert_eq!(
            x64[i],
            u64::from(x32[2 * i]) | u64::from(x32[2 * i + 1]) << 32
        );
    }
    let times = crate::time_interleaved(&[&chain32, &chain64]);
    println!();
    println!("| field multiplication mod p | ns (median) | ns (best) |");
    println!("|---|---:|---:|");
    for (name, (median, best)) in ["8 × 32-bit limbs", "4 × 64-bit limbs (u128)"]
        .iter()
        .zip(times)
    {
        println!("| {name} | {:.0} | {:.0} |", median, best);
    }
}
