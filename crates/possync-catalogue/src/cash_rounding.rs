//! Cash rounding (Odoo `account.cash.rounding`): where coins of the smallest
//! denominations are not used, an amount paid in cash is rounded to a step
//! (0.05 in Switzerland), and the difference is booked apart.

use possync_money::Money;
use serde::{Deserialize, Serialize};

/// Odoo's `rounding_method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CashRoundingMethod {
    /// To the nearest step, halves away from zero (`HALF-UP`).
    HalfUp,
    /// Away from zero (`UP`).
    Up,
    /// Towards zero (`DOWN`).
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CashRounding {
    /// The step in minor units (5 for 0.05).
    pub step: Money,
    pub method: CashRoundingMethod,
}

impl CashRounding {
    /// `amount` rounded to the step. The POS rounds the amount's magnitude
    /// and keeps its sign, so a refund rounds like a sale.
    pub fn round(&self, amount: Money) -> Money {
        let step = self.step.0.max(1);
        let (sign, abs) = (amount.0.signum(), amount.0.unsigned_abs());
        let step_u = step.unsigned_abs();
        let (q, r) = (abs / step_u, abs % step_u);
        let up = match self.method {
            CashRoundingMethod::HalfUp => 2 * r >= step_u,
            CashRoundingMethod::Up => r > 0,
            CashRoundingMethod::Down => false,
        };
        let rounded = (q + u64::from(up)).saturating_mul(step_u);
        Money(sign * i64::try_from(rounded).unwrap_or(i64::MAX))
    }

    /// What rounding adds to `amount` (negative when it takes away).
    pub fn adjustment(&self, amount: Money) -> Money {
        Money(self.round(amount).0.saturating_sub(amount.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_the_step() {
        let half = CashRounding { step: Money(5), method: CashRoundingMethod::HalfUp };
        assert_eq!(half.round(Money(1412)), Money(1410));
        assert_eq!(half.round(Money(1413)), Money(1415));
        assert_eq!(half.round(Money(1415)), Money(1415));
        assert_eq!(half.round(Money(-1413)), Money(-1415));
        assert_eq!(half.adjustment(Money(1412)), Money(-2));
        let up = CashRounding { step: Money(5), method: CashRoundingMethod::Up };
        assert_eq!(up.round(Money(1411)), Money(1415));
        assert_eq!(up.round(Money(1410)), Money(1410));
        let down = CashRounding { step: Money(10), method: CashRoundingMethod::Down };
        assert_eq!(down.round(Money(1419)), Money(1410));
        assert_eq!(down.round(Money(0)), Money(0));
    }
}
