//! Larger floors: the figures of `propagation`, idle CPU and a late join at
//! 30 terminals (real nodes in one process over loopback, as every other
//! run here), next to the floor (the bare stack) in the same run, and the
//! CPU per edit as the floor grows (5, 10, 20, 30 terminals).
//!
//! Each measurement runs in a child process of its own (`scale-step`):
//! 30 terminals leave threads, sockets and redb files behind that would
//! skew the next step in a shared process. The systems take turns at each
//! size, so that a slower minute of the shared machine hits both.
//!
//! CPU per edit per terminal is the child's process CPU (user + system,
//! every terminal's threads) from the first edit to 2 s after the last,
//! divided by the edits and by the terminals: the mean cost one edit puts
//! on one terminal of the floor (its author's share included), idle work
//! over the window included (reported on its own as well).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use possync::SessionKey;
use serde::Serialize;

use crate::common::{build_orders, cpu_time_us, scratch, spawn_node, wait_peers};
use crate::cost::{child, next_line};
use crate::propagation::Run;
use crate::{cost, floor, procs, propagation};

/// Options of `scale`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Terminals of the large floor (propagation, idle, join).
    #[arg(long, default_value_t = 30)]
    pub terminals: usize,
    /// Floor sizes of the CPU-per-edit curve (comma-separated); the large
    /// floor's propagation figure is the run at `--terminals`.
    #[arg(long, value_delimiter = ',', default_value = "5,10,20,30")]
    pub curve: Vec<usize>,
    /// Edits per second, over all terminals.
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    /// How long to send edits at each size.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Runs of each (system, size); each figure is the median-p99 run.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Orders the floor holds when a terminal joins (50 changes each).
    #[arg(long, default_value_t = 2000)]
    pub orders: usize,
    /// Window of the idle measurement.
    #[arg(long, default_value_t = 20)]
    pub idle_seconds: u64,
    /// Every terminal (and every swarm of the floor) in an operating system
    /// process of its own, as on a real floor, for the latency and CPU
    /// rows; without it they share one process.
    #[arg(long, default_value_t = false)]
    pub processes: bool,
    /// Skip the join (it builds a fixture: ~1 min at 2,000 orders).
    #[arg(long, default_value_t = false)]
    pub no_join: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<String>,
}

/// What one `scale-step` child measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum What {
    /// possync's propagation at `--rate`.
    Possync,
    /// The floor's propagation at `--rate`.
    Floor,
    /// possync's propagation at `--rate`, each terminal a process.
    PossyncProcesses,
    /// The floor's propagation at `--rate`, each swarm a process.
    FloorProcesses,
    /// possync's terminals connected and idle.
    PossyncIdle,
    /// The floor's swarms connected and idle.
    FloorIdle,
    /// possync's terminals connected and idle, each a process.
    PossyncIdleProcesses,
    /// The floor's swarms connected and idle, each a process.
    FloorIdleProcesses,
    /// A terminal joining `--nodes` terminals that hold `--orders` orders.
    Join,
}

/// Options of the hidden `scale-step` subcommand.
#[derive(Debug, clap::Args)]
pub struct StepArgs {
    #[arg(long, value_enum)]
    what: What,
    #[arg(long, default_value_t = 30)]
    nodes: usize,
    #[arg(long, default_value_t = 100)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 2000)]
    orders: usize,
}

/// A late joiner's catch-up on a large floor.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Join {
    pub terminals: usize,
    pub orders: usize,
    /// From starting the joiner until it holds every order.
    pub seconds: f64,
    /// Whether every order it then shows equals the view of the terminal
    /// that built them (the floor is idle: nothing changes meanwhile).
    pub identical: bool,
    /// Catch-up messages the joiner sent and received.
    pub messages: u64,
    /// Process CPU (all terminals) over the join.
    pub cpu_s: f64,
    /// Time to build the fixture and bring every terminal of the floor to it.
    pub setup_s: f64,
}

/// The `scale-step` subcommand: prints `STEP <json>`.
pub async fn run_step(args: StepArgs) -> Result<()> {
    let StepArgs { what, nodes, rate, seconds, orders } = args;
    let json = match what {
        What::Possync => {
            serde_json::to_string(&propagation::measure_run(nodes, rate, seconds, false).await?)?
        }
        What::Floor => serde_json::to_string(&floor::measure_run(nodes, rate, seconds).await?)?,
        What::PossyncProcesses => {
            serde_json::to_string(&procs::measure(procs::System::Possync, nodes, rate, seconds).await?)?
        }
        What::FloorProcesses => {
            serde_json::to_string(&procs::measure(procs::System::Floor, nodes, rate, seconds).await?)?
        }
        What::PossyncIdle => serde_json::to_string(&cost::idle_in_process(nodes, seconds).await?)?,
        What::FloorIdle => serde_json::to_string(&floor::idle_cpu_us(nodes, seconds).await?)?,
        What::PossyncIdleProcesses => {
            serde_json::to_string(&procs::idle_cpu_us(procs::System::Possync, nodes, seconds).await?)?
        }
        What::FloorIdleProcesses => {
            serde_json::to_string(&procs::idle_cpu_us(procs::System::Floor, nodes, seconds).await?)?
        }
        What::Join => serde_json::to_string(&join(nodes, orders).await?)?,
    };
    println!("STEP {json}");
    Ok(())
}

/// `terminals` terminals holding `orders` orders of 50 changes, then one
/// more joins, dialling all of them. The fixture is built on the first
/// terminal alone and its order file copied to the others before they
/// start (a cloned terminal image: each starts with a new actor), as
/// bringing 29 terminals to it by gossip or catch-up would take this
/// machine minutes.
async fn join(terminals: usize, orders: usize) -> Result<Join> {
    let t_setup = Instant::now();
    let dir = scratch("join");
    let key = SessionKey::generate()?;
    let first = spawn_node(&dir, "T0", &key, Vec::new()).await?;
    build_orders(&first, orders, 50, 64).await?;
    first.shutdown().await?;
    for i in 1..terminals {
        let to = dir.join(format!("T{i}"));
        std::fs::create_dir_all(&to)?;
        std::fs::copy(dir.join("T0").join(ORDER_FILE), to.join(ORDER_FILE))
            .context("copying the order file")?;
    }
    let mut nodes: Vec<possync::Node> = Vec::new();
    for i in 0..terminals {
        let peers: Vec<_> = nodes.iter().flat_map(|p| p.listen_addrs().to_vec()).collect();
        let node = spawn_node(&dir, &format!("T{i}"), &key, peers).await?;
        wait_orders(&node, orders, Duration::from_secs(120)).await.with_context(|| format!("T{i} set-up"))?;
        nodes.push(node);
    }
    wait_peers(&nodes, terminals - 1).await?;
    // Let the set-up's catch-up sessions end before timing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let setup_s = t_setup.elapsed().as_secs_f64();
    eprintln!("  {terminals} terminals hold {orders} orders ({setup_s:.1} s)");

    let peers: Vec<_> = nodes.iter().flat_map(|p| p.listen_addrs().to_vec()).collect();
    let cpu0 = cpu_time_us()?;
    let t0 = Instant::now();
    let joiner = spawn_node(&dir, "NEW", &key, peers).await?;
    wait_orders(&joiner, orders, Duration::from_secs(120)).await.context("joiner")?;
    let seconds = t0.elapsed().as_secs_f64();
    let cpu_s = (cpu_time_us()? - cpu0) / 1e6;
    let mut theirs = nodes[0].orders(false).await?;
    let mut mine = joiner.orders(false).await?;
    theirs.sort_by(|a, b| a.id.cmp(&b.id));
    mine.sort_by(|a, b| a.id.cmp(&b.id));
    let identical = theirs.len() == orders && theirs == mine;
    let c = joiner.status().await?.counters;
    joiner.shutdown().await?;
    for node in &nodes {
        node.shutdown().await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Join {
        terminals,
        orders,
        seconds,
        identical,
        messages: c.catchup_sent + c.catchup_received,
        cpu_s,
        setup_s,
    })
}

/// The order database in a terminal's data directory (`possync-store`).
const ORDER_FILE: &str = "possync.redb";

/// Waits until `node` holds `orders` open orders.
async fn wait_orders(node: &possync::Node, orders: usize, max: Duration) -> Result<()> {
    let deadline = Instant::now() + max;
    while node.status().await?.open_orders < orders {
        anyhow::ensure!(Instant::now() < deadline, "{orders} orders not reached in {max:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// Runs one `scale-step` child and returns what it printed after `STEP `.
async fn step(what: What, nodes: usize, rate: u64, seconds: u64, orders: usize) -> Result<serde_json::Value> {
    let name = serde_json::to_value(what)?.as_str().unwrap_or_default().replace('_', "-");
    let args: Vec<String> = vec![
        "scale-step".into(),
        "--what".into(),
        name,
        "--nodes".into(),
        nodes.to_string(),
        "--rate".into(),
        rate.to_string(),
        "--seconds".into(),
        seconds.to_string(),
        "--orders".into(),
        orders.to_string(),
    ];
    let (mut proc, rx) = child(&args)?;
    let line = next_line(&rx, Duration::from_secs(seconds + 900)).await?;
    let _ = proc.wait();
    let json = line.strip_prefix("STEP ").with_context(|| format!("unexpected child output {line:?}"))?;
    Ok(serde_json::from_str(json)?)
}

/// One system's propagation at one size: every run, and the median-p99 one.
#[derive(Debug, Clone, Serialize)]
pub struct Size {
    pub terminals: usize,
    pub runs: Vec<Run>,
    pub median: Run,
    /// The median run's CPU per edit per terminal, µs.
    pub cpu_us_per_edit_per_terminal: f64,
}

impl Size {
    fn of(terminals: usize, mut runs: Vec<Run>) -> Result<Size> {
        let mut by_p99 = runs.clone();
        by_p99.sort_by(|a, b| a.latency.p99_ms.total_cmp(&b.latency.p99_ms));
        let median = *by_p99.get(by_p99.len() / 2).context("no run")?;
        runs.shrink_to_fit();
        let per = median.cpu_us / median.edits.max(1) as f64 / terminals as f64;
        Ok(Size { terminals, runs, median, cpu_us_per_edit_per_terminal: per })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// Whether each terminal ran in a process of its own (`--processes`).
    pub processes: bool,
    pub edits_per_s: u64,
    pub seconds: u64,
    pub possync: Vec<Size>,
    pub floor: Vec<Size>,
    /// Idle CPU per terminal at `--terminals`, percent of one core.
    pub possync_idle_percent_per_terminal: f64,
    pub floor_idle_percent_per_terminal: f64,
    pub join: Option<Join>,
}

/// The `scale` subcommand.
pub async fn run(args: Args) -> Result<()> {
    let mut sizes = args.curve.clone();
    if !sizes.contains(&args.terminals) {
        sizes.push(args.terminals);
    }
    sizes.sort_unstable();
    let (mut ours, mut floors) = (Vec::new(), Vec::new());
    for &n in &sizes {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (ours_what, floor_what) = if args.processes {
            (What::PossyncProcesses, What::FloorProcesses)
        } else {
            (What::Possync, What::Floor)
        };
        for r in 0..args.runs.max(1) {
            let p: Run = serde_json::from_value(step(ours_what, n, args.rate, args.seconds, 0).await?)?;
            let f: Run = serde_json::from_value(step(floor_what, n, args.rate, args.seconds, 0).await?)?;
            eprintln!(
                "  {n} terminals, run {}: possync p99 {:.2} ms ({:.3} seen, {:.0} µs CPU/edit/terminal), \
                 floor p99 {:.2} ms ({:.3}, {:.0} µs)",
                r + 1,
                p.latency.p99_ms,
                p.delivered,
                p.cpu_us / p.edits as f64 / n as f64,
                f.latency.p99_ms,
                f.delivered,
                f.cpu_us / f.edits as f64 / n as f64,
            );
            a.push(p);
            b.push(f);
        }
        ours.push(Size::of(n, a)?);
        floors.push(Size::of(n, b)?);
    }
    let n = args.terminals;
    let per_terminal = |cpu_us: f64| cpu_us / (args.idle_seconds as f64 * 1e6) * 100.0 / n as f64;
    let (ours_idle, floor_idle) = if args.processes {
        (What::PossyncIdleProcesses, What::FloorIdleProcesses)
    } else {
        (What::PossyncIdle, What::FloorIdle)
    };
    let ours_idle =
        per_terminal(step(ours_idle, n, 0, args.idle_seconds, 0).await?.as_f64().unwrap_or(f64::NAN));
    let floor_idle =
        per_terminal(step(floor_idle, n, 0, args.idle_seconds, 0).await?.as_f64().unwrap_or(f64::NAN));
    let join = if args.no_join {
        None
    } else {
        Some(serde_json::from_value::<Join>(step(What::Join, n, 0, 0, args.orders).await?)?)
    };
    let figures = Figures {
        processes: args.processes,
        edits_per_s: args.rate,
        seconds: args.seconds,
        possync: ours,
        floor: floors,
        possync_idle_percent_per_terminal: ours_idle,
        floor_idle_percent_per_terminal: floor_idle,
        join,
    };
    print_table(&figures);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&figures)?)?;
    }
    Ok(())
}

fn print_table(f: &Figures) {
    let how = if f.processes { "each terminal a process" } else { "every terminal in one process" };
    println!("{} edits/s over {} s, {how}:", f.edits_per_s, f.seconds);
    println!(
        "| terminals | possync p50 / p99 / max ms | floor p50 / p99 / max ms | p99 ratio | possync CPU µs per edit per terminal | floor | CPU ratio |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (p, fl) in f.possync.iter().zip(&f.floor) {
        let (a, b) = (p.median.latency, fl.median.latency);
        println!(
            "| {} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {:.2}× | {:.0} | {:.0} | {:.2}× |",
            p.terminals,
            a.p50_ms,
            a.p99_ms,
            a.max_ms,
            b.p50_ms,
            b.p99_ms,
            b.max_ms,
            a.p99_ms / b.p99_ms,
            p.cpu_us_per_edit_per_terminal,
            fl.cpu_us_per_edit_per_terminal,
            p.cpu_us_per_edit_per_terminal / fl.cpu_us_per_edit_per_terminal,
        );
    }
    println!();
    println!(
        "idle CPU per terminal: possync {:.3} %, floor {:.3} % of one core",
        f.possync_idle_percent_per_terminal, f.floor_idle_percent_per_terminal
    );
    if let Some(j) = &f.join {
        println!(
            "join: a terminal joining {} terminals holding {} orders: {:.3} s, identical: {}, {} catch-up messages, {:.2} s CPU",
            j.terminals, j.orders, j.seconds, j.identical, j.messages, j.cpu_s
        );
    }
}
