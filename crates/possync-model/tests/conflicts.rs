//! One test per row of the conflict table in `docs/CONFLICTS.md`: two (or
//! three) terminals edit one order concurrently, exchange every change through
//! the validating remote path, and must end with the same heads and the same
//! view, which is checked to the exact value. Each test is written so that it
//! fails if its rule is broken (e.g. a last-writer-wins quantity would not add
//! up). Then the validation of hostile remote changes.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use possync_model::automerge::transaction::Transactable;
use possync_model::automerge::{Change, ObjType, ROOT, ReadDoc, Value};
use possync_model::{
    Conflict, Discount, Edit, EditError, Money, NewOrder, OrderName, OrderState, PaymentId, Quantity,
    RemoteError, ReviewFlag, SchemaError, Stamp,
};
use serde_json::{Map, Value as Json, json};

fn units(n: i64) -> Quantity {
    Quantity::units(n)
}

fn fields(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn pay(t: &mut Terminal, id: &str, method: &str, amount: i64) {
    t.edit(Edit::AddPayment {
        payment: PaymentId::parse(id).unwrap(),
        method: method.into(),
        amount: Money(amount),
    });
}

/// The stamp a terminal's last edit carried.
fn last_stamp(t: &Terminal) -> Stamp {
    Stamp { user: t.ctx.author.user.clone(), terminal: t.code.clone(), at_ms: t.ctx.at_ms }
}

// ---------------------------------------------------------------------------
// Quantities and lines
// ---------------------------------------------------------------------------

#[test]
fn concurrent_qty_increments_add_up() {
    let (mut a, mut b, l1) = pair_with_line(); // 2 × 4.50
    a.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    b.edit(Edit::ChangeQty { line: l1.clone(), delta: units(3) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.line(&l1).unwrap().qty, units(6));
    assert_eq!(v.totals.total, Money(6 * 450));
    assert!(v.conflicts.is_empty(), "{:?}", v.conflicts);
    assert!(v.review.is_empty());
}

#[test]
fn a_stamp_left_in_conflict_is_rewritten_whole_by_the_next_edit() {
    let (mut a, mut b, l1) = pair_with_line();
    // Both edit at the same instant: the `at` of the order's `changed`
    // stamp then holds two values, both equal.
    let at = a.ctx.at_ms.max(b.ctx.at_ms) + 1000;
    a.ctx.at_ms = at - 1000;
    b.ctx.at_ms = at - 1000;
    a.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    b.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    exchange(&mut a, &mut b);
    let stamp_values = |t: &Terminal, key: &str| {
        let doc = t.doc.automerge();
        let Some((Value::Object(ObjType::Map), stamp)) = doc.get(ROOT, "changed").unwrap() else {
            panic!("no changed stamp")
        };
        doc.get_all(&stamp, key).unwrap().len()
    };
    assert_eq!(stamp_values(&a, "at"), 2);
    // A's next edit at that same instant writes every field again, the
    // equal `at` included: a field is left alone only when it holds one
    // value, equal to the new one.
    a.ctx.at_ms = at - 1000;
    a.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    for key in ["at", "user", "terminal"] {
        assert_eq!(stamp_values(&a, key), 1, "changed/{key} still in conflict");
    }
    assert_eq!(v.changed, last_stamp(&a));
    assert_eq!(v.line(&l1).unwrap().qty, units(5));
}

#[test]
fn concurrent_line_additions_are_all_kept() {
    let (mut a, mut b, _) = pair_with_line();
    let mut c = Terminal::join("C", 0xcc, &a);
    a.edit(Edit::AddLine(new_line("l2", "tea", 1, 300)));
    b.edit(Edit::AddLine(new_line("l3", "cake", 2, 520)));
    c.edit(Edit::AddLine(new_line("l4", "water", 3, 150)));
    exchange(&mut a, &mut b);
    exchange(&mut b, &mut c);
    exchange(&mut a, &mut c);
    let v = assert_converged(&[&a, &b, &c]);
    let mut got: Vec<(String, Quantity)> = v.lines.iter().map(|l| (l.id.to_string(), l.qty)).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("l1".into(), units(2)),
            ("l2".into(), units(1)),
            ("l3".into(), units(2)),
            ("l4".into(), units(3))
        ]
    );
    assert_eq!(v.totals.total, Money(2 * 450 + 300 + 2 * 520 + 3 * 150));
    assert!(v.conflicts.is_empty());
}

#[test]
fn concurrent_edits_of_different_fields_all_survive() {
    let (mut a, mut b, l1) = pair_with_line();
    a.edit(Edit::SetCustomer { customer: Some("alice".into()) });
    a.edit(Edit::SetNote { note: "birthday".into() });
    a.edit(Edit::SetUnitPrice { line: l1.clone(), unit_price: Money(500) });
    b.edit(Edit::SetTable { table: Some("T4".into()), floor: Some("terrace".into()) });
    b.edit(Edit::SetGuests { guests: 3 });
    b.edit(Edit::SetLineNote { line: l1.clone(), note: "no sugar".into() });
    b.edit(Edit::SetDiscount { line: l1.clone(), discount: Discount(1000) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.customer.as_deref(), Some("alice"));
    assert_eq!(v.note, "birthday");
    assert_eq!(v.table.as_deref(), Some("T4"));
    assert_eq!(v.floor.as_deref(), Some("terrace"));
    assert_eq!(v.guests, 3);
    let line = v.line(&l1).unwrap();
    assert_eq!(line.unit_price, Money(500));
    assert_eq!(line.note, "no sugar");
    assert_eq!(line.discount, Discount(1000));
    // 2 × 5.00 − 10 %
    assert_eq!(v.totals.total, Money(900));
    assert!(v.conflicts.is_empty(), "{:?}", v.conflicts);
}

// ---------------------------------------------------------------------------
// Same scalar field written concurrently
// ---------------------------------------------------------------------------

/// A writes `a_edit`, B writes `b_edit` concurrently. Both write the field as
/// the first operation after the same heads, so the operation counters tie and
/// the larger actor (B) wins. Checks the winner on both, the reported conflict
/// (winner first), then that a later write by A settles it.
fn same_field(
    path: &str,
    a_edit: Edit,
    b_edit: Edit,
    later: Edit,
    read: impl Fn(&possync_model::OrderView) -> Json,
    (a_value, b_value, later_value): (Json, Json, Json),
) {
    let (mut a, mut b, _) = pair_with_line();
    a.edit(a_edit);
    b.edit(b_edit);
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(read(&v), b_value, "B's write wins on both");
    assert_eq!(v.conflicts, vec![Conflict { path: path.into(), values: vec![b_value, a_value] }]);

    a.edit(later);
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(read(&v), later_value);
    assert!(v.conflicts.is_empty(), "a later write settles the conflict: {:?}", v.conflicts);
}

#[test]
fn same_field_concurrently_customer() {
    same_field(
        "customer",
        Edit::SetCustomer { customer: Some("alice".into()) },
        Edit::SetCustomer { customer: Some("bob".into()) },
        Edit::SetCustomer { customer: Some("alice".into()) },
        |v| json!(v.customer),
        (json!("alice"), json!("bob"), json!("alice")),
    );
}

#[test]
fn same_field_concurrently_line_unit_price() {
    let l1 = line_id("l1");
    same_field(
        "lines/l1/unit_price",
        Edit::SetUnitPrice { line: l1.clone(), unit_price: Money(500) },
        Edit::SetUnitPrice { line: l1.clone(), unit_price: Money(480) },
        Edit::SetUnitPrice { line: l1.clone(), unit_price: Money(480) },
        |v| json!(v.lines[0].unit_price),
        (json!(500), json!(480), json!(480)),
    );
}

#[test]
fn same_field_concurrently_line_note() {
    let l1 = line_id("l1");
    same_field(
        "lines/l1/note",
        Edit::SetLineNote { line: l1.clone(), note: "no sugar".into() },
        Edit::SetLineNote { line: l1.clone(), note: "extra hot".into() },
        Edit::SetLineNote { line: l1.clone(), note: "no sugar, extra hot".into() },
        |v| json!(v.lines[0].note),
        (json!("no sugar"), json!("extra hot"), json!("no sugar, extra hot")),
    );
}

#[test]
fn same_field_concurrently_guests() {
    same_field(
        "guests",
        Edit::SetGuests { guests: 4 },
        Edit::SetGuests { guests: 6 },
        Edit::SetGuests { guests: 5 },
        |v| json!(v.guests),
        (json!(4), json!(6), json!(5)),
    );
}

#[test]
fn concurrent_set_qty_on_both_sides_applies_both_deltas() {
    // SetQty is written as the difference from the quantity the terminal
    // sees, so two concurrent SetQty both apply: 2 → 5 (+3) and 2 → 4 (+2)
    // merge to 7, exactly as two increments would.
    let (mut a, mut b, l1) = pair_with_line();
    a.edit(Edit::SetQty { line: l1.clone(), qty: units(5) });
    b.edit(Edit::SetQty { line: l1.clone(), qty: units(4) });
    assert_eq!(a.view().line(&l1).unwrap().qty, units(5));
    assert_eq!(b.view().line(&l1).unwrap().qty, units(4));
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.line(&l1).unwrap().qty, units(7));
    assert!(v.conflicts.is_empty());
}

// ---------------------------------------------------------------------------
// Removal versus edit
// ---------------------------------------------------------------------------

#[test]
fn remove_line_vs_concurrent_increment_keeps_the_increment() {
    let (mut a, mut b, l1) = pair_with_line(); // 2
    a.edit(Edit::RemoveLine { line: l1.clone() }); // −2
    b.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) }); // +1
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    let line = v.line(&l1).unwrap();
    assert_eq!(line.qty, units(1));
    assert!(!line.is_removed());
    assert_eq!(v.active_lines().count(), 1);
    assert_eq!(v.totals.total, Money(450));
}

#[test]
fn remove_line_vs_concurrent_decrement_stays_at_zero() {
    let (mut a, mut b, l1) = pair_with_line(); // 2
    a.edit(Edit::RemoveLine { line: l1.clone() }); // −2
    b.edit(Edit::ChangeQty { line: l1.clone(), delta: units(-1) }); // −1
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    let line = v.line(&l1).unwrap();
    assert_eq!(a.raw_qty(&l1), -1000, "the counter itself went below zero");
    assert_eq!(line.qty, Quantity::ZERO, "the view clamps at zero");
    assert!(line.is_removed());
    assert_eq!(line.total, Money(0));
    assert_eq!(v.totals.total, Money(0));
    assert_eq!(v.active_lines().count(), 0);
}

#[test]
fn increment_after_a_clamped_removal_counts_from_zero() {
    // After the clamp above, the cashier sees 0 and presses +1: the line must
    // show 1 (not stay at 0 because the hidden counter was at −1).
    let (mut a, mut b, l1) = pair_with_line();
    a.edit(Edit::RemoveLine { line: l1.clone() });
    b.edit(Edit::ChangeQty { line: l1.clone(), delta: units(-1) });
    exchange(&mut a, &mut b);
    assert_eq!(b.raw_qty(&l1), -1000);
    b.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    assert_eq!(b.view().line(&l1).unwrap().qty, units(1));
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.line(&l1).unwrap().qty, units(1));
    assert_eq!(a.raw_qty(&l1), 1000);
}

#[test]
fn two_terminals_raising_a_clamped_line_concurrently_both_make_up_the_shortfall() {
    // The documented edge of the rule above: each terminal's edit counts
    // from the 0 it shows, so each also makes up the hidden −1. Both raise
    // the line to 1 concurrently: +2 and +2 on a counter at −1 give 3.
    let (mut a, mut b, l1) = pair_with_line();
    a.edit(Edit::RemoveLine { line: l1.clone() });
    b.edit(Edit::ChangeQty { line: l1.clone(), delta: units(-1) });
    exchange(&mut a, &mut b);
    a.edit(Edit::SetQty { line: l1.clone(), qty: units(1) });
    b.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.line(&l1).unwrap().qty, units(3));
}

// ---------------------------------------------------------------------------
// Closing versus edit
// ---------------------------------------------------------------------------

#[test]
fn cancel_vs_concurrent_add_line_is_flagged_edited_after_close() {
    let (mut a, mut b, _) = pair_with_line(); // total 9.00
    a.edit(Edit::Cancel);
    b.edit(Edit::AddLine(new_line("l2", "tea", 1, 300)));
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Cancelled);
    assert_eq!(
        v.review,
        vec![ReviewFlag::EditedAfterClose { state: OrderState::Cancelled, closed_total: 900, total: 1200 }]
    );
    assert!(v.is_active(), "a flagged order stays on the open list");
    assert_eq!(v.lines.len(), 2, "B's line is kept");
}

#[test]
fn s10_mark_paid_vs_concurrent_add_line_is_flagged_and_underpaid() {
    let (mut a, mut b, _) = pair_with_line(); // total 9.00
    pay(&mut a, "p1", "cash", 900);
    a.edit(Edit::MarkPaid);
    b.edit(Edit::AddLine(new_line("l2", "tea", 1, 300)));
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Paid);
    assert_eq!(
        v.review,
        vec![
            ReviewFlag::EditedAfterClose { state: OrderState::Paid, closed_total: 900, total: 1200 },
            ReviewFlag::Underpaid { total: 1200, paid: 900 },
        ]
    );
    assert_eq!(v.totals.due, Money(300));
    assert!(v.is_active());
    assert_eq!(v.lines.len(), 2);
}

#[test]
fn paid_twice_while_partitioned_is_flagged_closed_concurrently() {
    let (mut a, mut b, _) = pair_with_line(); // total 9.00
    pay(&mut a, "pa", "cash", 900);
    a.edit(Edit::MarkPaid);
    let a_stamp = last_stamp(&a);
    pay(&mut b, "pb", "card", 900);
    b.edit(Edit::MarkPaid);
    let b_stamp = last_stamp(&b);
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Paid);
    assert_eq!(
        v.review,
        vec![
            ReviewFlag::ClosedConcurrently {
                closings: vec![(OrderState::Paid, a_stamp), (OrderState::Paid, b_stamp)]
            },
            ReviewFlag::Overpaid { total: 900, paid: 1800 },
        ]
    );
    assert_eq!(v.payments.len(), 2, "both payments are kept");
    assert_eq!(v.totals.paid, Money(1800));
    assert_eq!(v.totals.due, Money(-900), "the customer paid twice: 9.00 to give back");
    assert!(v.is_active());
}

#[test]
fn mark_paid_vs_concurrent_cancel_paid_wins_and_is_flagged() {
    let (mut a, mut b, _) = pair_with_line();
    pay(&mut a, "p1", "cash", 900);
    a.edit(Edit::MarkPaid);
    let a_stamp = last_stamp(&a);
    b.edit(Edit::Cancel);
    let b_stamp = last_stamp(&b);
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Paid, "paid wins over cancelled");
    assert_eq!(
        v.review,
        vec![ReviewFlag::ClosedConcurrently {
            closings: vec![(OrderState::Paid, a_stamp), (OrderState::Cancelled, b_stamp)]
        }]
    );
    assert!(v.is_active());
}

#[test]
fn mark_paid_vs_concurrent_cancel_paid_wins_whichever_actor_is_larger() {
    // The same with the roles swapped: B (the larger actor, whose closing
    // Automerge shows first) cancels, and paid still wins.
    let (mut a, mut b, _) = pair_with_line();
    a.edit(Edit::Cancel);
    pay(&mut b, "p1", "cash", 900);
    b.edit(Edit::MarkPaid);
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Paid);
    assert!(matches!(v.review.as_slice(), [ReviewFlag::ClosedConcurrently { .. }]));
}

#[test]
fn close_vs_concurrent_edit_not_touching_money_is_kept_without_a_flag() {
    let (mut a, mut b, _) = pair_with_line();
    pay(&mut a, "p1", "cash", 900);
    a.edit(Edit::MarkPaid);
    b.edit(Edit::SetNote { note: "regular customer".into() });
    b.edit(Edit::SetExt { fields: fields(json!({"loyalty_card": "C-1001"})) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Paid);
    assert_eq!(v.note, "regular customer");
    assert_eq!(v.ext["loyalty_card"], json!("C-1001"));
    assert!(v.review.is_empty(), "{:?}", v.review);
    assert!(!v.is_active());
}

#[test]
fn local_edit_on_a_closed_order_is_refused_and_changes_nothing() {
    let (mut a, _, l1) = pair_with_line();
    pay(&mut a, "p1", "cash", 900);
    a.edit(Edit::MarkPaid);
    let (heads, json) = (a.doc.heads(), a.json());
    for edit in [
        Edit::AddLine(new_line("l2", "tea", 1, 300)),
        Edit::ChangeQty { line: l1.clone(), delta: units(1) },
        Edit::SetCustomer { customer: Some("carol".into()) },
        Edit::Cancel,
        Edit::MarkPaid,
    ] {
        assert_eq!(a.try_edit(edit), Err(EditError::Closed(OrderState::Paid)));
    }
    assert_eq!(a.doc.heads(), heads);
    assert_eq!(a.json(), json);
    // ResolveReview needs a closed order, and is refused on an open one.
    let (mut open, _, _) = pair_with_line();
    assert_eq!(
        open.try_edit(Edit::ResolveReview { state: None, reason: None, accept: false }),
        Err(EditError::NotClosed)
    );
}

#[test]
fn resolve_review_clears_closed_concurrently() {
    let (mut a, mut b, _) = pair_with_line();
    pay(&mut a, "p1", "cash", 900);
    a.edit(Edit::MarkPaid);
    b.edit(Edit::Cancel);
    exchange(&mut a, &mut b);
    assert!(!a.view().review.is_empty());
    b.edit(Edit::ResolveReview { state: None, reason: None, accept: false });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Paid);
    assert!(v.review.is_empty(), "{:?}", v.review);
    assert!(!v.is_active(), "a resolved paid order leaves the open list");
}

#[test]
fn resolve_review_clears_edited_after_close() {
    let (mut a, mut b, _) = pair_with_line();
    a.edit(Edit::Cancel);
    b.edit(Edit::AddLine(new_line("l2", "tea", 1, 300)));
    exchange(&mut a, &mut b);
    assert!(matches!(a.view().review.as_slice(), [ReviewFlag::EditedAfterClose { .. }]));
    a.edit(Edit::ResolveReview { state: None, reason: None, accept: false });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Cancelled);
    assert!(v.review.is_empty(), "{:?}", v.review);
    assert!(!v.is_active());
}

#[test]
fn s10_underpaid_order_collects_the_rest_then_resolves() {
    // After S10 the order is paid but 3.00 short. Resolving alone does not
    // clear `underpaid`; taking the missing payment does, and the manager's
    // review then clears the rest.
    let (mut a, mut b, _) = pair_with_line();
    pay(&mut a, "p1", "cash", 900);
    a.edit(Edit::MarkPaid);
    b.edit(Edit::AddLine(new_line("l2", "tea", 1, 300)));
    exchange(&mut a, &mut b);
    a.edit(Edit::ResolveReview { state: None, reason: None, accept: false });
    assert_eq!(a.view().review, vec![ReviewFlag::Underpaid { total: 1200, paid: 900 }]);
    // Other edits stay refused on the paid order.
    assert_eq!(
        a.try_edit(Edit::SetCustomer { customer: Some("x".into()) }),
        Err(EditError::Closed(OrderState::Paid))
    );
    pay(&mut a, "p2", "card", 300);
    assert_eq!(
        a.view().review,
        vec![ReviewFlag::EditedAfterClose { state: OrderState::Paid, closed_total: 1200, total: 1200 }]
    );
    a.edit(Edit::ResolveReview { state: None, reason: None, accept: false });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Paid);
    assert!(v.review.is_empty(), "{:?}", v.review);
    assert_eq!(v.totals.due, Money(0));
    assert!(!v.is_active());
    // Once nothing is owed, payments are refused again.
    assert_eq!(
        a.try_edit(Edit::AddPayment {
            payment: PaymentId::parse("p3").unwrap(),
            method: "cash".into(),
            amount: Money(100)
        }),
        Err(EditError::Closed(OrderState::Paid))
    );
}

// ---------------------------------------------------------------------------
// Restaurant
// ---------------------------------------------------------------------------

#[test]
fn s13_set_table_vs_concurrent_add_line_one_order_at_the_new_table() {
    let (mut a, mut b, _) = pair_with_line();
    a.edit(Edit::SetTable { table: Some("T1".into()), floor: Some("main".into()) });
    exchange(&mut a, &mut b);
    a.edit(Edit::SetTable { table: Some("T7".into()), floor: Some("terrace".into()) });
    b.edit(Edit::AddLine(new_line("l2", "wine", 1, 700)));
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.id, order_id(1));
    assert_eq!(v.table.as_deref(), Some("T7"));
    assert_eq!(v.floor.as_deref(), Some("terrace"));
    let mut ids: Vec<&str> = v.lines.iter().map(|l| l.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["l1", "l2"]);
    assert!(v.conflicts.is_empty());
}

#[test]
fn s11_split_vs_concurrent_increment_duplicates_nothing() {
    let (mut a, mut b, l1) = pair_with_line(); // l1: 2 × 4.50
    a.edit(Edit::AddLine(new_line("l2", "tea", 1, 300)));
    exchange(&mut a, &mut b);
    let l2 = line_id("l2");

    // A moves one coffee and the tea to a new order while B adds one of each.
    a.ctx.at_ms += 1000;
    let new = NewOrder::new(order_id(2), OrderName::compose(&a.code, 2));
    let (split_doc, _, _) =
        a.doc.split(&a.ctx, &new, &[(l1.clone(), units(1)), (l2.clone(), units(1))]).unwrap();
    b.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    b.edit(Edit::ChangeQty { line: l2.clone(), delta: units(1) });

    exchange(&mut a, &mut b);
    let source = assert_converged(&[&a, &b]);
    let mut a2 = Terminal { doc: split_doc, ..Terminal::empty("A", 0xaa, &order_id(2)) };
    let mut b2 = Terminal::empty("B", 0xbb, &order_id(2));
    exchange(&mut a2, &mut b2);
    let split = assert_converged(&[&a2, &b2]);

    assert_eq!(split.split_from, Some(order_id(1)));
    // l1: 2 + 1 (B) = 3 coffees in all; l2: 1 + 1 (B) = 2 teas.
    assert_eq!(source.line(&l1).unwrap().qty, units(2));
    assert_eq!(split.line(&l1).unwrap().qty, units(1));
    assert_eq!(source.line(&l2).unwrap().qty, units(1));
    assert_eq!(split.line(&l2).unwrap().qty, units(1));
    assert_eq!(source.totals.total.0 + split.totals.total.0, 3 * 450 + 2 * 300);
    assert_eq!(split.lines.len(), 2);
}

#[test]
fn concurrent_send_to_kitchen_keeps_the_larger_quantity() {
    let (mut a, mut b, l1) = pair_with_line(); // 2
    // A does more work first, so its kitchen write has the higher operation
    // counter: under last-writer-wins A's smaller value would show.
    for note in ["a", "b", "c"] {
        a.edit(Edit::SetNote { note: note.into() });
    }
    a.edit(Edit::SendToKitchen { lines: None }); // sends 2
    b.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    b.edit(Edit::SendToKitchen { lines: Some(vec![l1.clone()]) }); // sends 3
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(a.line_register(&l1, "kitchen_qty"), json!(2000), "Automerge's own winner is A's");
    let line = v.line(&l1).unwrap();
    assert_eq!(line.qty, units(3));
    assert_eq!(line.kitchen_qty, units(3), "the kitchen has seen the larger");
    assert_eq!(line.kitchen_pending(), Quantity::ZERO);
}

// ---------------------------------------------------------------------------
// Extension fields
// ---------------------------------------------------------------------------

#[test]
fn ext_fields_on_different_keys_both_survive() {
    let (mut a, mut b, l1) = pair_with_line();
    a.edit(Edit::SetExt { fields: fields(json!({"loyalty_card": "C-1001"})) });
    a.edit(Edit::SetLineExt { line: l1.clone(), fields: fields(json!({"course": 2})) });
    b.edit(Edit::SetExt { fields: fields(json!({"tip_percent": 10})) });
    b.edit(Edit::SetLineExt { line: l1.clone(), fields: fields(json!({"seat": 4})) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(Json::Object(v.ext.clone()), json!({"loyalty_card": "C-1001", "tip_percent": 10}));
    assert_eq!(Json::Object(v.line(&l1).unwrap().ext.clone()), json!({"course": 2, "seat": 4}));
    assert!(v.conflicts.is_empty());
}

#[test]
fn ext_same_key_written_concurrently_is_a_reported_conflict() {
    let (mut a, mut b, l1) = pair_with_line();
    a.edit(Edit::SetExt { fields: fields(json!({"tip_percent": 10})) });
    a.edit(Edit::SetLineExt { line: l1.clone(), fields: fields(json!({"seat": 1})) });
    b.edit(Edit::SetExt { fields: fields(json!({"tip_percent": 15})) });
    b.edit(Edit::SetLineExt { line: l1.clone(), fields: fields(json!({"seat": 2})) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.ext["tip_percent"], json!(15));
    assert_eq!(v.line(&l1).unwrap().ext["seat"], json!(2));
    assert_eq!(
        v.conflicts,
        vec![
            Conflict { path: "ext/tip_percent".into(), values: vec![json!(15), json!(10)] },
            Conflict { path: "lines/l1/ext/seat".into(), values: vec![json!(2), json!(1)] },
        ]
    );
    // Any later write settles it, even one of the value already shown.
    a.edit(Edit::SetExt { fields: fields(json!({"tip_percent": 15})) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.ext["tip_percent"], json!(15));
    assert_eq!(
        v.conflicts,
        vec![Conflict { path: "lines/l1/ext/seat".into(), values: vec![json!(2), json!(1)] }],
        "only the line's seat is still in conflict"
    );
}

#[test]
fn ext_nested_objects_created_concurrently_conflict_as_a_whole() {
    // The caveat of docs/EXTENDING.md: two terminals that each create the
    // object at one key make two competing objects; one wins whole.
    let (mut a, mut b, _) = pair_with_line();
    a.edit(Edit::SetExt { fields: fields(json!({"delivery": {"address": "1 Main St"}})) });
    b.edit(Edit::SetExt { fields: fields(json!({"delivery": {"phone": "555-0100"}})) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.ext["delivery"], json!({"phone": "555-0100"}));
    assert_eq!(
        v.conflicts,
        vec![Conflict {
            path: "ext/delivery".into(),
            values: vec![json!({"phone": "555-0100"}), json!({"address": "1 Main St"})]
        }]
    );
    // A later write settles it: one object, the shown one with the written
    // fields over it.
    a.edit(Edit::SetExt { fields: fields(json!({"delivery": {"address": "1 Main St"}})) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.ext["delivery"], json!({"address": "1 Main St", "phone": "555-0100"}));
    assert!(v.conflicts.is_empty(), "{:?}", v.conflicts);
    // Once the object exists on both, its keys merge one by one.
    b.edit(Edit::SetExt { fields: fields(json!({"delivery": {"floor": 2}})) });
    a.edit(Edit::SetExt { fields: fields(json!({"delivery": {"phone": "555-0199"}})) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.ext["delivery"], json!({"address": "1 Main St", "floor": 2, "phone": "555-0199"}));
    assert!(v.conflicts.is_empty(), "{:?}", v.conflicts);
}

// ---------------------------------------------------------------------------
// Scenarios S6, S7
// ---------------------------------------------------------------------------

#[test]
fn s6_duplicate_delivery_is_applied_once() {
    let (mut a, mut b, l1) = pair_with_line();
    let change = a.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    let first = b.doc.apply_remote_bytes([change.bytes.as_slice()]).unwrap();
    assert!(first.summary.is_some());
    let (heads, json) = (b.doc.heads(), b.json());
    let second = b.doc.apply_remote_bytes([change.bytes.as_slice()]).unwrap();
    assert!(second.summary.is_none(), "a duplicate shows nothing new");
    assert!(second.missing_deps.is_empty());
    // And once more by another path: the full history from A.
    let third = deliver_all(&a, &mut b);
    assert!(third.summary.is_none());
    assert_eq!(b.doc.heads(), heads);
    assert_eq!(b.json(), json);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.line(&l1).unwrap().qty, units(3), "the increment counted once");
}

#[test]
fn s7_two_waiters_add_products_to_one_table_at_once() {
    let (mut a, _) = Terminal::open("A", 0xaa, &order_id(7));
    a.edit(Edit::SetTable { table: Some("T5".into()), floor: Some("main".into()) });
    a.edit(Edit::AddLine(new_line("shared", "bread", 1, 200)));
    let mut b = Terminal::join("B", 0xbb, &a);
    // Each waiter takes part of the table's order; changes cross in flight.
    let mut from_a = Vec::new();
    let mut from_b = Vec::new();
    for (i, (product, price)) in [("soup", 650), ("salad", 720), ("steak", 2450)].into_iter().enumerate() {
        from_a.push(a.edit(Edit::AddLine(new_line(&format!("a{i}"), product, 1, price))));
    }
    for (i, (product, price)) in [("fish", 2100), ("pasta", 1380), ("wine", 3200)].into_iter().enumerate() {
        from_b.push(b.edit(Edit::AddLine(new_line(&format!("b{i}"), product, 2, price))));
    }
    from_a.push(a.edit(Edit::ChangeQty { line: line_id("shared"), delta: units(1) }));
    from_b.push(b.edit(Edit::ChangeQty { line: line_id("shared"), delta: units(2) }));
    // Delivered one by one, B's in reverse order (later ones park until their
    // dependencies arrive).
    for c in &from_a {
        b.doc.apply_remote_bytes([c.bytes.as_slice()]).unwrap();
    }
    for c in from_b.iter().rev() {
        a.doc.apply_remote_bytes([c.bytes.as_slice()]).unwrap();
    }
    let v = assert_converged(&[&a, &b]);
    let mut got: Vec<(String, Quantity)> = v.lines.iter().map(|l| (l.id.to_string(), l.qty)).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("a0".into(), units(1)),
            ("a1".into(), units(1)),
            ("a2".into(), units(1)),
            ("b0".into(), units(2)),
            ("b1".into(), units(2)),
            ("b2".into(), units(2)),
            ("shared".into(), units(4)),
        ]
    );
    assert_eq!(v.totals.total, Money(4 * 200 + 650 + 720 + 2450 + 2 * (2100 + 1380 + 3200)));
    assert_eq!(v.table.as_deref(), Some("T5"));
    assert!(v.conflicts.is_empty());
}

// ---------------------------------------------------------------------------
// Validation of remote changes
// ---------------------------------------------------------------------------

/// A change made with raw Automerge on a copy of `victim`'s document by a
/// foreign actor: what a buggy or hostile peer could send.
fn hostile(
    victim: &Terminal,
    write: impl FnOnce(&mut possync_model::automerge::transaction::Transaction<'_>),
) -> Change {
    let mut copy = victim.doc.automerge().clone();
    copy.set_actor(actor(0xee));
    let mut tx = copy.transaction();
    write(&mut tx);
    let (hash, _) = tx.commit();
    assert!(hash.is_some(), "the hostile transaction wrote something");
    copy.get_last_local_change().unwrap()
}

fn obj_at(
    tx: &possync_model::automerge::transaction::Transaction<'_>,
    path: &[&str],
) -> possync_model::automerge::ObjId {
    let mut o = ROOT;
    for key in path {
        o = match tx.get(&o, *key).unwrap() {
            Some((Value::Object(ObjType::Map), id)) => id,
            other => panic!("{key}: {other:?}"),
        };
    }
    o
}

/// Applies a hostile change to B and checks it is refused with the expected
/// schema error and that B is exactly as before; then that B still accepts
/// good changes.
fn assert_refused(change: Change, expected: SchemaError) {
    let (mut a, mut b, l1) = pair_with_line();
    let (heads, json) = (b.doc.heads(), b.json());
    let hash = change.hash();
    match b.doc.apply_remote(vec![change]) {
        Err(RemoteError::Schema { hash: h, source }) => {
            assert_eq!(h, hash);
            assert_eq!(source, expected);
        }
        other => panic!("hostile change accepted or wrongly refused: {other:?}"),
    }
    assert_eq!(b.doc.heads(), heads, "heads unchanged");
    assert_eq!(b.json(), json, "view unchanged");
    let good = a.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    b.doc.apply_remote_bytes([good.bytes.as_slice()]).unwrap();
    assert_eq!(b.view().line(&l1).unwrap().qty, units(3));
}

/// The victim each hostile change is made against: the same document
/// `pair_with_line` gives B (deterministic actors and clocks).
fn victim() -> Terminal {
    pair_with_line().1
}

#[test]
fn remote_change_writing_a_string_into_qty_is_rejected() {
    let change = hostile(&victim(), |tx| {
        let l = obj_at(tx, &["lines", "l1"]);
        tx.put(&l, "qty", "lots").unwrap();
    });
    assert_refused(
        change,
        SchemaError::WrongType {
            path: "lines/l1/qty".into(),
            expected: "a counter",
            found: "string \"lots\"".into(),
        },
    );
}

#[test]
fn remote_change_deleting_the_order_id_is_rejected() {
    let change = hostile(&victim(), |tx| tx.delete(ROOT, "id").unwrap());
    assert_refused(change, SchemaError::Missing { path: "id".into() });
}

#[test]
fn remote_change_with_an_unknown_closing_state_is_rejected() {
    let change = hostile(&victim(), |tx| {
        let c = tx.put_object(ROOT, "closed", ObjType::Map).unwrap();
        tx.put(&c, "state", "refunded").unwrap();
        tx.put(&c, "digest", "00").unwrap();
        tx.put(&c, "total", 0i64).unwrap();
    });
    assert_refused(
        change,
        SchemaError::OutOfRange { path: "closed/state".into(), detail: "unknown state \"refunded\"".into() },
    );
}

#[test]
fn remote_change_making_guests_a_string_is_rejected() {
    let change = hostile(&victim(), |tx| tx.put(ROOT, "guests", "many").unwrap());
    assert_refused(
        change,
        SchemaError::WrongType {
            path: "guests".into(),
            expected: "an integer",
            found: "string \"many\"".into(),
        },
    );
}

#[test]
fn a_refused_change_in_a_batch_refuses_the_whole_batch() {
    let (mut a, mut b, l1) = pair_with_line();
    let good = a.edit(Edit::ChangeQty { line: l1.clone(), delta: units(1) });
    let bad = hostile(&a, |tx| tx.put(ROOT, "guests", -1i64).unwrap());
    let (heads, json) = (b.doc.heads(), b.json());
    let good = possync_model::decode_changes([good.bytes.as_slice()]).unwrap();
    let batch = vec![good[0].clone(), bad];
    assert!(matches!(
        b.doc.apply_remote(batch),
        Err(RemoteError::Schema { source: SchemaError::OutOfRange { .. }, .. })
    ));
    assert_eq!(b.doc.heads(), heads);
    assert_eq!(b.json(), json);
}

#[test]
fn garbage_bytes_are_refused_as_undecodable() {
    let (_, mut b, _) = pair_with_line();
    let heads = b.doc.heads();
    assert!(matches!(b.doc.apply_remote_bytes([&b"not a change"[..]]), Err(RemoteError::Decode(_))));
    assert_eq!(b.doc.heads(), heads);
}

/// X's changes sent to the terminal that holds order Y.
fn cross_order(x_actor: u8, y_actor: u8) {
    let (x, _) = Terminal::open("X", x_actor, &order_id(100));
    let (mut y, _) = Terminal::open("Y", y_actor, &order_id(200));
    y.edit(Edit::AddLine(new_line("l1", "coffee", 1, 450)));
    let (heads, json) = (y.doc.heads(), y.json());
    let err = y.doc.apply_remote(x.doc.automerge().get_changes(&[])).unwrap_err();
    assert!(
        matches!(&err, RemoteError::Schema { source: SchemaError::WrongOrder { expected, .. }, .. } if *expected == order_id(200)),
        "{err:?}"
    );
    assert_eq!(y.doc.heads(), heads);
    assert_eq!(y.json(), json);

    // And a document still waiting for its first change.
    let mut waiting = Terminal::empty("Y", y_actor, &order_id(200));
    let err = waiting.doc.apply_remote(x.doc.automerge().get_changes(&[])).unwrap_err();
    assert!(matches!(err, RemoteError::Schema { source: SchemaError::WrongOrder { .. }, .. }), "{err:?}");
    assert!(waiting.doc.is_empty());
}

#[test]
fn a_change_for_another_order_is_refused() {
    // Both actor orders: whichever `id` Automerge would show, the foreign one
    // must be refused.
    cross_order(0xaa, 0xbb);
    cross_order(0xbb, 0xaa);
}
