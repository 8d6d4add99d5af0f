//! Shared helpers: terminals in a mesh, order fixtures, process readings.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use possync::model::{Edit, LineId, Money, NewLine, OpenOrder, OrderId, Quantity, TerminalId};
use possync::{Multiaddr, Node, SessionKey};

/// A scratch directory under the system temp dir, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("possync-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// One terminal with storage in `dir/<terminal>`.
pub async fn spawn_node(dir: &Path, name: &str, key: &SessionKey, peers: Vec<Multiaddr>) -> Result<Node> {
    let terminal = TerminalId::parse(name)?;
    Ok(Node::builder("bench", terminal.clone(), dir.join(terminal.as_str()))
        .session_key(key.clone())
        .peers(peers)
        .spawn()
        .await?)
}

/// `n` terminals, each dialling the ones before it, connected to each other.
pub async fn mesh(dir: &Path, n: usize, key: &SessionKey) -> Result<Vec<Node>> {
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..n {
        let peers: Vec<_> = nodes.iter().flat_map(|p| p.listen_addrs().to_vec()).collect();
        nodes.push(spawn_node(dir, &format!("T{i}"), key, peers).await?);
    }
    wait_peers(&nodes, n - 1).await?;
    Ok(nodes)
}

/// Waits until every node has `peers` peers (30 s at most).
pub async fn wait_peers(nodes: &[Node], peers: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut ok = true;
        for node in nodes {
            ok &= node.status().await?.peers.len() == peers;
        }
        if ok {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "terminals did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn new_line(seed: u128) -> NewLine {
    NewLine {
        id: LineId::from_random(seed),
        product: "espresso".into(),
        display_name: "Espresso".into(),
        qty: Quantity::units(1),
        unit_price: Money(250),
        discount: Default::default(),
        note: String::new(),
        ext: Default::default(),
        taxes: Vec::new(),
    }
}

/// Quantity changes made to one order before a terminal moves on to its
/// next one in the propagation and throughput runs: with its opening and
/// its line, an order of 50 changes, the size of the catch-up fixture's
/// orders. A real order never takes hundreds of edits, and Automerge's cost
/// to apply one grows with the order's history, so one order edited for the
/// whole run would measure the history, not the terminals.
pub const EDITS_PER_ORDER: u64 = 48;

/// Orders each of `authors` opens for a run of `total` edits among them.
pub fn orders_per_author(total: u64, authors: usize) -> u64 {
    total.div_ceil(authors as u64).div_ceil(EDITS_PER_ORDER).max(1)
}

/// Where an author's edit number `mine` (from 0) goes: the index of its
/// order, and the line's quantity after it, in units (a line starts at 1).
pub fn edit_target(mine: u64) -> (u64, i64) {
    (mine / EDITS_PER_ORDER, 2 + (mine % EDITS_PER_ORDER) as i64)
}

/// Lines per fixture order; the rest of its changes are quantity changes.
const FIXTURE_LINES: usize = 5;

/// Opens `orders` orders of about `changes` changes each on `node` (open, up
/// to 5 lines, then quantity changes), with `concurrency` orders in flight
/// so that the node commits them in groups. Returns the ids.
pub async fn build_orders(
    node: &Node,
    orders: usize,
    changes: usize,
    concurrency: usize,
) -> Result<Vec<OrderId>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (node, next) = (node.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < orders {
                ids.push(build_order(&node, changes).await?);
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::with_capacity(orders);
    for t in tasks {
        ids.extend(t.await??);
    }
    Ok(ids)
}

/// One order of `changes` changes (at least 2: open and one line).
pub async fn build_order(node: &Node, changes: usize) -> Result<OrderId> {
    let order = node.open_order("bench", OpenOrder::default()).await.context("open")?;
    let lines = FIXTURE_LINES.min(changes.saturating_sub(1)).max(1);
    for l in 0..lines {
        node.edit("bench", &order, Edit::AddLine(new_line(l as u128 + 1))).await.context("add line")?;
    }
    for k in 0..changes.saturating_sub(1 + lines) {
        let line = LineId::from_random((k % lines) as u128 + 1);
        node.edit("bench", &order, Edit::ChangeQty { line, delta: Quantity::units(1) })
            .await
            .context("change qty")?;
    }
    Ok(order)
}

/// Resident set size of this process, KiB.
pub fn vm_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}

/// User + system CPU time of this process (all threads, living and ended),
/// from `/proc/self/stat`, in microseconds (clock-tick resolution).
pub fn cpu_time_us() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let rest = &stat[stat.rfind(')').context("stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    Ok(ticks as f64 * 1e6 / clock_ticks() as f64)
}

fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Total size of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
