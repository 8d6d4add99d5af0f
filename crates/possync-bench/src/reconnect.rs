//! Reconnect: two terminals share 10 orders; one goes offline
//! (`set_isolated`), both make `edits` edits while apart (spread over the
//! 10 orders, each side on its own line), the link comes back; time from
//! `set_isolated(false)` to both holding the same quantities everywhere.
//! Repeated `rounds` times on the same pair.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use possync::model::{Edit, LineId, OpenOrder, OrderId, Quantity};
use possync::{Node, SessionKey};
use serde::Serialize;

use crate::common::{new_line, scratch, spawn_node, wait_peers};

const ORDERS: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub edits_each_side: usize,
    pub offline_s: f64,
    pub rounds_ms: Vec<f64>,
    pub median_ms: f64,
    pub max_ms: f64,
}

async fn converged(nodes: &[&Node], orders: &[OrderId], want: i64) -> Result<bool> {
    for node in nodes {
        for order in orders {
            let Some(view) = node.order(order).await? else { return Ok(false) };
            for l in [1u128, 2] {
                if view.line(&LineId::from_random(l)).map(|x| x.qty.0) != Some(want) {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

pub async fn measure(edits: usize, offline: Duration, rounds: usize) -> Result<Figure> {
    let dir = scratch("reconnect");
    let key = SessionKey::generate()?;
    let a = spawn_node(&dir, "A", &key, Vec::new()).await?;
    let b = spawn_node(&dir, "B", &key, a.listen_addrs().to_vec()).await?;
    wait_peers(&[a.clone(), b.clone()], 1).await?;
    let mut orders = Vec::new();
    for _ in 0..ORDERS {
        let order = a.open_order("bench", OpenOrder::default()).await?;
        for l in [1u128, 2] {
            a.edit("bench", &order, Edit::AddLine(new_line(l))).await?;
        }
        orders.push(order);
    }
    let mut want = Quantity::units(1).0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !converged(&[&a, &b], &orders, want).await? {
        anyhow::ensure!(Instant::now() < deadline, "setup did not converge");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let per_order = edits.div_ceil(ORDERS);
    let mut rounds_ms = Vec::new();
    for _ in 0..rounds {
        b.set_isolated(true).await?;
        wait_peers(&[a.clone(), b.clone()], 0).await?;
        let t = Instant::now();
        for (node, line) in [(&a, 1u128), (&b, 2)] {
            for order in &orders {
                for _ in 0..per_order {
                    let edit = Edit::ChangeQty { line: LineId::from_random(line), delta: Quantity::units(1) };
                    node.edit("bench", order, edit).await.context("edit")?;
                }
            }
        }
        want += Quantity::units(per_order as i64).0;
        tokio::time::sleep(offline.saturating_sub(t.elapsed())).await;
        let t0 = Instant::now();
        b.set_isolated(false).await?;
        let deadline = t0 + Duration::from_secs(60);
        while !converged(&[&a, &b], &orders, want).await? {
            anyhow::ensure!(Instant::now() < deadline, "no convergence within 60 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        rounds_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    a.shutdown().await?;
    b.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut sorted = rounds_ms.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Figure {
        edits_each_side: per_order * ORDERS,
        offline_s: offline.as_secs_f64(),
        median_ms: sorted[sorted.len() / 2],
        max_ms: sorted[sorted.len() - 1],
        rounds_ms,
    })
}
