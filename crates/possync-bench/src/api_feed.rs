//! API edit on one terminal → WebSocket event on the others, through the
//! daemon's HTTP API and change feed (`possync demo` terminals, in process,
//! storage on). Each edit is `POST /api/orders/{id}/edit` (change_qty +1 on
//! the sender's own order) over a kept-alive HTTP/1.1 connection; a receiver
//! knows which edit it sees from the quantity in the event's order view.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use possync_daemon::demo::{self, DemoOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::stats::{Percentiles, percentiles};

/// Options of `api-feed`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `possync demo` terminals.
    #[arg(long, default_value_t = 3)]
    terminals: usize,
    /// API edits per second, over all terminals.
    #[arg(long, default_value_t = 50)]
    rate: u64,
    /// How long to send edits.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

pub async fn run(args: Args) -> Result<()> {
    let Args { terminals, rate, seconds } = args;
    let p = measure(terminals, rate, seconds).await?;
    println!("| terminals | edits/s | samples | p50 ms | p90 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {terminals} | {rate} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
        p.samples, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
    );
    Ok(())
}

/// A kept-alive HTTP/1.1 connection for JSON POSTs.
pub(crate) struct Http {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Http {
    pub(crate) async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http { addr, reader: BufReader::new(stream) })
    }

    pub(crate) async fn post(&mut self, path: &str, body: &Value) -> Result<Value> {
        let body = body.to_string();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.reader.get_mut().write_all(req.as_bytes()).await?;
        let mut status = String::new();
        self.reader.read_line(&mut status).await?;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse()?;
            }
        }
        let mut buf = vec![0u8; length];
        self.reader.read_exact(&mut buf).await?;
        if !status.contains(" 200 ") && !status.contains(" 201 ") {
            bail!("{path}: {status}: {}", String::from_utf8_lossy(&buf));
        }
        Ok(serde_json::from_slice(&buf)?)
    }
}

pub async fn measure(n: usize, rate: u64, seconds: u64) -> Result<Percentiles> {
    let dir = std::env::temp_dir().join(format!("possync-bench-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = DemoOptions {
        terminals: n,
        base_port: 0,
        data_dir: Some(dir.clone()),
        rush: None,
        sinks: Vec::new(),
        // The bench's user and menu line are free text.
        catalogue: false,
    };
    let (terminals, _) = demo::start(&opts).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut ok = true;
        for t in &terminals {
            ok &= t.node.status().await?.peers.len() + 1 == n;
        }
        if ok {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "terminals did not connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The sender's order and line, on terminal 0.
    let mut http = Http::connect(terminals[0].api).await?;
    let order = http.post("/api/orders", &json!({"user": "bench", "table": "T1"})).await?;
    let id = order["id"].as_str().context("order id")?.to_owned();
    let add = json!({"user": "bench", "edit": {"op": "add_line", "product": "espresso", "display_name": "Espresso", "qty": 1000, "unit_price": 250}});
    let v = http.post(&format!("/api/orders/{id}/edit"), &add).await?;
    let line = v["order"]["lines"][0]["id"].as_str().context("line id")?.to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let sent: Arc<Mutex<HashMap<i64, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut feeds = Vec::new();
    for t in &terminals[1..] {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/events", t.api)).await?;
        let (sent, samples, id, line) = (sent.clone(), samples.clone(), id.clone(), line.clone());
        feeds.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let now = Instant::now();
                let Ok(text) = msg.into_text() else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                if v["event"] != "order_changed" || v["order"] != id.as_str() {
                    continue;
                }
                let lines = v["view"]["lines"].as_array().cloned().unwrap_or_default();
                let Some(qty) =
                    lines.iter().find(|l| l["id"] == line.as_str()).and_then(|l| l["qty"].as_i64())
                else {
                    continue;
                };
                if let Some(t0) = sent.lock().ok().and_then(|s| s.get(&qty).copied())
                    && let Ok(mut s) = samples.lock()
                {
                    s.push(now - t0);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut qty = 1000i64;
    let edit = json!({"user": "bench", "edit": {"op": "change_qty", "line": line, "delta": 1000}});
    for k in 0..rate * seconds {
        tokio::time::sleep_until((start + interval * k as u32).into()).await;
        qty += 1000;
        sent.lock().map_err(|_| anyhow::anyhow!("lock"))?.insert(qty, Instant::now());
        http.post(&format!("/api/orders/{id}/edit"), &edit).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for f in feeds {
        f.abort();
    }
    for t in &terminals {
        t.node.shutdown().await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = samples.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();

    Ok(percentiles(&mut s))
}
