//! The durability pipeline under faults: the node's own commit pipeline
//! (`possync_engine::CommitPipeline`) on simulated disks that are slow,
//! fail, and crash between a write and its acknowledgement.
//!
//! What must hold: no caller is told a change is durable before it is (the
//! simulator checks every acknowledgement against the batches its disk has
//! made durable); after a crash at any point, every acknowledged change is
//! on the restarted terminal's own disk (checked at every restart, before a
//! peer can bring anything back); a failing disk answers an error, never a
//! silent acknowledgement, and loses nothing already acknowledged.
//!
//! `SIM_SEEDS=<n>` runs more seeds (default 8), `SIM_SEED=<s>` one.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use automerge::ReadDoc;
use possync_engine::CommitConfig;
use possync_engine::wire::Gossip;
use possync_model::{Edit, Quantity};
use possync_sim::{DiskFaults, Sim, workload};

fn seeds() -> Vec<u64> {
    possync_sim::seeds(8)
}

/// A disk taking 2–40 ms a write, failing one write in `1 / fail`, and
/// telling the node up to 10 ms after the data is on it.
fn bad_disk(fail: f64) -> DiskFaults {
    DiskFaults {
        latency_min: Duration::from_millis(2),
        latency_max: Duration::from_millis(40),
        fail,
        report_delay: Duration::from_millis(10),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_rush_on_slow_failing_disks_with_crashes_loses_no_acknowledged_change() {
    let (mut acked, mut errors, mut crashes, mut stranded) = (0, 0, 0, 0);
    for seed in seeds() {
        let mut sim = Sim::new(seed);
        let nodes: Vec<u64> = ["A", "B", "C"].iter().map(|t| sim.add_node(t)).collect();
        for &n in &nodes {
            sim.set_disk_faults(n, bad_disk(0.05));
        }
        for _ in 0..400 {
            let node = nodes[sim.rng().below(nodes.len() as u64) as usize];
            workload::rush_step(&mut sim, node);
            let pause = sim.rng().below(15);
            sim.run_for(ms(pause));
            // A crash at any point: mid-write, between a write and its
            // report, or with unsynced peers' changes. Every restart
            // checks the terminal's acknowledged changes on its own disk.
            if sim.rng().chance(0.02) {
                let victim = nodes[sim.rng().below(nodes.len() as u64) as usize];
                sim.crash(victim);
                crashes += 1;
                let down = sim.rng().below(200);
                sim.run_for(ms(down));
                sim.restart(victim);
            }
        }
        for &n in &nodes {
            sim.crash(n);
            sim.set_disk_faults(n, DiskFaults::default());
            sim.restart(n);
        }
        sim.settle(Duration::from_secs(120));
        sim.assert_converged();
        sim.assert_acked_present();
        // A change sent before its author's disk had the one before it can
        // reach a peer alone (gossip reorders) when the author then crashes
        // and loses that one: the peer holds it with a missing dependency
        // nobody can give. It must stop asking for it once its peers have
        // said they lack it (no session left once quiet), and what is
        // missing must never be a change anyone was told is durable.
        sim.assert_bounds();
        let all_acked: BTreeSet<_> = nodes.iter().flat_map(|&n| sim.node(n).acked.clone()).collect();
        for &n in &nodes {
            for id in sim.engine(n).all_orders() {
                for missing in sim.engine(n).order(&id).unwrap().automerge().get_missing_deps(&[]) {
                    stranded += 1;
                    assert!(
                        !all_acked.contains(&(id.clone(), missing)),
                        "seed {seed}: acknowledged change {missing} of order {id} missing on node {n}"
                    );
                }
            }
        }
        for &n in &nodes {
            acked += sim.node(n).acked.len();
            errors += sim.node(n).storage_errors;
        }
    }
    // The run exercised what it claims to.
    assert!(acked > 0 && errors > 0 && crashes > 0, "acked {acked}, errors {errors}, crashes {crashes}");
    eprintln!(
        "acked {acked}, storage errors {errors}, crashes {crashes}, stranded unacknowledged changes {stranded}"
    );
}

#[test]
fn a_change_is_acknowledged_only_once_the_slow_disk_has_it() {
    for seed in seeds() {
        let mut sim = Sim::new(seed);
        let a = sim.add_node("A");
        let order = sim.open_simple(a);
        let disk = DiskFaults { latency_min: ms(50), latency_max: ms(50), ..DiskFaults::default() };
        sim.set_disk_faults(a, disk);
        let line = workload::random_line(&mut sim);
        let hash = sim.edit(a, &order, &Edit::AddLine(line)).unwrap().unwrap();
        sim.run_for(ms(40));
        assert!(
            !sim.node(a).acked.contains(&(order.clone(), hash)),
            "seed {seed}: acknowledged before the write"
        );
        sim.run_for(ms(20));
        assert!(sim.node(a).acked.contains(&(order.clone(), hash)), "seed {seed}: acknowledged once written");
    }
}

#[test]
fn a_crash_between_the_write_and_its_report_keeps_the_change_unacknowledged() {
    let mut sim = Sim::new(seeds()[0]);
    let a = sim.add_node("A");
    let order = sim.open_simple(a);
    let disk = DiskFaults { latency_min: ms(5), latency_max: ms(5), report_delay: ms(20), fail: 0.0 };
    sim.set_disk_faults(a, disk);
    let line = workload::random_line(&mut sim);
    let hash = sim.edit(a, &order, &Edit::AddLine(line)).unwrap().unwrap();
    sim.run_for(ms(10));
    sim.crash(a);
    sim.restart(a);
    assert!(!sim.node(a).acked.contains(&(order.clone(), hash)), "no caller was told");
    let doc = sim.engine(a).order(&order).unwrap();
    assert!(doc.automerge().get_change_by_hash(&hash).is_some(), "but the disk has it");
}

#[test]
fn a_failing_disk_answers_errors_and_keeps_what_was_acknowledged() {
    for seed in seeds() {
        let mut sim = Sim::new(seed);
        let a = sim.add_node("A");
        let order = sim.open_simple(a);
        let line = workload::random_line(&mut sim);
        let line_id = line.id.clone();
        sim.edit(a, &order, &Edit::AddLine(line)).unwrap();
        let before = sim.node(a).acked.clone();
        assert_eq!(before.len(), 2, "seed {seed}: the opening and the line, on a good disk");

        // The disk fails every write: each edit gets an error, none an ack.
        sim.set_disk_faults(a, DiskFaults { fail: 1.0, latency_max: ms(3), ..DiskFaults::default() });
        for i in 0..5 {
            // A quantity the line never had: every edit changes something.
            let qty = Quantity::units(10 + i);
            sim.edit(a, &order, &Edit::SetQty { line: line_id.clone(), qty }).unwrap();
            sim.run_for(ms(300));
        }
        // Retries space out (250 ms doubling to 4 s): the next one tells
        // the callers still waiting.
        sim.run_for(CommitConfig::default().max_retry_delay);
        assert_eq!(sim.node(a).acked, before, "seed {seed}: nothing acknowledged on a failing disk");
        assert_eq!(sim.node(a).storage_errors, 5, "seed {seed}: every caller told of the failure");

        // It comes back: the failed changes are written first, in order,
        // and the next edit is acknowledged.
        sim.set_disk_faults(a, DiskFaults::default());
        sim.run_for(CommitConfig::default().max_retry_delay);
        let hash = sim.edit(a, &order, &Edit::SetNote { note: "back".into() }).unwrap().unwrap();
        assert!(sim.node(a).acked.contains(&(order.clone(), hash)), "seed {seed}");
        // Restarting checks every acknowledged change on the disk; what
        // failed was retried before the later change, so it is there too.
        sim.crash(a);
        sim.restart(a);
        let doc = sim.engine(a).order(&order).unwrap();
        for (o, h) in &sim.node(a).uncertain {
            assert_eq!(o, &order);
            assert!(
                doc.automerge().get_change_by_hash(h).is_some(),
                "seed {seed}: retried change {h} on disk"
            );
        }
    }
}

/// A terminal's change reaches a peer alone (gossip reorders and loses) and
/// its author then dies with the change before it, which no disk and no peer
/// ever held. The peer must keep the orphan, stay in step with everyone on
/// what can be had, and stop asking for the lost change once its peers have
/// said they lack it, instead of syncing about it forever.
#[test]
fn a_dependency_that_died_with_its_author_is_not_asked_for_forever() {
    for seed in seeds() {
        let mut sim = Sim::new(seed);
        let a = sim.add_node("A");
        let b = sim.add_node("B");
        let c = sim.add_node("C");
        let order = sim.open_simple(a);
        sim.settle(Duration::from_secs(30));
        // From now on A's disk keeps nothing, and B and C hear nothing from A.
        sim.set_disk_faults(a, DiskFaults { fail: 1.0, ..DiskFaults::default() });
        sim.partition(&[&[a], &[b, c]]);
        let first = workload::random_line(&mut sim);
        let lost = sim.edit(a, &order, &Edit::AddLine(first)).unwrap().unwrap();
        let second = workload::random_line(&mut sim);
        let orphan = sim.edit(a, &order, &Edit::AddLine(second)).unwrap().unwrap();
        let raw = sim.engine(a).order(&order).unwrap().automerge().get_change_by_hash(&orphan).unwrap();
        let gossip = Gossip::Changes { order: order.clone(), changes: vec![raw.raw_bytes().to_vec()] };
        sim.crash(a);
        // C relays A's second change to B, signed by A.
        sim.inject_relayed(c, b, a, gossip.encode());
        sim.set_disk_faults(a, DiskFaults::default());
        sim.heal();
        sim.restart(a);
        sim.settle(Duration::from_secs(120));
        assert_eq!(
            sim.engine(b).order(&order).unwrap().automerge().get_missing_deps(&[]),
            vec![lost],
            "seed {seed}: B holds the orphan and lacks only the lost change"
        );
        sim.assert_converged();
        sim.assert_bounds();
        for n in [a, b, c] {
            assert!(
                !sim.engine(n).status().is_syncing(),
                "seed {seed}: node {n} still syncing: {:?}",
                sim.engine(n).status()
            );
        }
    }
}
