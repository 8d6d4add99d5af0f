//! Measures the store on this machine's disk and prints a table:
//!
//! - the latency of a durable commit of one `Append` of one change (what a
//!   local edit waits for before it is acknowledged), and of a group commit
//!   of 10 such batches;
//! - the bytes on disk per order of 50 changes, as a change log and as
//!   snapshots, before and after compaction.
//!
//! Run on the disk to measure (the data directory of a terminal, say):
//!
//! ```text
//! cargo run --release -p possync-store --example store_figures -- [DIR] [COMMITS]
//! ```
//!
//! DIR defaults to a temporary directory under the system's temp dir; a
//! `store-figures-*` directory is created inside it and removed afterwards.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use possync_engine::StoreOp;
use possync_model::automerge::ActorId;
use possync_model::{
    Edit, EditContext, LineId, Money, NewLine, NewOrder, OrderDoc, OrderId, OrderName, Quantity, TerminalId,
};
use possync_store::Store;

const CHANGES_PER_ORDER: usize = 50;
const ORDERS: usize = 100;

type Res<T> = Result<T, Box<dyn Error>>;

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let base = args.next().map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let commits: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(1000);
    let dir = tempfile::Builder::new().prefix("store-figures-").tempdir_in(&base)?;
    println!("store figures in {}", dir.path().display());

    let orders = (0..ORDERS).map(order).collect::<Res<Vec<_>>>()?;
    let change_bytes: usize = orders[0].1.iter().map(Vec::len).sum();
    let snapshot_bytes = orders[0].2.len();

    // ---- commit latency ------------------------------------------------------
    let one = {
        let mut store = Store::open(&dir.path().join("latency"))?;
        let (id, changes, _) = &orders[0];
        let mut took = Vec::with_capacity(commits);
        for i in 0..commits {
            let change = changes[i % changes.len()].clone();
            let batch = vec![StoreOp::Append { order: id.clone(), changes: vec![change] }];
            let started = Instant::now();
            store.apply(&[batch])?;
            took.push(started.elapsed());
        }
        took
    };
    let group = {
        let mut store = Store::open(&dir.path().join("group"))?;
        let mut took = Vec::with_capacity(commits / 10);
        for i in 0..commits / 10 {
            let batches: Vec<Vec<StoreOp>> = (0..10)
                .map(|j| {
                    let (id, changes, _) = &orders[j];
                    vec![StoreOp::Append {
                        order: id.clone(),
                        changes: vec![changes[i % changes.len()].clone()],
                    }]
                })
                .collect();
            let started = Instant::now();
            store.apply(&batches)?;
            took.push(started.elapsed());
        }
        took
    };

    // ---- bytes on disk -------------------------------------------------------
    let data = dir.path().join("size");
    let mut store = Store::open(&data)?;
    let empty = store.stats()?.file_bytes;
    // As a terminal writes them: one durable commit per change.
    for step in 0..CHANGES_PER_ORDER {
        for (id, changes, _) in &orders {
            store.apply(&[vec![StoreOp::Append {
                order: id.clone(),
                changes: vec![changes[step].clone()],
            }]])?;
        }
    }
    let log = store.stats()?;
    store.compact()?;
    let log_compacted = store.stats()?.file_bytes;
    // Every order folded into a snapshot (what the engine does every so many changes).
    let snapshots: Vec<StoreOp> = orders
        .iter()
        .map(|(id, _, saved)| StoreOp::Snapshot { order: id.clone(), bytes: saved.clone() })
        .collect();
    store.apply(&[snapshots])?;
    let snap = store.stats()?;
    store.compact()?;
    let snap_compacted = store.stats()?.file_bytes;
    let loaded = store.load()?;
    assert_eq!(loaded.orders.len(), ORDERS);
    drop(store);

    println!();
    println!("| durable commit of | commits | p50 | p90 | p99 | max | mean |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    row("1 batch: 1 Append of 1 change", &one);
    row("10 batches (group commit)", &group);
    println!();
    println!(
        "{ORDERS} orders of {CHANGES_PER_ORDER} changes: {change_bytes} B of raw changes, {snapshot_bytes} B saved (order 0)"
    );
    println!("empty store file: {empty} B");
    println!();
    println!("| stored as | log changes | file | per order | after compact | per order |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| change log (1 commit per change) | {} | {} | {} | {} | {} |",
        log.log_changes,
        log.file_bytes,
        (log.file_bytes - empty) / ORDERS as u64,
        log_compacted,
        (log_compacted - empty) / ORDERS as u64
    );
    println!(
        "| snapshot | {} | {} | {} | {} | {} |",
        snap.log_changes,
        snap.file_bytes,
        (snap.file_bytes - empty) / ORDERS as u64,
        snap_compacted,
        (snap_compacted - empty) / ORDERS as u64
    );
    Ok(())
}

fn row(what: &str, took: &[Duration]) {
    let mut sorted = took.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    let mean = sorted.iter().sum::<Duration>() / sorted.len() as u32;
    println!(
        "| {what} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        sorted.len(),
        ms(at(0.50)),
        ms(at(0.90)),
        ms(at(0.99)),
        ms(sorted[sorted.len() - 1]),
        ms(mean)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ctx(at_ms: i64) -> Res<EditContext> {
    Ok(EditContext::new("anna", TerminalId::parse("BAR")?, at_ms))
}

fn line(i: usize) -> Res<NewLine> {
    Ok(NewLine::new(
        LineId::parse(&format!("line-{i}"))?,
        format!("product-{i}"),
        format!("Product {i}"),
        Quantity::units(1),
        Money(250 + i as i64),
    ))
}

/// A typical order of 50 changes, built as the model's benchmark builds it:
/// opened, 12 lines, customer, table, guests, kitchen ticket, then
/// quantities and notes. Returns its id, its changes and its saved document.
fn order(n: usize) -> Res<(OrderId, Vec<Vec<u8>>, Vec<u8>)> {
    let terminal = TerminalId::parse("BAR")?;
    let id = OrderId::from_random(0x5eed_0000 + n as u128);
    let new = NewOrder::new(id.clone(), OrderName::compose(&terminal, n as u64 + 1));
    let mut actor = [1u8; 16];
    actor[0] = n as u8;
    let (mut doc, first) = OrderDoc::open(ActorId::from(actor), &ctx(0)?, &new)?;
    let mut changes = vec![first.bytes];
    let mut i = 1;
    while changes.len() < CHANGES_PER_ORDER {
        let edit = match i {
            1..=12 => Edit::AddLine(line(i)?),
            13 => Edit::SetCustomer { customer: Some("customer-7".into()) },
            14 => Edit::SetTable { table: Some("T4".into()), floor: Some("main".into()) },
            15 => Edit::SetGuests { guests: 4 },
            16 => Edit::SendToKitchen { lines: None },
            k if k % 3 == 0 => Edit::SetLineNote { line: line(k % 12 + 1)?.id, note: format!("note {k}") },
            k => Edit::ChangeQty { line: line(k % 12 + 1)?.id, delta: Quantity::units(1) },
        };
        if let Some(change) = doc.edit(&ctx(i as i64 * 1000)?, &edit)? {
            changes.push(change.bytes);
        }
        i += 1;
    }
    let saved = doc.save();
    Ok((id, changes, saved))
}
