//! Runs every case of `tax_cases.toml`: each was worked out by hand from
//! Odoo 17's rules; the engine must agree to the minor unit.

use possync_catalogue::{
    Discount, FiscalPosition, FiscalPositionId, LinePricing, Money, PricedLine, PricingRules, Quantity,
    RoundingMethod, Tax, TaxId, TaxMapping, order_totals, parse_scaled, price_after_fiscal_position,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[allow(dead_code)]
    note: String,
    #[serde(default)]
    method: RoundingMethod,
    #[serde(default = "one")]
    rounding: i64,
    taxes: Vec<Tax>,
    #[serde(default)]
    fiscal_map: Vec<TaxMapping>,
    lines: Vec<Line>,
    expect: Expect,
}

fn one() -> i64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    price: i64,
    qty: String,
    #[serde(default)]
    discount: Option<String>,
    taxes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    untaxed: i64,
    total: i64,
    taxes: Vec<ExpectTax>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectTax {
    id: String,
    base: i64,
    amount: i64,
}

fn load_cases() -> TestResult<Vec<LoadedCase>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tax_cases.toml"))?;
    let file: File = toml::from_str(&text)?;
    let mut out = Vec::new();
    for case in file.case {
        let rules = PricingRules { decimals: 2, rounding: case.rounding, method: case.method };
        let fp = FiscalPosition {
            id: FiscalPositionId::parse("fp")?,
            name: "fp".into(),
            tax_map: case.fiscal_map.clone(),
        };
        let by_id = |id: &TaxId| -> TestResult<(usize, Tax)> {
            case.taxes
                .iter()
                .enumerate()
                .find(|(_, t)| &t.id == id)
                .map(|(i, t)| (i, t.clone()))
                .ok_or_else(|| format!("{}: unknown tax {id}", case.name).into())
        };
        let mut lines = Vec::new();
        for l in &case.lines {
            // The product's taxes in application order: sequence, then list order.
            let mut product_taxes =
                l.taxes.iter().map(|t| by_id(&TaxId::parse(t)?)).collect::<Result<Vec<_>, _>>()?;
            product_taxes.sort_by_key(|(i, t)| (t.sequence, *i));
            let mut mapped = Vec::new();
            let mut line_taxes: Vec<(usize, Tax)> = Vec::new();
            for (_, t) in &product_taxes {
                let after = fp.map_tax(&t.id).iter().map(by_id).collect::<Result<Vec<_>, _>>()?;
                for a in &after {
                    if !line_taxes.iter().any(|(_, x)| x.id == a.1.id) {
                        line_taxes.push(a.clone());
                    }
                }
                mapped.push((t.clone(), after.into_iter().map(|(_, t)| t).collect::<Vec<_>>()));
            }
            line_taxes.sort_by_key(|(i, t)| (t.sequence, *i));
            let price = price_after_fiscal_position(Money(l.price), &mapped, &rules)?;
            let pricing =
                LinePricing { unit_price: price, taxes: line_taxes.into_iter().map(|(_, t)| t).collect() };
            let qty = Quantity(parse_scaled(&l.qty, 3)?);
            let discount = match &l.discount {
                Some(d) => Discount(u16::try_from(parse_scaled(d, 2)?)?),
                None => Discount::NONE,
            };
            lines.push((pricing, qty, discount));
        }
        let expect = Expectation {
            untaxed: case.expect.untaxed,
            total: case.expect.total,
            taxes: case.expect.taxes.iter().map(|t| (t.id.clone(), t.base, t.amount)).collect(),
        };
        out.push(LoadedCase { name: case.name, rules, lines, expect });
    }
    Ok(out)
}

#[derive(Debug, PartialEq)]
struct Expectation {
    untaxed: i64,
    total: i64,
    taxes: Vec<(String, i64, i64)>,
}

type TestResult<T> = Result<T, Box<dyn std::error::Error>>;

/// One case, ready to run.
struct LoadedCase {
    name: String,
    rules: PricingRules,
    lines: Vec<(LinePricing, Quantity, Discount)>,
    expect: Expectation,
}

#[test]
fn every_case_matches_the_hand_computation() -> TestResult<()> {
    let cases = load_cases()?;
    assert!(cases.len() >= 30, "the table must keep at least 30 cases, has {}", cases.len());
    let mut failures = Vec::new();
    for LoadedCase { name, rules, lines, expect } in &cases {
        let totals = order_totals(
            lines.iter().map(|(pricing, quantity, discount)| PricedLine {
                pricing,
                quantity: *quantity,
                discount: *discount,
            }),
            rules,
        )?;
        let got = Expectation {
            untaxed: totals.untaxed.0,
            total: totals.total.0,
            taxes: totals.taxes.iter().map(|t| (t.tax_id.to_string(), t.base.0, t.amount.0)).collect(),
        };
        assert_eq!(totals.total.0, totals.untaxed.0 + totals.taxes.iter().map(|t| t.amount.0).sum::<i64>());
        if &got != expect {
            failures.push(format!("{name}:\n  expected {expect:?}\n  got      {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} case(s) differ:\n{}", failures.len(), failures.join("\n"));
    Ok(())
}
