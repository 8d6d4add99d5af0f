//! An order's untaxed amount, tax per tax and total, from its lines, as the
//! Odoo 17 POS shows them (`Order.get_total_without_tax`, `get_total_tax`,
//! `get_total_with_tax`) and as its invoice's tax lines sum them.

use std::collections::BTreeMap;

use possync_money::{Discount, Money, Quantity};
use serde::{Deserialize, Serialize};

use crate::compute_all::{FineAmount, LineTaxes};
use crate::ids::TaxId;
use crate::line_pricing::LinePricing;
use crate::pricing_rules::PricingRules;
use crate::ratio::{Overflow, Ratio};

/// One tax's row in an order's totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxTotal {
    pub tax_id: TaxId,
    pub name: String,
    /// Sum of the lines' bases for this tax, rounded like the amount.
    pub base: Money,
    pub amount: Money,
}

/// An order's totals. `total == untaxed + Σ taxes[i].amount`, exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTotals {
    pub untaxed: Money,
    /// One row per tax (by id and name), ordered by sequence, id, name.
    pub taxes: Vec<TaxTotal>,
    pub tax: Money,
    pub total: Money,
}

/// One line to total: its snapshot, quantity and discount.
#[derive(Clone, Copy, Debug)]
pub struct PricedLine<'a> {
    pub pricing: &'a LinePricing,
    pub quantity: Quantity,
    pub discount: Discount,
}

/// Totals of lines priced from their snapshots.
pub fn order_totals<'a>(
    lines: impl IntoIterator<Item = PricedLine<'a>>,
    rules: &PricingRules,
) -> Result<OrderTotals, Overflow> {
    let computed: Vec<LineTaxes> = lines
        .into_iter()
        .map(|l| l.pricing.compute(l.quantity, l.discount, rules))
        .collect::<Result<_, _>>()?;
    sum_lines(&computed, rules)
}

/// Totals of lines already through [`compute_line`](crate::compute_line).
///
/// The untaxed amount is the sum of the lines' rounded untaxed amounts. Each
/// tax's amount is the sum of its line amounts: whole minor units under
/// "round per line"; under "round globally" the exact sum of the lines'
/// 1/100,000 amounts, rounded once (half away from zero). Sums are exact, so
/// the result does not depend on the order of the lines.
pub fn sum_lines<'a>(
    lines: impl IntoIterator<Item = &'a LineTaxes>,
    rules: &PricingRules,
) -> Result<OrderTotals, Overflow> {
    // Keyed so that iteration order is the output order: sequence, id, name.
    // Borrowed from the lines: one copy of each id and name, at the end.
    let mut per_tax: BTreeMap<(i32, &TaxId, &str), (i128, i128)> = BTreeMap::new();
    let mut untaxed: i64 = 0;
    for line in lines {
        untaxed = untaxed.checked_add(line.total_excluded.0).ok_or(Overflow)?;
        for t in &line.taxes {
            let e = per_tax.entry((t.sequence, &t.tax_id, t.name.as_str())).or_default();
            e.0 = e.0.checked_add(t.base.0).ok_or(Overflow)?;
            e.1 = e.1.checked_add(t.amount.0).ok_or(Overflow)?;
        }
    }
    let step = Ratio::int(i128::from(rules.rounding));
    let to_money = |fine: i128| -> Result<Money, Overflow> {
        // Under "round per line" the sum is already whole steps and this
        // changes nothing; under "round globally" this is the one rounding.
        let r = FineAmount(fine).ratio()?.round_to(step)?;
        r.as_int().and_then(|v| i64::try_from(v).ok()).map(Money).ok_or(Overflow)
    };
    let mut taxes = Vec::with_capacity(per_tax.len());
    let mut tax: i64 = 0;
    for ((_, tax_id, name), (base, amount)) in per_tax {
        let amount = to_money(amount)?;
        tax = tax.checked_add(amount.0).ok_or(Overflow)?;
        taxes.push(TaxTotal { tax_id: tax_id.clone(), name: name.to_owned(), base: to_money(base)?, amount });
    }
    let total = untaxed.checked_add(tax).ok_or(Overflow)?;
    Ok(OrderTotals { untaxed: Money(untaxed), taxes, tax: Money(tax), total: Money(total) })
}
