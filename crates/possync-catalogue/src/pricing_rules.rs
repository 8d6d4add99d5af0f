//! The currency's rounding and the company's tax rounding method: everything
//! an order's totals depend on besides its lines. An order keeps one copy, so
//! every terminal rounds alike even if the catalogue changes meanwhile.

use serde::{Deserialize, Serialize};

use crate::field_error::FieldError;

/// Odoo's `res.company.tax_calculation_rounding_method`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMethod {
    /// Each line's tax amounts are rounded to the currency, then summed.
    #[default]
    RoundPerLine,
    /// Each line's tax amounts are kept to 1/100,000 of the currency's
    /// rounding; each tax's sum over the order is rounded once.
    RoundGlobally,
}

/// How totals are rounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingRules {
    /// Decimal places of the currency (2 for EUR): how many minor units make
    /// one currency unit. Fixed tax amounts are given in currency units.
    pub decimals: u8,
    /// The currency's rounding step in minor units (Odoo's
    /// `res.currency.rounding` divided by the minor unit): 1 for EUR.
    pub rounding: i64,
    pub method: RoundingMethod,
}

impl PricingRules {
    /// Most decimal places accepted: 10^6 minor units per currency unit.
    pub const MAX_DECIMALS: u8 = 6;

    /// Two decimals, rounding to the cent.
    pub fn cents(method: RoundingMethod) -> Self {
        PricingRules { decimals: 2, rounding: 1, method }
    }

    /// Checks the decimals and the rounding step.
    pub fn check(&self) -> Result<(), FieldError> {
        if self.decimals > Self::MAX_DECIMALS {
            return Err(FieldError::new(
                "decimals",
                format!("{} is more than {}", self.decimals, Self::MAX_DECIMALS),
            ));
        }
        if !(1..=1_000_000).contains(&self.rounding) {
            return Err(FieldError::new(
                "rounding",
                format!("{} minor units is not a rounding step", self.rounding),
            ));
        }
        Ok(())
    }
}
