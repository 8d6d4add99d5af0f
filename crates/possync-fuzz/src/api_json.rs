//! `api_json`: request bodies of the local API, decoded exactly as the daemon
//! decodes them (`serde_json::from_slice` into the `possync-api` types, then
//! its checks), and carried out on the fixture's open order with the model's
//! edit path, which is what the daemon's handlers reach through the node.
//! The input is JSON lines: each line is tried as every body, in turn, on
//! the same order, so sequences of edits (add, pay, close, resolve) happen.
//!
//! After each body: a refused edit leaves the order exactly as it was; an
//! accepted one leaves it readable, and its change is accepted by a peer
//! holding the previous version (a local edit never makes a change the other
//! terminals would refuse), which then shows the same order.

use possync_api::{EditBody, NetworkBody, OpenBody, SplitBody, check_user, parse_edit};
use possync_model::{Edit, EditContext, LocalChange, NewOrder, OrderDoc, OrderId, OrderName, Quantity};

use crate::fixture;

const MAX_LINES: usize = 32;

pub fn api_json(data: &[u8]) {
    let mut doc = fixture::fixture().orders[0].clone();
    let mut bits = 0u128;
    let mut fresh = move || {
        bits += 1;
        bits
    };
    for line in data.split(|&b| b == b'\n').take(MAX_LINES) {
        if let Ok(body) = serde_json::from_slice::<EditBody>(line)
            && check_user(&body.user).is_ok()
            && let Ok(edit) = parse_edit(body.edit, &mut fresh)
        {
            apply_edit(&mut doc, &fixture::ctx("C", &body.user), &edit);
        }
        // The edit itself, as integrators and the web page write it.
        if let Ok(edit) = serde_json::from_slice::<Edit>(line) {
            apply_edit(&mut doc, &fixture::ctx("C", "cli"), &edit);
        }
        if let Ok(body) = serde_json::from_slice::<SplitBody>(line)
            && check_user(&body.user).is_ok()
        {
            split(&mut doc, &fixture::ctx("C", &body.user), &body.moves(), fresh());
        }
        if let Ok(body) = serde_json::from_slice::<OpenBody>(line)
            && check_user(&body.user).is_ok()
        {
            open(&body, &fixture::ctx("C", &body.user));
        }
        let _ = serde_json::from_slice::<NetworkBody>(line);
    }
}

fn apply_edit(doc: &mut OrderDoc, ctx: &EditContext, edit: &Edit) {
    let before = doc.clone();
    match doc.edit(ctx, edit) {
        Err(_) | Ok(None) => {
            assert_eq!(
                doc.heads(),
                before.heads(),
                "a refused or empty edit ({}) moved the heads",
                edit.kind()
            );
            assert_eq!(
                doc.view().ok(),
                before.view().ok(),
                "a refused edit ({}) changed the order",
                edit.kind()
            );
        }
        Ok(Some(change)) => peer_agrees(before, doc, &change, edit.kind()),
    }
}

/// A peer holding `before` receives `change` and must show what `after` shows.
fn peer_agrees(before: OrderDoc, after: &OrderDoc, change: &LocalChange, what: &str) {
    let view = after.view();
    assert!(view.is_ok(), "{what} left the order unreadable: {view:?}");
    let mut peer = before;
    peer.set_actor(fixture::actor("D", 1));
    let applied = peer.apply_remote_bytes([change.bytes.as_slice()]);
    assert!(applied.is_ok(), "a peer refuses the change of {what}: {applied:?}");
    assert_eq!(peer.heads(), after.heads(), "a peer has other heads after {what}");
    assert_eq!(peer.view().ok(), view.ok(), "a peer shows another order after {what}");
}

fn split(doc: &mut OrderDoc, ctx: &EditContext, moves: &[(possync_model::LineId, Quantity)], bits: u128) {
    let before = doc.clone();
    let new = NewOrder::new(OrderId::from_random(bits), OrderName::compose(&ctx.author.terminal, 9));
    match doc.split(ctx, &new, moves) {
        Err(_) => {
            assert_eq!(doc.heads(), before.heads(), "a refused split moved the heads");
        }
        Ok((target, target_change, source_change)) => {
            let (Ok(was), Ok(now), Ok(taken)) = (before.view(), doc.view(), target.view()) else {
                panic!("a split left an order unreadable");
            };
            // Nothing is duplicated and nothing is lost.
            for (id, _) in moves {
                let qty = |v: &possync_model::OrderView| v.line(id).map_or(0, |l| l.qty.0);
                assert_eq!(qty(&was), qty(&now) + qty(&taken), "split line {id} does not add up");
            }
            peer_agrees(before, doc, &source_change, "a split");
            let mut peer = OrderDoc::empty(target.id().clone(), fixture::actor("D", 1));
            let applied = peer.apply_remote_bytes([target_change.bytes.as_slice()]);
            assert!(applied.is_ok(), "a peer refuses the order a split made: {applied:?}");
            assert_eq!(peer.view().ok(), Some(taken), "a peer shows another split-off order");
        }
    }
}

fn open(body: &OpenBody, ctx: &EditContext) {
    let Ok(id) = body.order_id() else { return };
    let id = id.unwrap_or_else(|| OrderId::from_random(0));
    let new = NewOrder::with_fields(id, OrderName::compose(&ctx.author.terminal, 1), body.fields.clone());
    let Ok((doc, change)) = OrderDoc::open(fixture::actor("C", 2), ctx, &new) else { return };
    let view = doc.view();
    assert!(view.is_ok(), "a new order is unreadable: {view:?}");
    let mut peer = OrderDoc::empty(new.id.clone(), fixture::actor("D", 1));
    let applied = peer.apply_remote_bytes([change.bytes.as_slice()]);
    assert!(applied.is_ok(), "a peer refuses a new order: {applied:?}");
    assert_eq!(peer.view().ok(), view.ok(), "a peer shows another new order");
}
