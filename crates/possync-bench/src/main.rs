//! possync benchmarks (`--help` lists them). Each prints a table; `all` runs every benchmark next
//! to the floor (the bare network stack) and to samod (automerge-repo in
//! Rust, hub-and-spoke) and writes the figures as JSON; `samod` runs only
//! the samod comparison. Absolute times drift on shared machines: compare
//! figures measured in one run.
//!
//! ```sh
//! cargo run --release -p possync-bench -- all [--quick] [--json FILE]
//! cargo run --release -p possync-bench -- samod [--quick] [--json FILE]
//! cargo run --release -p possync-bench -- samod-propagation --nodes 5 --rate 100 --seconds 10
//! cargo run --release -p possync-bench -- samod-catchup --orders 1000,4000
//! cargo run --release -p possync-bench -- propagation --nodes 5 --rate 100 --seconds 10
//! cargo run --release -p possync-bench -- api-feed --terminals 3 --rate 50 --seconds 10
//! cargo run --release -p possync-bench -- api-write --terminals 5 --rate 200 --seconds 20
//! cargo run --release -p possync-bench -- floor --nodes 5 --rate 100 --seconds 10
//! cargo run --release -p possync-bench -- throughput [--floor false]
//! cargo run --release -p possync-bench -- scale --terminals 30 --curve 5,10,20,30
//! cargo run --release -p possync-bench -- sim-scale --terminals 100
//! cargo run --release -p possync-bench -- throughput-step --system possync --nodes 5 --rate 1000 --seconds 5
//! ```
#![allow(clippy::print_stdout)]

mod all;
mod api_feed;
mod api_write;
mod catchup;
mod common;
mod cost;
mod floor;
mod procs;
mod propagation;
mod raw_order;
mod reconnect;
mod samod_peer;
mod scale;
mod sim_scale;
mod stats;
mod throughput;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// possync benchmarks: each prints a table (release builds give meaningful figures).
#[derive(Debug, Parser)]
#[command(name = "possync-bench", version)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Every benchmark, next to the floor (the bare stack) and samod; writes JSON.
    All(all::Args),
    /// Only the comparison with samod (automerge-repo); writes JSON.
    Samod(all::Args),
    /// Edit on one terminal to applied on the others, in process.
    Propagation(propagation::Args),
    /// API edit on one terminal to WebSocket event on the others.
    ApiFeed(api_feed::Args),
    /// Latency of acknowledged API writes (answered once durable) while
    /// every terminal takes writes.
    ApiWrite(api_write::Args),
    /// The bare stack (libp2p gossipsub + Automerge) as `propagation` measures possync.
    Floor(propagation::RateArgs),
    /// The highest edit rate kept under the latency bound, possync and the floor.
    Throughput(throughput::Args),
    /// Larger floors (30 terminals by default) next to the floor: latency,
    /// CPU per edit as the floor grows, idle CPU, a late join.
    Scale(scale::Args),
    /// 100 terminals in the simulator: engine work and traffic per edit,
    /// idle traffic, a late join.
    SimScale(sim_scale::Args),
    /// One measurement of `scale` (run in a child process by `scale`).
    #[command(hide = true)]
    ScaleStep(scale::StepArgs),
    /// One step of `throughput` (run in a child process by `throughput`).
    ThroughputStep(throughput::StepArgs),
    /// Catch-up of a terminal that missed `--orders` orders.
    Catchup {
        #[arg(long, default_value_t = 1000)]
        orders: usize,
        /// Changes per order.
        #[arg(long, default_value_t = 50)]
        changes: usize,
    },
    /// samod's propagation through its hub.
    SamodPropagation(propagation::RateArgs),
    /// samod's catch-up, for each of `--orders` (comma-separated).
    SamodCatchup {
        #[arg(long, value_delimiter = ',', default_value = "1000")]
        orders: Vec<usize>,
        /// Changes per order.
        #[arg(long, default_value_t = 50)]
        changes: usize,
    },
    /// CPU per remote change, memory and disk per order.
    Cost {
        #[arg(long, default_value_t = 3000)]
        changes: usize,
        #[arg(long, default_value_t = 1000)]
        orders: usize,
    },
    #[command(hide = true)]
    ChildCpu(cost::ChildCpuArgs),
    #[command(hide = true)]
    ChildRss(cost::ChildRssArgs),
    #[command(hide = true)]
    ChildIdle(cost::ChildIdleArgs),
    /// One terminal of a run with every terminal in a process of its own.
    #[command(hide = true)]
    Terminal(procs::TerminalArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // Logs only when asked (`RUST_LOG=...`): they cost time in the figures.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match cli.bench {
        Bench::All(args) => runtime.block_on(all::run(args, all::Scope::All)),
        Bench::Samod(args) => runtime.block_on(all::run(args, all::Scope::VersusSamod)),
        Bench::Propagation(args) => runtime.block_on(propagation::run(args)),
        Bench::ApiFeed(args) => runtime.block_on(api_feed::run(args)),
        Bench::ApiWrite(args) => runtime.block_on(api_write::run(args)),
        Bench::Floor(args) => runtime.block_on(floor::run(args)),
        Bench::Throughput(args) => runtime.block_on(throughput::run(args)),
        Bench::Scale(args) => runtime.block_on(scale::run(args)),
        Bench::SimScale(args) => sim_scale::run(args),
        Bench::ScaleStep(args) => runtime.block_on(scale::run_step(args)),
        Bench::ThroughputStep(args) => runtime.block_on(throughput::run_step(args)),
        Bench::Catchup { orders, changes } => runtime.block_on(async {
            for f in catchup::measure(&[orders], changes, 64).await? {
                println!("{f:?}");
            }
            Ok(())
        }),
        Bench::SamodPropagation(propagation::RateArgs { nodes, rate, seconds }) => runtime.block_on(async {
            let (p, delivered) = samod_peer::propagation(nodes, rate, seconds).await?;
            println!("| spokes | edits/s | samples | delivered | p50 ms | p90 ms | p99 ms | max ms |");
            println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
            println!(
                "| {nodes} | {rate} | {} | {delivered:.3} | {:.2} | {:.2} | {:.2} | {:.2} |",
                p.samples, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
            );
            Ok(())
        }),
        Bench::SamodCatchup { orders, changes } => runtime.block_on(async {
            for f in samod_peer::catchup(&orders, changes).await? {
                println!("{f:?}");
            }
            Ok(())
        }),
        Bench::Cost { changes, orders } => runtime.block_on(async {
            println!("{:?}", cost::cpu_per_remote_change(changes, 200).await?);
            println!("{:?}", cost::memory(orders, 50).await?);
            Ok(())
        }),
        Bench::ChildCpu(args) => runtime.block_on(cost::child_cpu(args)),
        Bench::ChildRss(args) => runtime.block_on(cost::child_rss(args)),
        Bench::ChildIdle(args) => runtime.block_on(cost::child_idle(args)),
        Bench::Terminal(args) => runtime.block_on(procs::terminal(args)),
    }
}
