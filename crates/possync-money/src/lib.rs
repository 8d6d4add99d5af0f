//! Money, quantities and discounts as integers: no floats ever touch an amount,
//! so every terminal computes the same totals to the last cent.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in the currency's minor unit (cents for EUR/USD).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn minor(self) -> i64 {
        self.0
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}¢", self.0)
    }
}

impl fmt::Display for Money {
    /// Two decimals, the common case; integrators with other currencies format
    /// [`Money::minor`] themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// A quantity in thousandths of a unit, so weighed products (0.250 kg) are
/// exact. Stored in the order as an Automerge counter: concurrent increments
/// from two terminals add up instead of overwriting each other.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(pub i64);

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);
    /// Thousandths per unit.
    pub const SCALE: i64 = 1000;

    pub fn units(n: i64) -> Self {
        Quantity(n * Self::SCALE)
    }

    pub fn milli(self) -> i64 {
        self.0
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, frac) = (abs / 1000, abs % 1000);
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{frac:03}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// A discount in basis points: 1,000 = 10 %, 10,000 = 100 %.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Discount(pub u16);

impl Discount {
    pub const NONE: Discount = Discount(0);
    pub const FULL: Discount = Discount(10_000);

    pub fn basis_points(self) -> u16 {
        self.0
    }
}

/// `quantity × unit price × (1 − discount)`, rounded half away from zero to
/// the minor unit. Computed in 128 bits, so no realistic input overflows;
/// saturates instead of wrapping if one does.
pub fn line_total(quantity: Quantity, unit_price: Money, discount: Discount) -> Money {
    const DENOMINATOR: i128 = Quantity::SCALE as i128 * 10_000;
    // An i64 × i64 product always fits in 128 bits; the discount factor
    // (up to 10^4) can overflow it, for inputs far beyond any validated one.
    let numerator = (i128::from(quantity.0) * i128::from(unit_price.0))
        .checked_mul(10_000 - i128::from(discount.0.min(10_000)));
    let Some(numerator) = numerator else {
        let negative = (quantity.0 < 0) != (unit_price.0 < 0);
        return if negative { Money(i64::MIN) } else { Money(i64::MAX) };
    };
    let half = DENOMINATOR / 2;
    let rounded =
        if numerator >= 0 { (numerator + half) / DENOMINATOR } else { (numerator - half) / DENOMINATOR };
    Money(rounded.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_round_half_away_from_zero() {
        assert_eq!(line_total(Quantity::units(3), Money(250), Discount::NONE), Money(750));
        // 0.333 × 1.00 = 0.333 → 0.33
        assert_eq!(line_total(Quantity(333), Money(100), Discount::NONE), Money(33));
        // 1 × 0.05 × 90 % = 0.045 → 0.05
        assert_eq!(line_total(Quantity::units(1), Money(5), Discount(1000)), Money(5));
        assert_eq!(line_total(Quantity::units(2), Money(999), Discount::FULL), Money(0));
        assert_eq!(line_total(Quantity(i64::MAX), Money(i64::MAX), Discount::NONE).0, i64::MAX);
        assert_eq!(line_total(Quantity(i64::MAX), Money(-i64::MAX), Discount::NONE).0, i64::MIN);
    }

    #[test]
    fn display() {
        assert_eq!(Money(-1234).to_string(), "-12.34");
        assert_eq!(Quantity(1500).to_string(), "1.5");
        assert_eq!(Quantity(3000).to_string(), "3");
        assert_eq!(Quantity(1005).to_string(), "1.005");
    }
}
