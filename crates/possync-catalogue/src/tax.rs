//! A tax as Odoo's `account.tax` defines it, restricted to what a POS uses:
//! percentage, fixed and "percentage tax included" (division) amounts, price
//! included or not, affecting the base of later taxes or not.

use serde::{Deserialize, Serialize};

use crate::decimal::{DecimalError, DecimalText, format_scaled, parse_scaled};
use crate::field_error::FieldError;
use crate::ids::TaxId;

/// Odoo's `amount_type`. Groups of taxes (`group`) and Python taxes are not
/// supported: an import refuses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountType {
    /// `amount` percent of the base (or included in the price).
    Percent,
    /// `amount` currency units per unit of quantity.
    Fixed,
    /// Odoo's "Percentage Tax Included": the price is `base / (1 − amount %)`.
    Division,
}

/// Odoo's `amount` (a float with 4 decimal digits, `digits=(16, 4)`), kept
/// exactly as ten-thousandths: a percent for `percent` and `division`, a
/// number of currency units (not minor units) for `fixed`. Written in
/// catalogue files as a decimal (`"21"`, `"5.5"`, `"0.25"`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct TaxAmount(i64);

impl TaxAmount {
    /// Decimal places Odoo keeps for a tax amount.
    pub const PLACES: u32 = 4;
    /// Ten-thousandths per unit (per percent, or per currency unit).
    pub const SCALE: i64 = 10_000;

    pub fn from_ten_thousandths(v: i64) -> Self {
        TaxAmount(v)
    }

    /// Whole percent or currency units.
    pub fn whole(v: i64) -> Self {
        TaxAmount(v * Self::SCALE)
    }

    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        parse_scaled(text, Self::PLACES).map(TaxAmount)
    }

    pub fn ten_thousandths(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for TaxAmount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_scaled(self.0, Self::PLACES))
    }
}

impl Serialize for TaxAmount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for TaxAmount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let DecimalText(text) = DecimalText::deserialize(d)?;
        TaxAmount::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn yes() -> bool {
    true
}

fn one() -> i32 {
    1
}

/// One tax. A line keeps full copies of its taxes (see
/// [`LinePricing`](crate::LinePricing)), so a later change of a rate in the
/// catalogue does not change lines already on an order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tax {
    pub id: TaxId,
    /// Shown in the totals, one row per tax.
    pub name: String,
    pub amount_type: AmountType,
    pub amount: TaxAmount,
    /// The product's price already contains this tax.
    #[serde(default)]
    pub price_include: bool,
    /// The tax amount is added to the base of the taxes after it (Odoo's
    /// "Affect Base of Subsequent Taxes").
    #[serde(default)]
    pub include_base_amount: bool,
    /// Earlier taxes with `include_base_amount` add to this tax's base
    /// (Odoo's "Base Affected by Previous Taxes"; on by default).
    #[serde(default = "yes")]
    pub is_base_affected: bool,
    /// Taxes apply in increasing sequence (ties: their order in the catalogue,
    /// as Odoo's `_order = 'sequence,id'`). Odoo's default is 1.
    #[serde(default = "one")]
    pub sequence: i32,
}

impl Tax {
    /// A percentage tax, excluded from the price, with Odoo's defaults.
    pub fn percent(id: TaxId, name: &str, percent: TaxAmount) -> Self {
        Tax {
            id,
            name: name.to_owned(),
            amount_type: AmountType::Percent,
            amount: percent,
            price_include: false,
            include_base_amount: false,
            is_base_affected: true,
            sequence: 1,
        }
    }

    /// Checks the amount against its type's range.
    pub fn check(&self) -> Result<(), FieldError> {
        let a = self.amount.ten_thousandths();
        let hundred = 100 * TaxAmount::SCALE;
        match self.amount_type {
            // Above -100 %: a price-included -100 % tax would divide by zero.
            AmountType::Percent if a <= -hundred || a > hundred => Err(FieldError::new(
                "amount",
                format!("{}: a percentage must be above -100 and at most 100", self.amount),
            )),
            // Below 100 %: the price is base / (1 − amount %).
            AmountType::Division if !(0..hundred).contains(&a) => {
                Err(FieldError::new("amount", format!("{}: a division rate must be in 0..100", self.amount)))
            }
            AmountType::Fixed if a.abs() > 1_000_000 * TaxAmount::SCALE => Err(FieldError::new(
                "amount",
                format!("{}: a fixed tax must be within ±1,000,000", self.amount),
            )),
            _ => Ok(()),
        }
    }
}
