//! P-256 points (y² = x³ - 3x + b over GF(p)): affine for precomputed tables, Jacobian
//! (x = X/Z², y = Y/Z³) while accumulating. Coordinates are in Montgomery form mod p.
//!
//! The addition handles its exceptional cases explicitly (equal points double, opposite
//! points give infinity), so every input is correct, not only the generic ones.

use super::field::{Limbs, P};

#[inline]
fn mul(a: &Limbs, b: &Limbs) -> Limbs {
    P.mul(a, b)
}

#[inline]
fn square(a: &Limbs) -> Limbs {
    P.mul(a, a)
}

#[inline]
fn add(a: &Limbs, b: &Limbs) -> Limbs {
    P.add(a, b)
}

#[inline]
fn sub(a: &Limbs, b: &Limbs) -> Limbs {
    P.sub(a, b)
}

const ZERO: Limbs = [0; 8];

/// A finite point (infinity has no affine form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Affine {
    pub(super) x: Limbs,
    pub(super) y: Limbs,
}

/// Z = 0 is the point at infinity.
#[derive(Clone, Copy, Debug)]
pub(super) struct Jacobian {
    pub(super) x: Limbs,
    pub(super) y: Limbs,
    pub(super) z: Limbs,
}

impl Affine {
    /// b in Montgomery form.
    fn curve_b() -> Limbs {
        P.to_montgomery(&[
            0x27d2_604b,
            0x3bce_3c3e,
            0xcc53_b0f6,
            0x651d_06b0,
            0x7698_86bc,
            0xb3eb_bd55,
            0xaa3a_93e7,
            0x5ac6_35d8,
        ])
    }

    /// The point with plain coordinates x, y, if both are below p and it lies on the curve.
    pub(super) fn from_coordinates(x: &Limbs, y: &Limbs) -> Option<Affine> {
        if !super::field::less_than(x, &P.limbs) || !super::field::less_than(y, &P.limbs) {
            return None;
        }
        let (x, y) = (P.to_montgomery(x), P.to_montgomery(y));
        let three_x = add(&add(&x, &x), &x);
        let right = add(&sub(&mul(&square(&x), &x), &three_x), &Affine::curve_b());
        (square(&y) == right).then_some(Affine { x, y })
    }
}

impl Jacobian {
    pub(super) const INFINITY: Jacobian = Jacobian {
        x: P.one,
        y: P.one,
        z: ZERO,
    };

    pub(super) fn from_affine(point: &Affine) -> Jacobian {
        Jacobian {
            x: point.x,
            y: point.y,
            z: P.one,
        }
    }

    pub(super) fn is_infinity(&self) -> bool {
        self.z == ZERO
    }

    /// 2·self ("dbl-2001-b", a = -3: 3M + 5S). Infinity stays infinity (Z3 comes out 0); no
    /// finite point has order 2 (the group order is an odd prime).
    pub(super) fn double(&self) -> Jacobian {
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
        Jacobian { x, y, z }
    }

    /// self + other (mixed addition, 8M + 3S), correct for every input: infinity, equal
    /// points (doubling) and opposite points (infinity).
    pub(super) fn add_affine(&self, other: &Affine) -> Jacobian {
        if self.is_infinity() {
            return Jacobian::from_affine(other);
        }
        let z1z1 = square(&self.z);
        let u2 = mul(&other.x, &z1z1);
        let s2 = mul(&other.y, &mul(&self.z, &z1z1));
        let h = sub(&u2, &self.x);
        let r = sub(&s2, &self.y);
        if h == ZERO {
            return if r == ZERO {
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
        Jacobian { x, y, z }
    }
}

/// The affine forms of finite points with one field inversion in all (Montgomery's trick).
/// `None` if any of them is infinity.
pub(super) fn to_affine_batch(points: &[Jacobian]) -> Option<Vec<Affine>> {
    if points.iter().any(Jacobian::is_infinity) {
        return None;
    }
    // prefix[i] = z_0 · … · z_i
    let mut prefix = Vec::with_capacity(points.len());
    let mut running = P.one;
    for point in points {
        running = mul(&running, &point.z);
        prefix.push(running);
    }
    let mut inverse = P.invert(&running);
    let mut affine = vec![Affine { x: ZERO, y: ZERO }; points.len()];
    for i in (0..points.len()).rev() {
        let z_inverse = match i {
            0 => inverse,
            _ => mul(&inverse, &prefix[i - 1]),
        };
        inverse = mul(&inverse, &points[i].z);
        let z_inverse_squared = square(&z_inverse);
        affine[i] = Affine {
            x: mul(&points[i].x, &z_inverse_squared),
            y: mul(&points[i].y, &mul(&z_inverse_squared, &z_inverse)),
        };
    }
    Some(affine)
}
