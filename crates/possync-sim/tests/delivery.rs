//! The delivery outbox (S25, S26) in the simulator, across seeds: closed
//! orders reach a back office that fails, times out, loses and repeats its
//! answers, while terminals crash mid-delivery and the floor is
//! partitioned. At the end every closed order is in the back office once
//! (one row per order; repeated deliveries changed nothing), confirmed in
//! every terminal's copy, and no terminal dropped an order by retention
//! before that.
//!
//! `SIM_SEEDS=<n>` runs more seeds (default 12), `SIM_SEED=<s>` one.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use possync_engine::{DeliveryConfig, EngineConfig};
use possync_model::{Edit, OrderId, OrderState, PaymentId, SinkName};
use possync_sim::{NetConfig, Sim, SimSink, SinkFaults, workload};

fn seeds() -> Vec<u64> {
    possync_sim::seeds(12)
}

/// Delivery times scaled down so runs stay short; retention is shorter
/// than an outage, so an order retention could drop is there to be kept.
fn config() -> EngineConfig {
    EngineConfig {
        retention: Duration::from_secs(20),
        delivery: DeliveryConfig {
            lease: Duration::from_secs(6),
            takeover_after: Duration::from_secs(10),
            takeover_stagger: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(3),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(4),
            refused_backoff_min: Duration::from_secs(1),
            refused_backoff_max: Duration::from_secs(8),
            max_in_flight: 8,
            start_delay: Duration::from_secs(1),
        },
        ..EngineConfig::default()
    }
}

fn sink() -> SinkName {
    SinkName::parse("bo").unwrap()
}

/// Opens an order on `node` with one or two lines, then pays and closes it
/// (or cancels one in ten). Returns it with its state, or `None` when the
/// node is down.
fn close_one(sim: &mut Sim, node: u64) -> Option<(OrderId, OrderState)> {
    if !sim.is_up(node) {
        return None;
    }
    let order = sim.open_simple(node);
    let lines = 1 + sim.rng().below(2);
    for _ in 0..lines {
        let line = workload::random_line(sim);
        sim.edit(node, &order, &Edit::AddLine(line)).unwrap();
    }
    if sim.rng().below(10) == 0 {
        sim.edit(node, &order, &Edit::Cancel).unwrap();
        return Some((order, OrderState::Cancelled));
    }
    let due = sim.engine(node).view(&order).unwrap().totals.due;
    let payment = PaymentId::from_random(sim.rng().next_u128());
    sim.edit(node, &order, &Edit::AddPayment { payment, method: "card".into(), amount: due }).unwrap();
    sim.edit(node, &order, &Edit::MarkPaid).unwrap();
    Some((order, OrderState::Paid))
}

/// Orders no live terminal holds any more while the back office lacks
/// them: what retention must never do.
fn dropped_undelivered(sim: &Sim, closed: &BTreeMap<OrderId, OrderState>) -> Vec<OrderId> {
    let bo = sim.sink("bo");
    closed
        .keys()
        .filter(|o| !bo.rows.contains_key(*o))
        .filter(|o| sim.node_ids().iter().all(|&n| !sim.node(n).store.orders.contains_key(*o)))
        .cloned()
        .collect()
}

#[test]
fn every_closed_order_reaches_a_faulty_back_office_once_through_crashes_and_partitions() {
    let mut report = Vec::new();
    for seed in seeds() {
        let net = NetConfig { gossip_loss: 0.05, gossip_duplicate: 0.02, ..NetConfig::default() };
        let mut sim = Sim::with(seed, net, config());
        let faults = SinkFaults {
            fail: 0.15,
            no_answer: 0.05,
            lose_answer: 0.1,
            answer_twice: 0.1,
            ..SinkFaults::reliable()
        };
        sim.add_sink(SimSink::new("bo", faults));
        let nodes: Vec<u64> = ["A", "B", "C", "D"].iter().map(|t| sim.add_node(t)).collect();
        let mut closed = BTreeMap::new();
        let mut down_until: BTreeMap<u64, u32> = BTreeMap::new();
        for step in 0..120u32 {
            let node = nodes[sim.rng().below(nodes.len() as u64) as usize];
            if let Some((o, state)) = close_one(&mut sim, node) {
                closed.insert(o, state);
            }
            match sim.rng().below(40) {
                // A terminal dies, whatever it was delivering.
                0 | 1 => {
                    let victim = nodes[sim.rng().below(nodes.len() as u64) as usize];
                    sim.crash(victim);
                    down_until.insert(victim, step + 5 + sim.rng().below(20) as u32);
                }
                2 => {
                    let cut = 1 + sim.rng().below(2) as usize;
                    sim.partition(&[&nodes[..cut], &nodes[cut..]]);
                }
                3 => sim.heal(),
                // The back office goes down for a while (longer than
                // retention), or comes back.
                4 => sim.sink_mut("bo").faults.down = true,
                5 | 6 => sim.sink_mut("bo").faults.down = false,
                _ => {}
            }
            down_until.retain(|&n, until| {
                if step >= *until {
                    sim.restart(n);
                    false
                } else {
                    true
                }
            });
            let pause = Duration::from_millis(200 + sim.rng().below(1500));
            sim.run_for(pause);
            let dropped = dropped_undelivered(&sim, &closed);
            assert!(dropped.is_empty(), "seed {seed}: retention dropped undelivered orders {dropped:?}");
        }
        // Everything comes back; the back office keeps misbehaving but is up.
        sim.heal();
        for &n in &nodes {
            sim.restart(n);
        }
        sim.sink_mut("bo").faults.down = false;
        sim.run_for(Duration::from_secs(120));
        sim.settle(Duration::from_secs(60));
        let bo = sim.sink("bo");
        let missing: Vec<&OrderId> = closed.keys().filter(|o| !bo.rows.contains_key(*o)).collect();
        assert!(
            missing.is_empty(),
            "seed {seed}: {} closed orders never delivered: {missing:?}",
            missing.len()
        );
        assert_eq!(bo.rows.len(), closed.len(), "seed {seed}: the back office holds orders nobody closed");
        assert_eq!(bo.updates, 0, "seed {seed}: a closed order changed after delivery");
        for (order, state) in &closed {
            let row = &bo.rows[order];
            for &n in &nodes {
                // Retention may have dropped it since: only after confirmation.
                let Some(view) = sim.engine(n).view(order) else { continue };
                assert_eq!(view.state, *state);
                assert_eq!((row.total, row.paid), (view.totals.total.0, view.totals.paid.0), "seed {seed}");
                assert_eq!(row.digest, view.content_digest(), "seed {seed}");
                let d = &view.delivery[&sink()];
                assert!(d.confirms(&row.digest), "seed {seed}: order {order} not confirmed on node {n}");
            }
        }
        for &n in &nodes {
            let status = &sim.engine(n).delivery_status(sim.now())[0];
            assert_eq!(status.backlog, 0, "seed {seed}: node {n} still owes {status:?}");
        }
        let bo = sim.sink("bo");
        report.push(format!(
            "seed {seed}: {} orders, {} requests, {} repeated",
            closed.len(),
            bo.received,
            bo.duplicates
        ));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn with_every_terminal_online_the_closing_terminal_delivers_and_nobody_repeats() {
    for seed in seeds().into_iter().take(4) {
        let mut sim = Sim::with(seed, NetConfig::default(), config());
        sim.add_sink(SimSink::new("bo", SinkFaults::reliable()));
        let nodes: Vec<u64> = ["A", "B", "C"].iter().map(|t| sim.add_node(t)).collect();
        let mut closed = BTreeMap::new();
        for i in 0..30 {
            let node = nodes[i % nodes.len()];
            let (o, s) = close_one(&mut sim, node).unwrap();
            closed.insert(o, (s, sim.node(node).terminal.to_string()));
            sim.run_for(Duration::from_millis(300));
        }
        sim.run_for(Duration::from_secs(30));
        let bo = sim.sink("bo");
        assert_eq!(bo.rows.len(), closed.len(), "seed {seed}");
        assert_eq!(bo.duplicates, 0, "seed {seed}: a delivery was repeated");
        for (order, (_, closer)) in &closed {
            assert_eq!(
                &bo.rows[order].from, closer,
                "seed {seed}: order {order} delivered by another terminal"
            );
        }
    }
}

/// S25: the back office is down far longer than retention while orders are
/// paid; no terminal drops one, and when it returns each arrives once.
#[test]
fn an_outage_longer_than_retention_loses_nothing() {
    let mut sim = Sim::with(7, NetConfig::default(), config());
    sim.add_sink(SimSink::new("bo", SinkFaults { down: true, ..SinkFaults::reliable() }));
    let nodes: Vec<u64> = ["A", "B", "C"].iter().map(|t| sim.add_node(t)).collect();
    let mut closed = BTreeMap::new();
    for i in 0..30 {
        let (o, s) = close_one(&mut sim, nodes[i % 3]).unwrap();
        closed.insert(o, s);
        sim.run_for(Duration::from_secs(2));
    }
    // Ten times retention, back office down.
    sim.run_for(Duration::from_secs(200));
    for &n in &nodes {
        assert_eq!(sim.engine(n).all_orders().len(), closed.len(), "node {n} dropped an undelivered order");
        let status = &sim.engine(n).delivery_status(sim.now())[0];
        assert_eq!(status.backlog, closed.len());
        assert!(status.oldest_undelivered.unwrap() >= Duration::from_secs(200));
        assert!(status.last_error.is_some());
    }
    assert!(sim.sink("bo").rows.is_empty());
    sim.sink_mut("bo").faults.down = false;
    sim.run_for(Duration::from_secs(60));
    let bo = sim.sink("bo");
    assert_eq!(bo.rows.len(), closed.len());
    assert_eq!(bo.duplicates, 0, "every terminal was online: one delivered each order");
    // Confirmed, so retention may now drop them.
    sim.run_for(Duration::from_secs(30));
    for &n in &nodes {
        assert_eq!(sim.engine(n).all_orders().len(), 0, "node {n} kept delivered orders past retention");
    }
}

/// S26: the terminal delivering an order dies mid-delivery (its request
/// reached the back office, the answer died with it); another terminal
/// takes over and the order is held once.
#[test]
fn a_terminal_that_dies_mid_delivery_is_taken_over() {
    for seed in seeds().into_iter().take(4) {
        // Retention longer than the test: the order is read at the end.
        let cfg = EngineConfig { retention: Duration::from_secs(600), ..config() };
        let mut sim = Sim::with(seed, NetConfig::default(), cfg);
        let slow = SinkFaults {
            latency_min: Duration::from_millis(500),
            latency_max: Duration::from_millis(500),
            ..SinkFaults::reliable()
        };
        sim.add_sink(SimSink::new("bo", slow));
        let nodes: Vec<u64> = ["A", "B", "C"].iter().map(|t| sim.add_node(t)).collect();
        // Past the start delay: A delivers as soon as it closes.
        sim.run_for(Duration::from_secs(2));
        let (order, _) = close_one(&mut sim, nodes[0]).unwrap();
        // The request is on its way (500 ms); A dies before the answer.
        sim.run_for(Duration::from_millis(700));
        sim.crash(nodes[0]);
        assert_eq!(sim.sink("bo").rows.len(), 1, "the request reached the back office");
        sim.run_for(Duration::from_secs(40));
        for &n in &nodes[1..] {
            let view = sim.engine(n).view(&order).unwrap();
            let d = &view.delivery[&sink()];
            assert!(d.confirms(&view.content_digest()), "seed {seed}: node {n} has no confirmation");
            assert_ne!(d.delivered().unwrap().terminal.as_str(), "A");
        }
        let bo = sim.sink("bo");
        assert_eq!(bo.rows.len(), 1);
        assert_eq!(bo.duplicates, 1, "seed {seed}: delivered again by the one terminal that took over");
        assert_eq!(bo.received, 2);
        // A comes back and sees it confirmed: it does not deliver again.
        sim.restart(nodes[0]);
        sim.run_for(Duration::from_secs(30));
        assert_eq!(sim.sink("bo").received, 2, "seed {seed}");
    }
}

/// S25 as written: the back office is unreachable for two hours while 300
/// orders are paid (default delivery timings; retention one hour, so that
/// it would have dropped most of them). When it returns, exactly 300 orders
/// arrive, none twice, with their totals and payments, and no terminal
/// deleted an undelivered order meanwhile.
#[test]
fn s25_back_office_down_for_two_hours_while_300_orders_are_paid() {
    let cfg = EngineConfig { retention: Duration::from_secs(3600), ..EngineConfig::default() };
    let mut sim = Sim::with(25, NetConfig::default(), cfg);
    sim.add_sink(SimSink::new("bo", SinkFaults { down: true, ..SinkFaults::reliable() }));
    let nodes: Vec<u64> = ["T1", "T2", "T3"].iter().map(|t| sim.add_node(t)).collect();
    let mut closed = BTreeMap::new();
    let mut cancelled = 0;
    let mut expected = BTreeMap::new();
    while closed.len() < 300 {
        let node = nodes[closed.len() % 3];
        let (o, s) = close_one(&mut sim, node).unwrap();
        cancelled += usize::from(s == OrderState::Cancelled);
        // What the back office must receive, as closed.
        let v = sim.engine(node).view(&o).unwrap();
        expected.insert(o.clone(), (v.totals.total.0, v.totals.paid.0, v.content_digest()));
        closed.insert(o, s);
        // 300 orders over two hours: one every 24 s.
        sim.run_for(Duration::from_secs(24));
        let dropped = dropped_undelivered(&sim, &closed);
        assert!(dropped.is_empty(), "retention dropped undelivered orders {dropped:?}");
    }
    for &n in &nodes {
        assert_eq!(sim.engine(n).delivery_status(sim.now())[0].backlog, 300, "node {n}");
    }
    sim.sink_mut("bo").faults.down = false;
    // The back-off is at most 30 s; then the backlog drains.
    sim.run_for(Duration::from_secs(120));
    let bo = sim.sink("bo");
    assert_eq!(bo.rows.len(), 300);
    assert_eq!(bo.duplicates, 0, "every terminal online: each order delivered by one terminal, once");
    for (order, (total, paid, digest)) in &expected {
        let row = &bo.rows[order];
        assert_eq!((row.total, row.paid, &row.digest), (*total, *paid, digest));
    }
    for &n in &nodes {
        let s = &sim.engine(n).delivery_status(sim.now())[0];
        assert_eq!((s.backlog, s.in_flight), (0, 0), "node {n}: {s:?}");
    }
    eprintln!("S25: 300 orders ({cancelled} cancelled), {} requests after the outage", bo.received);
}
