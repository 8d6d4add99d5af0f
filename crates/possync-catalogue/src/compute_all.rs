//! Odoo 17's `account.tax.compute_all` for one line, in exact fractions.
//!
//! Followed line by line from `addons/account/models/account_tax.py` as last
//! patched in 17.0 (the back office is the reference where the POS front
//! end's copy differs): one pass backwards over the taxes strips
//! the price-included ones from the price to find the untaxed amount, one
//! pass forwards computes each tax. The rules are written out in
//! `docs/ORDER_MODEL.md`, "Taxes and totals".

use possync_money::{Discount, Money, Quantity};
use serde::{Deserialize, Serialize};

use crate::ids::TaxId;
use crate::pricing_rules::{PricingRules, RoundingMethod};
use crate::ratio::{Overflow, Ratio};
use crate::tax::{AmountType, Tax, TaxAmount};

/// Under "round globally" Odoo rounds each line's tax amounts to the
/// currency's rounding divided by 10^5 (`prec *= 1e-5`).
const GLOBAL_PRECISION_DIVISOR: i128 = 100_000;

/// An exact amount in 1/100,000 of a minor unit: what one line contributes to
/// a tax under "round globally" (under "round per line" it is always a whole
/// number of minor units, i.e. a multiple of 100,000).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FineAmount(pub i128);

impl FineAmount {
    /// Fine units per minor unit.
    pub const PER_MINOR: i128 = GLOBAL_PRECISION_DIVISOR;

    fn from_ratio(r: Ratio) -> Result<Self, Overflow> {
        // Every value handed here was rounded to a multiple of the precision,
        // which is a whole number of fine units.
        r.mul(Ratio::int(Self::PER_MINOR))?.as_int().map(FineAmount).ok_or(Overflow)
    }

    pub(crate) fn ratio(self) -> Result<Ratio, Overflow> {
        Ratio::new(self.0, Self::PER_MINOR)
    }
}

/// One tax on one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTax {
    pub tax_id: TaxId,
    pub name: String,
    pub sequence: i32,
    /// The amount the tax was computed on, rounded like the amount.
    pub base: FineAmount,
    pub amount: FineAmount,
}

/// What `compute_all` returns for one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTaxes {
    /// Odoo's `total_excluded` (the line's `price_subtotal`), rounded to the
    /// currency under both methods.
    pub total_excluded: Money,
    /// Odoo's `total_included` (`price_subtotal_incl`), rounded to the currency.
    pub total_included: Money,
    /// One entry per tax, in the order they were applied.
    pub taxes: Vec<LineTax>,
}

/// A line's taxes: `unit_price × (1 − discount) × quantity` through `taxes`,
/// which must already be in application order (sequence, then catalogue
/// order) and mapped by the fiscal position.
pub fn compute_line(
    taxes: &[Tax],
    unit_price: Money,
    quantity: Quantity,
    discount: Discount,
    rules: &PricingRules,
) -> Result<LineTaxes, Overflow> {
    // Odoo: price_unit * (1 - discount / 100) * quantity, discount in percent
    // with 2 decimals = basis points, quantity in thousandths.
    let raw = Ratio::new(
        i128::from(unit_price.0)
            .checked_mul(i128::from(quantity.0))
            .and_then(|v| v.checked_mul(10_000 - i128::from(discount.0.min(10_000))))
            .ok_or(Overflow)?,
        i128::from(Quantity::SCALE) * 10_000,
    )?;
    let qty = Ratio::new(i128::from(quantity.0), i128::from(Quantity::SCALE))?;
    compute_all(taxes, raw, qty, rules, true)
}

/// Odoo's `compute_all(price_unit, currency, quantity)` with `raw_base =
/// price_unit × quantity`. `handle_price_include = false` treats every tax as
/// excluded from the price (Odoo uses it to re-add taxes after a fiscal
/// position mapping).
pub(crate) fn compute_all(
    taxes: &[Tax],
    raw_base: Ratio,
    quantity: Ratio,
    rules: &PricingRules,
    handle_price_include: bool,
) -> Result<LineTaxes, Overflow> {
    let step = Ratio::int(i128::from(rules.rounding));
    let prec = match rules.method {
        RoundingMethod::RoundPerLine => step,
        RoundingMethod::RoundGlobally => step.div(Ratio::int(GLOBAL_PRECISION_DIVISOR))?,
    };
    let minor_per_unit = 10i128.checked_pow(u32::from(rules.decimals)).ok_or(Overflow)?;
    // A fixed amount in minor units: amount (ten-thousandths of a currency unit).
    let fixed = |a: TaxAmount| {
        Ratio::new(i128::from(a.ten_thousandths()).checked_mul(minor_per_unit).ok_or(Overflow)?, 10_000)
    };
    let abs_qty = quantity.abs()?;

    // The base is the rounded line amount; a negative one (a refund) is
    // computed as positive and negated at the end.
    let mut base = raw_base.round_to(step)?;
    let sign = if base.is_negative() { -1 } else { 1 };
    base = base.abs()?;

    // Backwards: strip the included taxes. Within a run of included taxes not
    // separated by an `include_base_amount` tax, percentages add up and
    // divide once. The amount before the last tax of each run is a
    // checkpoint: that tax's amount is what is left to reach it, so included
    // taxes always add back up to the price exactly.
    let mut checkpoints: Vec<Option<Ratio>> = vec![None; taxes.len()];
    let mut incl = Included::default();
    let mut store_checkpoint = true;
    // Whether the tax after this one (visited just before, going backwards)
    // takes earlier taxes into its base; a run only closes when it does.
    let mut next_is_base_affected = true;
    if handle_price_include {
        for (i, tax) in taxes.iter().enumerate().rev() {
            if tax.include_base_amount && next_is_base_affected {
                base = incl.strip(base)?;
                store_checkpoint = true;
            }
            if tax.price_include {
                let a = tax.amount.ten_thousandths();
                match tax.amount_type {
                    AmountType::Percent => incl.percent += i128::from(a),
                    AmountType::Division => incl.division += i128::from(a),
                    // Odoo 17.0 assigns here (`=`, not `+=`): of two included
                    // fixed taxes in one run only the earlier in sequence
                    // counts. Kept, to match the back office.
                    AmountType::Fixed => incl.fixed = abs_qty.mul(fixed(tax.amount)?)?,
                }
                // A zero tax would take no amount anyway: not a checkpoint.
                if store_checkpoint && a != 0 {
                    checkpoints[i] = Some(base);
                    store_checkpoint = false;
                }
            }
            next_is_base_affected = tax.is_base_affected;
        }
    }
    let total_excluded = incl.strip(base)?.round_to(step)?;

    // Forwards: each tax's amount, on the running base.
    let mut base = total_excluded;
    let mut total_included = total_excluded;
    let mut skip_checkpoint = false;
    let mut cumulated_included = Ratio::ZERO;
    let mut out = Vec::with_capacity(taxes.len());
    for (i, tax) in taxes.iter().enumerate() {
        let tax_base = if tax.price_include || tax.is_base_affected { base } else { total_excluded };
        let checkpoint = checkpoints[i].filter(|_| !skip_checkpoint && tax.price_include);
        let amount = match checkpoint {
            Some(target) => {
                let a = target.sub(base.add(cumulated_included)?)?;
                cumulated_included = Ratio::ZERO;
                a
            }
            None => excluded_amount(tax, tax_base, quantity, fixed(tax.amount)?)?,
        };
        let amount = amount.round_to(prec)?;
        if tax.price_include && checkpoints[i].is_none() {
            cumulated_included = cumulated_included.add(amount)?;
        }
        let signed = |r: Ratio| if sign < 0 { r.neg() } else { Ok(r) };
        out.push(LineTax {
            tax_id: tax.id.clone(),
            name: tax.name.clone(),
            sequence: tax.sequence,
            base: FineAmount::from_ratio(signed(tax_base)?.round_to(prec)?)?,
            amount: FineAmount::from_ratio(signed(amount)?)?,
        });
        if tax.include_base_amount {
            base = base.add(amount)?;
            if !tax.price_include {
                skip_checkpoint = true;
            }
        }
        total_included = total_included.add(amount)?;
    }
    let to_money = |r: Ratio| -> Result<Money, Overflow> {
        let v = if sign < 0 { r.neg()? } else { r };
        v.as_int().and_then(|v| i64::try_from(v).ok()).map(Money).ok_or(Overflow)
    };
    Ok(LineTaxes {
        total_excluded: to_money(total_excluded)?,
        total_included: to_money(total_included.round_to(step)?)?,
        taxes: out,
    })
}

/// The included amounts of one run of price-included taxes (Odoo's
/// `incl_fixed_amount`, `incl_percent_amount`, `incl_division_amount`).
#[derive(Default)]
struct Included {
    fixed: Ratio,
    /// Sum of percentages, in ten-thousandths of a percent.
    percent: i128,
    division: i128,
}

impl Included {
    /// Odoo's `recompute_base`: `(base − fixed) / (1 + percent/100) ×
    /// (100 − division)/100`; then the run is over.
    fn strip(&mut self, base: Ratio) -> Result<Ratio, Overflow> {
        const HUNDRED: i128 = 100 * TaxAmount::SCALE as i128;
        let r = base
            .sub(self.fixed)?
            .mul(Ratio::new(HUNDRED, HUNDRED + self.percent)?)?
            .mul(Ratio::new(HUNDRED - self.division, HUNDRED)?)?;
        *self = Included::default();
        Ok(r)
    }
}

/// Odoo's `_compute_amount` with `force_price_include=False`.
fn excluded_amount(tax: &Tax, base: Ratio, quantity: Ratio, fixed: Ratio) -> Result<Ratio, Overflow> {
    const HUNDRED: i128 = 100 * TaxAmount::SCALE as i128;
    let a = i128::from(tax.amount.ten_thousandths());
    match tax.amount_type {
        AmountType::Percent => base.mul(Ratio::new(a, HUNDRED)?),
        AmountType::Division if a == HUNDRED => Ok(Ratio::ZERO),
        AmountType::Division => base.mul(Ratio::new(HUNDRED, HUNDRED - a)?)?.sub(base),
        // copysign(quantity, base) × amount; the base is never negative here.
        AmountType::Fixed if !base.is_zero() => quantity.abs()?.mul(fixed),
        AmountType::Fixed => quantity.mul(fixed),
    }
}
