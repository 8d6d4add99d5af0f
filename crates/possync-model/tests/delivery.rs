//! Delivery state in the order document (`delivery.rs`): concurrent writes
//! from several terminals merge the same everywhere, and a peer's malformed
//! delivery state is refused like any other bad field. Rows of
//! `docs/CONFLICTS.md` ("Delivery to back offices") name these tests.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use possync_model::automerge::transaction::Transactable;
use possync_model::automerge::{ObjType, ROOT};
use possync_model::{DeliveryEdit, Edit, EditError, OrderDoc, PaymentId, SinkName};

fn sink() -> SinkName {
    SinkName::parse("pg").unwrap()
}

/// A and B share a paid order (one line of 9.00, paid in cash).
fn paid_pair() -> (Terminal, Terminal) {
    let (mut a, mut b, _) = pair_with_line();
    a.edit(Edit::AddPayment {
        payment: PaymentId::from_random(1),
        method: "cash".into(),
        amount: possync_model::Money(900),
    });
    a.edit(Edit::MarkPaid);
    exchange(&mut a, &mut b);
    (a, b)
}

fn record(t: &mut Terminal, edit: DeliveryEdit) -> bool {
    t.ctx.at_ms += 1000;
    t.doc.record_delivery(&t.ctx, &sink(), &edit).unwrap().is_some()
}

#[test]
fn an_open_order_is_not_delivered() {
    let (mut a, _, _) = pair_with_line();
    assert_eq!(
        a.doc.record_delivery(&a.ctx, &sink(), &DeliveryEdit::Claim).unwrap_err(),
        EditError::NotClosed
    );
}

#[test]
fn concurrent_first_claims_keep_both_records_and_the_later_claim_wins() {
    // Both create the `delivery` map and the sink's record concurrently:
    // Automerge keeps two conflicting maps; the read merges them.
    let (mut a, mut b) = paid_pair();
    record(&mut a, DeliveryEdit::Failed { error: "refused".into() });
    b.ctx.at_ms += 5000;
    record(&mut b, DeliveryEdit::Claim);
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    let d = &v.delivery[&sink()];
    assert_eq!(d.claim.as_ref().unwrap().terminal.as_str(), "B");
    assert_eq!(d.attempts, 1, "A's failure survives B's concurrent record");
    assert_eq!(d.last_error.as_ref().unwrap().error, "refused");
}

#[test]
fn concurrent_failures_add_up_and_concurrent_confirmations_are_all_kept() {
    let (mut a, mut b) = paid_pair();
    record(&mut a, DeliveryEdit::Claim);
    exchange(&mut a, &mut b);
    record(&mut a, DeliveryEdit::Failed { error: "timeout".into() });
    record(&mut b, DeliveryEdit::Failed { error: "refused".into() });
    exchange(&mut a, &mut b);
    assert_eq!(assert_converged(&[&a, &b]).delivery[&sink()].attempts, 2);
    let digest = a.view().content_digest();
    record(&mut a, DeliveryEdit::Delivered { remote_ref: "r-a".into(), digest: digest.clone() });
    record(&mut b, DeliveryEdit::Delivered { remote_ref: "r-b".into(), digest: digest.clone() });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    let d = &v.delivery[&sink()];
    assert_eq!(d.confirmations.len(), 2);
    assert!(d.confirms(&digest));
    // A repeated answer writes nothing.
    assert!(!record(&mut a, DeliveryEdit::Delivered { remote_ref: "r-a".into(), digest }));
}

#[test]
fn a_confirmation_holds_for_the_content_it_was_given() {
    let (mut a, _) = paid_pair();
    let digest = a.view().content_digest();
    record(&mut a, DeliveryEdit::Delivered { remote_ref: "1".into(), digest: digest.clone() });
    let d = &a.view().delivery[&sink()];
    assert!(d.confirms(&digest));
    // Content that changed after delivery (a refund) is not confirmed by it.
    assert!(!d.confirms("another digest"));
    assert_eq!(d.delivered().unwrap().remote_ref, "1");
}

/// Applies one raw change written by `write` on top of `a`'s order, as a
/// hostile or buggy peer would, and returns whether `b` accepted it.
fn peer_writes(
    a: &Terminal,
    b: &mut Terminal,
    write: impl FnOnce(&mut possync_model::automerge::transaction::Transaction<'_>),
) -> bool {
    let mut raw = a.doc.automerge().clone().with_actor(actor(0xee));
    let before = raw.get_heads();
    {
        let mut tx = raw.transaction();
        write(&mut tx);
        tx.commit();
    }
    let changes: Vec<_> = raw.get_changes(&before).into_iter().collect();
    b.doc.apply_remote(changes).is_ok()
}

#[test]
fn malformed_delivery_state_from_a_peer_is_refused_and_changes_nothing() {
    let (a, mut b) = paid_pair();
    let before = b.view();
    assert!(!peer_writes(&a, &mut b, |tx| {
        tx.put(ROOT, "delivery", "not a map").unwrap();
    }));
    assert!(!peer_writes(&a, &mut b, |tx| {
        let d = tx.put_object(ROOT, "delivery", ObjType::Map).unwrap();
        tx.put_object(&d, "Bad Name!", ObjType::Map).unwrap();
    }));
    assert!(!peer_writes(&a, &mut b, |tx| {
        let d = tx.put_object(ROOT, "delivery", ObjType::Map).unwrap();
        let s = tx.put_object(&d, "pg", ObjType::Map).unwrap();
        let c = tx.put_object(&s, "delivered", ObjType::Map).unwrap();
        tx.put(&c, "terminal", "A").unwrap();
        tx.put(&c, "at", "yesterday").unwrap();
    }));
    assert!(!peer_writes(&a, &mut b, |tx| {
        let d = tx.put_object(ROOT, "delivery", ObjType::Map).unwrap();
        let s = tx.put_object(&d, "pg", ObjType::Map).unwrap();
        let c = tx.put_object(&s, "delivered", ObjType::Map).unwrap();
        tx.put(&c, "terminal", "A").unwrap();
        tx.put(&c, "at", 1i64).unwrap();
        tx.put(&c, "ref", "x".repeat(300)).unwrap();
        tx.put(&c, "digest", "d").unwrap();
    }));
    assert!(!peer_writes(&a, &mut b, |tx| {
        let d = tx.put_object(ROOT, "delivery", ObjType::Map).unwrap();
        for i in 0..17 {
            tx.put_object(&d, format!("s{i}").as_str(), ObjType::Map).unwrap();
        }
    }));
    assert_eq!(b.view(), before);
    // Fields a newer release adds inside a record are left alone.
    assert!(peer_writes(&a, &mut b, |tx| {
        let d = tx.put_object(ROOT, "delivery", ObjType::Map).unwrap();
        let s = tx.put_object(&d, "pg", ObjType::Map).unwrap();
        tx.put(&s, "batch", 7i64).unwrap();
    }));
    assert!(b.view().delivery[&sink()].confirmations.is_empty());
}

#[test]
fn an_order_written_before_delivery_existed_reads_with_no_delivery_state() {
    let (a, _) = paid_pair();
    let loaded = OrderDoc::load(a.doc.id().clone(), &a.doc.save(), actor(0x11)).unwrap();
    assert!(loaded.view().unwrap().delivery.is_empty());
    assert_eq!(loaded.view().unwrap().closed.unwrap().terminal.as_str(), "A");
}
