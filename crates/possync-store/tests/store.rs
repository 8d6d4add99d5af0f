//! The store on a real directory: each `StoreOp`, reopening, damaged
//! records, schema versions, the single-process lock, atomic creation,
//! stats and compaction.
#![allow(clippy::unwrap_used)]

use possync_engine::StoreOp;
use possync_model::OrderId;
use possync_store::{DB_FILE, Loaded, SCHEMA_VERSION, Store, StoreError};
use redb::{ReadableDatabase, TableDefinition};

// The store's tables, as its README describes them.
const SNAPSHOTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("snapshots");
const CHANGES: TableDefinition<'_, (&[u8], u64), &[u8]> = TableDefinition::new("changes");
const ARCHIVED: TableDefinition<'_, &[u8], Option<i64>> = TableDefinition::new("archived");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

fn id(s: &str) -> OrderId {
    OrderId::parse(s).unwrap()
}

fn append(order: &str, changes: &[&[u8]]) -> StoreOp {
    StoreOp::Append { order: id(order), changes: changes.iter().map(|c| c.to_vec()).collect() }
}

fn archive(order: &str) -> StoreOp {
    StoreOp::Archive { order: id(order), at_ms: Some(1_000) }
}

fn snapshot(order: &str, bytes: &[u8]) -> StoreOp {
    StoreOp::Snapshot { order: id(order), bytes: bytes.to_vec() }
}

/// An order's snapshot and changes.
type Record<'a> = (Option<&'a [u8]>, Vec<&'a [u8]>);

/// The order's (snapshot, changes), or None if the store has nothing of it.
fn order<'a>(loaded: &'a Loaded, order: &str) -> Option<Record<'a>> {
    loaded
        .orders
        .iter()
        .find(|o| o.id == id(order))
        .map(|o| (o.snapshot.as_deref(), o.changes.iter().map(Vec::as_slice).collect()))
}

fn ids(loaded: &Loaded) -> Vec<&str> {
    loaded.orders.iter().map(|o| o.id.as_str()).collect()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_new_store_is_empty() {
    let dir = tmp();
    let store = Store::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    assert!(loaded.orders.is_empty());
    assert!(loaded.archived.is_empty());
    assert!(loaded.damaged.is_empty());
    assert_eq!(loaded.next_sequence, 1);
    assert_eq!(store.path(), dir.path().join(DB_FILE));
}

#[test]
fn open_creates_the_directory() {
    let dir = tmp();
    let nested = dir.path().join("a").join("b");
    Store::open(&nested).unwrap();
    assert!(nested.join(DB_FILE).is_file());
}

#[test]
fn append_keeps_changes_in_order_across_batches_and_commits() {
    let dir = tmp();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .apply(&[vec![append("o1", &[b"a", b"b"])], vec![append("o2", &[b"x"]), append("o1", &[b"c"])]])
        .unwrap();
    store.apply(&[vec![append("o1", &[b"d"])]]).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(ids(&loaded), ["o1", "o2"]);
    assert_eq!(order(&loaded, "o1"), Some((None, vec![&b"a"[..], b"b", b"c", b"d"])));
    assert_eq!(order(&loaded, "o2"), Some((None, vec![&b"x"[..]])));
}

#[test]
fn snapshot_replaces_the_snapshot_and_clears_the_log() {
    let dir = tmp();
    let mut store = Store::open(dir.path()).unwrap();
    store.apply(&[vec![append("o1", &[b"a", b"b"]), snapshot("o1", b"s1"), append("o1", &[b"c"])]]).unwrap();
    assert_eq!(order(&store.load().unwrap(), "o1"), Some((Some(&b"s1"[..]), vec![&b"c"[..]])));
    store.apply(&[vec![append("o1", &[b"d"])], vec![snapshot("o1", b"s2")]]).unwrap();
    assert_eq!(order(&store.load().unwrap(), "o1"), Some((Some(&b"s2"[..]), vec![])));
    assert_eq!(store.stats().unwrap().log_changes, 0);
}

#[test]
fn archive_and_unarchive_set_and_clear_the_flag() {
    let dir = tmp();
    let mut store = Store::open(dir.path()).unwrap();
    store.apply(&[vec![append("o1", &[b"a"]), append("o2", &[b"b"])]]).unwrap();
    store.apply(&[vec![archive("o1"), archive("o2")]]).unwrap();
    store.apply(&[vec![StoreOp::Unarchive { order: id("o2") }]]).unwrap();
    // Unarchiving what is not archived is no error.
    store.apply(&[vec![StoreOp::Unarchive { order: id("o3") }]]).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.archived.iter().map(OrderId::as_str).collect::<Vec<_>>(), ["o1"]);
    // Archived orders keep their data.
    assert_eq!(ids(&loaded), ["o1", "o2"]);
}

#[test]
fn delete_removes_everything_of_that_order_only() {
    let dir = tmp();
    let mut store = Store::open(dir.path()).unwrap();
    // "o1" is a prefix of "o10": a range over o1's log must not reach o10's.
    store
        .apply(&[vec![
            snapshot("o1", b"s"),
            append("o1", &[b"a", b"b"]),
            archive("o1"),
            append("o10", &[b"x"]),
            archive("o10"),
            append("o", &[b"y"]),
        ]])
        .unwrap();
    store.apply(&[vec![StoreOp::Delete { order: id("o1") }]]).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(ids(&loaded), ["o", "o10"]);
    assert_eq!(order(&loaded, "o10"), Some((None, vec![&b"x"[..]])));
    assert_eq!(loaded.archived.iter().map(OrderId::as_str).collect::<Vec<_>>(), ["o10"]);
    // A deleted order's log starts afresh.
    store.apply(&[vec![append("o1", &[b"new"])]]).unwrap();
    assert_eq!(order(&store.load().unwrap(), "o1"), Some((None, vec![&b"new"[..]])));
}

#[test]
fn next_sequence_keeps_the_maximum() {
    let dir = tmp();
    let mut store = Store::open(dir.path()).unwrap();
    store.apply(&[vec![StoreOp::NextSequence(5)], vec![StoreOp::NextSequence(3)]]).unwrap();
    assert_eq!(store.load().unwrap().next_sequence, 5);
    store.apply(&[vec![StoreOp::NextSequence(4)]]).unwrap();
    assert_eq!(store.load().unwrap().next_sequence, 5);
    store.apply(&[vec![StoreOp::NextSequence(9)]]).unwrap();
    assert_eq!(store.load().unwrap().next_sequence, 9);
}

#[test]
fn nothing_to_write_is_no_commit() {
    let dir = tmp();
    let mut store = Store::open(dir.path()).unwrap();
    store.apply(&[]).unwrap();
    store.apply(&[vec![], vec![]]).unwrap();
    assert!(store.load().unwrap().orders.is_empty());
}

#[test]
fn everything_is_there_after_reopening() {
    let dir = tmp();
    {
        let mut store = Store::open(dir.path()).unwrap();
        store
            .apply(&[
                vec![snapshot("o1", &[7u8; 10_000]), append("o1", &[b"a"]), StoreOp::NextSequence(12)],
                vec![append("o2", &[b"b", &[1u8; 5000]]), archive("o2")],
            ])
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(order(&loaded, "o1"), Some((Some(&[7u8; 10_000][..]), vec![&b"a"[..]])));
    assert_eq!(order(&loaded, "o2"), Some((None, vec![&b"b"[..], &[1u8; 5000][..]])));
    assert_eq!(loaded.archived.iter().map(OrderId::as_str).collect::<Vec<_>>(), ["o2"]);
    assert_eq!(loaded.next_sequence, 12);
}

#[test]
fn the_catalogue_document_is_replaced_whole_and_kept_across_reopening() {
    let dir = tmp();
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap().catalogue, None, "a new store has no catalogue");
    }
    {
        let mut store = Store::open(dir.path()).unwrap();
        store.apply(&[vec![StoreOp::Catalogue { bytes: vec![1; 3000] }]]).unwrap();
        store.apply(&[vec![append("o1", &[b"a"]), StoreOp::Catalogue { bytes: vec![2; 10] }]]).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.catalogue, Some(vec![2; 10]));
    assert_eq!(ids(&loaded), ["o1"], "the catalogue is not an order");
}

#[test]
fn damaged_records_are_reported_and_do_not_hide_the_others() {
    let dir = tmp();
    {
        let mut store = Store::open(dir.path()).unwrap();
        store.apply(&[vec![snapshot("good", b"s"), append("good", &[b"a"])]]).unwrap();
    }
    {
        // Records no possync writes: keys that are not order ids.
        let db = redb::Database::open(dir.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut snapshots = txn.open_table(SNAPSHOTS).unwrap();
            snapshots.insert(&b"bad id!"[..], &b"s"[..]).unwrap();
            snapshots.insert(&b"\xff\xfe"[..], &b"s"[..]).unwrap();
            let mut changes = txn.open_table(CHANGES).unwrap();
            for seq in 0..3 {
                changes.insert((&b"bad id!"[..], seq), &b"c"[..]).unwrap();
            }
            changes.insert((&b"zzz"[..], 0), &b"c"[..]).unwrap();
            let mut archived = txn.open_table(ARCHIVED).unwrap();
            archived.insert(&b""[..], None).unwrap();
        }
        txn.commit().unwrap();
    }
    let mut store = Store::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(ids(&loaded), ["good", "zzz"]);
    assert_eq!(order(&loaded, "good"), Some((Some(&b"s"[..]), vec![&b"a"[..]])));
    let mut names: Vec<&str> = loaded.damaged.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["", "bad id!", "bad id!", "\u{fffd}\u{fffd}"], "{:?}", loaded.damaged);
    let reasons: Vec<&str> = loaded.damaged.iter().map(|(_, reason)| reason.as_str()).collect();
    assert!(reasons.iter().any(|r| r.starts_with("snapshot:") && r.contains("not UTF-8")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("3 logged change(s):")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("archived flag:")), "{reasons:?}");

    // They are left alone: still reported after more writes and a reopen.
    store.apply(&[vec![append("good", &[b"b"])]]).unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.damaged.len(), 4);
    assert_eq!(order(&loaded, "good"), Some((Some(&b"s"[..]), vec![&b"a"[..], b"b"])));
}

#[test]
fn an_archived_order_keeps_when_it_was_archived() {
    let dir = tmp();
    let mut store = Store::open(dir.path()).unwrap();
    let at = |order: &str, at_ms| StoreOp::Archive { order: id(order), at_ms };
    store.apply(&[vec![append("o1", &[b"a"]), append("o2", &[b"b"]), append("o3", &[b"c"])]]).unwrap();
    store.apply(&[vec![at("o1", Some(1_000)), at("o2", None), at("o3", Some(3_000))]]).unwrap();
    // Unarchived, then archived again: the later time stands.
    store.apply(&[vec![StoreOp::Unarchive { order: id("o3") }]]).unwrap();
    store.apply(&[vec![at("o3", Some(9_000))]]).unwrap();
    drop(store);
    let loaded = Store::open(dir.path()).unwrap().load().unwrap();
    let times: Vec<_> = loaded.orders.iter().map(|o| (o.id.as_str(), o.archived_at_ms)).collect();
    assert_eq!(times, [("o1", Some(1_000)), ("o2", None), ("o3", Some(9_000))]);
    assert_eq!(loaded.archived.len(), 3);
}

#[test]
fn a_schema_1_store_is_migrated_and_its_archived_orders_get_the_time_of_the_migration() {
    const ARCHIVED_V1: TableDefinition<'_, &[u8], ()> = TableDefinition::new("archived");
    let dir = tmp();
    let file = dir.path().join(DB_FILE);
    {
        let db = redb::Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert("schema_version", 1).unwrap();
        txn.open_table(SNAPSHOTS).unwrap();
        let mut changes = txn.open_table(CHANGES).unwrap();
        changes.insert((&b"paid"[..], 0), &b"c"[..]).unwrap();
        changes.insert((&b"open"[..], 0), &b"c"[..]).unwrap();
        drop(changes);
        txn.open_table(ARCHIVED_V1).unwrap().insert(&b"paid"[..], ()).unwrap();
        txn.commit().unwrap();
    }
    let wall_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let before = wall_ms() as i64;
    let mut store = Store::open(dir.path()).unwrap();
    let after = wall_ms() as i64;
    let loaded = store.load().unwrap();
    let paid = loaded.orders.iter().find(|o| o.id == id("paid")).unwrap();
    let since = paid.archived_at_ms.unwrap();
    assert!((before..=after).contains(&since), "{before} <= {since} <= {after}");
    let open = loaded.orders.iter().find(|o| o.id == id("open")).unwrap();
    assert_eq!(open.archived_at_ms, None);
    assert_eq!(ids(&loaded), ["open", "paid"], "the orders' data is untouched");
    // The migrated store takes the new layout's writes.
    store.apply(&[vec![StoreOp::Archive { order: id("open"), at_ms: Some(5) }]]).unwrap();
    drop(store);
    let db = redb::Database::open(&file).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    assert_eq!(meta.get("schema_version").unwrap().map(|v| v.value()), Some(SCHEMA_VERSION));
    let archived = txn.open_table(ARCHIVED).unwrap();
    assert_eq!(archived.get(&b"open"[..]).unwrap().map(|v| v.value()), Some(Some(5)));
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tmp();
    Store::open(dir.path()).unwrap();
    let file = dir.path().join(DB_FILE);
    {
        let db = redb::Database::open(&file).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert("schema_version", SCHEMA_VERSION + 1).unwrap();
        txn.commit().unwrap();
    }
    match Store::open(dir.path()) {
        Err(StoreError::NewerSchema { path, found, supported }) => {
            assert_eq!(path, file);
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let err = Store::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("possync.redb") && err.contains("newer"), "{err}");
    let db = redb::Database::open(&file).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    assert_eq!(meta.get("schema_version").unwrap().map(|v| v.value()), Some(SCHEMA_VERSION + 1));
}

#[test]
fn the_schema_version_is_written_on_creation() {
    let dir = tmp();
    Store::open(dir.path()).unwrap();
    let db = redb::Database::open(dir.path().join(DB_FILE)).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    assert_eq!(meta.get("schema_version").unwrap().map(|v| v.value()), Some(2));
}

#[test]
fn a_second_open_is_refused_as_in_use() {
    let dir = tmp();
    let first = Store::open(dir.path()).unwrap();
    match Store::open(dir.path()) {
        Err(StoreError::InUse { path }) => assert_eq!(path, dir.path().join(DB_FILE)),
        other => panic!("expected InUse, got {other:?}"),
    }
    let message = Store::open(dir.path()).unwrap_err().to_string();
    assert!(message.contains("in use") && message.contains(DB_FILE), "{message}");
    drop(first);
    Store::open(dir.path()).unwrap();
}

#[test]
fn an_unfinished_creation_is_redone() {
    for leftover in [vec![], vec![0u8; 4096], b"garbage".to_vec()] {
        let dir = tmp();
        let new = dir.path().join(format!("{DB_FILE}.new"));
        std::fs::write(&new, &leftover).unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        assert!(!new.exists());
        store.apply(&[vec![append("o1", &[b"a"])]]).unwrap();
        drop(store);
        assert_eq!(ids(&Store::open(dir.path()).unwrap().load().unwrap()), ["o1"]);
    }
}

#[test]
fn errors_name_the_path() {
    let dir = tmp();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let err = Store::open(&not_a_dir.join("data")).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains(&*not_a_dir.to_string_lossy()), "{err}");

    // A file that is not a database.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join(DB_FILE), b"this is not a redb file, but long enough to be read").unwrap();
    let err = Store::open(&other).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains(&*other.join(DB_FILE).to_string_lossy()), "{err}");
}

#[test]
fn stats_count_orders_flags_and_log() {
    let dir = tmp();
    let mut store = Store::open(dir.path()).unwrap();
    let empty = store.stats().unwrap();
    assert_eq!((empty.orders, empty.archived, empty.log_changes), (0, 0, 0));
    assert!(empty.file_bytes > 0);
    store
        .apply(&[vec![
            snapshot("o1", b"s"),
            append("o1", &[b"a", b"b"]),
            append("o2", &[b"c"]),
            snapshot("o3", b"s"),
            archive("o3"),
        ]])
        .unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.orders, stats.archived, stats.log_changes), (3, 1, 3));
    assert_eq!(stats.file_bytes, std::fs::metadata(dir.path().join(DB_FILE)).unwrap().len());
}

#[test]
fn compaction_gives_space_back_and_keeps_the_data() {
    let dir = tmp();
    let mut store = Store::open(dir.path()).unwrap();
    let big = vec![3u8; 20_000];
    for i in 0..100 {
        let order = format!("o{i}");
        store.apply(&[vec![snapshot(&order, &big), append(&order, &[&big[..1000]])]]).unwrap();
    }
    let full = store.stats().unwrap().file_bytes;
    let deletes = (1..100).map(|i| StoreOp::Delete { order: id(&format!("o{i}")) }).collect();
    store.apply(&[deletes]).unwrap();
    store.compact().unwrap();
    let compacted = store.stats().unwrap().file_bytes;
    assert!(compacted * 2 < full, "{full} -> {compacted} bytes");
    assert_eq!(order(&store.load().unwrap(), "o0"), Some((Some(&big[..]), vec![&big[..1000]])));
    drop(store);
    assert_eq!(ids(&Store::open(dir.path()).unwrap().load().unwrap()), ["o0"]);
}

#[test]
fn the_store_can_move_between_threads() {
    fn send<T: Send>(_: &T) {}
    let dir = tmp();
    let store = Store::open(dir.path()).unwrap();
    send(&store);
    let loaded = std::thread::spawn(move || store.load().unwrap()).join().unwrap();
    assert!(loaded.orders.is_empty());
}
