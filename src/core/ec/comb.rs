//! Fixed-point scalar multiplication with a comb (Lim–Lee, 8 teeth, spacing 32·L/8 bits: 32
//! for P-256, 48 for P-384): a table of the 255 sums Σ bᵢ·2^(spacing·i)·P per point turns k·P
//! into `spacing` doublings and at most as many mixed additions. Verification computes
//! u1·G + u2·Q with one shared chain of doublings, so an ES256 check costs 32 doublings and up
//! to 64 additions instead of 256 and about 100 (ES384: 48 and up to 96).

use super::field::Limbs;
use super::point::{to_affine_batch, Affine, Jacobian};
use super::Curve;

/// Eight teeth keep a table at 255 points (16 KiB for P-256, 24 KiB for P-384); each more
/// tooth would halve the doublings and double the table.
const TEETH: usize = 8;

/// The comb table of one point: entry d - 1 is Σ over the set bits i of d of 2^(spacing·i)·P.
pub struct Comb<C, const L: usize> {
    entries: Vec<Affine<C, L>>,
}

impl<C, const L: usize> Clone for Comb<C, L> {
    fn clone(&self) -> Self {
        Comb {
            entries: self.entries.clone(),
        }
    }
}

impl<C: Curve<L>, const L: usize> Comb<C, L> {
    /// Bits between teeth: the 32·L bits of a scalar split into 8 runs.
    const SPACING: usize = 32 * L / TEETH;

    /// About 250 additions and 7·spacing doublings, plus one inversion; done once per point.
    /// `None` only if a multiple of the point is infinity, which no point of order n allows.
    pub(super) fn new(point: &Affine<C, L>) -> Option<Comb<C, L>> {
        let mut teeth = vec![Jacobian::from_affine(point)];
        for i in 1..TEETH {
            let mut tooth = teeth[i - 1];
            for _ in 0..Self::SPACING {
                tooth = tooth.double();
            }
            teeth.push(tooth);
        }
        let teeth = to_affine_batch(&teeth)?;
        let mut sums: Vec<Jacobian<C, L>> = Vec::with_capacity((1 << TEETH) - 1);
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

    /// Adds column j of `scalar`'s digits to `acc`: tooth i is bit spacing·i + j.
    #[inline]
    fn add_column(&self, acc: &Jacobian<C, L>, scalar: &Limbs<L>, column: usize) -> Jacobian<C, L> {
        let digit = (0..TEETH).fold(0, |digit, i| {
            let bit = Self::SPACING * i + column;
            digit | (((scalar[bit / 32] >> (bit % 32)) & 1) as usize) << i
        });
        match digit {
            0 => *acc,
            _ => acc.add_affine(&self.entries[digit - 1]),
        }
    }
}

/// a·A + b·B for the points whose combs are given, a and b plain integers below 2^(32·L).
pub(super) fn double_mul<C: Curve<L>, const L: usize>(
    a_comb: &Comb<C, L>,
    a: &Limbs<L>,
    b_comb: &Comb<C, L>,
    b: &Limbs<L>,
) -> Jacobian<C, L> {
    let mut acc = Jacobian::INFINITY;
    for column in (0..Comb::<C, L>::SPACING).rev() {
        acc = acc.double();
        acc = a_comb.add_column(&acc, a, column);
        acc = b_comb.add_column(&acc, b, column);
    }
    acc
}
