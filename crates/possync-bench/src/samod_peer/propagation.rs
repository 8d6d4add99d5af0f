//! Edit → visible on every other spoke, samod hub-and-spoke, measured as
//! `crate::propagation` measures possync: N spokes (terminals) each edit
//! the line of one of their own orders (+1 unit) in turn at a fixed total
//! rate, moving to their next order every `EDITS_PER_ORDER` edits, and
//! every (edit, other spoke) pair gives one sample, from just before the
//! edit is handed to samod to the receiving spoke's change notification
//! (`DocHandle::changes`, no polling) showing the new quantity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use automerge::Automerge;
use futures::StreamExt;
use samod::{DocHandle, DocumentId, Repo};

use super::net::{Hub, spoke};
use crate::common::{edit_target, orders_per_author, scratch};
use crate::raw_order::{self as order, Stamp, UNIT};
use crate::stats::{Percentiles, percentiles};

/// (author spoke, its order's round, the line's quantity after the edit) →
/// when the edit was made.
type SendTimes = Arc<Mutex<HashMap<(usize, u64, i64), Instant>>>;

const LINE: &str = "line-1";

/// Percentiles and the fraction of (edit, receiver) pairs that gave a sample.
pub async fn measure(n: usize, rate: u64, seconds: u64) -> Result<(Percentiles, f64)> {
    let dir = scratch("samod-prop");
    let hub = Hub::start(&dir.join("hub")).await?;
    let mut spokes = Vec::new();
    for i in 0..n {
        spokes.push(spoke(&dir.join(format!("T{i}")), hub.addr, None).await?);
    }
    // Each spoke opens its own orders with one line each; the others fetch
    // them through the hub, so every spoke holds every order before timing.
    let total = rate * seconds;
    let rounds = orders_per_author(total, n);
    let mut own: Vec<Vec<DocHandle>> = Vec::new();
    for (i, s) in spokes.iter().enumerate() {
        let mut mine = Vec::new();
        for round in 0..rounds {
            let mut doc = Automerge::new();
            let stamp = Stamp::now(&format!("T{i}"));
            order::open(&mut doc, &format!("order-{i}-{round}"), &stamp)?;
            order::add_line(&mut doc, LINE, &stamp)?;
            mine.push(s.create(doc).await.map_err(|e| anyhow!("create: {e}"))?);
        }
        own.push(mine);
    }
    let sent: SendTimes = Arc::new(Mutex::new(HashMap::new()));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut listeners = Vec::new();
    for (j, s) in spokes.iter().enumerate() {
        for (i, docs) in own.iter().enumerate().filter(|(i, _)| *i != j) {
            for (round, doc) in docs.iter().enumerate() {
                let handle = find(s, doc.document_id()).await?;
                let of = (i, round as u64);
                listeners.push(tokio::spawn(listen(of, handle, sent.clone(), samples.clone())));
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    for k in 0..total {
        let due = start + interval.mul_f64(k as f64);
        tokio::time::sleep_until(due.into()).await;
        let i = (k as usize) % n;
        let mine = k / n as u64;
        let (round, units) = edit_target(mine);
        let qty = UNIT * units;
        let stamp = Stamp::now(&format!("T{i}"));
        sent.lock().map_err(|_| anyhow!("lock"))?.insert((i, round, qty), Instant::now());
        own[i][round as usize]
            .with_document_async(move |doc| order::change_qty(doc, LINE, UNIT, &stamp))
            .await
            .map_err(|e| anyhow!("edit: {e}"))?
            .context("edit")?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for l in listeners {
        l.abort();
    }
    for s in spokes {
        s.stop().await;
    }
    hub.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = samples.lock().map_err(|_| anyhow!("lock"))?.clone();
    let delivered = s.len() as f64 / (total as f64 * (n - 1) as f64);
    Ok((percentiles(&mut s), delivered))
}

/// Fetches an order through the hub. The hub may not have the author's
/// announcement yet (`find` then answers `None`), so this retries.
async fn find(repo: &Repo, id: &DocumentId) -> Result<DocHandle> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(handle) = repo.find(id.clone()).await.map_err(|e| anyhow!("find: {e}"))? {
            return Ok(handle);
        }
        anyhow::ensure!(Instant::now() < deadline, "order {id} not found through the hub in 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// On each change notification of the order `(author, round)`, reads its line's
/// quantity: every edit up to that quantity not seen before is visible now
/// (one notification may carry several edits when they arrive together).
async fn listen(
    (author, round): (usize, u64),
    handle: DocHandle,
    sent: SendTimes,
    samples: Arc<Mutex<Vec<Duration>>>,
) {
    let mut changes = handle.changes();
    let mut seen = UNIT;
    while changes.next().await.is_some() {
        let now = Instant::now();
        let Ok(Some(current)) = handle.with_document(|doc| order::qty(doc, LINE)) else { continue };
        let (Ok(sent), Ok(mut samples)) = (sent.lock(), samples.lock()) else { return };
        while seen < current {
            seen += UNIT;
            if let Some(t0) = sent.get(&(author, round, seen)) {
                samples.push(now - *t0);
            }
        }
    }
}
