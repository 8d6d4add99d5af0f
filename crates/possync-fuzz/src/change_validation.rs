//! `change_validation`: raw Automerge changes from a peer, applied to an
//! order through the validating merge (`OrderDoc::apply_remote_bytes`),
//! both to the fixture's open order and to an empty document that awaits
//! it; and the same bytes loaded as a saved order (`OrderDoc::load`). After
//! each:
//!
//! - refused: the order is exactly as it was (same heads, same view);
//! - accepted: the order is readable, and the changes it reports as applied
//!   (what the engine persists) rebuild the same order on a fresh copy;
//! - loaded: the order is readable and survives save → load unchanged.

use possync_model::{OrderDoc, OrderId};

use crate::fixture;
use crate::split::split_at_marker;

/// Every Automerge chunk (change or document) starts with these bytes.
const AUTOMERGE_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const MAX_CHANGES: usize = 16;

pub fn change_validation(data: &[u8]) {
    let changes = split_at_marker(data, &AUTOMERGE_MAGIC, MAX_CHANGES);
    let order = &fixture::fixture().orders[0];
    apply_to(order.clone(), &changes);
    apply_to(OrderDoc::empty(order.id().clone(), fixture::actor("C", 2)), &changes);
    load(order.id(), data);
}

fn apply_to(mut doc: OrderDoc, changes: &[&[u8]]) {
    let before = doc.clone();
    match doc.apply_remote_bytes(changes.iter().copied()) {
        Err(_) => {
            assert_eq!(doc.heads(), before.heads(), "a refused change moved the heads");
            assert_eq!(doc.view().ok(), before.view().ok(), "a refused change changed the order");
        }
        Ok(applied) => {
            if applied.summary.is_none() {
                assert_eq!(doc.heads(), before.heads(), "nothing visible, yet the heads moved");
                assert!(applied.new_changes.is_empty(), "nothing visible, yet changes to persist");
                return;
            }
            let view = doc.view();
            assert!(view.is_ok(), "an accepted change left the order unreadable: {view:?}");
            // What the engine persists must rebuild this order at restart.
            let mut replay = before;
            let replayed = replay.apply_remote_bytes(applied.new_changes.iter().map(Vec::as_slice));
            assert!(replayed.is_ok(), "the persisted changes are refused on replay: {replayed:?}");
            assert_eq!(replay.heads(), doc.heads(), "the persisted changes rebuild other heads");
            assert_eq!(replay.view().ok(), view.ok(), "the persisted changes rebuild another order");
        }
    }
}

fn load(id: &OrderId, data: &[u8]) {
    let Ok(doc) = OrderDoc::load(id.clone(), data, fixture::actor("C", 2)) else { return };
    let view = doc.view();
    assert!(view.is_ok(), "a loaded order is unreadable: {view:?}");
    let again = OrderDoc::load(id.clone(), &doc.save(), fixture::actor("C", 2));
    assert!(again.is_ok(), "a loaded order does not load again once saved: {again:?}");
    if let Ok(again) = again {
        assert_eq!(again.view().ok(), view.ok(), "save → load changed the order");
    }
}
