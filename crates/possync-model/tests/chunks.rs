//! Chunks possync never writes are refused at every door of the model
//! before Automerge reads them (`possync_model::chunks`): a bundle's
//! columns are decoded eagerly and a few bytes can claim gigabytes, so
//! they must not be parsed at all. Here the chunk is a real change with
//! its type byte turned into a bundle's: Automerge would parse it (and
//! fail), the screen must refuse it first, and the order must stay as it
//! was.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Terminal, order_id};
use possync_model::automerge::sync::{self, ChunkList};
use possync_model::{LoadError, OrderDoc, RemoteError, decode_changes};

/// The type byte of a chunk: after the 4 magic bytes and the 4 of the checksum.
const TYPE_BYTE: usize = 8;
const BUNDLE: u8 = 3;

fn as_bundle(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes[TYPE_BYTE] = BUNDLE;
    bytes
}

fn refused_as_bundle(error: &str) {
    assert!(error.contains("bundle") && error.contains("refuses it unread"), "{error}");
}

#[test]
fn a_bundle_is_refused_as_a_change_a_saved_order_and_a_sync_message() {
    let order = order_id(7);
    let (till, opening) = Terminal::open("BAR", 1, &order);

    // Gossip and the disk's change log: one change each.
    let Err(RemoteError::Decode(error)) = decode_changes([as_bundle(opening.bytes.clone()).as_slice()])
    else {
        panic!("a bundle decoded as a change")
    };
    refused_as_bundle(&error);

    // A saved order (catch-up's snapshots, the disk's).
    let saved = as_bundle(till.doc.save());
    let Err(LoadError::Decode(error)) = OrderDoc::load(order.clone(), &saved, common::actor(2)) else {
        panic!("a bundle loaded as an order")
    };
    refused_as_bundle(&error);

    // A sync message whose changes hide one, after a sound one.
    let mut receiver = Terminal::empty("KIT", 3, &order);
    let mut message = till.doc.generate_sync_message(&mut sync::State::new()).unwrap();
    message.changes = ChunkList::from(vec![opening.bytes.clone(), as_bundle(opening.bytes.clone())]);
    let Err(RemoteError::Decode(error)) = receiver.doc.receive_sync_message(&mut sync::State::new(), message)
    else {
        panic!("a sync message with a bundle was taken")
    };
    refused_as_bundle(&error);
    assert!(receiver.doc.heads().is_empty(), "the sound change before the bundle was applied");

    // The same message without the bundle is taken: the refusal was the bundle's.
    let mut message = till.doc.generate_sync_message(&mut sync::State::new()).unwrap();
    message.changes = ChunkList::from(vec![opening.bytes.clone()]);
    receiver.doc.receive_sync_message(&mut sync::State::new(), message).unwrap();
    assert_eq!(receiver.doc.heads(), till.doc.heads());
}
