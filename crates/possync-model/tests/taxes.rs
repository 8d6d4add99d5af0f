//! Orders with taxes (ORDER_MODEL "Taxes and totals"): scenario S29 worked
//! out by hand, lines keeping the taxes they were added with (S24), every
//! terminal agreeing to the minor unit, and the manager-only actions.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use possync_catalogue::{PricingRules, Role, RoundingMethod, Tax, TaxAmount, TaxId};
use possync_model::automerge::{ActorId, Change};
use possync_model::{
    Discount, Edit, EditContext, EditError, LineId, Money, NewLine, NewOrder, OrderDoc, OrderId, OrderName,
    Quantity, RemoteError, Roles, TerminalId,
};

const T0: i64 = 1_704_067_200_000;

fn vat21_included() -> Tax {
    let mut t = Tax::percent(TaxId::parse("vat21").unwrap(), "VAT 21% (incl.)", TaxAmount::whole(21));
    t.price_include = true;
    t
}

fn vat6() -> Tax {
    Tax::percent(TaxId::parse("vat6").unwrap(), "VAT 6%", TaxAmount::whole(6))
}

fn ctx(terminal: &str) -> EditContext {
    EditContext::new(format!("user-{terminal}"), TerminalId::parse(terminal).unwrap(), T0)
}

fn open(method: RoundingMethod) -> OrderDoc {
    let mut new =
        NewOrder::new(OrderId::from_random(7), OrderName::compose(&TerminalId::parse("A").unwrap(), 1));
    new.fields.pricing = Some(PricingRules::cents(method));
    OrderDoc::open(ActorId::from([0xaa; 16]), &ctx("A"), &new).unwrap().0
}

fn line(name: &str, unit_price: i64, units: i64, taxes: Vec<Tax>) -> NewLine {
    let mut l =
        NewLine::new(LineId::parse(name).unwrap(), name, name, Quantity::units(units), Money(unit_price));
    l.discount = Discount(1000);
    l.taxes = taxes;
    l
}

/// S29: a price-included product (10.00 at 21 % included, three of them), two
/// price-excluded ones at 6 % (9.95 × 2 and 7.45 × 1), 10 % off every line.
///
/// By hand, per line (Odoo 17 `compute_all`, amounts in cents):
/// - x: base 1000 × 0.9 × 3 = 2700; untaxed 2700 / 1.21 = 2231.404959 → 2231,
///   tax 2700 − 2231.404959 = 468.595041 (469 rounded), total 2700;
/// - y: base 995 × 0.9 × 2 = 1791; tax 6 % = 107.46 (107), total 1898;
/// - z: base 745 × 0.9 = 670.5 → 671; tax 6 % = 40.26 (40), total 711.
///
/// Round per line: untaxed 4693, VAT 21 % 469, VAT 6 % 107 + 40 = 147,
/// total 5309. Round globally: VAT 6 % is 107.46 + 40.26 = 147.72 → 148,
/// total 5310.
fn s29(method: RoundingMethod) -> OrderDoc {
    let mut doc = open(method);
    let c = ctx("A");
    doc.edit(&c, &Edit::AddLine(line("x", 1000, 3, vec![vat21_included()]))).unwrap();
    doc.edit(&c, &Edit::AddLine(line("y", 995, 2, vec![vat6()]))).unwrap();
    doc.edit(&c, &Edit::AddLine(line("z", 745, 1, vec![vat6()]))).unwrap();
    doc
}

fn tax_rows(doc: &OrderDoc) -> Vec<(String, i64, i64)> {
    let v = doc.view().unwrap();
    v.totals.taxes.iter().map(|t| (t.tax_id.as_str().to_owned(), t.base.0, t.amount.0)).collect()
}

#[test]
fn s29_round_per_line_matches_the_hand_worked_totals() {
    let doc = s29(RoundingMethod::RoundPerLine);
    let v = doc.view().unwrap();
    let lines: Vec<(i64, i64, i64)> = v.lines.iter().map(|l| (l.untaxed.0, l.tax.0, l.total.0)).collect();
    assert_eq!(lines, vec![(2231, 469, 2700), (1791, 107, 1898), (671, 40, 711)]);
    assert_eq!((v.totals.untaxed.0, v.totals.tax.0, v.totals.total.0), (4693, 616, 5309));
    assert_eq!(tax_rows(&doc), vec![("vat21".into(), 2231, 469), ("vat6".into(), 2462, 147)]);
    assert_eq!(v.totals.due, Money(5309));
}

#[test]
fn s29_round_globally_rounds_each_tax_once() {
    let doc = s29(RoundingMethod::RoundGlobally);
    let v = doc.view().unwrap();
    assert_eq!((v.totals.untaxed.0, v.totals.tax.0, v.totals.total.0), (4693, 617, 5310));
    assert_eq!(tax_rows(&doc), vec![("vat21".into(), 2231, 469), ("vat6".into(), 2462, 148)]);
}

#[test]
fn every_terminal_computes_the_same_totals_from_the_changes() {
    for method in [RoundingMethod::RoundPerLine, RoundingMethod::RoundGlobally] {
        let a = s29(method);
        let mut b = OrderDoc::empty(a.id().clone(), ActorId::from([0xbb; 16]));
        let changes: Vec<Change> = a.automerge().get_changes(&[]);
        // In reverse: Automerge queues what it cannot apply yet, and the
        // totals do not depend on the order the lines arrive in.
        for change in changes.into_iter().rev() {
            b.apply_remote(vec![change]).unwrap();
        }
        assert_eq!(b.view().unwrap(), a.view().unwrap());
        // The view as JSON, as the API and the feed show it.
        let json = serde_json::to_value(b.view().unwrap()).unwrap();
        assert_eq!(json["totals"]["taxes"][1]["tax_id"], "vat6");
        assert_eq!(json["lines"][0]["taxes"][0]["amount"], "21");
        assert_eq!(json["pricing"]["method"], serde_json::to_value(method).unwrap());
    }
}

#[test]
fn a_line_keeps_the_taxes_it_was_added_with() {
    // S24, the order's half: a rate changes in the catalogue between two
    // lines of the same product; each line keeps its own copy.
    let mut doc = open(RoundingMethod::RoundPerLine);
    let c = ctx("A");
    doc.edit(&c, &Edit::AddLine(line("before", 1000, 1, vec![vat6()]))).unwrap();
    let mut raised = vat6();
    raised.amount = TaxAmount::whole(12);
    doc.edit(&c, &Edit::AddLine(line("after", 1000, 1, vec![raised]))).unwrap();
    let tax_of = |doc: &OrderDoc, l: &str| doc.view().unwrap().line(&LineId::parse(l).unwrap()).unwrap().tax;
    assert_eq!(tax_of(&doc, "before"), Money(54)); // 900 × 6 %
    assert_eq!(tax_of(&doc, "after"), Money(108)); // 900 × 12 %
    // A later change of quantity recomputes with the line's own copy.
    doc.edit(&c, &Edit::SetQty { line: LineId::parse("before").unwrap(), qty: Quantity::units(2) }).unwrap();
    assert_eq!(tax_of(&doc, "before"), Money(108));
}

#[test]
fn an_order_without_pricing_refuses_taxed_lines_and_totals_as_before() {
    let new = NewOrder::new(OrderId::from_random(8), OrderName::compose(&TerminalId::parse("A").unwrap(), 2));
    let (mut doc, _) = OrderDoc::open(ActorId::from([0xaa; 16]), &ctx("A"), &new).unwrap();
    let refused = doc.edit(&ctx("A"), &Edit::AddLine(line("x", 1000, 1, vec![vat6()])));
    assert!(matches!(refused, Err(EditError::Invalid { field: "taxes", .. })), "{refused:?}");
    doc.edit(&ctx("A"), &Edit::AddLine(line("y", 995, 2, Vec::new()))).unwrap();
    let v = doc.view().unwrap();
    assert_eq!(v.pricing, None);
    assert_eq!((v.totals.untaxed.0, v.totals.tax.0, v.totals.total.0), (1791, 0, 1791));
    assert!(v.totals.taxes.is_empty());
}

fn roles() -> Roles {
    Roles::Listed(HashMap::from([("ana".to_owned(), Role::Cashier), ("chloe".to_owned(), Role::Manager)]))
}

fn as_user(user: &str, role: Role) -> EditContext {
    EditContext::new(user, TerminalId::parse("A").unwrap(), T0 + 1000).with_role(role)
}

#[test]
fn a_cashier_cannot_override_a_price_and_a_manager_can() {
    let mut doc = s29(RoundingMethod::RoundPerLine);
    let set = Edit::SetUnitPrice { line: LineId::parse("y").unwrap(), unit_price: Money(500) };
    assert_eq!(
        doc.edit(&as_user("ana", Role::Cashier), &set).unwrap_err(),
        EditError::ManagerOnly { action: "set_unit_price" }
    );
    assert_eq!(doc.view().unwrap().lines[1].unit_price, Money(995), "nothing written");
    doc.edit(&as_user("chloe", Role::Manager), &set).unwrap().unwrap();
    assert_eq!(doc.view().unwrap().lines[1].unit_price, Money(500));
}

/// The last change `doc` made, as a peer receives it.
fn last_change(doc: &OrderDoc) -> Change {
    doc.automerge().get_changes(&[]).pop().unwrap()
}

#[test]
fn a_peer_cannot_bypass_the_manager_check() {
    let a = s29(RoundingMethod::RoundPerLine);
    // A peer that skips the check (no role in its context) lets its cashier
    // override a price.
    let mut rogue = a.clone();
    rogue.set_actor(ActorId::from([0xcc; 16]));
    let by_ana = EditContext::new("ana", TerminalId::parse("C").unwrap(), T0 + 5000);
    rogue
        .edit(&by_ana, &Edit::SetUnitPrice { line: LineId::parse("y").unwrap(), unit_price: Money(1) })
        .unwrap();
    let mut b = a.clone();
    b.set_actor(ActorId::from([0xbb; 16]));
    let before = b.view().unwrap();
    let refused = b.apply_remote_with_roles(vec![last_change(&rogue)], &roles());
    assert!(
        matches!(&refused, Err(RemoteError::ManagerOnly { user, action: "set_unit_price", .. }) if user == "ana"),
        "{refused:?}"
    );
    assert_eq!(b.view().unwrap(), before, "nothing applied");

    // The same override by a manager, and new lines by a cashier, are taken.
    let mut manager = a.clone();
    manager.set_actor(ActorId::from([0xdd; 16]));
    let by_chloe = EditContext::new("chloe", TerminalId::parse("C").unwrap(), T0 + 6000);
    manager
        .edit(&by_chloe, &Edit::SetUnitPrice { line: LineId::parse("y").unwrap(), unit_price: Money(2) })
        .unwrap();
    b.apply_remote_with_roles(vec![last_change(&manager)], &roles()).unwrap();
    assert_eq!(b.view().unwrap().lines[1].unit_price, Money(2));
    let mut cashier = b.clone();
    cashier.set_actor(ActorId::from([0xee; 16]));
    cashier.edit(&by_ana, &Edit::AddLine(line("w", 300, 1, vec![vat6()]))).unwrap();
    b.apply_remote_with_roles(vec![last_change(&cashier)], &roles()).unwrap();
    assert_eq!(b.view().unwrap().lines.len(), 4);
}

#[test]
fn refunds_and_review_resolutions_are_manager_actions() {
    use possync_model::privileges::manager_action;
    let mut doc = s29(RoundingMethod::RoundPerLine);
    let c = ctx("A");
    let tender = possync_model::Tender {
        payment: possync_model::PaymentId::from_random(1),
        method: "cash".into(),
        tendered: Money(6000),
        tip: Money::ZERO,
    };
    doc.edit(&c, &Edit::Pay(tender)).unwrap();
    assert_eq!(
        manager_action(doc.automerge(), &last_change(&doc)),
        None,
        "a payment with change is a cashier's"
    );
    doc.edit(&c, &Edit::MarkPaid).unwrap();
    assert_eq!(manager_action(doc.automerge(), &last_change(&doc)), None);
    doc.edit(&c, &Edit::ResolveReview { state: None, reason: None, accept: false }).unwrap();
    assert_eq!(manager_action(doc.automerge(), &last_change(&doc)), Some("resolve_review"));
}

#[test]
fn the_same_keys_in_extension_fields_are_not_manager_actions() {
    use possync_model::privileges::manager_action;
    let mut doc = s29(RoundingMethod::RoundPerLine);
    let c = ctx("A");
    let mut fields = serde_json::Map::new();
    fields.insert("reason".into(), serde_json::json!("birthday"));
    fields.insert("refund_of".into(), serde_json::json!("none"));
    fields.insert("unit_price".into(), serde_json::json!(3));
    doc.edit(&c, &Edit::SetExt { fields: fields.clone() }).unwrap();
    assert_eq!(manager_action(doc.automerge(), &last_change(&doc)), None);
    doc.edit(&c, &Edit::SetLineExt { line: LineId::parse("x").unwrap(), fields }).unwrap();
    assert_eq!(manager_action(doc.automerge(), &last_change(&doc)), None);
    // A refund is one.
    let refund = possync_model::NewRefund {
        payment: possync_model::PaymentId::from_random(2),
        method: "cash".into(),
        amount: Money(100),
        reason: "cold soup".into(),
        refund_of: None,
    };
    let tender = possync_model::Tender {
        payment: possync_model::PaymentId::from_random(1),
        method: "cash".into(),
        tendered: Money(1000),
        tip: Money::ZERO,
    };
    doc.edit(&c, &Edit::Pay(tender)).unwrap();
    doc.edit(&c, &Edit::Refund(refund)).unwrap();
    assert_eq!(manager_action(doc.automerge(), &last_change(&doc)), Some("refund"));
}
