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

#[derive(Debug, Clone)]
pub struct Plan {
    pub start: u64,
    pub max: u64,
    pub bisect: usize,
    pub p99_bound_ms: f64,
    /// Runs of a rate whose majority decides it (odd; 1 runs it once).
    pub runs: usize,
}

impl Plan {
    /// Whether one run passes: p99 under the bound and 99 % of the (edit,
    /// receiver) pairs seen.
    fn passes(&self, p99_ms: f64, delivered: f64) -> bool {
        p99_ms < self.p99_bound_ms && delivered >= 0.99
    }
}

/// One system's search, a step at a time: [`Searcher::next_rate`] says
/// which rate to run next, [`Searcher::record`] takes its result. Rates
/// double from the start until one fails, then bisect between the last
/// that passed and the first that failed; a rate is decided by the
/// majority of [`Plan::runs`] runs.
pub struct Searcher {
    name: &'static str,
    plan: Plan,
    steps: Vec<Step>,
    /// The step being run: its runs so far.
    current: Step,
    best: u64,
    /// Bisection bounds once a rate failed: (passed, failed).
    bounds: Option<(u64, u64)>,
    bisections: usize,
    done: bool,
}

impl Searcher {
    pub fn new(name: &'static str, plan: Plan) -> Self {
        let current = Step::at(plan.start);
        let done = plan.start > plan.max;
        Searcher { name, plan, steps: Vec::new(), current, best: 0, bounds: None, bisections: 0, done }
    }

    /// The rate to run next; `None` once the search is over.
    pub fn next_rate(&self) -> Option<u64> {
        (!self.done).then_some(self.current.edits_per_s)
    }

    /// One run of [`Searcher::next_rate`].
    pub fn record(&mut self, run: &Run) {
        let rate = self.current.edits_per_s;
        let cpu_per_edit = run.cpu_us / run.edits.max(1) as f64;
        let pass = self.plan.passes(run.latency.p99_ms, run.delivered);
        eprintln!(
            "  {} {rate} edits/s: p50 {:.2} ms, p99 {:.2} ms, delivered {:.3}, CPU {:.0} µs/edit: {}",
            self.name,
            run.latency.p50_ms,
            run.latency.p99_ms,
            run.delivered,
            cpu_per_edit,
            if pass { "pass" } else { "fail" }
        );
        let step = &mut self.current;
        step.p99_ms.push(run.latency.p99_ms);
        step.delivered.push(run.delivered);
        step.cpu_us_per_edit.push(cpu_per_edit);
        let majority = self.plan.runs.max(1) / 2 + 1;
        let plan = &self.plan;
        let passed = step.p99_ms.iter().zip(&step.delivered).filter(|&(p, d)| plan.passes(*p, *d)).count();
        let failed = step.p99_ms.len() - passed;
        if passed < majority && failed < majority {
            return;
        }
        step.pass = passed >= majority;
        if self.plan.runs > 1 {
            eprintln!(
                "  {} {rate} edits/s: {passed} of {} runs pass: {}",
                self.name,
                passed + failed,
                if step.pass { "pass" } else { "fail" }
            );
        }
        let pass = step.pass;
        self.steps.push(std::mem::replace(&mut self.current, Step::at(0)));
        if pass {
            self.best = self.best.max(rate);
        }
        let next = match self.bounds {
            None if pass => Some(rate * 2).filter(|&r| r <= self.plan.max),
            None => {
                self.bounds = Some((self.best, rate));
                self.bisect()
            }
            Some((lo, hi)) => {
                self.bounds = Some(if pass { (rate, hi) } else { (lo, rate) });
                self.bisect()
            }
        };
        match next {
            Some(r) => self.current = Step::at(r),
            None => self.done = true,
        }
    }

    /// The next bisection rate, if any is left.
    fn bisect(&mut self) -> Option<u64> {
        let (lo, hi) = self.bounds?;
        let mid = (lo + hi) / 2;
        if self.bisections >= self.plan.bisect || mid <= lo || mid >= hi {
            return None;
        }
        self.bisections += 1;
        Some(mid)
    }

    pub fn finish(self) -> Search {
        Search { best: self.best, steps: self.steps }
    }
}

impl Step {
    fn at(edits_per_s: u64) -> Self {
        Step {
            edits_per_s,
            p99_ms: Vec::new(),
            delivered: Vec::new(),
            cpu_us_per_edit: Vec::new(),
            pass: false,
        }
    }
}

/// One system's search, its runs one after the other.
pub async fn search<F, Fut>(name: &'static str, plan: &Plan, mut measure: F) -> Result<Search>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<Run>>,
{
    let mut searcher = Searcher::new(name, plan.clone());
    while let Some(rate) = searcher.next_rate() {
        searcher.record(&measure(rate).await?);
    }
    Ok(searcher.finish())
}

/// possync's search and the floor's, side by side: their runs alternate,
/// so that a slower minute of the shared machine (these are virtual
/// machines whose speed moves by a quarter from one minute to the next)
/// falls on both, not on whichever searched then.
pub async fn search_side_by_side<F, Fut>(plan: &Plan, mut measure: F) -> Result<(Search, Search)>
where
    F: FnMut(System, u64) -> Fut,
    Fut: Future<Output = Result<Run>>,
{
    let mut ours = Searcher::new("possync", plan.clone());
    let mut floor = Searcher::new("floor", plan.clone());
    loop {
        let (a, b) = (ours.next_rate(), floor.next_rate());
        if a.is_none() && b.is_none() {
            break;
        }
        if let Some(rate) = a {
            ours.record(&measure(System::Possync, rate).await?);
        }
        if let Some(rate) = b {
            floor.record(&measure(System::Floor, rate).await?);
        }
    }
    Ok((ours.finish(), floor.finish()))
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
    let (ours, floor) = if args.floor {
        eprintln!("possync and the floor, {n} terminals, their runs alternating:");
        let (ours, floor) = search_side_by_side(&plan, |system, rate| step(system, n, rate, seconds)).await?;
        (ours, Some(floor.best))
    } else {
        eprintln!("possync, {n} terminals:");
        (search("possync", &plan, |rate| step(System::Possync, n, rate, seconds)).await?, None)
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
        let result = search("test", &plan, |rate| {
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

    /// Side by side, the two searches take turns run by run, each going
    /// its own way: the floor goes on alone once possync's search is over.
    #[tokio::test]
    async fn side_by_side_searches_alternate_their_runs() {
        let plan = Plan { start: 100, max: 6400, bisect: 0, p99_bound_ms: 10.0, runs: 1 };
        let order = std::cell::RefCell::new(Vec::new());
        let (ours, floor) = search_side_by_side(&plan, |system, rate| {
            order.borrow_mut().push((system, rate));
            let limit = if system == System::Possync { 200 } else { 800 };
            async move { Ok(run(if rate <= limit { 5.0 } else { 20.0 })) }
        })
        .await
        .unwrap();
        assert_eq!((ours.best, floor.best), (200, 800));
        use System::{Floor, Possync};
        let expected = [
            (Possync, 100),
            (Floor, 100),
            (Possync, 200),
            (Floor, 200),
            (Possync, 400),
            (Floor, 400),
            (Floor, 800),
            (Floor, 1600),
        ];
        assert_eq!(order.into_inner(), expected);
    }
}
