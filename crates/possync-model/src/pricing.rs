//! What an order keeps of the catalogue's prices and taxes, and its totals
//! with taxes (`docs/ORDER_MODEL.md`, "Taxes and totals").
//!
//! An order opened from a catalogue keeps the catalogue's [`PricingRules`]
//! (currency rounding, round per line or globally) in its root `pricing`
//! map; each line keeps full copies of the taxes it was added with in its
//! `taxes` list (scenario S24: a later change of a rate does not touch lines
//! already on an order). Totals are Odoo 17's `compute_all` over those
//! copies (crate `possync-catalogue`), so every terminal computes the same
//! totals to the minor unit whatever catalogue version it holds.
//!
//! An order opened without a catalogue has no `pricing`: its lines carry no
//! taxes and total `qty × unit_price × (1 − discount)`, as before taxes
//! existed.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc};
use possync_catalogue::{
    LineTaxes, MAX_LINE_TAXES, PricingRules, RoundingMethod, Tax, TaxTotal, compute_line,
};
use possync_money::{Discount, Money, Quantity, line_total};
use std::sync::Arc;

use crate::error::{EditError, SchemaError};
use crate::read::MapReader;
use crate::schema::{K_PRICING, K_TAXES};

const K_DECIMALS: &str = "decimals";
const K_ROUNDING: &str = "rounding";
const K_METHOD: &str = "method";

/// Writes the order's pricing rules (at creation only: they never change).
pub(crate) fn write_rules<T: Transactable>(tx: &mut T, rules: &PricingRules) -> Result<(), EditError> {
    rules.check().map_err(|e| invalid("pricing", format!("{}: {}", e.field, e.problem)))?;
    let map = tx.put_object(automerge::ROOT, K_PRICING, ObjType::Map)?;
    tx.put(&map, K_DECIMALS, i64::from(rules.decimals))?;
    tx.put(&map, K_ROUNDING, rules.rounding)?;
    tx.put(&map, K_METHOD, method_name(rules.method))?;
    Ok(())
}

/// The order's pricing rules, `None` for an order opened without a catalogue.
pub(crate) fn read_rules<D: ReadDoc>(root: &MapReader<'_, D>) -> Result<Option<PricingRules>, SchemaError> {
    let Some(map) = root.opt_map(K_PRICING)? else { return Ok(None) };
    let decimals = map.int(K_DECIMALS, 0..=i64::from(PricingRules::MAX_DECIMALS))? as u8;
    let rounding = map.int(K_ROUNDING, 1..=i64::MAX)?;
    let method = match map.str(K_METHOD)?.as_str() {
        "round_per_line" => RoundingMethod::RoundPerLine,
        "round_globally" => RoundingMethod::RoundGlobally,
        other => {
            return Err(SchemaError::OutOfRange {
                path: map.field_path(K_METHOD),
                detail: format!("unknown rounding method `{other}`"),
            });
        }
    };
    let rules = PricingRules { decimals, rounding, method };
    rules.check().map_err(|e| SchemaError::OutOfRange {
        path: K_PRICING.into(),
        detail: format!("{}: {}", e.field, e.problem),
    })?;
    Ok(Some(rules))
}

fn method_name(method: RoundingMethod) -> &'static str {
    match method {
        RoundingMethod::RoundPerLine => "round_per_line",
        RoundingMethod::RoundGlobally => "round_globally",
    }
}

/// Checks a new line's taxes before anything is written.
pub(crate) fn check_taxes(taxes: &[Tax], rules: Option<&PricingRules>) -> Result<(), EditError> {
    if taxes.is_empty() {
        return Ok(());
    }
    if rules.is_none() {
        return Err(invalid(
            "taxes",
            "this order was opened without a catalogue: its lines carry no taxes".into(),
        ));
    }
    if taxes.len() > MAX_LINE_TAXES {
        return Err(invalid("taxes", format!("a line carries at most {MAX_LINE_TAXES} taxes")));
    }
    for t in taxes {
        t.check().map_err(|e| invalid("taxes", format!("tax `{}`: {}: {}", t.id, e.field, e.problem)))?;
    }
    Ok(())
}

/// Longest `taxes` text a line may hold: [`MAX_LINE_TAXES`] taxes of a
/// few hundred bytes each.
pub const MAX_TAXES_JSON: usize = 16 * 1024;

/// Writes a new line's tax copies: one string, the JSON text of the list in
/// the catalogue file's shape. They are written once and never change, so
/// they need no merge rule of their own, and one operation costs a fraction
/// of a map per tax (`taxes` bench in `order_ops`).
pub(crate) fn write_taxes<T: Transactable>(tx: &mut T, line: &ObjId, taxes: &[Tax]) -> Result<(), EditError> {
    if taxes.is_empty() {
        return Ok(());
    }
    let text = serde_json::to_string(taxes).map_err(|e| invalid("taxes", e.to_string()))?;
    if text.len() > MAX_TAXES_JSON {
        return Err(invalid("taxes", format!("{} bytes of taxes (limit {MAX_TAXES_JSON})", text.len())));
    }
    tx.put(line, K_TAXES, text)?;
    Ok(())
}

/// A line's tax copies; empty when it has none. `before`: the copies the
/// line had in the view before, shared again when they are the same.
pub(crate) fn read_taxes<D: ReadDoc>(
    line: &MapReader<'_, D>,
    before: Option<&Arc<[Tax]>>,
) -> Result<Arc<[Tax]>, SchemaError> {
    let Some(text) = line.opt_str_up_to(K_TAXES, MAX_TAXES_JSON)? else { return Ok(Arc::from([])) };
    let path = || line.field_path(K_TAXES);
    let taxes: Vec<Tax> = serde_json::from_str(&text).map_err(|e| SchemaError::WrongType {
        path: path(),
        expected: "a list of taxes",
        found: e.to_string(),
    })?;
    if taxes.len() > MAX_LINE_TAXES {
        return Err(SchemaError::TooMany {
            what: "taxes on a line",
            count: taxes.len(),
            limit: MAX_LINE_TAXES,
        });
    }
    if let Some(before) = before.filter(|b| ***b == *taxes) {
        return Ok(before.clone());
    }
    for t in &taxes {
        t.check().map_err(|e| SchemaError::OutOfRange {
            path: path(),
            detail: format!("tax `{}`: {}: {}", t.id, e.field, e.problem),
        })?;
    }
    Ok(Arc::from(taxes))
}

/// A line's amounts: untaxed, tax, total, and (in a priced order) the
/// exact per-tax amounts the order's totals sum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LineAmounts {
    pub untaxed: Money,
    pub tax: Money,
    pub total: Money,
    pub detail: Option<Arc<LineTaxes>>,
}

pub(crate) fn line_amounts(
    rules: Option<&PricingRules>,
    taxes: &[Tax],
    unit_price: Money,
    qty: Quantity,
    discount: Discount,
) -> Result<LineAmounts, possync_catalogue::Overflow> {
    let Some(rules) = rules else {
        let total = line_total(qty, unit_price, discount);
        return Ok(LineAmounts { untaxed: total, tax: Money::ZERO, total, detail: None });
    };
    let detail = compute_line(taxes, unit_price, qty, discount, rules)?;
    Ok(LineAmounts {
        untaxed: detail.total_excluded,
        tax: Money(detail.total_included.0 - detail.total_excluded.0),
        total: detail.total_included,
        detail: Some(Arc::new(detail)),
    })
}

/// An order's untaxed amount, taxes and total from its lines' amounts.
pub(crate) struct OrderAmounts {
    pub untaxed: Money,
    pub tax: Money,
    pub taxes: Vec<TaxTotal>,
    pub total: Money,
}

pub(crate) fn order_amounts<'a>(
    rules: Option<&PricingRules>,
    lines: impl IntoIterator<Item = (Money, Option<&'a LineTaxes>)>,
) -> Result<OrderAmounts, possync_catalogue::Overflow> {
    let Some(rules) = rules else {
        let total = Money(lines.into_iter().map(|(t, _)| t.0).fold(0i64, i64::saturating_add));
        return Ok(OrderAmounts { untaxed: total, tax: Money::ZERO, taxes: Vec::new(), total });
    };
    let t = possync_catalogue::sum_lines(lines.into_iter().filter_map(|(_, d)| d), rules)?;
    Ok(OrderAmounts { untaxed: t.untaxed, tax: t.tax, taxes: t.taxes, total: t.total })
}

fn invalid(field: &'static str, detail: String) -> EditError {
    EditError::Invalid { field, detail }
}
