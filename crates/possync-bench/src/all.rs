//! `all`: every benchmark in one run, possync next to the floor (the bare
//! network stack) and next to samod (automerge-repo, hub-and-spoke), two
//! tables of figures with ratios and targets, and JSON. `--quick` runs tiny
//! sizes so CI can check that every figure is produced. The `samod`
//! subcommand is the same run narrowed to the samod comparison.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use crate::common::cpu_time_us;
use crate::stats::Percentiles;
use crate::throughput::{self, Plan, System, search};
use crate::{api_feed, catchup, cost, flag, floor, propagation, reconnect, samod_peer};

/// What a run measures. possync's propagation and catch-up are in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every benchmark: the floor, the API feed, throughput, reconnect,
    /// cost, and samod.
    All,
    /// Propagation and catch-up only, possync next to samod.
    VersusSamod,
}

struct Params {
    /// (role, terminals) of the three propagation rows.
    prop: [(&'static str, usize); 3],
    rate: u64,
    seconds: u64,
    api_terminals: usize,
    tput_terminals: usize,
    tput: Plan,
    tput_seconds: u64,
    /// (role, orders) of the catch-up rows, increasing; the last is possync's
    /// alone.
    catchup: [(&'static str, usize); 3],
    catchup_changes: usize,
    reconnect_edits: usize,
    reconnect_offline: Duration,
    reconnect_rounds: usize,
    ack_edits: usize,
    cpu_changes: usize,
    rss_orders: usize,
    rss_changes: usize,
    idle_seconds: u64,
}

fn params(quick: bool) -> Params {
    if quick {
        Params {
            prop: [("small", 2), ("medium", 3), ("large", 4)],
            rate: 20,
            seconds: 1,
            api_terminals: 2,
            tput_terminals: 3,
            tput: Plan { start: 20, max: 40, bisect: 0, p99_bound_ms: 10.0, runs: 1 },
            tput_seconds: 1,
            catchup: [("small", 20), ("medium", 35), ("large", 50)],
            catchup_changes: 5,
            reconnect_edits: 20,
            reconnect_offline: Duration::from_millis(300),
            reconnect_rounds: 1,
            ack_edits: 20,
            cpu_changes: 30,
            rss_orders: 20,
            rss_changes: 5,
            idle_seconds: 1,
        }
    } else {
        Params {
            prop: [("small", 2), ("medium", 5), ("large", 10)],
            rate: 100,
            seconds: 10,
            api_terminals: 5,
            tput_terminals: 5,
            tput: Plan { start: 100, max: 6400, bisect: 2, p99_bound_ms: 10.0, runs: 3 },
            tput_seconds: 5,
            catchup: [("small", 1000), ("medium", 4000), ("large", 10_000)],
            catchup_changes: 50,
            reconnect_edits: 100,
            reconnect_offline: Duration::from_secs(5),
            reconnect_rounds: 3,
            ack_edits: 2000,
            cpu_changes: 3000,
            rss_orders: 1000,
            rss_changes: 50,
            idle_seconds: 20,
        }
    }
}

#[derive(Default)]
struct Report {
    figures: BTreeMap<String, f64>,
    rows: Vec<[String; 6]>,
    /// The possync / samod table.
    versus: Vec<[String; 6]>,
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
        eprintln!("  {}", cells.join(" | "));
        self.rows.push(cells);
    }
    fn versus(&mut self, cells: [String; 6]) {
        eprintln!("  {}", cells.join(" | "));
        self.versus.push(cells);
    }
    /// Both tables, as Markdown, once everything is measured (progress goes
    /// to stderr meanwhile).
    fn print(&self) {
        let tables = [
            (["possync", "floor", "possync/floor"], &self.rows),
            (["possync", "samod hub-and-spoke", "possync/samod"], &self.versus),
        ];
        for ([a, b, ratio], rows) in tables {
            if rows.is_empty() {
                continue;
            }
            println!("\n| figure | {a} | {b} | {ratio} | target | |");
            println!("| --- | --- | --- | --- | --- | --- |");
            for cells in rows {
                println!("| {} |", cells.join(" | "));
            }
        }
    }
}

fn lat(p: &Percentiles) -> String {
    format!("{:.2} / {:.2} / {:.2} / {:.2} ms", p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

pub async fn run(args: &[String], scope: Scope) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let default_json = match scope {
        Scope::All => "possync-bench.json",
        Scope::VersusSamod => "possync-vs-samod.json",
    };
    let json_path: String = flag(args, "--json", default_json.to_owned())?;
    let mut run = Run {
        p: params(quick),
        quick,
        all: scope == Scope::All,
        started: Instant::now(),
        r: Report::default(),
        detail: serde_json::Map::new(),
    };
    run.propagation().await?;
    if run.all {
        run.api_feed_and_throughput().await?;
    }
    run.catchup().await?;
    if run.all {
        run.reconnect_and_cost().await?;
    }

    let Run { mut r, detail, started, .. } = run;
    let total = started.elapsed().as_secs_f64();
    r.fig("run.seconds", total);
    eprintln!("[{total:6.1} s] done");
    r.print();
    let out = json!({
        "mode": if quick { "quick" } else { "full" },
        "scope": format!("{scope:?}"),
        "figures": r.figures,
        "detail": Value::Object(detail),
        "table": r.rows,
        "versus_samod": r.versus,
    });
    std::fs::write(&json_path, serde_json::to_string_pretty(&out)?)?;
    eprintln!("JSON written to {json_path}");
    Ok(())
}

/// One run's parameters and what it has measured so far.
struct Run {
    p: Params,
    quick: bool,
    all: bool,
    started: Instant,
    r: Report,
    detail: serde_json::Map<String, Value>,
}

impl Run {
    fn stage(&self, name: &str) {
        eprintln!("[{:6.1} s] {name}", self.started.elapsed().as_secs_f64());
    }

    /// Propagation: possync, the floor (`all` only), samod.
    async fn propagation(&mut self) -> Result<()> {
        let (rate, seconds) = (self.p.rate, self.p.seconds);
        for (role, n) in self.p.prop {
            self.stage(&format!("propagation, {n} terminals"));
            let cpu0 = cpu_time_us()?;
            let (ps, delivered) = propagation::measure_with(n, rate, seconds, false).await?;
            let cpu = (cpu_time_us()? - cpu0) / 1000.0 / (rate * seconds) as f64;
            let r = &mut self.r;
            r.latency(&format!("propagation.{role}"), &ps);
            r.fig(&format!("propagation.{role}.delivered"), delivered);
            r.fig(&format!("propagation.{role}.cpu_ms_per_edit"), cpu);
            let mut d = json!({"terminals": n, "edits_per_s": rate, "seconds": seconds, "possync": ps});
            if self.all {
                self.stage(&format!("floor propagation, {n} swarms"));
                let (fl, fdelivered) = floor::measure(n, rate, seconds).await?;
                let ratio = ps.p99_ms / fl.p99_ms;
                let r = &mut self.r;
                r.latency(&format!("floor.propagation.{role}"), &fl);
                r.fig(&format!("floor.propagation.{role}.delivered"), fdelivered);
                r.fig(&format!("ratio.propagation.{role}.p99"), ratio);
                r.row([
                    format!("edit → visible, {n} terminals, {rate} edits/s: p50 / p90 / p99 / max"),
                    lat(&ps),
                    lat(&fl),
                    format!("p99 {ratio:.2}×"),
                    "p99 ≤ 1.5× floor".into(),
                    verdict(ratio <= 1.5).into(),
                ]);
                d["floor"] = serde_json::to_value(fl)?;
            }
            self.stage(&format!("samod propagation, hub and {n} spokes"));
            let cpu0 = cpu_time_us()?;
            let (sm, sdelivered) = samod_peer::propagation(n, rate, seconds).await?;
            let scpu = (cpu_time_us()? - cpu0) / 1000.0 / (rate * seconds) as f64;
            let vs = ps.p99_ms / sm.p99_ms;
            let r = &mut self.r;
            r.fig(&format!("samod.propagation.{role}.cpu_ms_per_edit"), scpu);
            r.latency(&format!("samod.propagation.{role}"), &sm);
            r.fig(&format!("samod.propagation.{role}.delivered"), sdelivered);
            r.fig(&format!("ratio.propagation_vs_samod.{role}.p99"), vs);
            let spokes = format!("samod: {n} spokes + hub");
            r.versus([
                format!("edit → visible, {n} terminals ({spokes}), {rate} edits/s: p50 / p90 / p99 / max"),
                lat(&ps),
                lat(&sm),
                format!("p99 {vs:.2}×"),
                "p99 ≤ samod".into(),
                verdict(vs <= 1.0).into(),
            ]);
            r.versus([
                format!("CPU of the whole propagation run ({n} terminals, set-up included) per edit"),
                format!("{cpu:.2} ms"),
                format!("{scpu:.2} ms"),
                format!("{:.2}×", cpu / scpu),
                "—".into(),
                String::new(),
            ]);
            d["samod"] = serde_json::to_value(sm)?;
            d["samod_delivered"] = json!(sdelivered);
            self.detail.insert(format!("propagation.{role}"), d);
        }
        Ok(())
    }

    /// API → WebSocket, and throughput next to the floor.
    async fn api_feed_and_throughput(&mut self) -> Result<()> {
        let p = &self.p;
        self.stage(&format!("API edit → WebSocket, {} terminals", p.api_terminals));
        let api = api_feed::measure(p.api_terminals, p.rate, p.seconds).await?;
        self.r.latency("api_feed", &api);
        self.r.row([
            format!("API edit → WebSocket event, {} terminals, {} edits/s", p.api_terminals, p.rate),
            lat(&api),
            "—".into(),
            "—".into(),
            "—".into(),
            String::new(),
        ]);
        self.detail.insert(
            "api_feed".into(),
            json!({"terminals": p.api_terminals, "edits_per_s": p.rate, "latency": api}),
        );

        self.stage(&format!("throughput, {} terminals", p.tput_terminals));
        let (n, secs) = (p.tput_terminals, p.tput_seconds);
        let ts = search(&p.tput, |rate| throughput::step(System::Possync, n, rate, secs)).await?;
        self.stage(&format!("floor throughput, {} swarms", p.tput_terminals));
        let tf = search(&p.tput, |rate| throughput::step(System::Floor, n, rate, secs)).await?;
        let ratio = ts.best as f64 / tf.best.max(1) as f64;
        let r = &mut self.r;
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
        self.detail.insert(
            "throughput".into(),
            json!({"terminals": n, "seconds_per_step": secs, "possync": ts, "floor": tf}),
        );
        Ok(())
    }

    /// Catch-up of a fresh terminal, possync then samod. samod's time grows
    /// with the square of the number of documents (its hub loop visits every
    /// document on every event; 10,000 orders take about five minutes), so
    /// it runs at every size but the last.
    async fn catchup(&mut self) -> Result<()> {
        let (quick, changes) = (self.quick, self.p.catchup_changes);
        self.stage("catch-up");
        let sizes: Vec<usize> = self.p.catchup.iter().map(|(_, s)| *s).collect();
        let figs = catchup::measure(&sizes, changes, 64).await?;
        self.stage("samod catch-up");
        let sfigs = samod_peer::catchup(&sizes[..sizes.len() - 1], changes).await?;
        for (i, ((role, size), f)) in self.p.catchup.iter().zip(&figs).enumerate() {
            let r = &mut self.r;
            let bytes = (f.bytes_to_joiner + f.bytes_from_joiner) as f64;
            r.fig(&format!("catchup.{role}.seconds"), f.seconds);
            r.fig(&format!("catchup.{role}.bytes"), bytes);
            r.fig(&format!("catchup.{role}.messages"), f.messages as f64);
            let target = match i {
                0 => Some(0.5),
                2 => Some(5.0),
                _ => None,
            };
            let orders = format!("{size} orders × {changes} changes");
            r.row([
                format!("catch-up: fresh terminal, {orders}"),
                format!(
                    "{:.3} s; {:.0} KiB in, {:.0} KiB out ({:.0} B/order); {} catch-up messages",
                    f.seconds,
                    f.bytes_to_joiner as f64 / 1024.0,
                    f.bytes_from_joiner as f64 / 1024.0,
                    bytes / *size as f64,
                    f.messages
                ),
                "—".into(),
                "—".into(),
                target.map_or("—".into(), |t| format!("≤ {t} s (at 1,000 / 10,000 orders)")),
                match target {
                    Some(_) if quick => "(quick size)".into(),
                    Some(t) => verdict(f.seconds <= t).into(),
                    None => String::new(),
                },
            ]);
            self.detail.insert(format!("catchup.{role}"), serde_json::to_value(f)?);
            let on_wire =
                |seconds: f64, bytes: f64| format!("{seconds:.3} s; {:.0} KiB on the wire", bytes / 1024.0);
            let title =
                format!("catch-up: fresh terminal (samod: fresh spoke, `find` of every id), {orders}");
            let Some(sf) = sfigs.get(i) else {
                r.versus([
                    title,
                    on_wire(f.seconds, bytes),
                    "not run here (quadratic): `samod-catchup --orders 10000`".into(),
                    "—".into(),
                    "—".into(),
                    String::new(),
                ]);
                continue;
            };
            let sbytes = (sf.bytes_to_joiner + sf.bytes_from_joiner) as f64;
            let (vs_s, vs_b) = (f.seconds / sf.seconds, bytes / sbytes);
            r.fig(&format!("samod.catchup.{role}.seconds"), sf.seconds);
            r.fig(&format!("samod.catchup.{role}.bytes"), sbytes);
            r.fig(&format!("ratio.catchup_vs_samod.{role}.seconds"), vs_s);
            r.fig(&format!("ratio.catchup_vs_samod.{role}.bytes"), vs_b);
            r.versus([
                title,
                on_wire(f.seconds, bytes),
                on_wire(sf.seconds, sbytes),
                format!("time {vs_s:.2}×, bytes {vs_b:.2}×"),
                "—".into(),
                String::new(),
            ]);
            self.detail.insert(format!("samod.catchup.{role}"), serde_json::to_value(sf)?);
        }
        Ok(())
    }

    /// Reconnect, CPU and memory per change and order, the durable ack.
    async fn reconnect_and_cost(&mut self) -> Result<()> {
        let p = &self.p;
        self.stage("reconnect");
        let rc = reconnect::measure(p.reconnect_edits, p.reconnect_offline, p.reconnect_rounds).await?;
        self.r.fig("reconnect.median_ms", rc.median_ms);
        self.r.fig("reconnect.max_ms", rc.max_ms);
        self.r.row([
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
        self.detail.insert("reconnect".into(), serde_json::to_value(&rc)?);

        self.stage("cost: CPU per remote change (child process)");
        let cpu = cost::cpu_per_remote_change(p.cpu_changes, 200).await?;
        self.r.fig("cost.cpu_us_per_remote_change", cpu.us_per_change);
        self.r.row([
            format!("CPU per applied remote change ({} gossiped single changes)", cpu.changes),
            format!("{:.0} µs", cpu.us_per_change),
            "—".into(),
            "—".into(),
            "—".into(),
            String::new(),
        ]);
        self.detail.insert("cost.cpu".into(), serde_json::to_value(&cpu)?);
        self.stage("cost: memory and disk (child process)");
        let mem = cost::memory(p.rss_orders, p.rss_changes).await?;
        let r = &mut self.r;
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
        self.detail.insert("cost.memory".into(), serde_json::to_value(&mem)?);
        self.stage("cost: durable ack");
        let ack = cost::durable_ack(self.p.ack_edits).await?;
        self.r.latency("cost.durable_ack", &ack);
        self.r.row([
            format!("durable ack: sequential Node::edit ({} edits)", ack.samples),
            lat(&ack),
            "—".into(),
            "—".into(),
            "p99 ≤ 10 ms".into(),
            verdict(ack.p99_ms <= 10.0).into(),
        ]);
        self.detail.insert("cost.durable_ack".into(), serde_json::to_value(ack)?);
        self.stage("cost: idle CPU (child process)");
        let idle = cost::idle(2, self.p.idle_seconds).await?;
        self.r.fig("cost.idle_percent_of_a_core", idle.percent_of_a_core);
        self.r.row([
            format!("idle CPU: {} connected terminals, nothing to do, {} s", idle.terminals, idle.seconds),
            format!("{:.2} % of one core", idle.percent_of_a_core),
            "—".into(),
            "—".into(),
            "near zero (≤ 1 %)".into(),
            verdict(idle.percent_of_a_core <= 1.0).into(),
        ]);
        self.detail.insert("cost.idle".into(), serde_json::to_value(&idle)?);
        Ok(())
    }
}
