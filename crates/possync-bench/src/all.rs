//! `all`: every benchmark in one run, possync next to the floor (the bare
//! network stack), a table of figures with ratios and targets, and JSON.
//! `--quick` runs tiny sizes so CI can check that every figure is produced.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use crate::stats::Percentiles;
use crate::throughput::{Plan, search};
use crate::{api_feed, catchup, cost, flag, floor, propagation, reconnect};

struct Params {
    /// (role, terminals) of the three propagation rows.
    prop: [(&'static str, usize); 3],
    rate: u64,
    seconds: u64,
    api_terminals: usize,
    tput_terminals: usize,
    tput: Plan,
    tput_seconds: u64,
    catchup: [(&'static str, usize); 2],
    catchup_changes: usize,
    reconnect_edits: usize,
    reconnect_offline: Duration,
    reconnect_rounds: usize,
    ack_edits: usize,
    cpu_changes: usize,
    rss_orders: usize,
    rss_changes: usize,
}

fn params(quick: bool) -> Params {
    if quick {
        Params {
            prop: [("small", 2), ("medium", 3), ("large", 4)],
            rate: 20,
            seconds: 1,
            api_terminals: 2,
            tput_terminals: 3,
            tput: Plan { start: 20, max: 40, bisect: 0, p99_bound_ms: 10.0 },
            tput_seconds: 1,
            catchup: [("small", 20), ("large", 50)],
            catchup_changes: 5,
            reconnect_edits: 20,
            reconnect_offline: Duration::from_millis(300),
            reconnect_rounds: 1,
            ack_edits: 20,
            cpu_changes: 30,
            rss_orders: 20,
            rss_changes: 5,
        }
    } else {
        Params {
            prop: [("small", 2), ("medium", 5), ("large", 10)],
            rate: 100,
            seconds: 10,
            api_terminals: 5,
            tput_terminals: 5,
            tput: Plan { start: 100, max: 6400, bisect: 2, p99_bound_ms: 10.0 },
            tput_seconds: 5,
            catchup: [("small", 1000), ("large", 10_000)],
            catchup_changes: 50,
            reconnect_edits: 100,
            reconnect_offline: Duration::from_secs(5),
            reconnect_rounds: 3,
            ack_edits: 2000,
            cpu_changes: 3000,
            rss_orders: 1000,
            rss_changes: 50,
        }
    }
}

#[derive(Default)]
struct Report {
    figures: BTreeMap<String, f64>,
    rows: Vec<[String; 6]>,
}

impl Report {
    fn fig(&mut self, key: &str, v: f64) {
        self.figures.insert(key.to_owned(), v);
    }
    fn latency(&mut self, key: &str, p: &Percentiles) {
        self.fig(&format!("{key}.p50_ms"), p.p50_ms);
        self.fig(&format!("{key}.p90_ms"), p.p90_ms);
        self.fig(&format!("{key}.p99_ms"), p.p99_ms);
        self.fig(&format!("{key}.max_ms"), p.max_ms);
    }
    fn row(&mut self, cells: [String; 6]) {
        println!("| {} |", cells.join(" | "));
        self.rows.push(cells);
    }
}

fn lat(p: &Percentiles) -> String {
    format!("{:.2} / {:.2} / {:.2} / {:.2} ms", p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

pub async fn run(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let json_path: String = flag(args, "--json", "possync-bench.json".to_owned())?;
    let p = params(quick);
    let started = Instant::now();
    let mut r = Report::default();
    let mut detail = serde_json::Map::new();
    let stage = |name: &str| eprintln!("[{:6.1} s] {name}", started.elapsed().as_secs_f64());

    println!("| figure | possync | floor | possync/floor | target | |");
    println!("| --- | --- | --- | --- | --- | --- |");

    // 1. Propagation, possync and floor, and API → WebSocket.
    for (role, n) in p.prop {
        stage(&format!("propagation, {n} terminals"));
        let (ps, delivered) = propagation::measure_with(n, p.rate, p.seconds, false).await?;
        stage(&format!("floor propagation, {n} swarms"));
        let (fl, fdelivered) = floor::measure(n, p.rate, p.seconds).await?;
        let ratio = ps.p99_ms / fl.p99_ms;
        r.latency(&format!("propagation.{role}"), &ps);
        r.fig(&format!("propagation.{role}.delivered"), delivered);
        r.latency(&format!("floor.propagation.{role}"), &fl);
        r.fig(&format!("floor.propagation.{role}.delivered"), fdelivered);
        r.fig(&format!("ratio.propagation.{role}.p99"), ratio);
        r.row([
            format!("edit → visible, {n} terminals, {} edits/s: p50 / p90 / p99 / max", p.rate),
            lat(&ps),
            lat(&fl),
            format!("p99 {ratio:.2}×"),
            "p99 ≤ 1.5× floor".into(),
            verdict(ratio <= 1.5).into(),
        ]);
        detail.insert(
            format!("propagation.{role}"),
            json!({"terminals": n, "edits_per_s": p.rate, "seconds": p.seconds, "possync": ps, "floor": fl}),
        );
    }
    stage(&format!("API edit → WebSocket, {} terminals", p.api_terminals));
    let api = api_feed::measure(p.api_terminals, p.rate, p.seconds).await?;
    r.latency("api_feed", &api);
    r.row([
        format!("API edit → WebSocket event, {} terminals, {} edits/s", p.api_terminals, p.rate),
        lat(&api),
        "—".into(),
        "—".into(),
        "—".into(),
        String::new(),
    ]);
    detail.insert(
        "api_feed".into(),
        json!({"terminals": p.api_terminals, "edits_per_s": p.rate, "latency": api}),
    );

    // 2. Throughput.
    stage(&format!("throughput, {} terminals", p.tput_terminals));
    let (n, secs) = (p.tput_terminals, p.tput_seconds);
    let ts = search(&p.tput, |rate| propagation::measure_with(n, rate, secs, true)).await?;
    stage(&format!("floor throughput, {} swarms", p.tput_terminals));
    let tf = search(&p.tput, |rate| floor::measure(n, rate, secs)).await?;
    let ratio = ts.best as f64 / tf.best.max(1) as f64;
    r.fig("throughput.possync.edits_per_s", ts.best as f64);
    r.fig("throughput.floor.edits_per_s", tf.best as f64);
    r.fig("ratio.throughput", ratio);
    r.row([
        format!("throughput, {n} terminals: highest edits/s with p99 < {} ms", p.tput.p99_bound_ms),
        format!("{}", ts.best),
        format!("{}", tf.best),
        format!("{ratio:.2}×"),
        "≥ floor".into(),
        verdict(ts.best >= tf.best).into(),
    ]);
    detail.insert(
        "throughput".into(),
        json!({"terminals": n, "seconds_per_step": secs, "possync": ts, "floor": tf}),
    );

    // 3. Catch-up.
    stage("catch-up");
    let sizes: Vec<usize> = p.catchup.iter().map(|(_, s)| *s).collect();
    let figs = catchup::measure(&sizes, p.catchup_changes, 64).await?;
    for ((role, size), f) in p.catchup.iter().zip(&figs) {
        r.fig(&format!("catchup.{role}.seconds"), f.seconds);
        r.fig(&format!("catchup.{role}.bytes"), (f.bytes_to_joiner + f.bytes_from_joiner) as f64);
        r.fig(&format!("catchup.{role}.messages"), f.messages as f64);
        let target = if *size >= 10_000 { 5.0 } else { 0.5 };
        r.row([
            format!("catch-up: fresh terminal, {size} orders × {} changes", p.catchup_changes),
            format!(
                "{:.3} s; {:.0} KiB in, {:.0} KiB out ({:.0} B/order); {} catch-up messages",
                f.seconds,
                f.bytes_to_joiner as f64 / 1024.0,
                f.bytes_from_joiner as f64 / 1024.0,
                (f.bytes_to_joiner + f.bytes_from_joiner) as f64 / *size as f64,
                f.messages
            ),
            "—".into(),
            "—".into(),
            format!("≤ {target} s (at 1,000 / 10,000 orders)"),
            if quick { "(quick size)".into() } else { verdict(f.seconds <= target).into() },
        ]);
        detail.insert(format!("catchup.{role}"), serde_json::to_value(f)?);
    }

    // 4. Reconnect.
    stage("reconnect");
    let rc = reconnect::measure(p.reconnect_edits, p.reconnect_offline, p.reconnect_rounds).await?;
    r.fig("reconnect.median_ms", rc.median_ms);
    r.fig("reconnect.max_ms", rc.max_ms);
    r.row([
        format!(
            "reconnect: {} s offline, {} edits each side → converged (median / max of {})",
            rc.offline_s, rc.edits_each_side, p.reconnect_rounds
        ),
        format!("{:.0} / {:.0} ms", rc.median_ms, rc.max_ms),
        "—".into(),
        "—".into(),
        "—".into(),
        String::new(),
    ]);
    detail.insert("reconnect".into(), serde_json::to_value(&rc)?);

    // 5. Cost.
    stage("cost: CPU per remote change (child process)");
    let cpu = cost::cpu_per_remote_change(p.cpu_changes, 200).await?;
    r.fig("cost.cpu_us_per_remote_change", cpu.us_per_change);
    r.row([
        format!("CPU per applied remote change ({} gossiped single changes)", cpu.changes),
        format!("{:.0} µs", cpu.us_per_change),
        "—".into(),
        "—".into(),
        "—".into(),
        String::new(),
    ]);
    detail.insert("cost.cpu".into(), serde_json::to_value(&cpu)?);
    stage("cost: memory and disk (child process)");
    let mem = cost::memory(p.rss_orders, p.rss_changes).await?;
    r.fig("cost.rss_kib_per_order", mem.rss_kib_per_order);
    r.fig("cost.disk_bytes_per_order", mem.disk_bytes_per_order);
    r.row([
        format!("RSS per open order ({} orders × {} changes)", mem.orders, mem.changes_per_order),
        format!("{:.1} KiB ({} → {} KiB)", mem.rss_kib_per_order, mem.rss_before_kib, mem.rss_after_kib),
        "—".into(),
        "—".into(),
        "≤ 40 KiB".into(),
        verdict(mem.rss_kib_per_order <= 40.0).into(),
    ]);
    r.row([
        "bytes on disk per order (redb file / orders)".into(),
        format!("{:.0} B", mem.disk_bytes_per_order),
        "—".into(),
        "—".into(),
        "—".into(),
        String::new(),
    ]);
    detail.insert("cost.memory".into(), serde_json::to_value(&mem)?);
    stage("cost: durable ack");
    let ack = cost::durable_ack(p.ack_edits).await?;
    r.latency("cost.durable_ack", &ack);
    r.row([
        format!("durable ack: sequential Node::edit ({} edits)", ack.samples),
        lat(&ack),
        "—".into(),
        "—".into(),
        "p99 ≤ 10 ms".into(),
        verdict(ack.p99_ms <= 10.0).into(),
    ]);
    detail.insert("cost.durable_ack".into(), serde_json::to_value(ack)?);

    let total = started.elapsed().as_secs_f64();
    r.fig("run.seconds", total);
    eprintln!("[{total:6.1} s] done");
    let out = json!({
        "mode": if quick { "quick" } else { "full" },
        "figures": r.figures,
        "detail": Value::Object(detail),
        "table": r.rows,
    });
    std::fs::write(&json_path, serde_json::to_string_pretty(&out)?)?;
    eprintln!("JSON written to {json_path}");
    Ok(())
}
