//! Catch-up: a fresh terminal joins a terminal holding N open orders of
//! ~C changes each; time from starting the fresh node until it holds every
//! order, and the bytes exchanged, counted by a TCP proxy between the two
//! (everything on the wire: pnet, Noise, Yamux, gossipsub, identify, ping,
//! catch-up), plus the catch-up message counts from the node counters.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use possync::SessionKey;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{build_orders, dir_bytes, scratch, spawn_node};

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub orders: usize,
    pub changes_per_order: usize,
    /// Building the fixture on the source terminal.
    pub build_s: f64,
    pub seconds: f64,
    pub bytes_to_joiner: u64,
    pub bytes_from_joiner: u64,
    /// Catch-up messages the joiner sent and received.
    pub messages: u64,
    /// The source's data directory over its orders.
    pub source_disk_bytes_per_order: f64,
}

/// Proxies every connection to `target`, counting bytes each way.
async fn proxy(target: SocketAddr, down: Arc<AtomicU64>, up: Arc<AtomicU64>) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(target).await else { continue };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(sr, cw, down.clone()));
            tokio::spawn(pump(cr, sw, up.clone()));
        }
    });
    Ok(addr)
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

fn tcp_addr(addr: &possync::Multiaddr) -> Option<SocketAddr> {
    use libp2p::multiaddr::Protocol;
    let (mut ip, mut port) = (None, None);
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    Some(SocketAddr::new(ip?, port?))
}

/// Measures catch-up at each size (increasing): the source grows its
/// fixture to the size, then a fresh terminal joins.
pub async fn measure(sizes: &[usize], changes: usize, concurrency: usize) -> Result<Vec<Figure>> {
    let dir = scratch("catchup");
    let key = SessionKey::generate()?;
    let source = spawn_node(&dir, "SRC", &key, Vec::new()).await?;
    let target = tcp_addr(&source.listen_addrs()[0]).context("source address")?;
    let mut figures = Vec::new();
    let mut held = 0;
    let mut build_s = 0.0;
    for (k, &size) in sizes.iter().enumerate() {
        let t = Instant::now();
        build_orders(&source, size - held, changes, concurrency).await?;
        build_s += t.elapsed().as_secs_f64();
        held = size;
        eprintln!("  fixture: {size} orders of {changes} changes built ({build_s:.1} s in all)");
        anyhow::ensure!(source.status().await?.open_orders == size, "fixture has the wrong size");

        let (down, up) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let via = proxy(target, down.clone(), up.clone()).await?;
        let t0 = Instant::now();
        let addr: possync::Multiaddr = format!("/ip4/{}/tcp/{}", via.ip(), via.port()).parse()?;
        let joiner = spawn_node(&dir, &format!("NEW{k}"), &key, vec![addr]).await?;
        let deadline = t0 + Duration::from_secs(120);
        loop {
            if joiner.status().await?.open_orders >= size {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "catch-up of {size} orders did not finish in 120 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let seconds = t0.elapsed().as_secs_f64();
        let (bytes_to_joiner, bytes_from_joiner) = (down.load(Ordering::Relaxed), up.load(Ordering::Relaxed));
        let c = joiner.status().await?.counters;
        joiner.shutdown().await?;
        figures.push(Figure {
            orders: size,
            changes_per_order: changes,
            build_s,
            seconds,
            bytes_to_joiner,
            bytes_from_joiner,
            messages: c.catchup_sent + c.catchup_received,
            source_disk_bytes_per_order: dir_bytes(&dir.join("SRC")) as f64 / size as f64,
        });
    }
    source.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(figures)
}
