//! Taxes across terminals, in the simulator and across seeds: S29 (every
//! terminal shows the back office's totals to the minor unit, whoever added
//! which line, with partitions in between), the order's half of S24 (lines
//! keep the taxes they were added with), and the manager-only actions that
//! a peer skipping its own check cannot force on the others.
//!
//! `SIM_SEEDS=<n>` runs more seeds (default 20), `SIM_SEED=<s>` one.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use possync_catalogue::{PricingRules, Role, RoundingMethod, Tax, TaxAmount, TaxId};
use possync_model::{Discount, Edit, LineId, Money, NewLine, OpenOrder, OrderId, Quantity, Roles};
use possync_sim::Sim;

const SETTLE: Duration = Duration::from_secs(120);

fn seeds() -> Vec<u64> {
    possync_sim::seeds(20)
}

fn vat21_included() -> Tax {
    let mut t = Tax::percent(TaxId::parse("vat21").unwrap(), "VAT 21% (incl.)", TaxAmount::whole(21));
    t.price_include = true;
    t
}

fn vat6(percent: i64) -> Tax {
    Tax::percent(TaxId::parse("vat6").unwrap(), "VAT 6%", TaxAmount::whole(percent))
}

/// A menu line at 10 % off, as the API prices it from the catalogue.
fn line(name: &str, unit_price: i64, units: i64, taxes: Vec<Tax>) -> NewLine {
    let mut l =
        NewLine::new(LineId::parse(name).unwrap(), name, name, Quantity::units(units), Money(unit_price));
    l.discount = Discount(1000);
    l.taxes = taxes;
    l
}

fn open_priced(sim: &mut Sim, on: u64, method: RoundingMethod) -> OrderId {
    sim.open(on, OpenOrder { pricing: Some(PricingRules::cents(method)), ..OpenOrder::default() }).unwrap()
}

/// S29 (hand-worked in `crates/possync-model/tests/taxes.rs`): three lines
/// added on three terminals, two of them while cut off from the others.
fn s29(method: RoundingMethod, expected: (i64, i64, i64), per_tax: [i64; 2]) {
    for seed in seeds() {
        let mut sim = Sim::new(seed);
        let nodes = [sim.add_node("A"), sim.add_node("B"), sim.add_node("C")];
        sim.run_for(Duration::from_millis(100));
        let order = open_priced(&mut sim, nodes[0], method);
        sim.settle(SETTLE);
        sim.edit(nodes[0], &order, &Edit::AddLine(line("x", 1000, 3, vec![vat21_included()]))).unwrap();
        sim.partition(&[&[nodes[0]], &[nodes[1]], &[nodes[2]]]);
        sim.edit(nodes[1], &order, &Edit::AddLine(line("y", 995, 2, vec![vat6(6)]))).unwrap();
        sim.edit(nodes[2], &order, &Edit::AddLine(line("z", 745, 1, vec![vat6(6)]))).unwrap();
        sim.run_for(Duration::from_millis(500));
        sim.heal();
        sim.settle(SETTLE);
        sim.assert_invariants();
        for n in nodes {
            let v = sim.engine(n).view(&order).unwrap();
            assert_eq!(
                (v.totals.untaxed.0, v.totals.tax.0, v.totals.total.0),
                expected,
                "seed {seed} node {n}"
            );
            let amounts: Vec<i64> = v.totals.taxes.iter().map(|t| t.amount.0).collect();
            assert_eq!(amounts, per_tax, "seed {seed} node {n}");
            assert_eq!(v.totals.due, Money(expected.2));
        }
    }
}

#[test]
fn s29_taxes_round_per_line_on_every_terminal() {
    s29(RoundingMethod::RoundPerLine, (4693, 616, 5309), [469, 147]);
}

#[test]
fn s29_taxes_round_globally_on_every_terminal() {
    s29(RoundingMethod::RoundGlobally, (4693, 617, 5310), [469, 148]);
}

#[test]
fn s24_lines_keep_the_taxes_they_were_added_with() {
    for seed in seeds() {
        let mut sim = Sim::new(seed);
        let (a, b, c) = (sim.add_node("A"), sim.add_node("B"), sim.add_node("C"));
        sim.run_for(Duration::from_millis(100));
        let order = open_priced(&mut sim, a, RoundingMethod::RoundPerLine);
        sim.edit(a, &order, &Edit::AddLine(line("old", 1000, 1, vec![vat6(6)]))).unwrap();
        sim.settle(SETTLE);
        // C is off while the rate goes to 12 % on A and B: C still adds at
        // the rate of the catalogue it holds, A at the new one.
        sim.partition(&[&[a, b], &[c]]);
        sim.edit(a, &order, &Edit::AddLine(line("new", 1000, 1, vec![vat6(12)]))).unwrap();
        sim.edit(c, &order, &Edit::AddLine(line("offline", 1000, 1, vec![vat6(6)]))).unwrap();
        // A quantity change on the old line recomputes with its own copy.
        sim.edit(b, &order, &Edit::SetQty { line: LineId::parse("old").unwrap(), qty: Quantity::units(2) })
            .unwrap();
        sim.heal();
        sim.settle(SETTLE);
        sim.assert_invariants();
        for n in [a, b, c] {
            let v = sim.engine(n).view(&order).unwrap();
            let tax = |l: &str| v.line(&LineId::parse(l).unwrap()).unwrap().tax.0;
            assert_eq!((tax("old"), tax("new"), tax("offline")), (108, 108, 54), "seed {seed} node {n}");
            assert_eq!(v.totals.taxes.len(), 1, "one rate id: the rows add up per tax id");
            assert_eq!(v.totals.tax, Money(270));
        }
    }
}

fn restaurant_roles() -> Roles {
    Roles::Listed(HashMap::from([("ana".to_owned(), Role::Cashier), ("chloe".to_owned(), Role::Manager)]))
}

#[test]
fn a_peer_skipping_the_manager_check_cannot_change_a_price_elsewhere() {
    for seed in seeds() {
        let mut sim = Sim::new(seed);
        let (a, b, c) = (sim.add_node("A"), sim.add_node("B"), sim.add_node("C"));
        sim.run_for(Duration::from_millis(100));
        for n in [b, c] {
            sim.set_roles(n, restaurant_roles());
        }
        let order = open_priced(&mut sim, a, RoundingMethod::RoundPerLine);
        sim.edit_as(a, "ana", &order, &Edit::AddLine(line("x", 1000, 1, vec![vat6(6)]))).unwrap();
        sim.settle(SETTLE);
        // A has no user list (it skips the check): Ana's override is made there.
        let cheap = Edit::SetUnitPrice { line: LineId::parse("x").unwrap(), unit_price: Money(1) };
        sim.edit_as(a, "ana", &order, &cheap).unwrap();
        sim.settle(SETTLE);
        for n in [b, c] {
            let v = sim.engine(n).view(&order).unwrap();
            assert_eq!(v.lines[0].unit_price, Money(1000), "seed {seed}: node {n} refused Ana's price");
        }
        // B's manager may; the override then reaches C.
        let fair = Edit::SetUnitPrice { line: LineId::parse("x").unwrap(), unit_price: Money(900) };
        sim.edit_as(b, "chloe", &order, &fair).unwrap();
        sim.settle(SETTLE);
        assert_eq!(sim.engine(c).view(&order).unwrap().lines[0].unit_price, Money(900), "seed {seed}");
    }
}
