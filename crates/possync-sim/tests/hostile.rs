//! Scenario S18 at the engine level: a member that sends garbage, schema-
//! violating or flooding catch-up messages is refused with a reason, cannot
//! change or crash anyone, and is disconnected once it offends too often.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use possync_engine::wire::{Direct, Gossip};
use possync_model::automerge::transaction::Transactable;
use possync_model::automerge::{Automerge, ROOT};
use possync_model::{Edit, OrderId};
use possync_sim::{Sim, workload};

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
