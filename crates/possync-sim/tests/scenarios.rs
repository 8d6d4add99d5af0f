//! Acceptance scenarios of `docs/SCENARIOS.md`, in the simulator. Each ends
//! with the invariant checks: identical heads and JSON on every live terminal,
//! every acknowledged edit everywhere, no duplicate orders, bounded state.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use possync_model::{Edit, LineId, Money, OrderState, PaymentId, Quantity, ReviewFlag};
use possync_sim::{NetConfig, Sim, SimStore, workload};

const SETTLE: Duration = Duration::from_secs(120);

fn seed() -> u64 {
    std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7)
}

fn add_lines(sim: &mut Sim, node: u64, order: &possync_model::OrderId, n: usize) -> Vec<LineId> {
    (0..n)
        .map(|_| {
            let line = workload::random_line(sim);
            let id = line.id.clone();
            sim.edit(node, order, &Edit::AddLine(line)).expect("line added");
            id
        })
        .collect()
}

fn three(seed: u64) -> (Sim, u64, u64, u64) {
    let mut sim = Sim::new(seed);
    let a = sim.add_node("A");
    let b = sim.add_node("B");
    let c = sim.add_node("C");
    (sim, a, b, c)
}

#[test]
fn s1_new_order_reaches_everyone() {
    let (mut sim, a, b, c) = three(seed());
    sim.run_for(Duration::from_millis(50));
    let order = sim.open_simple(a);
    add_lines(&mut sim, a, &order, 3);
    sim.run_for(Duration::from_millis(100));
    // Gossip alone, no anti-entropy yet: visible within 100 ms.
    let view = sim.engine(a).view(&order).unwrap();
    for n in [b, c] {
        assert_eq!(sim.engine(n).view(&order).as_ref(), Some(&view));
    }
    assert_eq!(view.lines.len(), 3);
    sim.settle(SETTLE);
    sim.assert_invariants();
}

#[test]
fn s2_offline_update_merges_without_collisions() {
    let (mut sim, a, b, c) = three(seed());
    let order = sim.open_simple(a);
    add_lines(&mut sim, a, &order, 2);
    sim.settle(SETTLE);
    sim.partition(&[&[b], &[a, c]]);
    add_lines(&mut sim, a, &order, 1);
    sim.edit(a, &order, &Edit::SetNote { note: "window seat".into() }).unwrap();
    let b1 = sim.open_simple(b);
    let b2 = sim.open_simple(b);
    add_lines(&mut sim, b, &b1, 2);
    let a2 = sim.open_simple(a);
    sim.run_for(Duration::from_secs(5));
    sim.heal();
    sim.settle(SETTLE);
    sim.assert_invariants();
    let e = sim.engine(c);
    assert_eq!(e.view(&order).unwrap().note, "window seat");
    assert_eq!(e.view(&order).unwrap().lines.len(), 3);
    let names: Vec<String> = [&b1, &b2, &a2].iter().map(|o| e.view(o).unwrap().name.to_string()).collect();
    assert_eq!(names, ["B-0001", "B-0002", "A-0002"]);
    assert_eq!(sim.node(b).rejected, 0);
}

#[test]
fn s3_offline_removal_reaches_the_offline_terminal() {
    let (mut sim, a, b, _c) = three(seed());
    let order = sim.open_simple(a);
    add_lines(&mut sim, a, &order, 1);
    sim.settle(SETTLE);
    sim.partition(&[&[b], &[a]]);
    sim.edit(a, &order, &Edit::Cancel).unwrap();
    assert!(sim.engine(a).active_orders().is_empty());
    assert_eq!(sim.engine(b).active_orders(), vec![order.clone()]);
    sim.heal();
    sim.settle(SETTLE);
    sim.assert_invariants();
    assert!(sim.engine(b).active_orders().is_empty());
    assert_eq!(sim.engine(b).view(&order).unwrap().state, OrderState::Cancelled);
}

#[test]
fn s4_slow_link_concurrent_edits_all_survive() {
    let (mut sim, a, b, _c) = three(seed());
    let order = sim.open_simple(a);
    let lines = add_lines(&mut sim, a, &order, 2);
    sim.settle(SETTLE);
    sim.set_extra_delay(a, Duration::from_secs(3));
    // Different lines, the same line, the same field, at the same moment.
    sim.edit(a, &order, &Edit::ChangeQty { line: lines[0].clone(), delta: Quantity::units(1) }).unwrap();
    sim.edit(b, &order, &Edit::ChangeQty { line: lines[1].clone(), delta: Quantity::units(2) }).unwrap();
    sim.edit(a, &order, &Edit::ChangeQty { line: lines[1].clone(), delta: Quantity::units(1) }).unwrap();
    sim.edit(a, &order, &Edit::SetNote { note: "from A".into() }).unwrap();
    sim.edit(b, &order, &Edit::SetNote { note: "from B".into() }).unwrap();
    let before = sim.engine(b).view(&order).unwrap();
    sim.settle(SETTLE);
    sim.assert_invariants();
    let view = sim.engine(b).view(&order).unwrap();
    let q0 = before.line(&lines[0]).unwrap().qty.0 + 1000;
    assert_eq!(view.line(&lines[0]).unwrap().qty.0, q0);
    assert_eq!(view.line(&lines[1]).unwrap().qty.0, before.line(&lines[1]).unwrap().qty.0 + 1000);
    let note = view.conflicts.iter().find(|c| c.path == "note").expect("note conflict reported");
    let mut values: Vec<String> = note.values.iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    values.sort();
    assert_eq!(values, ["from A", "from B"]);
}

#[test]
fn s5_many_quick_updates_then_removal_over_a_slow_link() {
    let (mut sim, a, b, c) = three(seed());
    sim.set_extra_delay(a, Duration::from_millis(800));
    let order = sim.open_simple(a);
    let lines = add_lines(&mut sim, a, &order, 1);
    for i in 0..40 {
        sim.edit(a, &order, &Edit::ChangeQty { line: lines[0].clone(), delta: Quantity::units(1) }).unwrap();
        if i % 10 == 0 {
            sim.run_for(Duration::from_millis(5));
        }
    }
    sim.edit(a, &order, &Edit::Cancel).unwrap();
    sim.settle(SETTLE);
    sim.assert_invariants();
    for n in [a, b, c] {
        assert!(sim.engine(n).active_orders().is_empty());
        assert_eq!(sim.node(n).rejected, 0);
    }
}

#[test]
fn s6_duplicate_delivery_is_applied_once() {
    let net = NetConfig { gossip_duplicate: 1.0, ..NetConfig::default() };
    let mut sim = Sim::with(seed(), net, Default::default());
    let a = sim.add_node("A");
    let b = sim.add_node("B");
    let order = sim.open_simple(a);
    let lines = add_lines(&mut sim, a, &order, 1);
    for _ in 0..5 {
        sim.edit(a, &order, &Edit::ChangeQty { line: lines[0].clone(), delta: Quantity::units(1) }).unwrap();
    }
    sim.settle(SETTLE);
    sim.assert_invariants();
    let view = sim.engine(b).view(&order).unwrap();
    let start = sim.engine(a).view(&order).unwrap().line(&lines[0]).unwrap().qty;
    assert_eq!(view.line(&lines[0]).unwrap().qty, start);
}

#[test]
fn s7_two_waiters_add_to_one_table_at_once() {
    let (mut sim, a, b, _c) = three(seed());
    let order = sim.open_simple(a);
    sim.settle(SETTLE);
    let from_a = add_lines(&mut sim, a, &order, 3);
    let from_b = add_lines(&mut sim, b, &order, 4);
    sim.settle(SETTLE);
    sim.assert_invariants();
    let view = sim.engine(a).view(&order).unwrap();
    assert_eq!(view.lines.len(), 7);
    for l in from_a.iter().chain(&from_b) {
        assert!(view.line(l).is_some());
    }
}

#[test]
fn s8_offline_and_online_terminals_create_orders_together() {
    let (mut sim, a, b, c) = three(seed());
    sim.partition(&[&[a], &[b, c]]);
    let mut made = Vec::new();
    for i in 0..10 {
        made.push(sim.open_simple(a));
        made.push(sim.open_simple(if i % 2 == 0 { b } else { c }));
        sim.run_for(Duration::from_millis(20));
    }
    sim.heal();
    sim.settle(SETTLE);
    sim.assert_invariants();
    assert_eq!(sim.engine(a).active_orders().len(), 20);
    for o in &made {
        assert!(sim.engine(b).view(o).is_some());
    }
}

#[test]
fn s10_paid_while_partitioned_terminal_edits_is_flagged() {
    let (mut sim, a, b, _c) = three(seed());
    let order = sim.open_simple(a);
    add_lines(&mut sim, a, &order, 2);
    sim.settle(SETTLE);
    sim.partition(&[&[a], &[b]]);
    let due = sim.engine(a).view(&order).unwrap().totals.due;
    let pay = PaymentId::from_random(1);
    sim.edit(a, &order, &Edit::AddPayment { payment: pay, method: "card".into(), amount: due }).unwrap();
    sim.edit(a, &order, &Edit::MarkPaid).unwrap();
    assert!(sim.engine(a).is_archived(&order));
    let late = add_lines(&mut sim, b, &order, 1);
    sim.heal();
    sim.settle(SETTLE);
    sim.assert_invariants();
    for n in [a, b] {
        let v = sim.engine(n).view(&order).unwrap();
        assert_eq!(v.state, OrderState::Paid);
        assert!(v.line(&late[0]).is_some(), "B's line survives");
        assert!(v.review.iter().any(|f| matches!(f, ReviewFlag::EditedAfterClose { .. })));
        assert!(v.review.iter().any(|f| matches!(f, ReviewFlag::Underpaid { .. })));
        assert_eq!(
            sim.engine(n).active_orders(),
            vec![order.clone()],
            "flagged orders stay on the open list"
        );
    }
}

#[test]
fn s11_split_bill_while_another_terminal_edits() {
    let (mut sim, a, b, _c) = three(seed());
    let order = sim.open_simple(a);
    let lines = add_lines(&mut sim, a, &order, 2);
    sim.edit(a, &order, &Edit::SetQty { line: lines[0].clone(), qty: Quantity::units(3) }).unwrap();
    sim.settle(SETTLE);
    sim.partition(&[&[a], &[b]]);
    let new = sim.split(a, &order, &[(lines[0].clone(), Quantity::units(2))]).unwrap();
    sim.edit(b, &order, &Edit::ChangeQty { line: lines[0].clone(), delta: Quantity::units(1) }).unwrap();
    sim.heal();
    sim.settle(SETTLE);
    sim.assert_invariants();
    let v_old = sim.engine(b).view(&order).unwrap();
    let v_new = sim.engine(b).view(&new).unwrap();
    // 3 + 1 (B) = 4 items in all; 2 moved to the new order; none duplicated.
    assert_eq!(v_old.line(&lines[0]).unwrap().qty, Quantity::units(2));
    assert_eq!(v_new.line(&lines[0]).unwrap().qty, Quantity::units(2));
    assert_eq!(v_new.split_from.as_ref(), Some(&order));
}

#[test]
fn s13_moved_table_and_concurrent_line() {
    let (mut sim, a, b, _c) = three(seed());
    let order = sim.open_simple(a);
    sim.settle(SETTLE);
    sim.partition(&[&[a], &[b]]);
    sim.edit(a, &order, &Edit::SetTable { table: Some("T9".into()), floor: Some("terrace".into()) }).unwrap();
    let line = add_lines(&mut sim, b, &order, 1);
    sim.heal();
    sim.settle(SETTLE);
    sim.assert_invariants();
    let v = sim.engine(b).view(&order).unwrap();
    assert_eq!(v.table.as_deref(), Some("T9"));
    assert!(v.line(&line[0]).is_some());
    assert_eq!(sim.engine(b).active_orders().len(), 1);
}

#[test]
fn s14_late_joiner_catches_up_on_1000_orders() {
    let mut sim = Sim::new(seed());
    let a = sim.add_node("A");
    let b = sim.add_node("B");
    for i in 0..1000 {
        let order = sim.open_simple(if i % 2 == 0 { a } else { b });
        let node = if i % 2 == 0 { a } else { b };
        let line = add_lines(&mut sim, node, &order, 1).remove(0);
        // ~50 changes per order, like a busy table.
        for _ in 0..46 {
            sim.edit(node, &order, &Edit::ChangeQty { line: line.clone(), delta: Quantity::units(1) })
                .unwrap();
        }
        sim.edit(node, &order, &Edit::SetNote { note: "done".into() }).unwrap();
        if i % 50 == 0 {
            sim.run_for(Duration::from_millis(10));
        }
    }
    sim.settle(SETTLE);
    let sent_before = sim.bytes_sent();
    let late = sim.add_node("L");
    let took = sim.settle(SETTLE);
    let bytes = sim.bytes_sent() - sent_before;
    sim.assert_invariants();
    assert_eq!(sim.engine(late).active_orders().len(), 1000);
    eprintln!("S14: late joiner caught up on 1000 orders in {took:?} (virtual), {bytes} bytes exchanged");

    // With everything identical, one anti-entropy round costs one summary.
    let before = sim.bytes_sent();
    sim.run_for(sim.cfg.anti_entropy_interval * 2);
    let round = sim.bytes_sent() - before;
    let rounds = 3 * 2; // three nodes, at most two rounds each in two intervals
    assert!(round / rounds < 16 * 1024, "periodic summary exchange cost {round} bytes for ~{rounds} rounds");
    eprintln!("S14: idle anti-entropy over two intervals, three terminals: {round} bytes");
}

#[test]
fn s15_partition_heal_five_terminals_every_edit_kept() {
    let mut sim = Sim::new(seed());
    let nodes: Vec<u64> = ["A", "B", "C", "D", "E"].iter().map(|t| sim.add_node(t)).collect();
    let orders: Vec<_> = (0..4).map(|i| sim.open_simple(nodes[i % 5])).collect();
    sim.settle(SETTLE);
    sim.partition(&[&nodes[..2], &nodes[2..]]);
    let mut added = Vec::new();
    for round in 0..20 {
        for (i, &n) in nodes.iter().enumerate() {
            let order = &orders[(round + i) % orders.len()];
            let line = workload::random_line(&mut sim);
            added.push((order.clone(), line.id.clone()));
            sim.edit(n, order, &Edit::AddLine(line)).unwrap();
        }
        sim.run_for(Duration::from_millis(200));
    }
    sim.heal();
    sim.settle(SETTLE);
    sim.assert_invariants();
    for (order, line) in added {
        assert!(sim.engine(nodes[0]).view(&order).unwrap().line(&line).is_some());
    }
}

#[test]
fn s16_crash_mid_burst_keeps_every_acknowledged_edit() {
    let (mut sim, a, b, _c) = three(seed());
    let order = sim.open_simple(a);
    let line = add_lines(&mut sim, a, &order, 1).remove(0);
    for _ in 0..25 {
        sim.edit(a, &order, &Edit::ChangeQty { line: line.clone(), delta: Quantity::units(1) }).unwrap();
    }
    sim.crash(a);
    sim.run_for(Duration::from_secs(1));
    sim.restart(a);
    sim.settle(SETTLE);
    sim.assert_invariants();
    assert_eq!(sim.engine(b).view(&order).unwrap().line(&line).unwrap().qty.0 % 1000, 0);
}

#[test]
fn s20_cloned_terminal_keeps_working_and_converges() {
    let (mut sim, a, b, _c) = three(seed());
    let order = sim.open_simple(a);
    let line = add_lines(&mut sim, a, &order, 1).remove(0);
    sim.settle(SETTLE);
    let clone = sim.add_clone_of(a);
    for n in [a, clone, a, clone] {
        sim.edit(n, &order, &Edit::ChangeQty { line: line.clone(), delta: Quantity::units(1) }).unwrap();
    }
    sim.settle(SETTLE);
    sim.assert_converged();
    sim.assert_acked_present();
    let v = sim.engine(b).view(&order).unwrap();
    let opened_with = sim.engine(b).view(&order).unwrap().line(&line).unwrap().qty.0 - 4000;
    assert_eq!(v.line(&line).unwrap().qty.0, opened_with + 4000);
    assert_eq!(sim.node(clone).rejected + sim.node(a).rejected + sim.node(b).rejected, 0);
}

#[test]
fn paid_orders_leave_the_open_list_everywhere_and_expire() {
    let cfg = possync_engine::EngineConfig { retention: Duration::from_secs(60), ..Default::default() };
    let mut sim = Sim::with(seed(), NetConfig::default(), cfg);
    let a = sim.add_node("A");
    let b = sim.add_node("B");
    let order = sim.open_simple(a);
    add_lines(&mut sim, a, &order, 1);
    sim.settle(SETTLE);
    let due = sim.engine(a).view(&order).unwrap().totals.due;
    // Cash with change: 1.00 more tendered than due, given back.
    let cash = Edit::Pay(possync_model::Tender {
        payment: PaymentId::from_random(9),
        method: "cash".into(),
        tendered: Money(due.0 + 100),
        tip: Money::ZERO,
    });
    sim.edit(b, &order, &cash).unwrap();
    sim.settle(SETTLE);
    sim.edit(a, &order, &Edit::MarkPaid).unwrap();
    sim.settle(SETTLE);
    for n in [a, b] {
        assert!(sim.engine(n).active_orders().is_empty());
        assert!(sim.engine(n).is_archived(&order));
    }
    sim.run_for(Duration::from_secs(90));
    for n in [a, b] {
        assert!(sim.engine(n).order(&order).is_none(), "retention over: forgotten");
        assert!(!sim.node(n).store.orders.contains_key(&order), "and deleted from disk");
    }
}

/// Retention counts from when the order was archived, not from the last
/// start: a terminal switched off every night must still forget yesterday's
/// orders. The store keeps when each order was archived (wall clock), and
/// `Engine::restore` counts retention from it.
#[test]
fn an_archived_order_expires_on_time_across_a_restart() {
    let cfg = possync_engine::EngineConfig { retention: Duration::from_secs(60), ..Default::default() };
    let mut sim = Sim::with(seed(), NetConfig::default(), cfg);
    let a = sim.add_node("A");
    let order = sim.open_simple(a);
    add_lines(&mut sim, a, &order, 1);
    let due = sim.engine(a).view(&order).unwrap().totals.due;
    sim.edit(
        a,
        &order,
        &Edit::AddPayment { payment: PaymentId::from_random(9), method: "cash".into(), amount: due },
    )
    .unwrap();
    sim.edit(a, &order, &Edit::MarkPaid).unwrap();
    sim.settle(SETTLE);
    assert!(sim.engine(a).is_archived(&order));
    sim.run_for(Duration::from_secs(40));
    sim.crash(a);
    sim.restart(a);
    assert!(sim.engine(a).is_archived(&order), "still within retention after the restart");
    sim.run_for(Duration::from_secs(40));
    assert!(sim.engine(a).order(&order).is_none(), "80 s after archiving, retention 60 s: forgotten");
    assert!(!sim.node(a).store.orders.contains_key(&order), "and deleted from disk");
}

/// Random restaurant rush × random faults. `SIM_SEEDS=N` runs N seeds
/// (default 200), `SIM_SEED=S` runs only seed S.
#[test]
fn random_rush_with_faults() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(s) => vec![s],
        None => {
            let n = std::env::var("SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
            (1..=n).collect()
        }
    };
    let started = std::time::Instant::now();
    for seed in &seeds {
        run_rush(*seed);
    }
    eprintln!("random rush: {} seeds passed in {:?}", seeds.len(), started.elapsed());
}

fn run_rush(seed: u64) {
    let mut probe = possync_engine::SplitMix64::new(seed ^ 0xFA17);
    let net = NetConfig {
        latency_min: Duration::from_micros(200),
        latency_max: Duration::from_millis(1 + probe.below(40)),
        gossip_loss: probe.below(20) as f64 / 100.0,
        gossip_duplicate: probe.below(10) as f64 / 100.0,
    };
    let mut sim = Sim::with(seed, net, Default::default());
    let n = 3 + probe.below(3) as usize;
    let nodes: Vec<u64> = ["A", "B", "C", "D", "E"][..n].iter().map(|t| sim.add_node(t)).collect();
    for step in 0..120 {
        let node = nodes[sim.rng().below(n as u64) as usize];
        workload::rush_step(&mut sim, node);
        let pause = Duration::from_millis(sim.rng().below(30));
        sim.run_for(pause);
        match sim.rng().below(100) {
            0..=1 if step % 7 == 0 => {
                let cut = 1 + sim.rng().below(n as u64 - 1) as usize;
                let (left, right) = nodes.split_at(cut);
                sim.partition(&[left, right]);
            }
            2..=3 => sim.heal(),
            4 => {
                let victim = nodes[sim.rng().below(n as u64) as usize];
                sim.crash(victim);
            }
            5..=7 => {
                for &v in &nodes {
                    sim.restart(v);
                }
            }
            _ => {}
        }
    }
    sim.heal();
    for &v in &nodes {
        sim.restart(v);
    }
    let took = sim.settle(SETTLE);
    if std::env::var("SIM_VERBOSE").is_ok() {
        eprintln!(
            "seed {seed}: {n} terminals settled in {took:?} (virtual), status {:?}",
            sim.engine(nodes[0]).status()
        );
    }
    sim.assert_invariants();
}

/// Three terminals; B opens 3 orders, is backed up, opens 5 more, and the
/// floor holds all 8. Returns B's backup with the terminals.
fn backed_up_after_3_of_8(seed: u64) -> (Sim, u64, u64, u64, SimStore) {
    let (mut sim, a, b, c) = three(seed);
    for _ in 0..3 {
        sim.open_simple(b);
    }
    sim.settle(SETTLE);
    let backup = sim.backup(b);
    for _ in 0..5 {
        sim.open_simple(b);
    }
    sim.settle(SETTLE);
    (sim, a, b, c, backup)
}

/// S27 (online part): a terminal restored from a backup, or replaced with
/// an empty disk and the same terminal code, catches up with the floor and
/// never gives a new order a name the floor already used.
#[test]
fn s27_a_restored_or_replaced_terminal_continues_its_names_after_the_floor_s() {
    for seed in seed()..seed() + 20 {
        for empty_disk in [false, true] {
            let (mut sim, a, b, _c, backup) = backed_up_after_3_of_8(seed);
            sim.restore_disk(b, if empty_disk { SimStore::default() } else { backup });
            sim.settle(SETTLE);
            assert_eq!(sim.engine(b).all_orders().len(), 8, "seed {seed}: B caught up");
            let next = sim.open_simple(b);
            sim.settle(SETTLE);
            let name = sim.engine(a).view(&next).unwrap().name.to_string();
            assert_eq!(name, "B-0009", "seed {seed}, empty disk {empty_disk}");
            sim.assert_no_duplicates();
            sim.assert_invariants();
            // The raised counter is on disk: a restart keeps it.
            sim.crash(b);
            sim.restart(b);
            assert_eq!(sim.engine(b).peek_next_name().to_string(), "B-0010", "seed {seed}");
        }
    }
}

/// S27 (offline part): a terminal restored from a backup opens orders before
/// it has reached any peer, so their names repeat ones the floor already
/// used. Once it hears from the floor it renames its later-opened ones to
/// its next free names (`renamed_from` keeps the first), and every terminal
/// ends with no name used twice.
#[test]
fn s27_a_restored_terminal_offline_renames_the_names_it_repeated() {
    for seed in seed()..seed() + 20 {
        let (mut sim, a, b, c, backup) = backed_up_after_3_of_8(seed);
        // Restored while cut off: it names two orders B-0004 and B-0005 again.
        sim.partition(&[&[b], &[a, c]]);
        sim.restore_disk(b, backup);
        let repeated = [sim.open_simple(b), sim.open_simple(b)];
        for id in &repeated {
            assert!(
                ["B-0004", "B-0005"].contains(&sim.engine(b).view(id).unwrap().name.to_string().as_str())
            );
        }
        sim.heal();
        sim.settle(SETTLE);
        sim.assert_converged();
        sim.assert_no_duplicates();
        sim.assert_invariants();
        // Renamed in the order the floor's twins arrived: the new names are
        // B-0009 and B-0010, each order keeping the name it was opened with.
        let (mut from, mut to): (Vec<String>, Vec<String>) = repeated
            .iter()
            .map(|id| {
                let v = sim.engine(a).view(id).unwrap();
                (v.renamed_from.expect("renamed").to_string(), v.name.to_string())
            })
            .unzip();
        from.sort();
        to.sort();
        assert_eq!(
            (from, to),
            (vec!["B-0004".into(), "B-0005".into()], vec!["B-0009".into(), "B-0010".into()]),
            "seed {seed}"
        );
        // The floor's own B-0004..B-0008 keep their names; B goes on from B-0011.
        assert_eq!(sim.engine(b).peek_next_name().to_string(), "B-0011", "seed {seed}");
    }
}
