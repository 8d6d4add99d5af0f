//! A floor of 100 terminals in the simulator (`possync-sim`): the engines
//! themselves, on one virtual clock, with the simulator's network (every
//! terminal hears an author's gossip directly, 0.3–3 ms; gossipsub's mesh
//! and libp2p are not simulated). What it shows at a size this machine
//! cannot run as real nodes: the engine's work per edit on each terminal,
//! the traffic an edit and an idle floor cause, and a late join.
//!
//! Times are of two kinds: *virtual* (the simulator's clock: protocol round
//! trips, not CPU) and CPU (the simulator runs every engine on one thread,
//! so its process CPU is the engines' work, summed).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use automerge::{ChangeHash, ReadDoc};
use possync::model::{Edit, LineId, OrderId, Quantity};
use possync_sim::Sim;
use serde::Serialize;

use crate::common::{cpu_time_us, new_line};
use crate::stats::{Percentiles, percentiles};

/// Options of `sim-scale`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 100)]
    pub terminals: usize,
    /// Edits per second (virtual), over all terminals.
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    /// Virtual seconds of edits.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Orders of 50 changes the floor holds when a terminal joins.
    #[arg(long, default_value_t = 2000)]
    pub orders: usize,
    /// Virtual seconds of the idle window.
    #[arg(long, default_value_t = 60)]
    pub idle_seconds: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub terminals: usize,
    pub orders: usize,
    /// Building the fixture on one terminal, copying its disk to the others
    /// and their start (wall clock).
    pub setup_wall_s: f64,
    pub edits: u64,
    /// Edit → held by every other terminal (virtual).
    pub latency_virtual: Percentiles,
    /// Every engine's work per edit (CPU), and per terminal.
    pub cpu_us_per_edit: f64,
    pub cpu_us_per_edit_per_terminal: f64,
    /// Messages and bytes all terminals sent per edit.
    pub messages_per_edit: f64,
    pub bytes_per_edit: f64,
    /// With nothing to do: messages and bytes each terminal sends per
    /// virtual second (anti-entropy), and the engines' CPU per
    /// terminal per virtual second.
    pub idle_messages_per_terminal_s: f64,
    pub idle_bytes_per_terminal_s: f64,
    pub idle_cpu_us_per_terminal_s: f64,
    /// A fresh terminal joining: virtual time until it holds every order
    /// with the floor's heads, CPU, bytes the floor sent meanwhile.
    pub join_virtual_s: f64,
    pub join_cpu_s: f64,
    pub join_bytes: u64,
    pub join_identical: bool,
}

/// One order of 50 changes on `node`: open, 5 lines, 44 quantity changes.
fn build_order(sim: &mut Sim, node: u64, seed: &mut u128) -> Result<OrderId> {
    let order = sim.open_simple(node);
    let mut lines = Vec::new();
    for _ in 0..5 {
        *seed += 1;
        let line = new_line(*seed);
        lines.push(line.id.clone());
        sim.edit(node, &order, &Edit::AddLine(line)).context("add line")?;
    }
    for k in 0..44 {
        let edit = Edit::ChangeQty { line: lines[k % 5].clone(), delta: Quantity::units(1) };
        sim.edit(node, &order, &edit).context("change qty")?;
    }
    Ok(order)
}

fn sent(sim: &Sim) -> (u64, u64) {
    sim.node_ids()
        .iter()
        .map(|&id| sim.node(id))
        .fold((0, 0), |(m, b), n| (m + n.messages_sent, b + n.bytes_sent))
}

pub fn measure(args: &Args) -> Result<Figures> {
    let n = args.terminals;
    let mut sim = Sim::new(args.seed);
    let mut seed = 0u128;
    // The fixture on the first terminal, its disk copied to the others (a
    // restored backup): bringing 99 terminals to it by gossip or catch-up
    // would take this machine many minutes.
    let t = Instant::now();
    let first = sim.add_node("T0");
    for _ in 0..args.orders {
        build_order(&mut sim, first, &mut seed)?;
    }
    sim.settle(Duration::from_secs(5));
    let disk = sim.backup(first);
    for i in 1..n {
        let id = sim.add_node(&format!("T{i}"));
        sim.restore_disk(id, disk.clone());
    }
    sim.settle(Duration::from_secs(60));
    anyhow::ensure!(sim.divergence().is_none(), "the floor did not converge: {:?}", sim.divergence());
    let setup_wall_s = t.elapsed().as_secs_f64();
    eprintln!("  {n} terminals hold {} orders ({setup_wall_s:.1} s)", args.orders);

    // Each terminal's own order with one line, known everywhere.
    let ids = sim.node_ids();
    let mut targets: Vec<(OrderId, LineId)> = Vec::new();
    for &id in &ids {
        let order = sim.open_simple(id);
        seed += 1;
        let line = new_line(seed);
        targets.push((order.clone(), line.id.clone()));
        sim.edit(id, &order, &Edit::AddLine(line)).context("add line")?;
    }
    sim.settle(Duration::from_secs(10));

    // Edits at the rate, in turn; every millisecond (virtual) the pending
    // ones are checked on every terminal.
    let total = args.rate * args.seconds;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let (m0, b0) = sent(&sim);
    let start = sim.now();
    let mut pending: Vec<(usize, OrderId, ChangeHash, Instant, Vec<bool>)> = Vec::new();
    let mut samples = Vec::new();
    let cpu0 = cpu_time_us()?;
    let mut k = 0u64;
    while k < total || !pending.is_empty() {
        anyhow::ensure!(
            sim.now() < start + interval * total as u32 + Duration::from_secs(30),
            "edits not delivered"
        );
        while k < total && start + interval.mul_f64(k as f64) <= sim.now() {
            let i = (k as usize) % n;
            let (order, line) = &targets[i];
            let edit = Edit::ChangeQty { line: line.clone(), delta: Quantity::units(1) };
            let hash = sim.edit(ids[i], order, &edit)?.context("an edit makes a change")?;
            let mut seen = vec![false; n];
            seen[i] = true;
            pending.push((i, order.clone(), hash, sim.now(), seen));
            k += 1;
        }
        sim.run_for(Duration::from_millis(1));
        let now = sim.now();
        pending.retain_mut(|(_, order, hash, t0, seen)| {
            for (j, &id) in ids.iter().enumerate() {
                if !seen[j]
                    && sim
                        .engine(id)
                        .order(order)
                        .is_some_and(|d| d.automerge().get_change_by_hash(hash).is_some())
                {
                    seen[j] = true;
                    samples.push(now - *t0);
                }
            }
            !seen.iter().all(|&s| s)
        });
    }
    let (m1, b1) = sent(&sim);
    let latency_virtual = percentiles(&mut samples);
    anyhow::ensure!(samples.len() as u64 == total * (n as u64 - 1), "not every edit reached every terminal");
    // The checks above are in it too (a hash lookup per pending edit and
    // terminal each virtual millisecond: a few per cent).
    let cpu_us_per_edit = (cpu_time_us()? - cpu0) / total as f64;

    // Idle: nothing to do but the engine's timers (anti-entropy).
    sim.settle(Duration::from_secs(30));
    let (m2, b2) = sent(&sim);
    let cpu1 = cpu_time_us()?;
    sim.run_for(Duration::from_secs(args.idle_seconds));
    let idle_cpu_us = cpu_time_us()? - cpu1;
    let (m3, b3) = sent(&sim);
    let per_ts = (n as u64 * args.idle_seconds) as f64;

    // A fresh terminal joins.
    let cpu2 = cpu_time_us()?;
    let joined_at = sim.now();
    let joiner = sim.add_node("NEW");
    let held = args.orders + n;
    let deadline = sim.now() + Duration::from_secs(120);
    while sim.engine(joiner).status().active_orders < held && sim.now() < deadline {
        sim.run_for(Duration::from_millis(10));
    }
    let join_virtual_s = (sim.now() - joined_at).as_secs_f64();
    let join_cpu_s = (cpu_time_us()? - cpu2) / 1e6;
    let (_, b4) = sent(&sim);
    let join_bytes = b4 - b3;
    let join_identical = sim.divergence().is_none();
    Ok(Figures {
        terminals: n,
        orders: args.orders,
        setup_wall_s,
        edits: total,
        latency_virtual,
        cpu_us_per_edit,
        cpu_us_per_edit_per_terminal: cpu_us_per_edit / n as f64,
        messages_per_edit: (m1 - m0) as f64 / total as f64,
        bytes_per_edit: (b1 - b0) as f64 / total as f64,
        idle_messages_per_terminal_s: (m3 - m2) as f64 / per_ts,
        idle_bytes_per_terminal_s: (b3 - b2) as f64 / per_ts,
        idle_cpu_us_per_terminal_s: idle_cpu_us / per_ts,
        join_virtual_s,
        join_cpu_s,
        join_bytes,
        join_identical,
    })
}

/// The `sim-scale` subcommand.
pub fn run(args: Args) -> Result<()> {
    let f = measure(&args)?;
    println!("| figure | {} simulated terminals |", f.terminals);
    println!("| --- | --- |");
    let l = f.latency_virtual;
    println!(
        "| edit → every terminal, virtual, {} edits at {}/s: p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        f.edits, args.rate, l.p50_ms, l.p99_ms, l.max_ms
    );
    println!(
        "| engine CPU per edit, all terminals / per terminal | {:.0} µs / {:.1} µs |",
        f.cpu_us_per_edit, f.cpu_us_per_edit_per_terminal
    );
    println!(
        "| messages / bytes sent per edit, all terminals | {:.1} / {:.0} |",
        f.messages_per_edit, f.bytes_per_edit
    );
    println!(
        "| idle, per terminal per second: messages / bytes / engine CPU | {:.3} / {:.0} B / {:.1} µs |",
        f.idle_messages_per_terminal_s, f.idle_bytes_per_terminal_s, f.idle_cpu_us_per_terminal_s
    );
    println!(
        "| a terminal joining, {} orders: virtual / CPU / bytes sent by the floor / identical | {:.2} s / {:.2} s / {} KiB / {} |",
        f.orders + f.terminals,
        f.join_virtual_s,
        f.join_cpu_s,
        f.join_bytes / 1024,
        f.join_identical
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&f)?)?;
    }
    Ok(())
}
