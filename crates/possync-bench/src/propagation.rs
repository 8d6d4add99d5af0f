//! Edit → visible on every other terminal, through the Node API with durable
//! storage on, N terminals in one process over loopback TCP (pnet + Noise +
//! Yamux, signed gossipsub).
//!
//! Each terminal edits the line of one of its own orders (+1) in turn, at a
//! fixed total rate, moving to its next order every
//! [`EDITS_PER_ORDER`](crate::common::EDITS_PER_ORDER) edits (all orders are
//! opened, and known everywhere, before timing). A receiver knows which edit
//! it sees from the order and the quantity (the k-th edit of an order makes
//! its quantity k + 1), so every (edit, receiver) pair gives one latency
//! sample: from just before `edit()` is called to the first change event of
//! the receiver that shows it (changes that arrive together make one event,
//! which shows all of them).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use possync::model::{Edit, LineId, OpenOrder, OrderId, Quantity};
use possync::{Node, NodeEvent, SessionKey};

use crate::common::{cpu_time_us, edit_target, mesh, new_line, orders_per_author, scratch};

use crate::stats::{Percentiles, percentiles};

type SendTimes = Arc<Mutex<HashMap<(OrderId, i64), Instant>>>;

/// Terminals, edit rate and duration of a latency run.
#[derive(Debug, clap::Args)]
pub struct RateArgs {
    /// Terminals on the floor.
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Edits per second, over all terminals.
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    /// How long to send edits.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// Options of `propagation`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub load: RateArgs,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<String>,
}

pub async fn run(args: Args) -> Result<()> {
    let RateArgs { nodes, rate, seconds } = args.load;
    let json = args.json;
    let result = measure(nodes, rate, seconds).await?;
    println!("| terminals | edits/s | samples | p50 ms | p90 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let p = result;
    println!(
        "| {nodes} | {rate} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
        p.samples, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
    );
    if let Some(path) = json {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&serde_json::json!({
                "benchmark": "propagation", "terminals": nodes, "edits_per_s": rate, "latency": p
            }))?,
        )?;
    }
    Ok(())
}

pub async fn measure(n: usize, rate: u64, seconds: u64) -> Result<Percentiles> {
    Ok(measure_with(n, rate, seconds, false).await?.0)
}

/// As [`measure`]; with `open_loop` every edit is issued at its due time
/// without waiting for the previous one's acknowledgement, and latency runs
/// from the due time (so a terminal that falls behind shows it). Also
/// returns the fraction of (edit, receiver) pairs that gave a sample.
pub async fn measure_with(n: usize, rate: u64, seconds: u64, open_loop: bool) -> Result<(Percentiles, f64)> {
    let run = measure_run(n, rate, seconds, open_loop).await?;
    Ok((run.latency, run.delivered))
}

/// One run's figures: latency, the fraction of (edit, receiver) pairs seen,
/// and the process CPU from the first edit to the end of the run (the 2 s
/// after the last edit included).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Run {
    pub latency: Percentiles,
    pub delivered: f64,
    pub edits: u64,
    pub cpu_us: f64,
}

/// As [`measure_with`], with the process CPU of the timed window.
pub async fn measure_run(n: usize, rate: u64, seconds: u64, open_loop: bool) -> Result<Run> {
    let dir = scratch("prop");
    let key = SessionKey::generate()?;
    let nodes = mesh(&dir, n, &key).await?;
    let total = rate * seconds;
    // Each terminal's own orders, one line each, visible everywhere before
    // timing.
    let orders_each = orders_per_author(total, n);
    let mut targets: Vec<Vec<(OrderId, LineId)>> = Vec::new();
    let mut seed = 0u128;
    for node in &nodes {
        let mut own = Vec::new();
        for _ in 0..orders_each {
            let order = node.open_order("bench", OpenOrder::default()).await?;
            seed += 1;
            let mut new_line = new_line(seed);
            let line = new_line.id.clone();
            new_line.qty = Quantity::units(1);
            node.edit("bench", &order, Edit::AddLine(new_line)).await?;
            own.push((order, line));
        }
        targets.push(own);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let sent: SendTimes = Arc::new(Mutex::new(HashMap::new()));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let lagged = Arc::new(AtomicU64::new(0));
    // Samples by (receiver, author), to say who missed what.
    let seen_by: Arc<Vec<Vec<AtomicU64>>> =
        Arc::new((0..n).map(|_| (0..n).map(|_| AtomicU64::new(0)).collect()).collect());
    let author_of: Arc<HashMap<OrderId, usize>> = Arc::new(
        targets
            .iter()
            .enumerate()
            .flat_map(|(i, own)| own.iter().map(move |(o, _)| (o.clone(), i)))
            .collect(),
    );
    let mut listeners = Vec::new();
    for (receiver, node) in nodes.iter().enumerate() {
        let mut events = node.subscribe();
        let sent = sent.clone();
        let samples = samples.clone();
        let lagged = lagged.clone();
        let (seen_by, author_of) = (seen_by.clone(), author_of.clone());
        let lines: HashMap<OrderId, LineId> = targets.iter().flatten().cloned().collect();
        listeners.push(tokio::spawn(async move {
            // The highest quantity seen so far, by order.
            let mut seen: HashMap<OrderId, i64> = HashMap::new();
            loop {
                let ev = match events.recv().await {
                    Ok(ev) => ev,
                    // Behind by more than the channel holds: the missed edits
                    // count as not delivered, the rest are still measured.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        lagged.fetch_add(missed, Ordering::Relaxed);
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                let now = Instant::now();
                if let NodeEvent::OrderChanged {
                    order,
                    origin: possync::ChangeOrigin::Remote { .. },
                    view: Some(view),
                    ..
                } = ev
                {
                    let Some(line) = lines.get(&order).and_then(|l| view.line(l)) else { continue };
                    // Every edit up to this quantity not seen before is
                    // visible now: changes that arrive together (one came
                    // late, so the next waited for it) make one event.
                    let seen = seen.entry(order.clone()).or_insert(Quantity::units(1).milli());
                    let (Ok(sent), Ok(mut samples)) = (sent.lock(), samples.lock()) else { break };
                    while *seen < line.qty.0 {
                        *seen += Quantity::units(1).milli();
                        if let Some(t0) = sent.get(&(order.clone(), *seen)) {
                            samples.push(now - *t0);
                            if let Some(&author) = author_of.get(&order) {
                                seen_by[receiver][author].fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
        }));
    }

    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let cpu0 = cpu_time_us()?;
    let start = Instant::now();
    let mut inflight = Vec::new();
    for k in 0..total {
        let due = start + interval.mul_f64(k as f64);
        tokio::time::sleep_until(due.into()).await;
        let i = (k as usize) % n;
        // This terminal's edit number `mine`: the order it goes to, and the
        // line's quantity after it.
        let mine = k / n as u64;
        let (round, units) = edit_target(mine);
        let (order, line) = &targets[i][round as usize];
        let qty = Quantity::units(units).milli();
        let t0 = if open_loop { due } else { Instant::now() };
        sent.lock().map_err(|_| anyhow::anyhow!("lock"))?.insert((order.clone(), qty), t0);
        let edit = Edit::ChangeQty { line: line.clone(), delta: Quantity::units(1) };
        if open_loop {
            let (node, order) = (nodes[i].clone(), order.clone());
            inflight.push(tokio::spawn(async move { node.edit("bench", &order, edit).await }));
        } else {
            nodes[i].edit("bench", order, edit).await.context("edit")?;
        }
    }
    for t in inflight {
        t.await?.context("edit")?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_us = cpu_time_us()? - cpu0;
    // Who missed what, when edits went unseen.
    // Author `a` made edits number a, a + n, a + 2n, ...
    let made = |a: usize| total / n as u64 + u64::from((a as u64) < total % n as u64);
    let missing: Vec<String> = (0..n)
        .flat_map(|r| (0..n).filter(move |&a| a != r).map(move |a| (r, a)))
        .filter_map(|(r, a)| {
            let got = seen_by[r][a].load(Ordering::Relaxed);
            (got + made(a) / 100 < made(a)).then(|| format!("T{r} saw {got} of T{a}'s {}", made(a)))
        })
        .collect();
    // Whether they never arrived or arrived without an event: asked of the
    // orders themselves, only then (it reads every order on every terminal).
    let behind = if missing.is_empty() { Vec::new() } else { changes_behind(&nodes, &targets).await? };
    // What can make an edit go unseen, told when it happened.
    let (mut rejected, mut publish_failed) = (0, 0);
    let mut received = Vec::new();
    for node in &nodes {
        let status = node.status().await?;
        let c = status.counters;
        rejected += c.rejected;
        publish_failed += c.gossip_publish_failed;
        received.push(format!(
            "{}/{}/{}/{}",
            c.gossip_received,
            c.remote_changes,
            c.catchup_received,
            status.peers.len()
        ));
        node.shutdown().await?;
    }
    let lagged = lagged.load(Ordering::Relaxed);
    if rejected + publish_failed + lagged > 0 {
        eprintln!(
            "    ({rejected} changes refused, {publish_failed} publishes failed, {lagged} events missed by a lagging listener)"
        );
    }
    if !missing.is_empty() {
        eprintln!("    (unseen: {})", missing.join(", "));
        eprintln!(
            "    (edits missing from the orders at the end, by receiver: {behind:?}; \
             gossip messages / remote changes / catch-up messages received, peers: {})",
            received.join(", ")
        );
    }
    for l in listeners {
        l.abort();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = samples.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();
    let delivered = s.len() as f64 / (total as f64 * (n - 1) as f64);
    Ok(Run { latency: percentiles(&mut s), delivered, edits: total, cpu_us })
}

/// For each terminal, how many edits of the others' orders it lacks at the
/// end: the quantity the author shows minus the one it shows.
async fn changes_behind(nodes: &[Node], targets: &[Vec<(OrderId, LineId)>]) -> Result<Vec<i64>> {
    let qty = |view: Option<possync::model::OrderView>, line: &LineId| {
        view.and_then(|v| v.line(line).map(|l| l.qty.0)).unwrap_or(0)
    };
    let mut behind = vec![0; nodes.len()];
    for (author, own) in targets.iter().enumerate() {
        for (order, line) in own {
            let truth = qty(nodes[author].order(order).await?, line);
            for (receiver, node) in nodes.iter().enumerate() {
                if receiver != author {
                    behind[receiver] +=
                        (truth - qty(node.order(order).await?, line)) / Quantity::units(1).milli();
                }
            }
        }
    }
    Ok(behind)
}
