//! Fiscal positions (Odoo `account.fiscal.position` with its
//! `account.fiscal.position.tax` lines): replace taxes by others, for instance
//! take-away instead of eat-in VAT, and adjust a price that included a
//! replaced tax.

use possync_money::Money;
use serde::{Deserialize, Serialize};

use crate::compute_all::compute_all;
use crate::ids::{FiscalPositionId, TaxId};
use crate::pricing_rules::PricingRules;
use crate::ratio::{Overflow, Ratio};
use crate::tax::Tax;

/// One mapping line: `src` becomes `dest`; no `dest` removes the tax.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxMapping {
    pub src: TaxId,
    #[serde(default)]
    pub dest: Option<TaxId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiscalPosition {
    pub id: FiscalPositionId,
    pub name: String,
    #[serde(default)]
    pub tax_map: Vec<TaxMapping>,
}

impl FiscalPosition {
    /// Odoo's `map_tax` for one tax: every destination of the mappings whose
    /// source is `tax` (none when all remove it), or `tax` itself when no
    /// mapping names it.
    pub fn map_tax(&self, tax: &TaxId) -> Vec<TaxId> {
        let mut found = false;
        let mut out = Vec::new();
        for m in self.tax_map.iter().filter(|m| &m.src == tax) {
            found = true;
            if let Some(d) = &m.dest
                && !out.contains(d)
            {
                out.push(d.clone());
            }
        }
        if found { out } else { vec![tax.clone()] }
    }
}

/// The unit price once a fiscal position replaced price-included taxes: the
/// POS's `computePriceAfterFp` (Odoo's `_fix_tax_included_price`). `mapped`
/// pairs each of the product's taxes, in application order, with what the
/// fiscal position maps it to. A price that included a tax that is mapped
/// away loses that tax; if the first tax it maps to is price-included, the
/// new included taxes are added back, each on one unit.
pub fn price_after_fiscal_position(
    price: Money,
    mapped: &[(Tax, Vec<Tax>)],
    rules: &PricingRules,
) -> Result<Money, Overflow> {
    let mut removed_included: Vec<Tax> = Vec::new();
    let mut new_included: Vec<Tax> = Vec::new();
    for (tax, after) in mapped {
        if after.first().is_some_and(|t| t.price_include) {
            for t in after {
                if !new_included.iter().any(|n| n.id == t.id) {
                    new_included.push(t.clone());
                }
            }
        }
        if tax.price_include && !after.iter().any(|t| t.id == tax.id) {
            removed_included.push(tax.clone());
        }
    }
    if removed_included.is_empty() {
        return Ok(price);
    }
    let one = Ratio::int(1);
    let without =
        compute_all(&removed_included, Ratio::int(i128::from(price.0)), one, rules, true)?.total_excluded;
    if new_included.is_empty() {
        return Ok(without);
    }
    // Sequence order, as compute_all sorts them; stable for ties.
    new_included.sort_by_key(|t| t.sequence);
    Ok(compute_all(&new_included, Ratio::int(i128::from(without.0)), one, rules, false)?.total_included)
}
