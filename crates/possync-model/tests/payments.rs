//! Payments like a till's, and the money rows of `docs/CONFLICTS.md`: a
//! second payment of a paid bill is refused locally; whatever concurrency
//! lets through (two payments of one bill) ends flagged `overpaid`, never
//! closed silently; a manager clears it by giving the extra back or by
//! accepting it, recorded with who and why.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use possync_model::{
    Edit, EditError, Money, NewOrder, NewRefund, OrderDoc, OrderName, OrderState, PaymentId, ReviewFlag,
    Tender, TerminalId,
};

fn pid(id: &str) -> PaymentId {
    PaymentId::parse(id).unwrap()
}

fn tender(id: &str, method: &str, tendered: i64, tip: i64) -> Edit {
    Edit::Pay(Tender { payment: pid(id), method: method.into(), tendered: Money(tendered), tip: Money(tip) })
}

fn refund(id: &str, amount: i64, reason: &str) -> Edit {
    Edit::Refund(NewRefund {
        payment: pid(id),
        method: "cash".into(),
        amount: Money(amount),
        reason: reason.into(),
        refund_of: None,
    })
}

#[test]
fn cash_tendered_gives_change_and_the_view_says_due_paid_change_tip() {
    let (mut a, _, _) = pair_with_line(); // 9.00
    a.edit(tender("p1", "cash", 2000, 100));
    let v = a.view();
    let p = &v.payments[0];
    assert_eq!(
        (p.amount, p.tendered, p.change, p.tip),
        (Money(900), Some(Money(2000)), Money(1000), Money(100))
    );
    assert_eq!(
        (v.totals.paid, v.totals.due, v.totals.change, v.totals.tip),
        (Money(900), Money(0), Money(1000), Money(100))
    );
    a.edit(Edit::MarkPaid);
    assert_eq!(a.view().state, OrderState::Paid);
    assert!(a.view().review.is_empty());
}

#[test]
fn split_tender_partial_card_then_cash_for_the_rest() {
    let (mut a, mut b, _) = pair_with_line(); // 9.00
    a.edit(tender("p1", "card", 500, 0));
    assert_eq!(a.view().totals.due, Money(400));
    assert_eq!(a.try_edit(Edit::MarkPaid), Err(EditError::NotFullyPaid { total: 900, paid: 500 }));
    // A card cannot give change: more than the 4.00 due is refused.
    assert_eq!(
        a.try_edit(tender("p2", "card", 500, 0)),
        Err(EditError::Overpayment { due: 400, amount: 500 })
    );
    a.edit(tender("p2", "cash", 1000, 0));
    a.edit(Edit::MarkPaid);
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!((v.totals.paid, v.totals.due, v.totals.change), (Money(900), Money(0), Money(600)));
    assert!(v.review.is_empty() && !v.is_active());
}

#[test]
fn a_payment_when_nothing_is_due_is_refused_and_writes_nothing() {
    let (mut a, _, _) = pair_with_line();
    a.edit(tender("p1", "card", 900, 0));
    let (heads, json) = (a.doc.heads(), a.json());
    assert_eq!(a.try_edit(tender("p2", "card", 900, 0)), Err(EditError::NothingDue { due: 0 }));
    assert_eq!(
        a.try_edit(Edit::AddPayment { payment: pid("p3"), method: "card".into(), amount: Money(900) }),
        Err(EditError::NothingDue { due: 0 })
    );
    assert!(matches!(
        a.try_edit(Edit::AddPayment { payment: pid("p4"), method: "card".into(), amount: Money(-5) }),
        Err(EditError::Invalid { field: "amount", .. })
    ));
    assert_eq!(a.doc.heads(), heads);
    assert_eq!(a.json(), json);
}

#[test]
fn two_payments_of_one_bill_then_one_closing_is_flagged_overpaid_not_closed_silently() {
    // The bug of issue 14: both terminals pay 9.00 at once; B sees both
    // payments before closing, so its closing's digest matches. Before the
    // `overpaid` flag the order left every list, paid 18.00.
    let (mut a, mut b, _) = pair_with_line();
    a.edit(tender("pa", "card", 900, 0));
    b.edit(tender("pb", "card", 900, 0));
    exchange(&mut a, &mut b);
    b.edit(Edit::MarkPaid);
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Paid);
    assert_eq!(v.review, vec![ReviewFlag::Overpaid { total: 900, paid: 1800 }]);
    assert!(v.is_active(), "a flagged order stays on the open list");
}

#[test]
fn two_payments_then_both_close_concurrently_is_flagged_both_ways() {
    let (mut a, mut b, _) = pair_with_line();
    a.edit(tender("pa", "card", 900, 0));
    a.edit(Edit::MarkPaid);
    b.edit(tender("pb", "cash", 1000, 0));
    b.edit(Edit::MarkPaid);
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert!(matches!(
        v.review.as_slice(),
        [ReviewFlag::ClosedConcurrently { .. }, ReviewFlag::Overpaid { total: 900, paid: 1800 }]
    ));
    assert_eq!(v.totals.change, Money(100), "B's cash change is not counted as paid");
}

#[test]
fn a_manager_gives_the_extra_back_and_resolves_on_every_terminal() {
    let (mut a, mut b, _) = pair_with_line();
    a.edit(tender("pa", "card", 900, 0));
    a.edit(Edit::MarkPaid);
    b.edit(tender("pb", "card", 900, 0));
    b.edit(Edit::MarkPaid);
    exchange(&mut a, &mut b);
    // More than the extra may not go back from a closed order.
    assert_eq!(
        a.try_edit(refund("r1", 901, "paid twice")),
        Err(EditError::RefundTooLarge { max: 900, amount: 901 })
    );
    a.ctx.author.user = "maria".into();
    a.edit(Edit::Refund(NewRefund {
        payment: pid("r1"),
        method: "card".into(),
        amount: Money(900),
        reason: "charged twice".into(),
        refund_of: Some(pid("pb")),
    }));
    assert!(matches!(a.view().review.as_slice(), [ReviewFlag::ClosedConcurrently { .. }]));
    a.edit(Edit::ResolveReview { state: None, reason: Some("gave B's charge back".into()), accept: false });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert!(v.review.is_empty(), "{:?}", v.review);
    assert!(!v.is_active(), "resolved: it leaves the open list");
    assert_eq!((v.totals.paid, v.totals.due), (Money(900), Money(0)));
    let r = v.payments.iter().find(|p| p.id == pid("r1")).unwrap();
    assert_eq!(
        (r.amount, r.reason.as_deref(), r.refund_of.as_ref()),
        (Money(-900), Some("charged twice"), Some(&pid("pb")))
    );
    assert_eq!(r.by.user, "maria");
    assert!(r.is_refund());
}

#[test]
fn a_manager_accepts_the_extra_and_a_later_payment_change_flags_it_again() {
    let (mut a, mut b, _) = pair_with_line();
    a.edit(tender("pa", "card", 900, 0));
    b.edit(tender("pb", "card", 900, 0));
    exchange(&mut a, &mut b);
    a.edit(Edit::MarkPaid);
    a.edit(Edit::ResolveReview {
        state: None,
        reason: Some("customer left it as a tip".into()),
        accept: true,
    });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert!(v.review.is_empty(), "{:?}", v.review);
    assert!(!v.is_active());
    // A refund written concurrently on B (it had not seen the acceptance)
    // changes the payments: the acceptance no longer matches, flagged again.
    let (mut c, mut d, _) = pair_with_line();
    c.edit(tender("pa", "card", 900, 0));
    d.edit(tender("pb", "card", 900, 0));
    exchange(&mut c, &mut d);
    c.edit(Edit::MarkPaid);
    exchange(&mut c, &mut d);
    c.edit(Edit::ResolveReview { state: None, reason: Some("keep it".into()), accept: true });
    d.edit(refund("r1", 400, "gave some back"));
    exchange(&mut c, &mut d);
    let v = assert_converged(&[&c, &d]);
    assert!(v.review.contains(&ReviewFlag::Overpaid { total: 900, paid: 1400 }), "{:?}", v.review);
    assert!(v.is_active());
}

#[test]
fn a_refund_order_is_linked_to_the_paid_order_and_closes_when_the_money_is_back() {
    let code = TerminalId::parse("A").unwrap();
    let ctx = possync_model::EditContext::new("ana", code.clone(), 1_700_000_000_000);
    let mut new = NewOrder::new(order_id(2), OrderName::compose(&code, 2));
    new.fields.refund_of = Some(order_id(1));
    let (mut doc, _) = OrderDoc::open(actor(0xaa), &ctx, &new).unwrap();
    let mut line = new_line("l1", "coffee", 2, -450);
    line.display_name = "Refund: COFFEE".into();
    doc.edit(&ctx, &Edit::AddLine(line)).unwrap();
    let v = doc.view().unwrap();
    assert_eq!(v.refund_of, Some(order_id(1)));
    assert_eq!((v.totals.total, v.totals.due), (Money(-900), Money(-900)));
    // Nothing is due: a payment is refused; the refund gives the 9.00 back.
    assert_eq!(doc.edit(&ctx, &tender("p1", "cash", 900, 0)), Err(EditError::NothingDue { due: -900 }));
    doc.edit(&ctx, &refund("r1", 900, "returned")).unwrap();
    doc.edit(&ctx, &Edit::MarkPaid).unwrap();
    let v = doc.view().unwrap();
    assert_eq!((v.state, v.totals.due), (OrderState::Paid, Money(0)));
    assert!(v.review.is_empty(), "{:?}", v.review);
    // An order cannot refund itself.
    let mut selfish = NewOrder::new(order_id(3), OrderName::compose(&code, 3));
    selfish.fields.refund_of = Some(order_id(3));
    assert!(matches!(
        OrderDoc::open(actor(0xab), &ctx, &selfish),
        Err(EditError::Invalid { field: "refund_of", .. })
    ));
}

#[test]
fn an_order_holding_money_is_not_cancelled_until_it_is_given_back() {
    let (mut a, _, _) = pair_with_line();
    a.edit(tender("p1", "card", 500, 0));
    let (heads, json) = (a.doc.heads(), a.json());
    assert_eq!(a.try_edit(Edit::Cancel), Err(EditError::HasPayments { paid: 500 }));
    assert_eq!((a.doc.heads(), a.json()), (heads, json));
    a.edit(refund("r1", 500, "customer left"));
    a.edit(Edit::Cancel);
    let v = a.view();
    assert_eq!((v.state, v.totals.paid), (OrderState::Cancelled, Money(0)));
    assert!(v.review.is_empty() && !v.is_active());
}

#[test]
fn a_payment_taken_while_another_terminal_cancelled_is_flagged_and_given_back() {
    let (mut a, mut b, _) = pair_with_line();
    a.edit(Edit::Cancel);
    b.edit(tender("p1", "card", 900, 0));
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.state, OrderState::Cancelled);
    assert!(matches!(v.review.as_slice(), [ReviewFlag::EditedAfterClose { .. }]), "{:?}", v.review);
    assert!(v.is_active());
    // Nothing was sold: all of it may go back, then the manager resolves.
    a.edit(refund("r1", 900, "order was cancelled"));
    a.edit(Edit::ResolveReview { state: None, reason: Some("customer refunded".into()), accept: false });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!((v.state, v.totals.paid), (OrderState::Cancelled, Money(0)));
    assert!(v.review.is_empty() && !v.is_active(), "{:?}", v.review);
}
