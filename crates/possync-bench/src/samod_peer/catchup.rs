//! Catch-up, samod hub-and-spoke, next to `crate::catchup` for possync: the
//! hub holds N orders of ~C changes each; a fresh spoke connects and fetches
//! every one (`Repo::find`, all at once). Time from creating the spoke's
//! repo until every `find` has answered, and the bytes on its TCP stream
//! (samod's length-delimited frames; no encryption, unlike possync's pnet +
//! Noise).
//!
//! samod syncs documents a peer asks for by id; it has no "every document"
//! request. The spoke is handed the ids out of band here, which is the
//! cheapest way to know them (an app would typically read them from an index
//! document first: one more round trip).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use automerge::Automerge;
use futures::StreamExt;
use samod::DocHandle;
use serde::Serialize;

use super::net::{Counters, Hub, spoke};
use crate::common::{dir_bytes, scratch};
use crate::raw_order::{self as order, Stamp};

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub orders: usize,
    pub changes_per_order: usize,
    /// Building the fixture on the hub.
    pub build_s: f64,
    pub seconds: f64,
    pub bytes_to_joiner: u64,
    pub bytes_from_joiner: u64,
    /// The hub's storage directory over its orders.
    pub hub_disk_bytes_per_order: f64,
    /// The joiner's storage directory over its orders, after catching up.
    pub joiner_disk_bytes_per_order: f64,
}

/// Orders built on the hub at once while growing the fixture.
const BUILD_CONCURRENCY: usize = 64;

/// Measures catch-up at each size (increasing): the hub grows its fixture to
/// the size, then a fresh spoke joins.
pub async fn measure(sizes: &[usize], changes: usize) -> Result<Vec<Figure>> {
    let dir = scratch("samod-catchup");
    let hub = Hub::start(&dir.join("hub")).await?;
    let mut held: Vec<DocHandle> = Vec::new();
    let mut figures = Vec::new();
    let mut build_s = 0.0;
    for (k, &size) in sizes.iter().enumerate() {
        let t = Instant::now();
        let repo = hub.repo.clone();
        let built: Vec<Result<DocHandle>> = futures::stream::iter(held.len()..size)
            .map(|o| {
                let repo = repo.clone();
                async move {
                    // Each order is built whole, then handed to the hub: the
                    // hub holds the same history as if a spoke had made it.
                    let mut doc = Automerge::new();
                    order::build(&mut doc, &format!("order-{o}"), changes, &Stamp::now("HUB"))?;
                    repo.create(doc).await.map_err(|e| anyhow!("create: {e}"))
                }
            })
            .buffer_unordered(BUILD_CONCURRENCY)
            .collect()
            .await;
        for b in built {
            held.push(b?);
        }
        build_s += t.elapsed().as_secs_f64();
        eprintln!("  samod fixture: {size} orders of {changes} changes built ({build_s:.1} s in all)");

        let counters = Arc::new(Counters::default());
        let joiner_dir = dir.join(format!("NEW{k}"));
        let t0 = Instant::now();
        let joiner = spoke(&joiner_dir, hub.addr, Some(counters.clone())).await?;
        // All at once, as an app opening every order would; 16, 64 or 256
        // in flight were no faster (the hub's per-event cost, not the
        // requests in flight, sets the pace).
        let finds = futures::future::join_all(held.iter().map(|h| joiner.find(h.document_id().clone())));
        let found = tokio::time::timeout(Duration::from_secs(1800), finds)
            .await
            .with_context(|| format!("catch-up of {size} orders did not finish in 30 min"))?;
        let seconds = t0.elapsed().as_secs_f64();
        let (bytes_to_joiner, bytes_from_joiner) =
            (counters.down.load(Ordering::Relaxed), counters.up.load(Ordering::Relaxed));
        // Not timed: every order arrived whole (the hub's heads).
        for (f, h) in found.into_iter().zip(&held) {
            let f = f.map_err(|e| anyhow!("find: {e}"))?;
            let f = f.with_context(|| format!("the hub did not give order {}", h.document_id()))?;
            let heads = f.with_document(|d| d.get_heads());
            anyhow::ensure!(
                heads == h.with_document(|d| d.get_heads()),
                "order {} incomplete",
                h.document_id()
            );
        }
        joiner.stop().await;
        figures.push(Figure {
            orders: size,
            changes_per_order: changes,
            build_s,
            seconds,
            bytes_to_joiner,
            bytes_from_joiner,
            hub_disk_bytes_per_order: dir_bytes(&dir.join("hub")) as f64 / size as f64,
            joiner_disk_bytes_per_order: dir_bytes(&joiner_dir) as f64 / size as f64,
        });
    }
    hub.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(figures)
}
