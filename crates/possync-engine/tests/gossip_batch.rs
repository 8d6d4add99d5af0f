//! Gossip handed to the engine in batches (`Engine::handle_gossip_batch`):
//! an author's messages for one order are applied in one merge, with the
//! same result as one by one, a message that breaks the order is refused
//! alone, and a terminal that is not up is not heard.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use possync_engine::{ActorOwner, Engine, EngineConfig, Event, GossipIn, Output, Rejection, Verdict};
use possync_model::automerge::transaction::Transactable;
use possync_model::automerge::{Automerge, ROOT};
use possync_model::{Edit, EditContext, LineId, Money, NewLine, OpenOrder, OrderId, Quantity, TerminalId};

const A: u64 = 1;
const B: u64 = 2;

fn owner(id: u64) -> ActorOwner {
    ActorOwner::of_identity(&id.to_be_bytes())
}

fn engine(id: u64, name: &str, now: Instant) -> Engine<u64> {
    Engine::new(EngineConfig::default(), TerminalId::parse(name).unwrap(), owner(id).actor(7), id, now)
}

fn line(seed: u128) -> NewLine {
    NewLine::new(LineId::from_random(seed), "espresso", "Espresso", Quantity::units(1), Money(250))
}

/// A terminal that heard terminal A come up.
fn hearing_a(id: u64, name: &str, now: Instant) -> Engine<u64> {
    let mut e = engine(id, name, now);
    e.peer_up(now, A);
    e
}

/// Everything the engine produced since the last call: gossip it
/// broadcast, and its change events.
fn outputs(e: &mut Engine<u64>) -> (Vec<Vec<u8>>, usize) {
    let (mut gossip, mut changed) = (Vec::new(), 0);
    while let Some(out) = e.poll_output() {
        match out {
            Output::Broadcast(bytes) => gossip.push(bytes),
            Output::Event(Event::OrderChanged { .. }) => changed += 1,
            _ => {}
        }
    }
    (gossip, changed)
}

/// Terminal A opens an order and makes `edits` quantity changes on a line:
/// the gossip messages it sends, one per change.
fn authored(now: Instant, edits: usize) -> (Engine<u64>, OrderId, Vec<Vec<u8>>) {
    let mut a = engine(A, "A", now);
    let ctx = EditContext::new("ana", TerminalId::parse("A").unwrap(), 1_767_225_600_000);
    let order = a.open_order(now, &ctx, OpenOrder::default()).unwrap();
    a.edit(now, &ctx, &order, &Edit::AddLine(line(1))).unwrap();
    for _ in 0..edits {
        let edit = Edit::ChangeQty { line: LineId::from_random(1), delta: Quantity::units(1) };
        a.edit(now, &ctx, &order, &edit).unwrap();
    }
    let (gossip, _) = outputs(&mut a);
    assert_eq!(gossip.len(), 2 + edits, "one message per change");
    (a, order, gossip)
}

fn batch(messages: &[Vec<u8>]) -> Vec<GossipIn<'_, u64>> {
    messages.iter().map(|bytes| GossipIn { from: &A, signer: owner(A), bytes }).collect()
}

#[test]
fn an_authors_messages_for_one_order_are_applied_in_one_merge() {
    let now = Instant::now();
    let (a, order, gossip) = authored(now, 5);
    let mut b = hearing_a(B, "B", now);
    let verdicts = b.handle_gossip_batch(now, &batch(&gossip));
    assert_eq!(verdicts, vec![Verdict::Accept; gossip.len()]);
    assert_eq!(b.view(&order), a.view(&order), "B holds what A wrote");
    assert_eq!(b.view(&order).unwrap().lines[0].qty, Quantity::units(6));
    let (_, changed) = outputs(&mut b);
    assert_eq!(changed, 1, "one merge, one change event for 7 changes");

    // The same messages one at a time: the same order, one event each.
    let mut c = hearing_a(3, "C", now);
    for bytes in &gossip {
        assert_eq!(c.handle_gossip(now, A, owner(A), bytes), Verdict::Accept);
    }
    assert_eq!(c.view(&order), b.view(&order));
    assert_eq!(outputs(&mut c).1, gossip.len());
}

#[test]
fn a_message_that_breaks_the_order_is_refused_alone() {
    let now = Instant::now();
    let (mut a, order, mut gossip) = authored(now, 2);
    // A's own actor writes text where the order keeps a number: the
    // schema check, not the signer check, must refuse it.
    let mut doc = Automerge::load(&a.order(&order).unwrap().save()).unwrap();
    doc.set_actor(owner(A).actor(99));
    let mut tx = doc.transaction();
    tx.put(ROOT, "guests", "many").unwrap();
    tx.commit();
    let bad = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    let bad = possync_engine::wire::Gossip::Changes { order: order.clone(), changes: vec![bad] }.encode();
    gossip.push(bad);
    // A's next edit, which does not depend on the bad change, and a message
    // that is not possync's at all.
    let ctx = EditContext::new("ana", TerminalId::parse("A").unwrap(), 1_767_225_600_000);
    let edit = Edit::ChangeQty { line: LineId::from_random(1), delta: Quantity::units(1) };
    a.edit(now, &ctx, &order, &edit).unwrap();
    gossip.extend(outputs(&mut a).0);
    gossip.push(b"not a possync message".to_vec());

    let mut b = hearing_a(B, "B", now);
    let verdicts = b.handle_gossip_batch(now, &batch(&gossip));
    use Verdict::{Accept, Reject};
    assert_eq!(verdicts, [Accept, Accept, Accept, Accept, Reject, Accept, Reject]);
    assert_eq!(b.view(&order), a.view(&order), "every good change kept, the bad one not");
    let mut rejected = 0;
    while let Some(out) = b.poll_output() {
        rejected += usize::from(matches!(out, Output::Event(Event::Rejected { .. })));
    }
    assert_eq!(rejected, 2, "each refusal told with its reason");
}

#[test]
fn a_batch_from_a_terminal_that_is_not_up_is_refused_unread() {
    let now = Instant::now();
    let (_, _, gossip) = authored(now, 2);
    let mut b = engine(B, "B", now);
    let verdicts = b.handle_gossip_batch(now, &batch(&gossip));
    assert_eq!(verdicts, vec![Verdict::Ignore; gossip.len()]);
    assert!(b.all_orders().is_empty(), "nothing applied");
    assert!(b.peers().is_empty(), "no state made for a stranger");
    let mut strangers = 0;
    while let Some(out) = b.poll_output() {
        strangers +=
            usize::from(matches!(out, Output::Event(Event::Rejected { reason: Rejection::NotAPeer, .. })));
    }
    assert_eq!(strangers, gossip.len(), "each message reported");

    // Once A is up, the very same batch is taken.
    b.peer_up(now, A);
    let verdicts = b.handle_gossip_batch(now, &batch(&gossip));
    assert_eq!(verdicts, vec![Verdict::Accept; gossip.len()]);
}

#[test]
fn what_a_terminal_sent_after_its_disconnection_in_the_batch_is_not_applied() {
    let now = Instant::now();
    let (mut a, first, mut gossip) = authored(now, 1);
    let ctx = EditContext::new("ana", TerminalId::parse("A").unwrap(), 1_767_225_600_000);
    let second = a.open_order(now, &ctx, OpenOrder::default()).unwrap();
    let later = outputs(&mut a).0;
    // Every duplicate is over budget and the first offence disconnects.
    let cfg = EngineConfig { peer_duplicate_burst: 0, max_offences: 0, ..EngineConfig::default() };
    let mut b = Engine::new(cfg, TerminalId::parse("B").unwrap(), owner(B).actor(7), B, now);
    b.peer_up(now, A);
    assert_eq!(b.handle_gossip(now, A, owner(A), &gossip[0]), Verdict::Accept);

    // The same message again (disconnects A), then the second order.
    let mut messages = vec![gossip.swap_remove(0)];
    messages.extend(later);
    let verdicts = b.handle_gossip_batch(now, &batch(&messages));
    assert_eq!(verdicts, vec![Verdict::Ignore; messages.len()]);
    assert!(b.peers().is_empty(), "A disconnected");
    assert!(b.view(&second).is_none(), "nothing of A's taken once it was down");
    assert_eq!(b.all_orders(), vec![first]);
}
