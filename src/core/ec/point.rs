//! Points of a short Weierstrass curve with a = -3 (y² = x³ - 3x + b over GF(p), as P-256 and
//! P-384 are): affine for precomputed tables, Jacobian (x = X/Z², y = Y/Z³) while accumulating.
//! Coordinates are in Montgomery form mod the curve's p.
//!
//! The addition handles its exceptional cases explicitly (equal points double, opposite
//! points give infinity), so every input is correct, not only the generic ones.

use std::marker::PhantomData;

use super::field::{less_than, Limbs};
use super::Curve;

/// A finite point (infinity has no affine form).
pub(super) struct Affine<C, const L: usize> {
    pub(super) x: Limbs<L>,
    pub(super) y: Limbs<L>,
    curve: PhantomData<C>,
}

/// Z = 0 is the point at infinity.
pub(super) struct Jacobian<C, const L: usize> {
    pub(super) x: Limbs<L>,
    pub(super) y: Limbs<L>,
    pub(super) z: Limbs<L>,
    curve: PhantomData<C>,
}

// By hand: derived impls would require the curve's marker type to be `Clone` and `Copy`.
impl<C, const L: usize> Clone for Affine<C, L> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C, const L: usize> Copy for Affine<C, L> {}
impl<C, const L: usize> Clone for Jacobian<C, L> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C, const L: usize> Copy for Jacobian<C, L> {}

impl<C: Curve<L>, const L: usize> Affine<C, L> {
    /// The point with plain coordinates x, y, if both are below p and it lies on the curve.
    pub(super) fn from_coordinates(x: &Limbs<L>, y: &Limbs<L>) -> Option<Affine<C, L>> {
        if !less_than(x, &C::P.limbs) || !less_than(y, &C::P.limbs) {
            return None;
        }
        let (mul, square, add, sub) = (mul::<C, L>, square::<C, L>, add::<C, L>, sub::<C, L>);
        let (x, y) = (C::P.to_montgomery(x), C::P.to_montgomery(y));
        let three_x = add(&add(&x, &x), &x);
        let right = add(
            &sub(&mul(&square(&x), &x), &three_x),
            &C::P.to_montgomery(&C::B),
        );
        (square(&y) == right).then_some(Affine::new(x, y))
    }

    fn new(x: Limbs<L>, y: Limbs<L>) -> Affine<C, L> {
        Affine {
            x,
            y,
            curve: PhantomData,
        }
    }
}

impl<C: Curve<L>, const L: usize> Jacobian<C, L> {
    pub(super) const INFINITY: Jacobian<C, L> = Jacobian::new(C::P.one, C::P.one, [0; L]);

    const fn new(x: Limbs<L>, y: Limbs<L>, z: Limbs<L>) -> Jacobian<C, L> {
        Jacobian {
            x,
            y,
            z,
            curve: PhantomData,
        }
    }

    pub(super) fn from_affine(point: &Affine<C, L>) -> Jacobian<C, L> {
        Jacobian::new(point.x, point.y, C::P.one)
    }

    pub(super) fn is_infinity(&self) -> bool {
        self.z == [0; L]
    }

    /// 2·self ("dbl-2001-b", a = -3: 3M + 5S). Infinity stays infinity (Z3 comes out 0); no
    /// finite point has order 2 (the group order is an odd prime).
    pub(super) fn double(&self) -> Jacobian<C, L> {
        let (mul, square, add, sub) = (mul::<C, L>, square::<C, L>, add::<C, L>, sub::<C, L>);
        let delta = square(&self.z);
        let gamma = square(&self.y);
        let beta = mul(&self.x, &gamma);
        let product = mul(&sub(&self.x, &delta), &add(&self.x, &delta));
        let alpha = add(&add(&product, &product), &product);
        let beta4 = add(&add(&beta, &beta), &add(&beta, &beta));
        let x = sub(&square(&alpha), &add(&beta4, &beta4));
        let z = sub(&sub(&square(&add(&self.y, &self.z)), &gamma), &delta);
        let gamma_squared = square(&gamma);
        let gamma4 = add(
            &add(&gamma_squared, &gamma_squared),
            &add(&gamma_squared, &gamma_squared),
        );
        let y = sub(&mul(&alpha, &sub(&beta4, &x)), &add(&gamma4, &gamma4));
        Jacobian::new(x, y, z)
    }

    /// self + other (mixed addition, 8M + 3S), correct for every input: infinity, equal
    /// points (doubling) and opposite points (infinity).
    pub(super) fn add_affine(&self, other: &Affine<C, L>) -> Jacobian<C, L> {
        if self.is_infinity() {
            return Jacobian::from_affine(other);
        }
        let (mul, square, add, sub) = (mul::<C, L>, square::<C, L>, add::<C, L>, sub::<C, L>);
        let z1z1 = square(&self.z);
        let u2 = mul(&other.x, &z1z1);
        let s2 = mul(&other.y, &mul(&self.z, &z1z1));
        let h = sub(&u2, &self.x);
        let r = sub(&s2, &self.y);
        if h == [0; L] {
            return if r == [0; L] {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = square(&h);
        let hhh = mul(&h, &hh);
        let v = mul(&self.x, &hh);
        let x = sub(&sub(&square(&r), &hhh), &add(&v, &v));
        let y = sub(&mul(&r, &sub(&v, &x)), &mul(&self.y, &hhh));
        let z = mul(&self.z, &h);
        Jacobian::new(x, y, z)
    }
}

/// The affine forms of finite points with one field inversion in all (Montgomery's trick).
/// `None` if any of them is infinity.
pub(super) fn to_affine_batch<C: Curve<L>, const L: usize>(
    points: &[Jacobian<C, L>],
) -> Option<Vec<Affine<C, L>>> {
    if points.iter().any(Jacobian::is_infinity) {
        return None;
    }
    let (mul, square) = (mul::<C, L>, square::<C, L>);
    // prefix[i] = z_0 · … · z_i
    let mut prefix = Vec::with_capacity(points.len());
    let mut running = C::P.one;
    for point in points {
        running = mul(&running, &point.z);
        prefix.push(running);
    }
    let mut inverse = C::P.invert(&running);
    let mut affine = vec![Affine::new([0; L], [0; L]); points.len()];
    for i in (0..points.len()).rev() {
        let z_inverse = match i {
            0 => inverse,
            _ => mul(&inverse, &prefix[i - 1]),
        };
        inverse = mul(&inverse, &points[i].z);
        let z_inverse_squared = square(&z_inverse);
        affine[i] = Affine::new(
            mul(&points[i].x, &z_inverse_squared),
            mul(&points[i].y, &mul(&z_inverse_squared, &z_inverse)),
        );
    }
    Some(affine)
}

#[inline]
fn mul<C: Curve<L>, const L: usize>(a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
    C::P.mul(a, b)
}

#[inline]
fn square<C: Curve<L>, const L: usize>(a: &Limbs<L>) -> Limbs<L> {
    C::P.mul(a, a)
}

#[inline]
fn add<C: Curve<L>, const L: usize>(a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
    C::P.add(a, b)
}

#[inline]
fn sub<C: Curve<L>, const L: usize>(a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
    C::P.sub(a, b)
}
