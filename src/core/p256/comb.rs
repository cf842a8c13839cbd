//! Fixed-point scalar multiplication with a comb (Lim–Lee, 8 teeth, spacing 32): a table of
//! the 255 sums Σ bᵢ·2^(32·i)·P per point turns k·P into 32 doublings and at most 32 mixed
//! additions. Verification computes u1·G + u2·Q with one shared chain of doublings, so an
//! ES256 check costs 32 doublings and up to 64 additions instead of 256 and about 100.

use super::field::Limbs;
use super::point::{to_affine_batch, Affine, Jacobian};

const TEETH: usize = 8;
/// Bits between teeth. With 32-bit limbs, tooth i of column j is bit j of limb i.
const SPACING: usize = 32;

/// The comb table of one point: entry d - 1 is Σ over the set bits i of d of 2^(32·i)·P.
#[derive(Clone)]
pub(super) struct Comb {
    entries: Vec<Affine>,
}

impl Comb {
    /// About 250 additions and 224 doublings, plus one inversion; done once per point. `None`
    /// only if a multiple of the point is infinity, which no point of order n allows.
    pub(super) fn new(point: &Affine) -> Option<Comb> {
        let mut teeth = vec![Jacobian::from_affine(point)];
        for i in 1..TEETH {
            let mut tooth = teeth[i - 1];
            for _ in 0..SPACING {
                tooth = tooth.double();
            }
            teeth.push(tooth);
        }
        let teeth = to_affine_batch(&teeth)?;
        let mut sums: Vec<Jacobian> = Vec::with_capacity((1 << TEETH) - 1);
        for digit in 1usize..1 << TEETH {
            let top = usize::BITS - 1 - digit.leading_zeros();
            let rest = digit & !(1 << top);
            let tooth = &teeth[top as usize];
            sums.push(match rest {
                0 => Jacobian::from_affine(tooth),
                _ => sums[rest - 1].add_affine(tooth),
            });
        }
        Some(Comb {
            entries: to_affine_batch(&sums)?,
        })
    }

    /// Adds column j of `scalar`'s digits to `acc`.
    #[inline]
    fn add_column(&self, acc: &Jacobian, scalar: &Limbs, column: usize) -> Jacobian {
        let digit = scalar.iter().enumerate().fold(0, |digit, (i, limb)| {
            digit | (((limb >> column) & 1) as usize) << i
        });
        match digit {
            0 => *acc,
            _ => acc.add_affine(&self.entries[digit - 1]),
        }
    }
}

/// a·A + b·B for the points whose combs are given, a and b plain 256-bit integers.
pub(super) fn double_mul(a_comb: &Comb, a: &Limbs, b_comb: &Comb, b: &Limbs) -> Jacobian {
    let mut acc = Jacobian::INFINITY;
    for column in (0..SPACING).rev() {
        acc = acc.double();
        acc = a_comb.add_column(&acc, a, column);
        acc = b_comb.add_column(&acc, b, column);
    }
    acc
}
