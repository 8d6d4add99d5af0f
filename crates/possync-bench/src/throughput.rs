//! Throughput: the highest total edit rate (5 terminals, open loop: edits
//! issued at their due time without waiting for the previous one) at which
//! edit → visible p99 stays under the bound and (nearly) every edit is seen
//! by every other terminal. Rates double from the start until one fails,
//! then a few bisection steps narrow the bound. Each step runs in a child
//! process of its own: an overloaded step leaves queues, threads and memory
//! behind that skewed the next one when they shared a process.
//!
//! Near the limit one step passes or fails at the machine's whim (on these
//! shared 2-core machines, ten steps of one rate in a row gave p99 from 6 to
//! 25 ms), so a rate is decided by the majority of [`Plan::runs`] steps:
//! one lucky or unlucky step no longer moves the figure by a whole bisection
//! interval.

use std::future::Future;

use anyhow::Result;
use serde::Serialize;

use crate::cost::{child, next_line};
use crate::propagation::Run;
use crate::{floor, propagation};

/// What a throughput step measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

/// One step, open loop, in a child process: latency percentiles, the
/// fraction of (edit, receiver) pairs seen and the process CPU of the timed
/// window.
pub async fn step(system: System, n: usize, rate: u64, seconds: u64) -> Result<Run> {
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
    Ok(serde_json::from_str(json)?)
}

/// Options of `throughput-step`: one step, printed as `STEP <run>` (a
/// [`Run`] as JSON).
#[derive(Debug, clap::Args)]
pub struct StepArgs {
    #[arg(long, value_enum, default_value_t = System::Possync)]
    system: System,
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Edits per second, over all terminals.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

pub async fn run_step(args: StepArgs) -> Result<()> {
    let StepArgs { system, nodes: n, rate, seconds } = args;
    let result = match system {
        System::Possync => propagation::measure_run(n, rate, seconds, true).await?,
        System::Floor => floor::measure_run(n, rate, seconds).await?,
    };
    println!("STEP {}", serde_json::to_string(&result)?);
    Ok(())
}

/// One rate of a search: the verdict of the majority of its runs.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub edits_per_s: u64,
    /// Each run's p99 and fraction of (edit, receiver) pairs seen.
    pub p99_ms: Vec<f64>,
    pub delivered: Vec<f64>,
    /// Each run's process CPU per edit (every terminal's share), in µs.
    pub cpu_us_per_edit: Vec<f64>,
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
    /// Runs of a rate whose majority decides it (odd; 1 runs it once).
    pub runs: usize,
}

pub async fn search<F, Fut>(plan: &Plan, mut measure: F) -> Result<Search>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<Run>>,
{
    let mut steps = Vec::new();
    let majority = plan.runs.max(1) / 2 + 1;
    let mut run = async |rate: u64, steps: &mut Vec<Step>| -> Result<bool> {
        let mut step = Step {
            edits_per_s: rate,
            p99_ms: Vec::new(),
            delivered: Vec::new(),
            cpu_us_per_edit: Vec::new(),
            pass: false,
        };
        let (mut passed, mut failed) = (0, 0);
        while passed < majority && failed < majority {
            let Run { latency: p, delivered, edits, cpu_us } = measure(rate).await?;
            let cpu_per_edit = cpu_us / edits.max(1) as f64;
            let pass = p.p99_ms < plan.p99_bound_ms && delivered >= 0.99;
            eprintln!(
                "  {rate} edits/s: p50 {:.2} ms, p99 {:.2} ms, delivered {:.3}, CPU {:.0} µs/edit: {}",
                p.p50_ms,
                p.p99_ms,
                delivered,
                cpu_per_edit,
                if pass { "pass" } else { "fail" }
            );
            if pass {
                passed += 1
            } else {
                failed += 1
            }
            step.p99_ms.push(p.p99_ms);
            step.delivered.push(delivered);
            step.cpu_us_per_edit.push(cpu_per_edit);
        }
        step.pass = passed >= majority;
        if plan.runs > 1 {
            eprintln!(
                "  {rate} edits/s: {passed} of {} runs pass: {}",
                passed + failed,
                if step.pass { "pass" } else { "fail" }
            );
        }
        let pass = step.pass;
        steps.push(step);
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
/// Options of `throughput`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Length of each step.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// First rate tried, in edits per second; doubled while steps pass.
    #[arg(long, default_value_t = 100)]
    start: u64,
    /// Highest rate tried.
    #[arg(long, default_value_t = 6400)]
    max: u64,
    /// Bisection steps between the last rate passed and the first failed.
    #[arg(long, default_value_t = 2)]
    bisect: usize,
    /// A step passes when its p99 latency is under this and 99 % of edits arrive.
    #[arg(long = "p99-ms", default_value_t = 10.0)]
    p99_ms: f64,
    /// Runs of each rate; their majority decides it.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also search the bare stack (`--floor false` skips it).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    floor: bool,
}

pub async fn run(args: Args) -> Result<()> {
    let (n, seconds) = (args.nodes, args.seconds);
    let plan = Plan {
        start: args.start,
        max: args.max,
        bisect: args.bisect,
        p99_bound_ms: args.p99_ms,
        runs: args.runs,
    };
    eprintln!("possync, {n} terminals:");
    let ours = search(&plan, |rate| step(System::Possync, n, rate, seconds)).await?;
    let floor = if args.floor {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::cell::Cell;

    use super::*;

    use crate::stats::Percentiles;

    fn run(p99_ms: f64) -> Run {
        let latency = Percentiles { samples: 1, p50_ms: p99_ms, p90_ms: p99_ms, p99_ms, max_ms: p99_ms };
        Run { latency, delivered: 1.0, edits: 1, cpu_us: 1.0 }
    }

    /// A rate passes on the majority of its runs: one failing run at 1,200
    /// edits/s does not fail it, and a rate that fails twice is not run a
    /// third time.
    #[tokio::test]
    async fn a_rate_is_decided_by_the_majority_of_its_runs() {
        let plan = Plan { start: 100, max: 6400, bisect: 2, p99_bound_ms: 10.0, runs: 3 };
        let at_1200 = Cell::new(0);
        let calls = Cell::new(0);
        let result = search(&plan, |rate| {
            calls.set(calls.get() + 1);
            let p99 = match rate {
                ..=1000 => 5.0,
                1200 => {
                    at_1200.set(at_1200.get() + 1);
                    if at_1200.get() == 1 { 15.0 } else { 5.0 }
                }
                _ => 20.0,
            };
            async move { Ok(run(p99)) }
        })
        .await
        .unwrap();
        assert_eq!(result.best, 1200);
        let rates: Vec<u64> = result.steps.iter().map(|s| s.edits_per_s).collect();
        assert_eq!(rates, [100, 200, 400, 800, 1600, 1200, 1400]);
        assert_eq!(result.steps[5].p99_ms, [15.0, 5.0, 5.0]);
        // 4 rates passing twice, 1,600 and 1,400 failing twice, 1,200 three runs.
        assert_eq!(calls.get(), 4 * 2 + 2 + 3 + 2);
    }
}
