//! What an order line keeps of the catalogue: the unit price and full copies
//! of the taxes it was added with (scenario S24). Totals are computed from
//! these snapshots and the order's [`PricingRules`] alone, so every terminal
//! gets the same totals whatever catalogue version it holds.

use possync_money::{Discount, Money, Quantity};
use serde::{Deserialize, Serialize};

use crate::compute_all::{LineTaxes, compute_line};
use crate::pricing_rules::PricingRules;
use crate::ratio::Overflow;
use crate::tax::Tax;

/// Longest tax list one line may carry (Odoo lines have one to three).
pub const MAX_LINE_TAXES: usize = 16;

/// The price and taxes a line was added with. Serialisable, to be stored on
/// the line; [`Catalogue::price_line`](crate::Catalogue::price_line) makes one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinePricing {
    /// Unit price in minor units, after the pricelist and the fiscal
    /// position's price adjustment; price-included taxes are in it.
    pub unit_price: Money,
    /// The line's taxes after the fiscal position mapping, in the order they
    /// apply (sequence, then catalogue order).
    pub taxes: Vec<Tax>,
}

impl LinePricing {
    /// The line's untaxed amount, taxes and total for a quantity and discount.
    pub fn compute(
        &self,
        quantity: Quantity,
        discount: Discount,
        rules: &PricingRules,
    ) -> Result<LineTaxes, Overflow> {
        compute_line(&self.taxes, self.unit_price, quantity, discount, rules)
    }
}
