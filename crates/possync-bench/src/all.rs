//! `all`: every benchmark in one run, possync next to the floor (the bare
//! network stack) and next to samod (automerge-repo, hub-and-spoke), two
//! tables of figures with ratios and targets, and JSON. `--quick` runs tiny
//! sizes so CI can check that every figure is produced. The `samod`
//! subcommand is the same run narrowed to the samod comparison.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use crate::common::cpu_time_us;
use crate::stats::Percentiles;
use crate::throughput::{self, Plan};
use crate::{api_feed, api_write, catchup, cost, floor, propagation, reconnect, samod_peer};

/// What a run measures. possync's propagation and catch-up are in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every benchmark: the floor, the API feed, acknowledged API writes,
    /// throughput, reconnect, cost, and samod.
    All,
    /// Propagation and catch-up only, possync next to samod.
    VersusSamod,
}

struct Params {
    /// (role, terminals) of the three propagation rows.
    prop: [(&'static str, usize); 3],
    /// Runs of each propagation row, the systems alternating; the run with
    /// the median p99 stands for each system.
    prop_runs: usize,
    rate: u64,
    seconds: u64,
    api_terminals: usize,
    /// Terminals and floor-wide edits/s of the acknowledged-write run.
    api_write: (usize, u64),
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
            prop_runs: 1,
            rate: 20,
            seconds: 1,
            api_terminals: 2,
            api_write: (2, 20),
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
            prop_runs: 3,
            rate: 100,
            seconds: 10,
            api_terminals: 5,
            api_write: (5, 200),
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

/// One propagation run of one system.
#[derive(Debug, Clone, Copy)]
struct Measured {
    p: Percentiles,
    /// The fraction of (edit, receiver) pairs that gave a sample.
    delivered: f64,
    /// This process's CPU over the run (set-up included), per edit.
    cpu_ms_per_edit: f64,
}

impl Measured {
    async fn of(edits: u64, run: impl Future<Output = Result<(Percentiles, f64)>>) -> Result<Measured> {
        let cpu0 = cpu_time_us()?;
        let (p, delivered) = run.await?;
        let cpu_ms_per_edit = (cpu_time_us()? - cpu0) / 1000.0 / edits as f64;
        Ok(Measured { p, delivered, cpu_ms_per_edit })
    }
}

/// The run whose p99 is the median of the runs' (the lower middle one of an
/// even count). A run without samples has a NaN p99, which sorts after
/// every number: it counts as the slowest rather than vanishing. `None`
/// without runs.
fn median_by_p99(runs: &[Measured]) -> Option<Measured> {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| a.p.p99_ms.total_cmp(&b.p.p99_ms));
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

fn lat(p: &Percentiles) -> String {
    format!("{:.2} / {:.2} / {:.2} / {:.2} ms", p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// Options of `all` and `samod`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tiny sizes, to check that every benchmark runs (figures meaningless).
    #[arg(long)]
    quick: bool,
    /// Where the figures go as JSON [default: possync-bench.json, or
    /// possync-vs-samod.json for `samod`].
    #[arg(long)]
    json: Option<String>,
}

pub async fn run(args: Args, scope: Scope) -> Result<()> {
    let quick = args.quick;
    let default_json = match scope {
        Scope::All => "possync-bench.json",
        Scope::VersusSamod => "possync-vs-samod.json",
    };
    let json_path = args.json.unwrap_or_else(|| default_json.to_owned());
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

    /// Propagation: possync, the floor (`all` only), samod, each row
    /// [`Params::prop_runs`] times with the systems taking turns. One run's
    /// p99 is its 10th-worst sample of 1,000, and on these shared machines
    /// it moved by 2× from run to run for possync and samod alike (samod at
    /// 2 spokes: 0.9 to 2.1 ms); the median run of each system is steadier
    /// than any one, and taking turns spreads the machine's moods over all.
    async fn propagation(&mut self) -> Result<()> {
        let (rate, seconds, runs) = (self.p.rate, self.p.seconds, self.p.prop_runs.max(1));
        let edits = rate * seconds;
        for (role, n) in self.p.prop {
            let (mut ours, mut floors, mut samods) = (Vec::new(), Vec::new(), Vec::new());
            for run in 1..=runs {
                let of = if runs > 1 { format!(", run {run} of {runs}") } else { String::new() };
                self.stage(&format!("propagation, {n} terminals{of}"));
                ours.push(Measured::of(edits, propagation::measure_with(n, rate, seconds, false)).await?);
                if self.all {
                    self.stage(&format!("floor propagation, {n} swarms{of}"));
                    floors.push(Measured::of(edits, floor::measure(n, rate, seconds)).await?);
                }
                self.stage(&format!("samod propagation, hub and {n} spokes{of}"));
                samods.push(Measured::of(edits, samod_peer::propagation(n, rate, seconds)).await?);
            }
            let of_runs = if runs > 1 { format!(" (median of {runs} runs)") } else { String::new() };
            let no_run = || anyhow::anyhow!("no propagation run");
            let ps = median_by_p99(&ours).ok_or_else(no_run)?;
            let r = &mut self.r;
            r.latency(&format!("propagation.{role}"), &ps.p);
            r.fig(&format!("propagation.{role}.delivered"), ps.delivered);
            r.fig(&format!("propagation.{role}.cpu_ms_per_edit"), ps.cpu_ms_per_edit);
            let mut d = json!({
                "terminals": n, "edits_per_s": rate, "seconds": seconds, "runs": runs,
                "possync": ps.p,
            });
            if self.all {
                let fl = median_by_p99(&floors).ok_or_else(no_run)?;
                let ratio = ps.p.p99_ms / fl.p.p99_ms;
                r.latency(&format!("floor.propagation.{role}"), &fl.p);
                r.fig(&format!("floor.propagation.{role}.delivered"), fl.delivered);
                r.fig(&format!("ratio.propagation.{role}.p99"), ratio);
                r.row([
                    format!("edit → visible, {n} terminals, {rate} edits/s: p50 / p90 / p99 / max{of_runs}"),
                    lat(&ps.p),
                    lat(&fl.p),
                    format!("p99 {ratio:.2}×"),
                    "p99 ≤ 1.5× floor".into(),
                    verdict(ratio <= 1.5).into(),
                ]);
                d["floor"] = serde_json::to_value(fl.p)?;
            }
            let sm = median_by_p99(&samods).ok_or_else(no_run)?;
            let vs = ps.p.p99_ms / sm.p.p99_ms;
            r.fig(&format!("samod.propagation.{role}.cpu_ms_per_edit"), sm.cpu_ms_per_edit);
            r.latency(&format!("samod.propagation.{role}"), &sm.p);
            r.fig(&format!("samod.propagation.{role}.delivered"), sm.delivered);
            r.fig(&format!("ratio.propagation_vs_samod.{role}.p99"), vs);
            let spokes = format!("samod: {n} spokes + hub");
            r.versus([
                format!(
                    "edit → visible, {n} terminals ({spokes}), {rate} edits/s: p50 / p90 / p99 / max{of_runs}"
                ),
                lat(&ps.p),
                lat(&sm.p),
                format!("p99 {vs:.2}×"),
                "p99 ≤ samod".into(),
                verdict(vs <= 1.0).into(),
            ]);
            r.versus([
                format!("CPU of the whole propagation run ({n} terminals, set-up included) per edit"),
                format!("{:.2} ms", ps.cpu_ms_per_edit),
                format!("{:.2} ms", sm.cpu_ms_per_edit),
                format!("{:.2}×", ps.cpu_ms_per_edit / sm.cpu_ms_per_edit),
                "—".into(),
                String::new(),
            ]);
            d["samod"] = serde_json::to_value(sm.p)?;
            d["samod_delivered"] = json!(sm.delivered);
            // Every run, so that the spread behind each median stays on record.
            for (system, runs) in [("possync", &ours), ("floor", &floors), ("samod", &samods)] {
                if !runs.is_empty() {
                    d[format!("{system}_p99_ms_of_each_run")] =
                        json!(runs.iter().map(|m| m.p.p99_ms).collect::<Vec<_>>());
                    d[format!("{system}_cpu_ms_per_edit_of_each_run")] =
                        json!(runs.iter().map(|m| m.cpu_ms_per_edit).collect::<Vec<_>>());
                }
            }
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

        let (n, rate) = p.api_write;
        self.stage(&format!("acknowledged API writes, {n} terminals, {rate} edits/s"));
        let w = api_write::measure(n, rate, p.seconds).await?;
        self.r.latency("api_write", &w.writes);
        self.r.row([
            format!("API write → durable 200, {n} terminals, {rate} edits/s in all: p50 / p90 / p99 / max"),
            lat(&w.writes),
            "—".into(),
            "—".into(),
            "p99 ≤ 20 ms".into(),
            verdict(w.writes.p99_ms <= 20.0).into(),
        ]);
        self.detail.insert("api_write".into(), serde_json::to_value(&w)?);

        self.stage(&format!("throughput, {} terminals, possync and the floor alternating", p.tput_terminals));
        let (n, secs) = (p.tput_terminals, p.tput_seconds);
        let (ts, tf) =
            throughput::search_side_by_side(&p.tput, |system, rate| throughput::step(system, n, rate, secs))
                .await?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn run(p99_ms: f64) -> Measured {
        let p = Percentiles { samples: 1000, p50_ms: 0.5, p90_ms: 0.8, p99_ms, max_ms: p99_ms * 2.0 };
        Measured { p, delivered: 1.0, cpu_ms_per_edit: p99_ms }
    }

    #[test]
    fn the_median_run_stands_for_the_runs_whole() {
        // The whole run comes along, not the median p99 alone.
        let p99 = |runs: &[Measured]| median_by_p99(runs).map(|m| m.p.p99_ms);
        let picked = median_by_p99(&[run(2.1), run(0.9), run(1.3)]).unwrap();
        assert_eq!((picked.p.p99_ms, picked.cpu_ms_per_edit, picked.p.max_ms), (1.3, 1.3, 2.6));
        assert_eq!(p99(&[run(1.7)]), Some(1.7));
        assert_eq!(p99(&[run(3.0), run(1.0), run(2.0), run(4.0)]), Some(2.0));
        assert_eq!(p99(&[]), None);
        // A run that saw nothing is the slowest, not a free pass.
        assert_eq!(p99(&[run(f64::NAN), run(1.0), run(2.0)]), Some(2.0));
        assert!(p99(&[run(f64::NAN), run(f64::NAN), run(2.0)]).unwrap().is_nan());
    }
}
