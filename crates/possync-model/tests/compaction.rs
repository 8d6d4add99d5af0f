//! `OrderDoc::save_compacted`: the saved bytes are the order, and the
//! in-memory document rebuilt from them is the same order (heads, view,
//! history), still editable and still merging; an order with changes parked
//! for missing dependencies is not rebuilt (a save leaves those out).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use possync_model::{Edit, OrderDoc, Quantity};

#[test]
fn a_compacted_order_is_the_same_order_and_keeps_working() {
    let (mut a, _) = Terminal::open("A", 1, &order_id(1));
    let mut b = Terminal::join("B", 2, &a);
    for i in 0..5 {
        a.edit(Edit::AddLine(new_line(&format!("l{i}"), "tea", 1, 250)));
    }
    let before = (a.doc.heads(), a.view(), a.doc.automerge().get_changes(&[]).len());
    let saved = a.doc.save_compacted();
    assert_eq!((a.doc.heads(), a.view(), a.doc.automerge().get_changes(&[]).len()), before);
    let loaded = OrderDoc::load(a.doc.id().clone(), &saved, actor(9)).unwrap();
    assert_eq!(loaded.view().unwrap(), a.view(), "the bytes are the order");
    // Still the same actor, still editable, still merging both ways.
    a.edit(Edit::ChangeQty { line: line_id("l1"), delta: Quantity::units(2) });
    b.edit(Edit::AddLine(new_line("b1", "soup", 1, 600)));
    exchange(&mut a, &mut b);
    let view = assert_converged(&[&a, &b]);
    assert_eq!(view.line(&line_id("l1")).unwrap().qty, Quantity::units(3));
    assert!(view.line(&line_id("b1")).is_some());
    assert!(a.doc.automerge().get_changes(&[]).iter().any(|c| c.actor_id() == &a.actor), "same actor");
}

#[test]
fn an_order_waiting_for_dependencies_is_not_rebuilt() {
    let (mut a, _) = Terminal::open("A", 1, &order_id(1));
    let mut b = Terminal::join("B", 2, &a);
    let first = a.edit(Edit::AddLine(new_line("l1", "tea", 1, 250)));
    let second = a.edit(Edit::ChangeQty { line: line_id("l1"), delta: Quantity::units(1) });
    // B gets the second change only: it is parked, waiting for the first.
    let parked = b.doc.apply_remote_bytes([second.bytes.as_slice()]).unwrap();
    assert!(!parked.missing_deps.is_empty());
    let _ = b.doc.save_compacted();
    // The parked change is still there: the first one completes the line.
    b.doc.apply_remote_bytes([first.bytes.as_slice()]).unwrap();
    assert_eq!(b.view().line(&line_id("l1")).unwrap().qty, Quantity::units(2));
}
