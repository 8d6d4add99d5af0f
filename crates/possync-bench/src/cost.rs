//! Cost of a terminal: CPU per applied remote change, memory and disk per
//! open order, durable-acknowledgement latency.
//!
//! CPU and memory are measured in child processes (this binary's hidden
//! `child-cpu` and `child-rss` subcommands) so the figures hold one
//! terminal only.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use possync::model::{Edit, LineId, OpenOrder, Quantity};
use possync::{Multiaddr, SessionKey};
use serde::Serialize;

use crate::common::{
    build_order, build_orders, cpu_time_us, dir_bytes, new_line, scratch, spawn_node, vm_rss_kib,
};
use crate::stats::{Percentiles, percentiles};

/// Durable ack: `Node::edit` calls one at a time on a single terminal with
/// storage (each waits for its own fsync: no group commit helps).
pub async fn durable_ack(edits: usize) -> Result<Percentiles> {
    let dir = scratch("ack");
    let key = SessionKey::generate()?;
    let node = spawn_node(&dir, "A", &key, Vec::new()).await?;
    let order = build_order(&node, 2).await?;
    let line = LineId::from_random(1);
    let mut samples = Vec::with_capacity(edits);
    for _ in 0..edits {
        let t0 = Instant::now();
        node.edit("bench", &order, Edit::ChangeQty { line: line.clone(), delta: Quantity::units(1) }).await?;
        samples.push(t0.elapsed());
    }
    node.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(percentiles(&mut samples))
}

#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    pub changes: u64,
    pub cpu_us: f64,
    pub us_per_change: f64,
}

/// Runs a child with `args`, returning its stdout lines as they come.
pub(crate) fn child(args: &[String]) -> Result<(std::process::Child, std::sync::mpsc::Receiver<String>)> {
    let mut c = Command::new(std::env::current_exe()?)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let out = c.stdout.take().context("child stdout")?;
    Ok((c, lines_of(out)))
}

/// A child's output, line by line as it comes (read on a thread of its own).
pub(crate) fn lines_of(out: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub(crate) async fn next_line(rx: &std::sync::mpsc::Receiver<String>, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        match rx.try_recv() {
            Ok(l) => return Ok(l),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => bail!("child exited early"),
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
        anyhow::ensure!(Instant::now() < deadline, "child did not answer in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// CPU per remote change: this process's terminal makes `changes` changes
/// (one order per 50 changes, then quantity changes, `rate` per second,
/// one at a time); a child terminal receives them by gossip and reports its
/// own CPU time.
pub async fn cpu_per_remote_change(changes: usize, rate: u64) -> Result<Cpu> {
    let dir = scratch("cpu");
    let key = SessionKey::generate()?;
    std::fs::create_dir_all(&dir)?;
    let key_file = dir.join("session.key");
    key.save(&key_file)?;
    let node = spawn_node(&dir, "SENDER", &key, Vec::new()).await?;
    let args = vec![
        "child-cpu".into(),
        "--peer".into(),
        node.listen_addrs()[0].to_string(),
        "--key".into(),
        key_file.display().to_string(),
        "--dir".into(),
        dir.join("RECEIVER").display().to_string(),
        "--expect".into(),
        changes.to_string(),
    ];
    let (mut proc, rx) = child(&args)?;
    anyhow::ensure!(next_line(&rx, Duration::from_secs(60)).await? == "READY", "child not ready");
    // Orders of ~50 changes each at the end, as in a typical day.
    let orders = (changes / 50).max(1);
    let mut ids = Vec::new();
    for _ in 0..orders {
        let order = node.open_order("bench", OpenOrder::default()).await?;
        node.edit("bench", &order, Edit::AddLine(new_line(1))).await?;
        ids.push(order);
    }
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    for k in 0..changes.saturating_sub(2 * orders) {
        tokio::time::sleep_until((start + interval.mul_f64(k as f64)).into()).await;
        let edit = Edit::ChangeQty { line: LineId::from_random(1), delta: Quantity::units(1) };
        node.edit("bench", &ids[k % orders], edit).await?;
    }
    let line = next_line(&rx, Duration::from_secs(60)).await?;
    let _ = proc.wait();
    node.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut f = line.split_whitespace();
    anyhow::ensure!(f.next() == Some("CPU"), "unexpected child output {line:?}");
    let received: u64 = f.next().context("count")?.parse()?;
    let cpu_us: f64 = f.next().context("cpu")?.parse()?;
    Ok(Cpu { changes: received, cpu_us, us_per_change: cpu_us / received.max(1) as f64 })
}

/// The `child-cpu` subcommand: one terminal dialling `--peer`; prints
/// `READY` once connected, then `CPU <remote changes> <cpu µs>` once
/// `--expect` remote changes arrived (or none arrived for 5 s), the CPU
/// time counted from READY to the last change.
pub async fn child_cpu(args: ChildCpuArgs) -> Result<()> {
    let ChildCpuArgs { peer, key, dir, expect } = args;
    let key = SessionKey::load(&key)?;
    let node = spawn_node(&dir, "RECEIVER", &key, vec![peer]).await?;
    crate::common::wait_peers(std::slice::from_ref(&node), 1).await?;
    // The gossip subscriptions follow the connection by a few ms.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Gossip messages, not change events: changes that arrive together
    // are applied in one merge and shown in one event.
    let base = node.status().await?.counters.gossip_received;
    let cpu0 = cpu_time_us()?;
    println!("READY");
    let (mut seen, mut cpu_at, mut last_news) = (0, cpu0, Instant::now());
    while seen < expect && last_news.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = node.status().await?.counters.gossip_received - base;
        if now > seen {
            seen = now;
            cpu_at = cpu_time_us()?;
            last_news = Instant::now();
        }
    }
    println!("CPU {seen} {:.0}", cpu_at - cpu0);
    node.shutdown().await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub orders: usize,
    pub changes_per_order: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub rss_kib_per_order: f64,
    pub disk_bytes: u64,
    pub disk_bytes_per_order: f64,
}

/// RSS and disk per open order, in a child process holding one terminal.
pub async fn memory(orders: usize, changes: usize) -> Result<Memory> {
    let dir = scratch("rss");
    let args = vec![
        "child-rss".into(),
        "--orders".into(),
        orders.to_string(),
        "--changes".into(),
        changes.to_string(),
        "--dir".into(),
        dir.display().to_string(),
    ];
    let (mut proc, rx) = child(&args)?;
    let line = next_line(&rx, Duration::from_secs(1800)).await?;
    let _ = proc.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let f: Vec<u64> = line.split_whitespace().skip(1).map(str::parse).collect::<Result<_, _>>()?;
    anyhow::ensure!(line.starts_with("RSS ") && f.len() == 3, "unexpected child output {line:?}");
    Ok(Memory {
        orders,
        changes_per_order: changes,
        rss_before_kib: f[0],
        rss_after_kib: f[1],
        rss_kib_per_order: (f[1] as f64 - f[0] as f64) / orders as f64,
        disk_bytes: f[2],
        disk_bytes_per_order: f[2] as f64 / orders as f64,
    })
}

/// The `child-rss` subcommand: prints `RSS <before KiB> <after KiB> <disk bytes>`.
pub async fn child_rss(args: ChildRssArgs) -> Result<()> {
    let ChildRssArgs { orders, changes, dir } = args;
    let key = SessionKey::generate()?;
    let node = spawn_node(&dir, "A", &key, Vec::new()).await?;
    // A warm-up order, so the runtime, store and caches are in place.
    build_order(&node, changes).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = vm_rss_kib()?;
    build_orders(&node, orders, changes, 64).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = vm_rss_kib()?;
    node.shutdown().await?;
    println!("RSS {before} {after} {}", dir_bytes(&dir));
    Ok(())
}

/// Idle CPU of connected terminals with nothing to do.
#[derive(Debug, Clone, Serialize)]
pub struct Idle {
    pub terminals: usize,
    pub seconds: u64,
    /// Process CPU (user + system) over the window, in percent of one core.
    pub percent_of_a_core: f64,
}

/// Idle CPU, in a child process holding `terminals` connected terminals,
/// measured over `seconds` after they settled.
pub async fn idle(terminals: usize, seconds: u64) -> Result<Idle> {
    let dir = scratch("idle");
    let args = vec![
        "child-idle".into(),
        "--nodes".into(),
        terminals.to_string(),
        "--seconds".into(),
        seconds.to_string(),
        "--dir".into(),
        dir.display().to_string(),
    ];
    let (mut proc, rx) = child(&args)?;
    let line = next_line(&rx, Duration::from_secs(seconds + 120)).await?;
    let _ = proc.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let cpu_us: f64 = match line.strip_prefix("IDLE ") {
        Some(v) => v.trim().parse()?,
        None => anyhow::bail!("unexpected child output {line:?}"),
    };
    Ok(Idle { terminals, seconds, percent_of_a_core: cpu_us / (seconds as f64 * 1e6) * 100.0 })
}

/// The `child-idle` subcommand: connects `--nodes` terminals, lets them
/// settle for 2 s, then prints `IDLE <CPU µs used over --seconds>`.
pub async fn child_idle(args: ChildIdleArgs) -> Result<()> {
    let ChildIdleArgs { nodes: n, seconds, dir } = args;
    let used = idle_cpu_us(&dir, n, seconds).await?;
    println!("IDLE {used}");
    Ok(())
}

/// Process CPU, in µs, of `n` connected terminals holding an order each,
/// with nothing to do, over `seconds` (in a scratch directory).
pub async fn idle_in_process(n: usize, seconds: u64) -> Result<f64> {
    let dir = scratch("idle");
    let used = idle_cpu_us(&dir, n, seconds).await;
    let _ = std::fs::remove_dir_all(&dir);
    used
}

async fn idle_cpu_us(dir: &std::path::Path, n: usize, seconds: u64) -> Result<f64> {
    let key = SessionKey::generate()?;
    let nodes = crate::common::mesh(dir, n, &key).await?;
    // Every terminal holds an order, as on a floor between rushes.
    for node in &nodes {
        build_order(node, 10).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = cpu_time_us()?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let used = cpu_time_us()? - before;
    for node in &nodes {
        node.shutdown().await?;
    }
    Ok(used)
}

/// Options of the `child-cpu` subcommand.
#[derive(Debug, clap::Args)]
pub struct ChildCpuArgs {
    #[arg(long)]
    peer: Multiaddr,
    /// The multi-session key file.
    #[arg(long)]
    key: PathBuf,
    #[arg(long)]
    dir: PathBuf,
    /// Remote changes to wait for.
    #[arg(long)]
    expect: u64,
}

/// Options of the `child-rss` subcommand.
#[derive(Debug, clap::Args)]
pub struct ChildRssArgs {
    #[arg(long, default_value_t = 1000)]
    orders: usize,
    #[arg(long, default_value_t = 50)]
    changes: usize,
    #[arg(long)]
    dir: PathBuf,
}

/// Options of the `child-idle` subcommand.
#[derive(Debug, clap::Args)]
pub struct ChildIdleArgs {
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long)]
    dir: PathBuf,
}
