//! Throughput: the highest total edit rate (5 terminals, open loop: edits
//! issued at their due time without waiting for the previous one) at which
//! edit → visible p99 stays under the bound and (nearly) every edit is seen
//! by every other terminal. Rates double from the start until one fails,
//! then a few bisection steps narrow the bound. Each step runs in a child
//! process of its own: an overloaded step leaves queues, threads and memory
//! behind that skewed the next one when they shared a process.

use std::future::Future;

use anyhow::Result;
use serde::Serialize;

use crate::cost::{child, next_line};
use crate::stats::Percentiles;
use crate::{flag, floor, propagation};

/// What a throughput step measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Possync,
    Floor,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Possync => "possync",
            System::Floor => "floor",
        }
    }
}

/// One step, open loop, in a child process: latency percentiles and the
/// fraction of (edit, receiver) pairs seen.
pub async fn step(system: System, n: usize, rate: u64, seconds: u64) -> Result<(Percentiles, f64)> {
    let args: Vec<String> = ["throughput-step", "--system", system.name()]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(["--nodes".into(), n.to_string(), "--rate".into(), rate.to_string()])
        .chain(["--seconds".into(), seconds.to_string()])
        .collect();
    let (mut proc, rx) = child(&args)?;
    let line = next_line(&rx, std::time::Duration::from_secs(seconds + 300)).await?;
    let _ = proc.wait();
    let Some(json) = line.strip_prefix("STEP ") else { anyhow::bail!("unexpected child output {line:?}") };
    let v: serde_json::Value = serde_json::from_str(json)?;
    // A step without a single sample has no percentiles (JSON null).
    let ms = |k: &str| v[0][k].as_f64().unwrap_or(f64::INFINITY);
    let p = Percentiles {
        samples: v[0]["samples"].as_u64().unwrap_or(0) as usize,
        p50_ms: ms("p50_ms"),
        p90_ms: ms("p90_ms"),
        p99_ms: ms("p99_ms"),
        max_ms: ms("max_ms"),
    };
    Ok((p, v[1].as_f64().unwrap_or(0.0)))
}

/// The `throughput-step` subcommand: one step, printed as
/// `STEP [<percentiles>, <delivered>]`.
pub async fn run_step(args: &[String]) -> Result<()> {
    let n: usize = flag(args, "--nodes", 5)?;
    let rate: u64 = flag(args, "--rate", 100)?;
    let seconds: u64 = flag(args, "--seconds", 5)?;
    let result = match flag(args, "--system", String::from("possync"))?.as_str() {
        "possync" => propagation::measure_with(n, rate, seconds, true).await?,
        "floor" => floor::measure(n, rate, seconds).await?,
        other => anyhow::bail!("--system is possync or floor, not {other}"),
    };
    println!("STEP {}", serde_json::to_string(&result)?);
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub edits_per_s: u64,
    pub p99_ms: f64,
    pub delivered: f64,
    pub pass: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Search {
    /// Highest rate that passed (0 if none did).
    pub best: u64,
    pub steps: Vec<Step>,
}

pub struct Plan {
    pub start: u64,
    pub max: u64,
    pub bisect: usize,
    pub p99_bound_ms: f64,
}

pub async fn search<F, Fut>(plan: &Plan, mut measure: F) -> Result<Search>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(Percentiles, f64)>>,
{
    let mut steps = Vec::new();
    let mut run = async |rate: u64, steps: &mut Vec<Step>| -> Result<bool> {
        let (p, delivered) = measure(rate).await?;
        let pass = p.p99_ms < plan.p99_bound_ms && delivered >= 0.99;
        eprintln!(
            "  {rate} edits/s: p99 {:.2} ms, delivered {:.3}: {}",
            p.p99_ms,
            delivered,
            if pass { "pass" } else { "fail" }
        );
        steps.push(Step { edits_per_s: rate, p99_ms: p.p99_ms, delivered, pass });
        Ok(pass)
    };
    let (mut best, mut fail) = (0, None);
    let mut rate = plan.start;
    while rate <= plan.max {
        if run(rate, &mut steps).await? {
            best = rate;
            rate *= 2;
        } else {
            fail = Some(rate);
            break;
        }
    }
    if let Some(mut hi) = fail {
        let mut lo = best;
        for _ in 0..plan.bisect {
            let mid = (lo + hi) / 2;
            if mid <= lo || mid >= hi {
                break;
            }
            if run(mid, &mut steps).await? {
                lo = mid;
                best = mid;
            } else {
                hi = mid;
            }
        }
    }
    Ok(Search { best, steps })
}

/// The `throughput` subcommand: the search of `all`, for possync and then
/// for the floor (`--floor false` to skip it).
pub async fn run(args: &[String]) -> Result<()> {
    let n: usize = flag(args, "--nodes", 5)?;
    let seconds: u64 = flag(args, "--seconds", 5)?;
    let plan = Plan {
        start: flag(args, "--start", 100)?,
        max: flag(args, "--max", 6400)?,
        bisect: flag(args, "--bisect", 2)?,
        p99_bound_ms: flag(args, "--p99-ms", 10.0)?,
    };
    eprintln!("possync, {n} terminals:");
    let ours = search(&plan, |rate| step(System::Possync, n, rate, seconds)).await?;
    let floor = if flag(args, "--floor", true)? {
        eprintln!("floor, {n} swarms:");
        Some(search(&plan, |rate| step(System::Floor, n, rate, seconds)).await?.best)
    } else {
        None
    };
    println!("| terminals | possync edits/s | floor edits/s |");
    println!("| --- | --- | --- |");
    println!("| {n} | {} | {} |", ours.best, floor.map_or_else(|| "—".into(), |b| b.to_string()));
    Ok(())
}
