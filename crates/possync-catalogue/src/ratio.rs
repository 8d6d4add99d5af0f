//! Exact rational arithmetic over `i128`, for the intermediate values of the
//! tax computation (a price-included rate divides, so minor units alone are
//! not enough). Odoo computes these in binary floats and rounds with
//! `float_round`, whose epsilon nudge exists to give the decimal answer; exact
//! fractions give that decimal answer by construction, on every terminal.

/// An intermediate result overflowed 128 bits: only for inputs far beyond any
/// validated catalogue or order (prices and quantities are bounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount out of range: an intermediate tax computation overflowed")]
pub struct Overflow;

/// `num / den`, always reduced, `den > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Ratio {
    num: i128,
    den: i128,
}

/// Greatest common divisor of the magnitudes; `None` only for gcd(MIN, MIN)
/// or gcd(MIN, 0), which does not fit in an `i128`.
fn gcd(a: i128, b: i128) -> Option<i128> {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i128::try_from(a).ok()
}

impl Ratio {
    pub(crate) const ZERO: Ratio = Ratio { num: 0, den: 1 };

    pub(crate) fn int(n: i128) -> Self {
        Ratio { num: n, den: 1 }
    }

    pub(crate) fn new(num: i128, den: i128) -> Result<Self, Overflow> {
        if den == 0 {
            return Err(Overflow);
        }
        let g = gcd(num, den).ok_or(Overflow)?.max(1);
        let (mut num, mut den) = (num / g, den / g);
        if den < 0 {
            num = num.checked_neg().ok_or(Overflow)?;
            den = den.checked_neg().ok_or(Overflow)?;
        }
        Ok(Ratio { num, den })
    }

    pub(crate) fn add(self, o: Ratio) -> Result<Self, Overflow> {
        let g = gcd(self.den, o.den).ok_or(Overflow)?.max(1);
        let (a, b) = (self.den / g, o.den / g);
        let num = self.num.checked_mul(b).and_then(|x| o.num.checked_mul(a).and_then(|y| x.checked_add(y)));
        let den = self.den.checked_mul(b);
        match (num, den) {
            (Some(n), Some(d)) => Ratio::new(n, d),
            _ => Err(Overflow),
        }
    }

    pub(crate) fn sub(self, o: Ratio) -> Result<Self, Overflow> {
        self.add(o.neg()?)
    }

    pub(crate) fn mul(self, o: Ratio) -> Result<Self, Overflow> {
        // Cross-reduce first so products stay small.
        let g1 = gcd(self.num, o.den).ok_or(Overflow)?.max(1);
        let g2 = gcd(o.num, self.den).ok_or(Overflow)?.max(1);
        let num = (self.num / g1).checked_mul(o.num / g2).ok_or(Overflow)?;
        let den = (self.den / g2).checked_mul(o.den / g1).ok_or(Overflow)?;
        Ratio::new(num, den)
    }

    pub(crate) fn div(self, o: Ratio) -> Result<Self, Overflow> {
        if o.num == 0 {
            return Err(Overflow);
        }
        self.mul(Ratio::new(o.den, o.num)?)
    }

    pub(crate) fn neg(self) -> Result<Self, Overflow> {
        Ok(Ratio { num: self.num.checked_neg().ok_or(Overflow)?, den: self.den })
    }

    pub(crate) fn abs(self) -> Result<Self, Overflow> {
        if self.num < 0 { self.neg() } else { Ok(self) }
    }

    pub(crate) fn is_zero(self) -> bool {
        self.num == 0
    }

    pub(crate) fn is_negative(self) -> bool {
        self.num < 0
    }

    /// The nearest multiple of `step`, halves away from zero: Odoo's
    /// `float_round(value, precision_rounding=step)` with its default
    /// `HALF-UP` method, which rounds -2.5 to -3.
    pub(crate) fn round_to(self, step: Ratio) -> Result<Self, Overflow> {
        let q = self.div(step)?;
        Ratio::int(q.round_half_away()?).mul(step)
    }

    /// The nearest integer, halves away from zero.
    pub(crate) fn round_half_away(self) -> Result<i128, Overflow> {
        let twice = self.num.checked_mul(2).ok_or(Overflow)?;
        let den2 = self.den.checked_mul(2).ok_or(Overflow)?;
        if twice >= 0 {
            Ok(twice.checked_add(self.den).ok_or(Overflow)? / den2)
        } else {
            Ok(-(twice.checked_neg().ok_or(Overflow)?.checked_add(self.den).ok_or(Overflow)? / den2))
        }
    }

    /// The value as an integer, if it is one.
    pub(crate) fn as_int(self) -> Option<i128> {
        (self.den == 1).then_some(self.num)
    }
}

impl Default for Ratio {
    fn default() -> Self {
        Ratio::ZERO
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_from_zero() {
        let r = |n, d| Ratio::new(n, d).unwrap();
        assert_eq!(r(5, 2).round_half_away().unwrap(), 3);
        assert_eq!(r(-5, 2).round_half_away().unwrap(), -3);
        assert_eq!(r(7, 3).round_half_away().unwrap(), 2);
        assert_eq!(r(-7, 3).round_half_away().unwrap(), -2);
        assert_eq!(r(17, 1).round_to(r(5, 1)).unwrap(), r(15, 1));
        assert_eq!(r(35, 2).round_to(r(5, 1)).unwrap(), r(20, 1));
        assert_eq!(r(1, 3).add(r(1, 6)).unwrap(), r(1, 2));
        assert!(r(1, 3).sub(r(1, 2)).unwrap().is_negative());
        assert_eq!(r(3, -6), r(-1, 2));
        assert!(Ratio::new(1, 0).is_err());
        assert!(Ratio::int(i128::MAX).add(Ratio::int(1)).is_err());
        assert!(Ratio::new(i128::MIN, i128::MIN).is_err());
        assert!(Ratio::new(i128::MIN, 1).unwrap().neg().is_err());
    }
}
