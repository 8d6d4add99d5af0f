//! Latency of acknowledged API writes under load: `n` `possync demo`
//! terminals (in process, storage on), each taking `rate / n` edits a second
//! over its HTTP API (`POST /api/orders/{id}/edit`, change_qty on its own
//! orders, a new order every 48 edits), all of which every other terminal
//! receives and stores. A write's latency is from the request's first byte
//! to its `200`, which the daemon sends once the edit is durable (fsync).
//!
//! Each client keeps one connection and sends on a fixed schedule; a write
//! that starts more than one interval late, because those before it were
//! slow, is counted in `late` (its own latency still starts when it is
//! sent). The node's own histograms split the time: the commit (in the
//! store, fsync included) and the wait inside the node for it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use possync::{Histogram, Node};
use possync_daemon::demo::{self, DemoOptions};
use serde::Serialize;
use serde_json::{Value, json};

use crate::api_feed::Http;
use crate::common::EDITS_PER_ORDER;
use crate::stats::{Percentiles, percentiles};

/// One run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ApiWrites {
    pub terminals: usize,
    pub rate: u64,
    pub writes: Percentiles,
    /// Writes sent more than one interval after their scheduled time.
    pub late: usize,
    /// The terminals' durable commits during the run, and the time one
    /// takes in the store (bucket bounds of p50 / p99 from the nodes'
    /// histograms, the worst node's).
    pub commits: u64,
    pub commit_p50_ms: f64,
    pub commit_p99_ms: f64,
    /// How long an edit waited inside the node for its durable commit
    /// (bucket bounds of p50 / p99, the worst node's).
    pub ack_wait_p50_ms: f64,
    pub ack_wait_p99_ms: f64,
}

/// Options of `api-write`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `possync demo` terminals, each taking its share of the writes.
    #[arg(long, default_value_t = 5)]
    terminals: usize,
    /// API edits per second, over all terminals.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// How long to send edits.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

pub async fn run(args: Args) -> Result<()> {
    let Args { terminals, rate, seconds } = args;
    let r = measure(terminals, rate, seconds).await?;
    println!(
        "| terminals | API edits/s (all) | writes | late | p50 ms | p90 ms | p99 ms | max ms | commits | commit p50 ≤ ms | commit p99 ≤ ms | in-node wait p50 ≤ ms | in-node wait p99 ≤ ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let w = r.writes;
    println!(
        "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
        r.terminals,
        r.rate,
        w.samples,
        r.late,
        w.p50_ms,
        w.p90_ms,
        w.p99_ms,
        w.max_ms,
        r.commits,
        r.commit_p50_ms,
        r.commit_p99_ms,
        r.ack_wait_p50_ms,
        r.ack_wait_p99_ms
    );
    Ok(())
}

pub async fn measure(n: usize, rate: u64, seconds: u64) -> Result<ApiWrites> {
    let dir = std::env::temp_dir().join(format!("possync-bench-api-write-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = DemoOptions {
        terminals: n,
        base_port: 0,
        data_dir: Some(dir.clone()),
        rush: None,
        sinks: Vec::new(),
        // Free-text users and menu lines: the same writes as before there
        // was a catalogue.
        catalogue: false,
    };
    let (terminals, _) = demo::start(&opts).await?;
    let nodes: Vec<Node> = terminals.iter().map(|t| t.node.clone()).collect();
    crate::common::wait_peers(&nodes, n - 1).await?;
    let before = commit_counts(&nodes).await?;

    let per_terminal = rate as f64 / n as f64;
    let mut clients = Vec::new();
    for t in &terminals {
        let http = Http::connect(t.api).await?;
        clients.push(tokio::spawn(client(http, per_terminal, seconds)));
    }
    let mut samples = Vec::new();
    let mut late = 0;
    for c in clients {
        let (s, l) = c.await??;
        samples.extend(s);
        late += l;
    }
    let figures = commit_figures(&nodes, &before).await?;
    for t in &terminals {
        t.node.shutdown().await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ApiWrites {
        terminals: n,
        rate,
        writes: percentiles(&mut samples),
        late,
        commits: figures.0,
        commit_p50_ms: figures.1[0],
        commit_p99_ms: figures.1[1],
        ack_wait_p50_ms: figures.1[2],
        ack_wait_p99_ms: figures.1[3],
    })
}

/// One terminal's writer: `rate` edits a second for `seconds`, each timed.
async fn client(mut http: Http, rate: f64, seconds: u64) -> Result<(Vec<Duration>, usize)> {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = (rate * seconds as f64) as u64;
    let mut samples = Vec::with_capacity(total as usize);
    let mut late = 0;
    let mut target: Option<(String, String)> = None;
    let start = Instant::now();
    for k in 0..total {
        let due = start + interval.mul_f64(k as f64);
        if Instant::now() > due + interval {
            late += 1;
        }
        tokio::time::sleep_until(due.into()).await;
        // A new order every EDITS_PER_ORDER edits: opening it and its line
        // are writes like the others.
        let (order, line) = match &target {
            Some(t) if k % EDITS_PER_ORDER != 0 => t.clone(),
            _ => {
                let sent = Instant::now();
                let order = http.post("/api/orders", &json!({"user": "bench", "table": "T1"})).await?;
                samples.push(sent.elapsed());
                let id = order["id"].as_str().context("order id")?.to_owned();
                let add = json!({"user": "bench", "edit": {"op": "add_line", "product": "espresso", "display_name": "Espresso", "qty": 1, "unit_price": 250}});
                let sent = Instant::now();
                let v: Value = http.post(&format!("/api/orders/{id}/edit"), &add).await?;
                samples.push(sent.elapsed());
                let line = v["order"]["lines"][0]["id"].as_str().context("line id")?.to_owned();
                target = Some((id, line));
                target.clone().context("just set")?
            }
        };
        let edit = json!({"user": "bench", "edit": {"op": "change_qty", "line": line, "delta": 1}});
        let sent = Instant::now();
        http.post(&format!("/api/orders/{order}/edit"), &edit).await?;
        samples.push(sent.elapsed());
    }
    Ok((samples, late))
}

/// Each node's durable commits so far.
async fn commit_counts(nodes: &[Node]) -> Result<Vec<u64>> {
    let mut counts = Vec::new();
    for node in nodes {
        counts.push(node.status().await?.counters.store_commits);
    }
    Ok(counts)
}

/// Durable commits since `before`, and from the nodes' histograms (the
/// worst node's): commit time p50, p99, then the wait for it p50, p99.
async fn commit_figures(nodes: &[Node], before: &[u64]) -> Result<(u64, [f64; 4])> {
    let (mut commits, mut q) = (0, [0f64; 4]);
    for (node, before) in nodes.iter().zip(before) {
        let s = node.status().await?;
        commits += s.counters.store_commits - before;
        let mine = [
            bucket_bound_ms(&s.commit_latency, 0.5),
            bucket_bound_ms(&s.commit_latency, 0.99),
            bucket_bound_ms(&s.ack_wait, 0.5),
            bucket_bound_ms(&s.ack_wait, 0.99),
        ];
        for (q, m) in q.iter_mut().zip(mine) {
            *q = q.max(m);
        }
    }
    Ok((commits, q))
}

/// The upper bound of the histogram bucket holding quantile `q`, in ms
/// (infinite above the last bound).
fn bucket_bound_ms(h: &Histogram, q: f64) -> f64 {
    let rank = (h.count as f64 * q).ceil() as u64;
    let mut seen = 0;
    for (i, count) in h.counts.iter().enumerate() {
        seen += count;
        if seen >= rank.max(1) {
            return h.bounds_us.get(i).map_or(f64::INFINITY, |&us| us as f64 / 1000.0);
        }
    }
    f64::NAN
}
