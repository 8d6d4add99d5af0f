//! possync benchmarks. Each prints a table; `all` runs every benchmark next
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
mod propagation;
mod raw_order;
mod reconnect;
mod samod_peer;
mod stats;
mod throughput;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Logs only when asked (`RUST_LOG=...`): they cost time in the figures.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match args.first().map(String::as_str) {
        Some("all") => runtime.block_on(all::run(&args[1..], all::Scope::All)),
        Some("samod") => runtime.block_on(all::run(&args[1..], all::Scope::VersusSamod)),
        Some("propagation") => runtime.block_on(propagation::run(&args[1..])),
        Some("api-feed") => runtime.block_on(api_feed::run(&args[1..])),
        Some("api-write") => runtime.block_on(api_write::run(&args[1..])),
        Some("floor") => runtime.block_on(floor::run(&args[1..])),
        Some("throughput") => runtime.block_on(throughput::run(&args[1..])),
        Some("throughput-step") => runtime.block_on(throughput::run_step(&args[1..])),
        Some("catchup") => runtime.block_on(async {
            let orders: usize = flag(&args[1..], "--orders", 1000)?;
            let changes: usize = flag(&args[1..], "--changes", 50)?;
            for f in catchup::measure(&[orders], changes, 64).await? {
                println!("{f:?}");
            }
            Ok(())
        }),
        Some("samod-propagation") => runtime.block_on(async {
            let nodes: usize = flag(&args[1..], "--nodes", 5)?;
            let rate: u64 = flag(&args[1..], "--rate", 100)?;
            let seconds: u64 = flag(&args[1..], "--seconds", 10)?;
            let (p, delivered) = samod_peer::propagation(nodes, rate, seconds).await?;
            println!("| spokes | edits/s | samples | delivered | p50 ms | p90 ms | p99 ms | max ms |");
            println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
            println!(
                "| {nodes} | {rate} | {} | {delivered:.3} | {:.2} | {:.2} | {:.2} | {:.2} |",
                p.samples, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
            );
            Ok(())
        }),
        Some("samod-catchup") => runtime.block_on(async {
            let orders: Vec<usize> = flag(&args[1..], "--orders", "1000".to_owned())?
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()?;
            let changes: usize = flag(&args[1..], "--changes", 50)?;
            for f in samod_peer::catchup(&orders, changes).await? {
                println!("{f:?}");
            }
            Ok(())
        }),
        Some("cost") => runtime.block_on(async {
            let changes: usize = flag(&args[1..], "--changes", 3000)?;
            let orders: usize = flag(&args[1..], "--orders", 1000)?;
            println!("{:?}", cost::cpu_per_remote_change(changes, 200).await?);
            println!("{:?}", cost::memory(orders, 50).await?);
            Ok(())
        }),
        Some("child-cpu") => runtime.block_on(cost::child_cpu(&args[1..])),
        Some("child-rss") => runtime.block_on(cost::child_rss(&args[1..])),
        Some("child-idle") => runtime.block_on(cost::child_idle(&args[1..])),
        _ => bail!(
            "usage: possync-bench all [--quick] [--json FILE]\n       possync-bench samod [--quick] [--json FILE]\n       possync-bench samod-propagation [--nodes N] [--rate EDITS_PER_S] [--seconds S]\n       possync-bench samod-catchup [--orders N[,N...]] [--changes C]\n       possync-bench propagation [--nodes N] [--rate EDITS_PER_S] [--seconds S] [--json FILE]\n       possync-bench api-feed [--terminals N] [--rate EDITS_PER_S] [--seconds S]\n       possync-bench api-write [--terminals N] [--rate EDITS_PER_S] [--seconds S]\n       possync-bench floor [--nodes N] [--rate EDITS_PER_S] [--seconds S]\n       possync-bench throughput [--nodes N] [--seconds S] [--floor false]\n       possync-bench throughput-step --system possync|floor [--nodes N] [--rate EDITS_PER_S] [--seconds S]\n       possync-bench cost [--changes N] [--orders N]"
        ),
    }
}

/// `--name value` from the arguments, parsed, or the default.
pub fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => match args.get(i + 1).map(|v| v.parse::<T>()) {
            Some(Ok(v)) => Ok(v),
            _ => bail!("{name} needs a valid value"),
        },
    }
}
