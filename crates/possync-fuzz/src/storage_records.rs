//! `storage_records`: what a terminal reads back at start-up, from two
//! sides.
//!
//! - A database file with arbitrary contents (a damaged disk, a file from
//!   elsewhere; inputs starting with redb's magic `redb`), opened through
//!   the store's in-memory backend, loaded and restored into an engine, then
//!   written to once.
//! - Arbitrary records in a sound file (every other input): snapshots and
//!   logged changes with any bytes, archived flags and sequence numbers,
//!   written through the store, loaded and restored. redb checks every
//!   page's checksum at open, so mutated files rarely get past the open:
//!   this side is what reaches the decoding of each record at restore.
//!
//! After either: nothing panicked; every order loaded is restored or
//! reported damaged, none silently dropped, and every restored order is
//! readable; a write the store acknowledged is in every successful read
//! after it (a damaged file may refuse writes or reads, never drop a write
//! silently).

use std::path::Path;
use std::time::Instant;

use possync_engine::{Engine, EngineConfig, StoreOp};
use possync_model::OrderId;
use possync_store::Store;
use possync_store::fault::MemDisk;

use crate::fixture;
use crate::split::split_at_marker;

/// Every redb file starts with these bytes.
const REDB_MAGIC: &[u8] = b"redb";
/// Starts each record of a record input: `REC` kind order-id ` ` value.
pub const RECORD_MARKER: &[u8] = b"REC";
const MAX_RECORDS: usize = 32;

pub fn storage_records(data: &[u8]) {
    if data.starts_with(REDB_MAGIC) {
        image(data);
    } else {
        records(data);
    }
}

fn image(data: &[u8]) {
    let disk = MemDisk::from_image(data.to_vec());
    let Ok(mut store) = Store::open_with_backend(disk.backend(), Path::new("fuzz.redb")) else { return };
    let _ = store.stats();
    restore(&store);
    // On a damaged file redb may accept a write and then fail to read at
    // all: that is reported as an error naming the file, not a crash. What
    // must never happen is a read that succeeds without the write.
    let id = OrderId::from_random(0xf22);
    let bytes = fixture::fixture().orders[0].save();
    let batch = vec![StoreOp::Snapshot { order: id.clone(), bytes: bytes.clone() }, StoreOp::NextSequence(5)];
    if store.apply(&[batch]).is_ok()
        && let Ok(loaded) = store.load()
    {
        let kept = loaded.orders.iter().find(|o| o.id == id).and_then(|o| o.snapshot.as_ref());
        assert_eq!(kept, Some(&bytes), "an acknowledged snapshot was not read back");
        assert!(loaded.next_sequence >= 5, "an acknowledged sequence was not read back");
    }
}

fn records(data: &[u8]) {
    let ops: Vec<StoreOp> = split_at_marker(data, RECORD_MARKER, MAX_RECORDS)
        .into_iter()
        .filter_map(|r| r.strip_prefix(RECORD_MARKER))
        .filter_map(record)
        .collect();
    let disk = MemDisk::new();
    let store = Store::open_with_backend(disk.backend(), Path::new("fuzz.redb"));
    let Ok(mut store) = store else { panic!("a new store does not open: {store:?}") };
    let written = store.apply(std::slice::from_ref(&ops));
    assert!(written.is_ok(), "a sound store refuses a write: {written:?}");
    restore(&store);
}

/// One record: a kind byte, an order id, a space, the value.
fn record(raw: &[u8]) -> Option<StoreOp> {
    let (&kind, rest) = raw.split_first()?;
    let space = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let order = OrderId::parse(std::str::from_utf8(&rest[..space]).ok()?).ok()?;
    let value = rest.get(space + 1..).unwrap_or_default().to_vec();
    Some(match kind {
        b's' => StoreOp::Snapshot { order, bytes: value },
        b'c' => StoreOp::Append { order, changes: vec![value] },
        b'a' => StoreOp::Archive { order, at_ms: value.first().map(|&b| i64::from(b)) },
        b'u' => StoreOp::Unarchive { order },
        b'd' => StoreOp::Delete { order },
        _ => StoreOp::NextSequence(value.iter().fold(0u64, |n, &b| n.wrapping_mul(256) | u64::from(b))),
    })
}

/// Loads the store and restores it into a fresh terminal, as at start-up.
fn restore(store: &Store) {
    let Ok(loaded) = store.load() else { return };
    let count = loaded.orders.len();
    let now = Instant::now();
    let mut engine =
        Engine::<u8>::new(EngineConfig::default(), fixture::terminal("C"), fixture::actor("C", 2), 7, now);
    let report = engine.restore(now, loaded.orders, loaded.next_sequence);
    assert_eq!(report.active + report.archived + report.damaged.len(), count, "orders went missing");
    for id in engine.all_orders() {
        assert!(engine.view(&id).is_some(), "restored order {id} is unreadable");
    }
}
