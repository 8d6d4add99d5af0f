//! Helpers for in-process multi-terminal tests over real libp2p on loopback.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use possync::model::{Edit, LineId, Money, NewLine, OrderId, Quantity, TerminalId};
use possync::{Multiaddr, Node, SessionKey};

pub mod proxy;

pub use tempfile::TempDir;

/// A scratch directory named after the test, removed when dropped.
pub fn temp_dir(tag: &str) -> TempDir {
    tempfile::Builder::new().prefix(&format!("possync-{tag}-")).tempdir().unwrap()
}

pub fn terminal(name: &str) -> TerminalId {
    TerminalId::parse(name).unwrap()
}

pub fn key() -> SessionKey {
    SessionKey::from_bytes([42; 32])
}

/// The multi-session of every terminal [`start`] starts.
pub const SESSION: &str = "test";

/// Starts a terminal of session [`SESSION`] on loopback, dialling `peers`.
pub async fn start(name: &str, dir: &Path, peers: &[Multiaddr]) -> Node {
    Node::builder(SESSION, terminal(name), dir.join(name))
        .session_key(key())
        .peers(peers.iter().cloned())
        .spawn()
        .await
        .unwrap()
}

/// Starts `names` as a full mesh (each dials all started before it).
pub async fn mesh(names: &[&str], dir: &Path) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for name in names {
        let peers: Vec<Multiaddr> = nodes.iter().flat_map(|n| n.listen_addrs().to_vec()).collect();
        nodes.push(start(name, dir, &peers).await);
    }
    wait_for_peers(&nodes, names.len() - 1).await;
    nodes
}

pub async fn wait_for_peers(nodes: &[Node], n: usize) {
    eventually(Duration::from_secs(20), "every node connected", || async {
        for node in nodes {
            if node.status().await.unwrap().peers.len() < n {
                return false;
            }
        }
        true
    })
    .await;
}

/// Polls `check` every 20 ms until it holds, or panics after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The JSON of every order (open and archived) a node holds, by id.
pub async fn snapshot(node: &Node) -> String {
    let views = node.orders(true).await.unwrap();
    serde_json::to_string(&views).unwrap()
}

/// Waits until every node holds exactly the same orders, then returns them.
pub async fn converged(nodes: &[Node], limit: Duration) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let first = snapshot(&nodes[0]).await;
        let mut same = true;
        for n in &nodes[1..] {
            same &= snapshot(n).await == first;
        }
        if same {
            return first;
        }
        if tokio::time::Instant::now() >= deadline {
            let mut report = String::new();
            for n in nodes {
                let s = n.status().await.unwrap();
                let orders = n.orders(true).await.unwrap();
                let lines: usize = orders.iter().map(|o| o.lines.len()).sum();
                report += &format!(
                    "\n  {}: {:?}, {} peers, {} orders, {} lines, {:?}",
                    n.terminal(),
                    s.connectivity,
                    s.peers.len(),
                    orders.len(),
                    lines,
                    s.counters
                );
            }
            panic!("terminals did not converge within {limit:?}:{report}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

static LINE_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub fn line(product: &str, qty: i64, price: i64) -> NewLine {
    let n = LINE_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = LineId::from_random(u128::from(n) << 64 | u128::from(std::process::id()));
    NewLine::new(id, product, product, Quantity::units(qty), Money(price))
}

pub async fn add_line(node: &Node, order: &OrderId, product: &str) -> LineId {
    let l = line(product, 1, 500);
    let id = l.id.clone();
    node.edit("tester", order, Edit::AddLine(l)).await.unwrap();
    id
}
