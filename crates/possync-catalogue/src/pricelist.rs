//! Pricelists (Odoo `product.pricelist` and its items): a fixed price or a
//! percentage off, for all products, a category or chosen products, from a
//! minimum quantity. Rules are tried in order and the first that applies
//! wins, as the POS does with Odoo's item order (`applied_on, min_quantity
//! desc, categ_id desc, id desc`); an import writes them in that order.

use possync_money::{Money, Quantity};
use serde::{Deserialize, Serialize};

use crate::decimal::{DecimalText, format_scaled, parse_scaled};
use crate::ids::{CategoryId, PricelistId, ProductId};
use crate::ratio::{Overflow, Ratio};

/// What a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleTarget {
    All,
    /// Products in this category or any category under it.
    Category {
        category: CategoryId,
    },
    Products {
        products: Vec<ProductId>,
    },
}

/// A percentage in basis points (`"10"` = 10 % = 1,000), written as a decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(pub i32);

impl Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_scaled(i64::from(self.0), 2))
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let DecimalText(t) = DecimalText::deserialize(d)?;
        let v = parse_scaled(&t, 2).map_err(serde::de::Error::custom)?;
        i32::try_from(v).map(Percent).map_err(|_| serde::de::Error::custom("percentage out of range"))
    }
}

/// How a rule sets the price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "compute", rename_all = "snake_case", deny_unknown_fields)]
pub enum RulePrice {
    /// This price, in minor units.
    Fixed { price: Money },
    /// The product's price less this percentage (negative: a surcharge).
    Percentage { percent: Percent },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricelistRule {
    pub applies_to: RuleTarget,
    /// The rule applies from this quantity on (0: always).
    #[serde(default)]
    pub min_quantity: Quantity,
    pub price: RulePrice,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricelist {
    pub id: PricelistId,
    pub name: String,
    #[serde(default)]
    pub rules: Vec<PricelistRule>,
}

impl RulePrice {
    /// The price of one unit listed at `list`. A percentage is rounded half
    /// away from zero to the minor unit, as the POS rounds a line's unit
    /// price to the "Product Price" precision (2 decimals by default, which
    /// is the minor unit of a 2-decimal currency).
    pub fn apply(&self, list: Money) -> Result<Money, Overflow> {
        match self {
            RulePrice::Fixed { price } => Ok(*price),
            RulePrice::Percentage { percent } => {
                let r = Ratio::new(i128::from(list.0) * (10_000 - i128::from(percent.0)), 10_000)?;
                i64::try_from(r.round_half_away()?).map(Money).map_err(|_| Overflow)
            }
        }
    }
}
