//! Scenario S18 at the engine level: a member that sends garbage, schema-
//! violating changes, changes under another terminal's actor, floods or
//! duplicate storms is refused with a reason, cannot change or crash anyone,
//! and is disconnected once it offends too often.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use possync_engine::wire::{Direct, Gossip};
use possync_model::automerge::transaction::Transactable;
use possync_model::automerge::{Automerge, Change, ROOT};
use possync_model::{Edit, OrderId};
use possync_sim::{Sim, owner_of, workload};

fn snapshot(sim: &Sim, node: u64) -> String {
    let e = sim.engine(node);
    serde_json::to_string(&e.all_orders().iter().map(|id| e.view(id)).collect::<Vec<_>>()).unwrap()
}

fn two_terminals() -> (Sim, u64, u64, OrderId) {
    let mut sim = Sim::new(18);
    let a = sim.add_node("A");
    let b = sim.add_node("B");
    let order = sim.open_simple(a);
    let line = workload::random_line(&mut sim);
    sim.edit(a, &order, &Edit::AddLine(line)).unwrap();
    sim.settle(Duration::from_secs(30));
    (sim, a, b, order)
}

#[test]
fn garbage_and_schema_breaking_data_is_refused_and_changes_nothing() {
    let (mut sim, a, b, order) = two_terminals();
    let before = snapshot(&sim, a);
    // A change that turns the order's guests into text, as a peer would send it.
    let mut doc = Automerge::load(&sim.engine(a).order(&order).unwrap().save()).unwrap();
    doc.set_actor(owner_of(b).actor(99)); // B's own actor: the schema check is what refuses it
    let mut tx = doc.transaction();
    tx.put(ROOT, "guests", "many").unwrap();
    tx.commit();
    let bad_change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    let hostile: Vec<(bool, Vec<u8>)> = vec![
        (false, b"not a possync message".to_vec()),
        (false, vec![b'P', b'S', 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        (
            false,
            Gossip::Changes { order: order.clone(), changes: vec![vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3]] }
                .encode(),
        ),
        (false, Gossip::Changes { order: order.clone(), changes: vec![bad_change.clone()] }.encode()),
        (true, Direct::Docs { docs: vec![(order.clone(), b"garbage".to_vec())] }.encode()),
        (true, Direct::Sync { items: vec![(order.clone(), vec![0x42, 1, 2])] }.encode()),
        (true, vec![b'P', b'S', 1, 17, 7]),
        // From the future: ignored, not refused.
        (true, vec![b'P', b'S', 9, 16]),
    ];
    for (pairwise, bytes) in hostile {
        sim.inject(b, a, pairwise, bytes);
    }
    sim.run_for(Duration::from_secs(1));
    assert_eq!(snapshot(&sim, a), before, "nothing changed on A");
    assert_eq!(sim.node(a).rejected, 7, "every bad message refused with a reason, the future one ignored");
    let kinds = &sim.node(a).rejected_by_kind;
    assert_eq!((kinds["malformed"], kinds["invalid_change"]), (3, 4), "{kinds:?}");
    assert_eq!(sim.node(a).disconnected, 0, "a few offences are tolerated");
    // The honest terminals still work together.
    let line = workload::random_line(&mut sim);
    sim.edit(b, &order, &Edit::AddLine(line)).unwrap();
    sim.settle(Duration::from_secs(30));
    sim.assert_converged();
}

#[test]
fn a_repeat_offender_is_disconnected_and_the_rest_carries_on() {
    let (mut sim, a, b, order) = two_terminals();
    let c = sim.add_node("C");
    sim.settle(Duration::from_secs(30));
    let limit = sim.cfg.max_offences as usize;
    for _ in 0..=limit {
        sim.inject(b, a, true, b"\x00garbage".to_vec());
    }
    assert_eq!(sim.node(a).disconnected, 1, "B was disconnected after {limit} offences");
    assert!(!sim.engine(a).peers().contains(&b));
    // A and C keep syncing.
    let line = workload::random_line(&mut sim);
    sim.edit(c, &order, &Edit::AddLine(line.clone())).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert!(sim.engine(a).view(&order).unwrap().line(&line.id).is_some());
}

#[test]
fn a_flood_of_valid_messages_is_rate_limited() {
    let (mut sim, a, b, _order) = two_terminals();
    let summary = Direct::Summary { buckets: vec![0; 64] }.encode();
    let burst = sim.cfg.peer_message_burst as usize;
    for _ in 0..burst + sim.cfg.max_offences as usize + 1 {
        sim.inject(b, a, true, summary.clone());
    }
    assert_eq!(sim.node(a).disconnected, 1, "flooding past the burst and the offence limit disconnects");
    sim.heal();
    sim.settle(Duration::from_secs(30));
    sim.assert_converged();
}

/// The change A's terminal made first, and its actor: what a hostile member
/// would need to impersonate A.
fn first_change_of(sim: &Sim, node: u64, order: &OrderId) -> Change {
    let doc = sim.engine(node).order(order).unwrap().automerge().clone();
    doc.get_changes(&[]).into_iter().next().unwrap().clone()
}

#[test]
fn a_change_under_another_terminals_actor_is_refused() {
    let (mut sim, a, b, order) = two_terminals();
    let c = sim.add_node("C");
    sim.settle(Duration::from_secs(30));
    // B writes a change under A's current actor with A's next sequence
    // number. Were it accepted, A's own next change would be refused
    // everywhere as a duplicate sequence number: A's edit silently lost.
    let a_actor = first_change_of(&sim, a, &order).actor_id().clone();
    let mut doc = Automerge::load(&sim.engine(c).order(&order).unwrap().save()).unwrap();
    doc.set_actor(a_actor);
    let mut tx = doc.transaction();
    tx.put(ROOT, "note", "forged by B").unwrap();
    tx.commit();
    let forged = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    let before = snapshot(&sim, c);
    sim.inject(b, c, false, Gossip::Changes { order: order.clone(), changes: vec![forged] }.encode());
    assert_eq!(snapshot(&sim, c), before, "nothing changed on C");
    assert_eq!(sim.node(c).rejected_by_kind.get("foreign_actor"), Some(&1));
    // A's real next change reaches everyone.
    let line = workload::random_line(&mut sim);
    sim.edit(a, &order, &Edit::AddLine(line.clone())).unwrap();
    sim.settle(Duration::from_secs(30));
    sim.assert_converged();
    assert!(sim.engine(c).view(&order).unwrap().line(&line.id).is_some(), "A's edit arrived");
    assert!(sim.engine(c).view(&order).unwrap().note.is_empty(), "the forgery did not");
}

#[test]
fn relayed_gossip_of_another_signer_is_accepted() {
    // The other side of the check: B forwarding A's signed message is normal
    // gossip and must be applied.
    let (mut sim, a, b, order) = two_terminals();
    let c = sim.add_node("C");
    sim.settle(Duration::from_secs(30));
    sim.partition(&[&[a, b], &[c]]);
    let line = workload::random_line(&mut sim);
    sim.edit(a, &order, &Edit::AddLine(line.clone())).unwrap();
    let change = sim.engine(a).order(&order).unwrap().automerge().get_last_local_change().unwrap().clone();
    let message =
        Gossip::Changes { order: order.clone(), changes: vec![change.raw_bytes().to_vec()] }.encode();
    sim.heal();
    sim.inject_relayed(b, c, a, message);
    assert!(sim.engine(c).view(&order).unwrap().line(&line.id).is_some());
    assert_eq!(sim.node(c).rejected, 0);
}

#[test]
fn a_storm_of_duplicate_gossip_disconnects_the_replayer() {
    let (mut sim, a, b, order) = two_terminals();
    let change = first_change_of(&sim, a, &order);
    let replay =
        Gossip::Changes { order: order.clone(), changes: vec![change.raw_bytes().to_vec()] }.encode();
    let before = snapshot(&sim, a);
    // A few replays are normal (a change can come by catch-up first).
    for _ in 0..10 {
        sim.inject_relayed(b, a, a, replay.clone());
    }
    assert_eq!((sim.node(a).rejected, sim.node(a).disconnected), (0, 0));
    let budget = sim.cfg.peer_duplicate_burst as usize;
    for _ in 0..budget + sim.cfg.max_offences as usize + 1 {
        sim.inject_relayed(b, a, a, replay.clone());
    }
    assert_eq!(sim.node(a).disconnected, 1, "the replayer was disconnected");
    assert!(sim.node(a).rejected_by_kind["duplicates"] > sim.cfg.max_offences as u64);
    assert_eq!(snapshot(&sim, a), before, "nothing changed");
    sim.heal();
    sim.settle(Duration::from_secs(30));
    sim.assert_converged();
}

#[test]
fn a_gossip_flood_is_rate_limited() {
    let (mut sim, a, b, _order) = two_terminals();
    // Messages of a future version cost nothing to refuse one by one; only
    // the rate limit can stop a flood of them.
    let future = vec![b'P', b'S', 9, 1];
    let burst = sim.cfg.peer_gossip_burst as usize;
    for _ in 0..burst {
        sim.inject(b, a, false, future.clone());
    }
    assert_eq!(sim.node(a).disconnected, 0, "within the burst: ignored, not an offence");
    for _ in 0..=sim.cfg.max_offences {
        sim.inject(b, a, false, future.clone());
    }
    assert_eq!(sim.node(a).disconnected, 1, "past the burst and the offence limit");
    assert!(sim.node(a).rejected_by_kind["flood"] > sim.cfg.max_offences as u64);
    sim.heal();
    sim.settle(Duration::from_secs(30));
    sim.assert_converged();
}
