//! Crash safety under injected IO failures: for every IO call of a workload,
//! fail the disk there, crash, reopen what survived, and check that every
//! acknowledged batch is there, and that the batch in flight is there
//! entirely or not at all.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use possync_engine::{StoreOp, StoredOrder};
use possync_model::OrderId;

use crate::fault::{CrashMode, MemDisk};
use crate::{Loaded, Store};

fn id(n: usize) -> OrderId {
    OrderId::parse(&format!("order-{n}")).unwrap()
}

/// Deterministic bytes of a given length, distinct per (tag, len).
fn bytes(tag: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) ^ tag.wrapping_mul(131)) as u8).collect()
}

/// About 20 batches over 5 orders, every kind of op, sizes from a few bytes
/// to several pages, grouped into commits of one to three batches.
fn workload() -> Vec<Vec<Vec<StoreOp>>> {
    let mut batches: Vec<Vec<StoreOp>> = Vec::new();
    for i in 0..22usize {
        let mut batch = Vec::new();
        let order = id(i % 5);
        let sizes: &[usize] = match i % 4 {
            0 => &[40],
            1 => &[120, 3000],
            2 => &[9000],
            _ => &[10, 20, 30],
        };
        batch.push(StoreOp::Append {
            order: order.clone(),
            changes: sizes.iter().enumerate().map(|(j, &len)| bytes(i * 10 + j, len)).collect(),
        });
        if i % 2 == 1 {
            batch.push(StoreOp::Append { order: id((i + 2) % 5), changes: vec![bytes(i * 10 + 7, 64)] });
        }
        if i % 6 == 5 {
            batch
                .push(StoreOp::Snapshot { order: id((i + 1) % 5), bytes: bytes(i * 10 + 8, 2000 + i * 300) });
        }
        match i {
            7 => batch.push(StoreOp::Archive { order: id(2), at_ms: Some(7_000) }),
            9 => batch.push(StoreOp::Archive { order: id(1), at_ms: None }),
            12 => batch.push(StoreOp::Unarchive { order: id(2) }),
            15 => batch.push(StoreOp::Delete { order: id(3) }),
            18 => {
                batch.push(StoreOp::Archive { order: id(4), at_ms: Some(18_000) });
                batch.push(StoreOp::Delete { order: id(1) });
            }
            _ => {}
        }
        if i % 5 == 4 {
            // The catalogue document, replaced whole now and then.
            batch.push(StoreOp::Catalogue { bytes: bytes(i * 10 + 9, 1500 + i * 100) });
        }
        if i % 3 == 0 {
            // Not monotonic on purpose: the store keeps the maximum.
            batch.push(StoreOp::NextSequence(if i == 9 { 2 } else { i as u64 + 1 }));
        }
        batches.push(batch);
    }
    // Group commit: some commits carry several batches.
    let mut commits = Vec::new();
    let mut it = batches.into_iter();
    let mut size = 0;
    loop {
        let group: Vec<_> = it.by_ref().take(size % 3 + 1).collect();
        if group.is_empty() {
            break;
        }
        commits.push(group);
        size += 1;
    }
    commits
}

/// An order's snapshot and changes.
type Record = (Option<Vec<u8>>, Vec<Vec<u8>>);

/// What the store must hold after the first `n` commits.
fn expected(commits: &[Vec<Vec<StoreOp>>], n: usize) -> Loaded {
    let mut orders: BTreeMap<OrderId, Record> = BTreeMap::new();
    let mut archived = BTreeMap::new();
    let mut next_sequence = None;
    let mut catalogue = None;
    for op in commits[..n].iter().flatten().flatten() {
        match op {
            StoreOp::Append { order, changes } => {
                orders.entry(order.clone()).or_default().1.extend(changes.iter().cloned())
            }
            StoreOp::Snapshot { order, bytes } => {
                *orders.entry(order.clone()).or_default() = (Some(bytes.clone()), Vec::new())
            }
            StoreOp::Archive { order, at_ms } => {
                archived.insert(order.clone(), *at_ms);
            }
            StoreOp::Unarchive { order } => {
                archived.remove(order);
            }
            StoreOp::Delete { order } => {
                orders.remove(order);
                archived.remove(order);
            }
            StoreOp::NextSequence(s) => next_sequence = Some(next_sequence.unwrap_or(0).max(*s)),
            StoreOp::Catalogue { bytes } => catalogue = Some(bytes.clone()),
        }
    }
    Loaded {
        orders: orders
            .into_iter()
            .filter(|(_, (snapshot, changes))| snapshot.is_some() || !changes.is_empty())
            .map(|(id, (snapshot, changes))| {
                let archived_at_ms = archived.get(&id).copied().flatten();
                StoredOrder { id, snapshot, changes, archived_at_ms }
            })
            .collect(),
        archived: archived.into_keys().collect(),
        next_sequence: next_sequence.unwrap_or(1),
        damaged: Vec::new(),
        catalogue,
    }
}

/// `Loaded` in a comparable form (`StoredOrder` has no `PartialEq`).
type Plain = (
    Vec<(OrderId, Option<Vec<u8>>, Vec<Vec<u8>>, Option<i64>)>,
    BTreeSet<OrderId>,
    u64,
    Vec<(String, String)>,
    Option<Vec<u8>>,
);

fn plain(l: &Loaded) -> Plain {
    (
        l.orders
            .iter()
            .map(|o| (o.id.clone(), o.snapshot.clone(), o.changes.clone(), o.archived_at_ms))
            .collect(),
        l.archived.clone(),
        l.next_sequence,
        l.damaged.clone(),
        l.catalogue.clone(),
    )
}

fn label() -> &'static Path {
    Path::new("mem:possync.redb")
}

/// How a workload's commits are made.
#[derive(Clone, Copy)]
enum Commits {
    /// Every commit durable (`Store::apply`).
    Durable,
    /// Two commits of three deferred (`Store::apply_deferred`), the third
    /// durable, as a node commits peers' changes between its own edits.
    Mixed,
}

impl Commits {
    fn deferred(self, index: usize) -> bool {
        matches!(self, Commits::Mixed) && index % 3 != 2
    }
}

/// What a run acknowledged: every commit up to `acknowledged` returned Ok,
/// and the first `durable` of them are on disk by contract (the last durable
/// commit acknowledged carries every earlier deferred one).
struct Acked {
    acknowledged: usize,
    durable: usize,
}

/// Runs the workload on `disk`; returns the store, what was acknowledged
/// and the IO calls its creation took.
/// Panics if a commit succeeds after one failed (a dead disk cannot have
/// made it durable).
///
/// The store is created before `fail_at`, which counts IO calls from then
/// on: a crash while the file is first created is covered by
/// `Store::open`'s atomic creation (a rename), tested on a real directory.
fn run(
    disk: &MemDisk,
    commits: &[Vec<Vec<StoreOp>>],
    how: Commits,
    fail_at: Option<u64>,
) -> (Store, Acked, u64) {
    let mut store = Store::open_with_backend(disk.backend(), label()).unwrap();
    let base = disk.io_calls();
    if let Some(n) = fail_at {
        disk.fail_after(base + n);
    }
    let mut acked = Acked { acknowledged: 0, durable: 0 };
    let mut failed = false;
    for (index, commit) in commits.iter().enumerate() {
        let result = if how.deferred(index) { store.apply_deferred(commit) } else { store.apply(commit) };
        match result {
            Ok(()) => {
                assert!(!failed, "a commit returned Ok after an earlier failure on a dead disk");
                acked.acknowledged += 1;
                if !how.deferred(index) {
                    acked.durable = acked.acknowledged;
                }
            }
            Err(_) => failed = true,
        }
    }
    (store, acked, base)
}

fn summary(l: &Loaded) -> String {
    let orders: Vec<String> = l
        .orders
        .iter()
        .map(|o| {
            format!("{}: snapshot {:?}, {} changes", o.id, o.snapshot.as_ref().map(Vec::len), o.changes.len())
        })
        .collect();
    format!("{orders:?} archived {:?} next {} damaged {:?}", l.archived, l.next_sequence, l.damaged)
}

/// Returns at how many failure points the reopen rolled back an incomplete
/// last commit.
fn check_every_failure_point(how: Commits, mode: impl Fn(u64) -> CrashMode) -> usize {
    let commits = workload();
    assert!(commits.iter().map(Vec::len).sum::<usize>() >= 20);

    // A healthy run: count the IO calls and check the end state.
    let disk = MemDisk::new();
    let (mut store, acked, base) = run(&disk, &commits, how, None);
    assert_eq!(acked.acknowledged, commits.len());
    assert_eq!(plain(&store.load().unwrap()), plain(&expected(&commits, commits.len())));
    store.sync().unwrap();
    let total = disk.io_calls() - base;
    drop(store);
    assert!(total > 50, "only {total} IO calls");

    let mut failures = Vec::new();
    let mut rolled_back = 0;
    for n in 0..=total {
        let disk = MemDisk::new();
        let (store, acked, _) = run(&disk, &commits, how, Some(n));
        let image = disk.crash(mode(n));
        drop(store);
        match reopen_and_check(image, &commits, &acked) {
            Ok(rolled) => rolled_back += usize::from(rolled),
            Err(e) => failures.push(format!(
                "failure at IO call {n} (of {total}), {} commits acknowledged, {} durably: {e}",
                acked.acknowledged, acked.durable
            )),
        }
    }
    assert!(failures.is_empty(), "{} failure points lose data:\n{}", failures.len(), failures.join("\n"));
    rolled_back
}

/// The reopened store must hold exactly the first `k` commits, for some `k`
/// from the durably acknowledged ones to the one in flight: never a part of
/// a commit, never a later commit without an earlier one.
/// Returns whether the reopen rolled back an incomplete last commit.
fn reopen_and_check(image: Vec<u8>, commits: &[Vec<Vec<StoreOp>>], acked: &Acked) -> Result<bool, String> {
    let reopened = MemDisk::from_image(image);
    let mut store =
        Store::open_with_backend(reopened.backend(), label()).map_err(|e| format!("reopen failed: {e}"))?;
    let loaded = store.load().map_err(|e| format!("load failed: {e}"))?;
    let candidates = acked.durable..=(acked.acknowledged + 1).min(commits.len());
    if !candidates.clone().any(|k| plain(&loaded) == plain(&expected(commits, k))) {
        return Err(format!(
            "\nfound    {}\nexpected the first {} to {} commits, from {}",
            summary(&loaded),
            candidates.start(),
            candidates.end(),
            summary(&expected(commits, acked.durable)),
        ));
    }
    // The repaired store takes writes again.
    let extra = vec![StoreOp::Append { order: id(9), changes: vec![b"after".to_vec()] }];
    store.apply(&[extra]).map_err(|e| format!("write after reopen: {e}"))?;
    let again = store.load().map_err(|e| format!("load after write: {e}"))?;
    if again.orders.iter().find(|o| o.id == id(9)).map(|o| o.changes.len()) != Some(1) {
        return Err("write after reopen lost".into());
    }
    Ok(store.rolled_back_on_open())
}

#[test]
fn power_loss_at_every_io_call_keeps_every_acknowledged_batch() {
    check_every_failure_point(Commits::Durable, |_| CrashMode::LoseUnsynced);
}

#[test]
fn process_crash_at_every_io_call_keeps_every_acknowledged_batch() {
    check_every_failure_point(Commits::Durable, |_| CrashMode::KeepUnsynced);
}

#[test]
fn partial_writeback_at_every_io_call_keeps_every_acknowledged_batch() {
    let mut rolled_back = 0;
    for round in 0..3u64 {
        rolled_back +=
            check_every_failure_point(Commits::Durable, |n| CrashMode::Partial { seed: n * 3 + round });
    }
    // A commit torn by the crash (its header on disk, some of its pages
    // not) is rolled back, and the store says so.
    assert!(rolled_back > 0, "no failure point tore a commit");
}

#[test]
fn a_crash_without_failure_loses_nothing_acknowledged() {
    let commits = workload();
    for mode in [CrashMode::LoseUnsynced, CrashMode::KeepUnsynced, CrashMode::Partial { seed: 7 }] {
        let disk = MemDisk::new();
        let (store, acked, _) = run(&disk, &commits, Commits::Durable, None);
        assert_eq!(acked.acknowledged, commits.len());
        let image = disk.crash(mode);
        drop(store);
        let store = Store::open_with_backend(MemDisk::from_image(image).backend(), label()).unwrap();
        assert_eq!(plain(&store.load().unwrap()), plain(&expected(&commits, commits.len())), "{mode:?}");
        // Every commit was complete: nothing to roll back, nothing to warn
        // about (redb's integrity check ran all the same).
        assert!(!store.rolled_back_on_open(), "{mode:?}");
    }
}

#[test]
fn deferred_commits_survive_as_a_prefix_at_every_io_call() {
    for round in 0..2u64 {
        check_every_failure_point(Commits::Mixed, |n| CrashMode::Partial { seed: n * 5 + round });
    }
    check_every_failure_point(Commits::Mixed, |_| CrashMode::LoseUnsynced);
    check_every_failure_point(Commits::Mixed, |_| CrashMode::KeepUnsynced);
}

#[test]
fn deferred_commits_are_lost_whole_on_power_loss_and_kept_by_sync() {
    let commits = workload();
    let disk = MemDisk::new();
    let mut store = Store::open_with_backend(disk.backend(), label()).unwrap();
    store.apply(&commits[0]).unwrap();
    store.apply_deferred(&commits[1]).unwrap();
    store.apply_deferred(&commits[2]).unwrap();
    assert!(store.has_unsynced());
    // Visible at once ...
    assert_eq!(plain(&store.load().unwrap()), plain(&expected(&commits, 3)));
    // ... but a power loss now keeps only the durable commit.
    let lost =
        Store::open_with_backend(MemDisk::from_image(disk.durable_image()).backend(), label()).unwrap();
    assert_eq!(plain(&lost.load().unwrap()), plain(&expected(&commits, 1)));
    drop(lost);
    // After a sync, both are on disk.
    store.sync().unwrap();
    assert!(!store.has_unsynced());
    let kept = disk.crash(CrashMode::LoseUnsynced);
    drop(store);
    let kept = Store::open_with_backend(MemDisk::from_image(kept).backend(), label()).unwrap();
    assert_eq!(plain(&kept.load().unwrap()), plain(&expected(&commits, 3)));
}

#[test]
fn dropping_a_store_syncs_its_deferred_commits() {
    let commits = workload();
    let disk = MemDisk::new();
    let mut store = Store::open_with_backend(disk.backend(), label()).unwrap();
    store.apply_deferred(&commits[0]).unwrap();
    drop(store);
    let image = disk.crash(CrashMode::LoseUnsynced);
    let store = Store::open_with_backend(MemDisk::from_image(image).backend(), label()).unwrap();
    assert_eq!(plain(&store.load().unwrap()), plain(&expected(&commits, 1)));
}
