use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use possync_engine::{StoreOp, StoredOrder};
use possync_model::OrderId;
use redb::{
    Builder, Database, DatabaseError, Durability, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, StorageBackend, Table, TableDefinition, TableError, WriteTransaction,
};
use tracing::{debug, info, warn};

use crate::error::StoreError;
use crate::redb_panics::{ClosingDb, guard_panics};

/// The database file inside the data directory.
pub const DB_FILE: &str = "possync.redb";

/// The storage layout this version writes and reads. A file with a newer
/// version is refused (see [`StoreError::NewerSchema`]); an older one is
/// migrated when opened.
///
/// - 1: the first layout.
/// - 2: `archived` holds when each order was archived.
pub const SCHEMA_VERSION: u64 = 2;

/// Order id → the order's last saved Automerge document.
const SNAPSHOTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("snapshots");
/// (order id, sequence) → one raw Automerge change appended since the snapshot.
const CHANGES: TableDefinition<'_, (&[u8], u64), &[u8]> = TableDefinition::new("changes");
/// Order id → when this terminal archived it (wall-clock ms; `None`:
/// unknown), for every archived (paid or cancelled) order.
const ARCHIVED: TableDefinition<'_, &[u8], Option<i64>> = TableDefinition::new("archived");
/// `archived` in schema 1: the flag alone.
const ARCHIVED_V1: TableDefinition<'_, &[u8], ()> = TableDefinition::new("archived");
/// Name → a whole document that is not an order: the shared catalogue
/// (key [`KEY_CATALOGUE`]), replaced whole at each of its changes.
const DOCUMENTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("documents");
/// Store-wide counters.
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

const META_SCHEMA_VERSION: &str = "schema_version";
const META_NEXT_SEQUENCE: &str = "next_sequence";
const KEY_CATALOGUE: &str = "catalogue";

/// redb's page cache, kept small: the store is read whole once, at start-up,
/// and then mostly written, so a large cache only holds a second copy of the
/// orders the engine has in memory (sizes against RSS: docs/PERFORMANCE.md,
/// "RSS per open order").
const CACHE_BYTES: usize = 1024 * 1024;

/// A terminal's durable store: one redb file holding every order it keeps,
/// open or archived, as a snapshot plus the changes appended since.
///
/// One `Store` per data directory: a second open, from this process or
/// another, fails with [`StoreError::InUse`].
pub struct Store {
    db: ClosingDb,
    /// The database file, or the label of a custom backend, for errors.
    path: PathBuf,
    /// Whether `path` is a real file (its size is reported in the stats).
    on_disk: bool,
    /// Whether a commit made by [`Store::apply_deferred`] is not yet on disk.
    unsynced: bool,
    /// Whether opening rolled back an incomplete last commit.
    rolled_back: bool,
}

impl Drop for Store {
    /// A store closed cleanly keeps its deferred commits too.
    fn drop(&mut self) {
        if let Err(e) = self.sync() {
            warn!(error = %e, "closing the store: its last deferred commits may be lost");
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Everything a store holds, for [`possync_engine::Engine::restore`].
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Every order with a snapshot or changes, open or archived, by id.
    pub orders: Vec<StoredOrder>,
    /// The orders flagged archived.
    pub archived: BTreeSet<OrderId>,
    /// The largest `NextSequence` ever stored; 1 if none was.
    pub next_sequence: u64,
    /// Records that could not be read, as (record name, reason). They are
    /// left in the file untouched and do not hide the other orders.
    pub damaged: Vec<(String, String)>,
    /// The catalogue document, for [`possync_engine::Engine::restore_catalogue`].
    pub catalogue: Option<Vec<u8>>,
}

/// Sizes, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Orders with a snapshot or changes.
    pub orders: u64,
    /// Orders flagged archived.
    pub archived: u64,
    /// Changes appended since their order's last snapshot, all orders.
    pub log_changes: u64,
    /// Size of the database file (0 for a store on a custom backend).
    pub file_bytes: u64,
}

/// Sets a write transaction's durability.
fn durable(txn: &mut WriteTransaction, durability: Durability, path: &Path) -> Result<(), StoreError> {
    txn.set_durability(durability).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("cannot set the commit's durability: {e}"),
    })
}

/// Maps any redb error into [`StoreError::Db`] naming the file and the action.
trait Ctx<T> {
    fn ctx(self, path: &Path, action: &'static str) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> Ctx<T> for Result<T, E> {
    fn ctx(self, path: &Path, action: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Db { path: path.to_path_buf(), action, source: Box::new(e.into()) })
    }
}

struct Tables<'txn> {
    snapshots: Table<'txn, &'static [u8], &'static [u8]>,
    changes: Table<'txn, (&'static [u8], u64), &'static [u8]>,
    archived: Table<'txn, &'static [u8], Option<i64>>,
    meta: Table<'txn, &'static str, u64>,
    documents: Table<'txn, &'static str, &'static [u8]>,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction, path: &Path) -> Result<Self, StoreError> {
        Ok(Tables {
            snapshots: txn.open_table(SNAPSHOTS).ctx(path, "opening the snapshots table")?,
            changes: txn.open_table(CHANGES).ctx(path, "opening the changes table")?,
            archived: txn.open_table(ARCHIVED).ctx(path, "opening the archived table")?,
            meta: txn.open_table(META).ctx(path, "opening the meta table")?,
            documents: txn.open_table(DOCUMENTS).ctx(path, "opening the documents table")?,
        })
    }
}

/// What one `apply` wrote, for the log line.
#[derive(Default)]
struct Written {
    ops: usize,
    changes: usize,
    bytes: usize,
}

impl Store {
    /// Opens the store in `dir`, creating the directory and the database
    /// file (`dir/possync.redb`) if needed. After an unclean shutdown redb
    /// first repairs the file back to its last durable commit.
    ///
    /// A new file is built as `possync.redb.new` and renamed into place once
    /// complete and durable: a crash while it is first created (which would
    /// leave a file redb refuses to open) leaves no `possync.redb` at all,
    /// and the next start builds it again.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.to_path_buf(), source })?;
        let path = dir.join(DB_FILE);
        let exists =
            path.try_exists().map_err(|source| io_error(&path, "looking for the database", source))?;
        if !exists {
            create_file(dir, &path)?;
        }
        guard_panics(&path.clone(), "opening", || {
            let (builder, rolled_back) = builder(&path);
            let db = builder.create(&path).map_err(|e| open_error(&path, e))?;
            Store::init(db, path, true, rolled_back.load(Ordering::Relaxed))
        })
    }

    /// Opens (or creates) a store on a custom redb storage backend, e.g. the
    /// fault-injecting disk of the `test-utils` feature. `label` stands for
    /// the file name in errors and logs.
    pub fn open_with_backend(backend: impl StorageBackend, label: &Path) -> Result<Store, StoreError> {
        let path = label.to_path_buf();
        guard_panics(&path.clone(), "opening", || {
            let (builder, rolled_back) = builder(&path);
            let db = builder.create_with_backend(backend).map_err(|e| open_error(&path, e))?;
            Store::init(db, path, false, rolled_back.load(Ordering::Relaxed))
        })
    }

    /// The database file (or the label of a custom backend).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether opening rolled back an incomplete last commit: the terminal
    /// had stopped during a write (a crash or power loss), and that
    /// commit's data is gone (it was never acknowledged: an acknowledged
    /// commit is complete on disk).
    pub fn rolled_back_on_open(&self) -> bool {
        self.rolled_back
    }

    fn init(db: Database, path: PathBuf, on_disk: bool, rolled_back: bool) -> Result<Store, StoreError> {
        let store = Store { db: ClosingDb::new(db), path, on_disk, unsynced: false, rolled_back };
        let txn = store.db.begin_write().ctx(&store.path, "starting the opening transaction")?;
        let found = {
            let meta = txn.open_table(META).ctx(&store.path, "opening the meta table")?;
            meta.get(META_SCHEMA_VERSION).ctx(&store.path, "reading the schema version")?.map(|v| v.value())
        };
        let changed = match found {
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StoreError::NewerSchema {
                    path: store.path.clone(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(SCHEMA_VERSION) => None,
            Some(found) => {
                migrate_from_v1(&txn, &store.path)?;
                Some(format!("migrated from schema {found}"))
            }
            None => Some("created a new store".to_owned()),
        };
        if let Some(what) = changed {
            txn.open_table(META)
                .ctx(&store.path, "opening the meta table")?
                .insert(META_SCHEMA_VERSION, SCHEMA_VERSION)
                .ctx(&store.path, "writing the schema version")?;
            // Create every table now, so that readers find them.
            Tables::open(&txn, &store.path)?;
            txn.commit().ctx(&store.path, "creating the store")?;
            info!(path = %store.path.display(), schema = SCHEMA_VERSION, "{what}");
        } else {
            txn.abort().ctx(&store.path, "ending the opening transaction")?;
            info!(path = %store.path.display(), "opened the store");
        }
        Ok(store)
    }

    /// Carries out every op of every batch, in order, in one write
    /// transaction with a durable commit: when this returns `Ok` all of it
    /// survives a crash or power loss, and so does every earlier
    /// [`Store::apply_deferred`]; when it returns `Err` none of it was
    /// applied. (After an IO error redb refuses further writes until the
    /// store is opened again.)
    ///
    /// - `Append` adds the changes to the order's log, after those there;
    /// - `Snapshot` replaces the order's snapshot and clears its log;
    /// - `Archive` / `Unarchive` set / clear its archived flag;
    /// - `Delete` removes the order's snapshot, log and flag;
    /// - `NextSequence(n)` stores the larger of `n` and the stored value;
    /// - `Catalogue` replaces the stored catalogue document.
    ///
    /// Nothing to write means no transaction and no disk flush.
    pub fn apply(&mut self, batches: &[Vec<StoreOp>]) -> Result<(), StoreError> {
        guard_panics(&self.path.clone(), "writing", || self.write(batches, Durability::Immediate))
    }

    /// As [`Store::apply`], but the commit does not wait for the disk: it is
    /// visible at once and atomic, and reaches the disk with the next
    /// [`Store::apply`] or [`Store::sync`]. A crash before then loses it
    /// whole, never in part and never out of order: what survives is always
    /// a prefix of the commits made.
    ///
    /// For what another copy already holds durably (changes learned from
    /// peers: catch-up brings back what a crash loses), so that they do not
    /// cost a disk flush each.
    pub fn apply_deferred(&mut self, batches: &[Vec<StoreOp>]) -> Result<(), StoreError> {
        guard_panics(&self.path.clone(), "writing", || self.write(batches, Durability::None))
    }

    /// Whether some [`Store::apply_deferred`] commit is not yet on disk.
    pub fn has_unsynced(&self) -> bool {
        self.unsynced
    }

    /// Makes every [`Store::apply_deferred`] commit durable (an empty
    /// durable commit). Nothing unsynced means no disk flush.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if !self.unsynced {
            return Ok(());
        }
        guard_panics(&self.path.clone(), "syncing", || {
            let path = self.path.as_path();
            let mut txn = self.db.begin_write().ctx(path, "starting a write transaction")?;
            durable(&mut txn, Durability::Immediate, path)?;
            txn.commit().ctx(path, "committing deferred writes durably")?;
            self.unsynced = false;
            Ok(())
        })
    }

    fn write(&mut self, batches: &[Vec<StoreOp>], durability: Durability) -> Result<(), StoreError> {
        if batches.iter().all(Vec::is_empty) {
            return Ok(());
        }
        let started = Instant::now();
        let path = self.path.as_path();
        let mut txn = self.db.begin_write().ctx(path, "starting a write transaction")?;
        durable(&mut txn, durability, path)?;
        let mut written = Written::default();
        {
            let mut tables = Tables::open(&txn, path)?;
            for op in batches.iter().flatten() {
                apply_op(&mut tables, op, path, &mut written)?;
            }
        }
        txn.commit().ctx(path, "committing")?;
        self.unsynced = matches!(durability, Durability::None);
        debug!(
            batches = batches.len(),
            ops = written.ops,
            changes = written.changes,
            bytes = written.bytes,
            durable = !self.unsynced,
            micros = started.elapsed().as_micros() as u64,
            "committed"
        );
        Ok(())
    }

    /// Reads everything back: every order's snapshot and changes (in the
    /// order they were appended), the archived flags and the next sequence.
    /// A record whose key is not a valid order id goes to
    /// [`Loaded::damaged`] instead, and the rest load normally.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        guard_panics(&self.path, "loading", || self.read_all())
    }

    fn read_all(&self) -> Result<Loaded, StoreError> {
        let path = self.path.as_path();
        let txn = self.db.begin_read().ctx(path, "starting a read transaction")?;
        let mut orders: BTreeMap<OrderId, StoredOrder> = BTreeMap::new();
        let mut damaged = Vec::new();

        if let Some(table) = open_read(&txn, SNAPSHOTS, path)? {
            for item in table.iter().ctx(path, "reading snapshots")? {
                let (key, value) = item.ctx(path, "reading a snapshot")?;
                match decode_id(key.value()) {
                    Ok(id) => {
                        stored(&mut orders, id).snapshot = Some(value.value().to_vec());
                    }
                    Err(reason) => damaged.push((display_key(key.value()), format!("snapshot: {reason}"))),
                }
            }
        }

        if let Some(table) = open_read(&txn, CHANGES, path)? {
            // Changes come sorted by (order, sequence): decode each order's
            // key once, and report an undecodable one once with its count.
            let mut current: Option<(Vec<u8>, Result<OrderId, String>, usize)> = None;
            for item in table.iter().ctx(path, "reading changes")? {
                let (key, value) = item.ctx(path, "reading a change")?;
                let (raw, _seq) = key.value();
                if current.as_ref().is_none_or(|(k, _, _)| k.as_slice() != raw) {
                    flush_damaged_log(current.take(), &mut damaged);
                    current = Some((raw.to_vec(), decode_id(raw), 0));
                }
                if let Some((_, decoded, count)) = current.as_mut() {
                    *count += 1;
                    if let Ok(id) = decoded {
                        stored(&mut orders, id.clone()).changes.push(value.value().to_vec());
                    }
                }
            }
            flush_damaged_log(current, &mut damaged);
        }

        let mut archived = BTreeSet::new();
        if let Some(table) = open_read(&txn, ARCHIVED, path)? {
            for item in table.iter().ctx(path, "reading archived flags")? {
                let (key, at_ms) = item.ctx(path, "reading an archived flag")?;
                match decode_id(key.value()) {
                    Ok(id) => {
                        // A flag without data is no order.
                        if let Some(order) = orders.get_mut(&id) {
                            order.archived_at_ms = at_ms.value();
                        }
                        archived.insert(id);
                    }
                    Err(reason) => {
                        damaged.push((display_key(key.value()), format!("archived flag: {reason}")))
                    }
                }
            }
        }

        let next_sequence = match open_read(&txn, META, path)? {
            Some(meta) => {
                meta.get(META_NEXT_SEQUENCE).ctx(path, "reading the next sequence")?.map(|v| v.value())
            }
            None => None,
        }
        .unwrap_or(1);

        let catalogue = match open_read(&txn, DOCUMENTS, path)? {
            Some(docs) => {
                docs.get(KEY_CATALOGUE).ctx(path, "reading the catalogue")?.map(|v| v.value().to_vec())
            }
            None => None,
        };

        for (name, reason) in &damaged {
            warn!(path = %path.display(), record = %name, %reason, "damaged record skipped");
        }
        let orders: Vec<StoredOrder> = orders.into_values().collect();
        info!(
            path = %path.display(),
            orders = orders.len(),
            archived = archived.len(),
            changes = orders.iter().map(|o| o.changes.len()).sum::<usize>(),
            damaged = damaged.len(),
            "loaded"
        );
        Ok(Loaded { orders, archived, next_sequence, damaged, catalogue })
    }

    /// Counts, for metrics. Walks the change log's keys, so it costs in
    /// proportion to the changes not yet folded into snapshots.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        guard_panics(&self.path, "counting", || self.count())
    }

    fn count(&self) -> Result<StoreStats, StoreError> {
        let path = self.path.as_path();
        let txn = self.db.begin_read().ctx(path, "starting a read transaction")?;
        let mut stats = StoreStats::default();
        let snapshots = open_read(&txn, SNAPSHOTS, path)?;
        if let Some(table) = &snapshots {
            stats.orders = table.len().ctx(path, "counting snapshots")?;
        }
        if let Some(table) = open_read(&txn, CHANGES, path)? {
            stats.log_changes = table.len().ctx(path, "counting changes")?;
            // Orders with changes but no snapshot yet.
            let mut last: Option<Vec<u8>> = None;
            for item in table.iter().ctx(path, "reading changes")? {
                let (key, _) = item.ctx(path, "reading a change")?;
                let (raw, _) = key.value();
                if last.as_deref() == Some(raw) {
                    continue;
                }
                let has_snapshot = match &snapshots {
                    Some(s) => s.get(raw).ctx(path, "reading a snapshot")?.is_some(),
                    None => false,
                };
                if !has_snapshot {
                    stats.orders += 1;
                }
                last = Some(raw.to_vec());
            }
        }
        if let Some(table) = open_read(&txn, ARCHIVED, path)? {
            stats.archived = table.len().ctx(path, "counting archived flags")?;
        }
        stats.file_bytes = self.file_bytes();
        Ok(stats)
    }

    /// Gives the free space inside the file back to the file system
    /// (redb's compaction, repeated until it has nothing left to move).
    /// Takes a while on a big file; run it at a quiet moment, e.g. at start-up.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        guard_panics(&self.path.clone(), "compacting", || self.compact_all())
    }

    fn compact_all(&mut self) -> Result<(), StoreError> {
        let started = Instant::now();
        let before = self.file_bytes();
        // Each round moves what it can; a bound in case a round keeps finding work.
        for _ in 0..64 {
            let more = self
                .db
                .compact()
                .map_err(|source| StoreError::Compact { path: self.path.clone(), source })?;
            if !more {
                break;
            }
        }
        info!(
            path = %self.path.display(),
            before,
            after = self.file_bytes(),
            millis = started.elapsed().as_millis() as u64,
            "compacted"
        );
        Ok(())
    }

    fn file_bytes(&self) -> u64 {
        if !self.on_disk {
            return 0;
        }
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }
}

/// The progress redb's repair reports while rolling back a last commit
/// that fails its checksums.
const ROLLBACK_PROGRESS: f64 = 0.3;

/// redb's builder for the store, and a flag the open sets when it rolls
/// back an incomplete last commit.
fn builder(path: &Path) -> (Builder, Arc<AtomicBool>) {
    let mut builder = Builder::new();
    builder.set_cache_size(CACHE_BYTES);
    // A file damaged since redb last wrote it (a failing disk, a bad copy)
    // then fails to open with an error naming it, instead of being trusted:
    // on such a file redb can panic inside a write and abort the process
    // from a destructor, which no `catch_unwind` contains. It costs one read
    // of the file per start, less than the load that follows (figures:
    // docs/RELIABILITY.md, finding 5).
    builder.set_check_integrity_on_open(true);
    let label = path.display().to_string();
    let rolled_back = Arc::new(AtomicBool::new(false));
    let rolling_back = rolled_back.clone();
    // redb calls this for every integrity check, so on every open of a
    // file with commits, cleanly closed or not: that alone is no news.
    // The news is a last commit that fails its checksums (the terminal
    // stopped during a write): redb rolls it back, and reports progress
    // 0.3 for that step alone (redb 4.6, `Database::do_repair`).
    builder.set_repair_callback(move |session| {
        if (session.progress() - ROLLBACK_PROGRESS).abs() < 1e-9 {
            rolling_back.store(true, Ordering::Relaxed);
            warn!(path = %label, "the store's last commit was incomplete (stopped during a write): rolled back to the commit before it");
        } else if session.progress() == 0.0 {
            // The first call of a check.
            debug!(path = %label, "checking the store's integrity");
        }
    });
    (builder, rolled_back)
}

/// Builds a new, empty store at `<path>.new`, makes it durable and renames
/// it to `path`.
fn create_file(dir: &Path, path: &Path) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{DB_FILE}.new"));
    let db = match builder(&tmp).0.create(&tmp) {
        Ok(db) => db,
        // Another process is creating it right now.
        Err(e @ (DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch)) => {
            return Err(open_error(&tmp, e));
        }
        // The remains of a creation that crashed: they never held data.
        Err(e) => {
            warn!(path = %tmp.display(), error = %e, "removing an unfinished database file");
            std::fs::remove_file(&tmp)
                .map_err(|source| io_error(&tmp, "removing an unfinished file", source))?;
            builder(&tmp).0.create(&tmp).map_err(|e| open_error(&tmp, e))?
        }
    };
    // Writes the schema version and the tables, with a durable commit.
    drop(Store::init(db, tmp.clone(), true, false)?);
    std::fs::rename(&tmp, path)
        .map_err(|source| io_error(path, "renaming the new database into place", source))?;
    sync_dir(dir)
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io_error(dir, "syncing the data directory", source))
}

/// Elsewhere a directory cannot be opened to sync it; the rename is made
/// durable by the file system's own journal.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn io_error(path: &Path, action: &'static str, source: std::io::Error) -> StoreError {
    StoreError::Io { path: path.to_path_buf(), action, source }
}

fn open_error(path: &Path, e: DatabaseError) -> StoreError {
    match e {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::InUse { path: path.to_path_buf() }
        }
        source => StoreError::Open { path: path.to_path_buf(), source },
    }
}

fn apply_op(
    tables: &mut Tables<'_>,
    op: &StoreOp,
    path: &Path,
    written: &mut Written,
) -> Result<(), StoreError> {
    written.ops += 1;
    match op {
        StoreOp::Append { order, changes } => {
            let key = order.as_str().as_bytes();
            let mut next = {
                let mut log = tables
                    .changes
                    .range::<(&[u8], u64)>((key, 0)..=(key, u64::MAX))
                    .ctx(path, "finding the end of a change log")?;
                match log.next_back() {
                    Some(last) => {
                        let (k, _) = last.ctx(path, "reading the end of a change log")?;
                        k.value().1.checked_add(1).ok_or_else(|| overflow(path, order))?
                    }
                    None => 0,
                }
            };
            for change in changes {
                tables.changes.insert((key, next), change.as_slice()).ctx(path, "appending a change")?;
                next = next.checked_add(1).ok_or_else(|| overflow(path, order))?;
                written.changes += 1;
                written.bytes += change.len();
            }
        }
        StoreOp::Snapshot { order, bytes } => {
            let key = order.as_str().as_bytes();
            tables.snapshots.insert(key, bytes.as_slice()).ctx(path, "writing a snapshot")?;
            clear_log(tables, key, path)?;
            written.bytes += bytes.len();
        }
        StoreOp::Archive { order, at_ms } => {
            tables.archived.insert(order.as_str().as_bytes(), *at_ms).ctx(path, "archiving an order")?;
        }
        StoreOp::Unarchive { order } => {
            tables.archived.remove(order.as_str().as_bytes()).ctx(path, "unarchiving an order")?;
        }
        StoreOp::Delete { order } => {
            let key = order.as_str().as_bytes();
            tables.snapshots.remove(key).ctx(path, "deleting a snapshot")?;
            clear_log(tables, key, path)?;
            tables.archived.remove(key).ctx(path, "deleting an archived flag")?;
        }
        StoreOp::NextSequence(n) => {
            let old = tables
                .meta
                .get(META_NEXT_SEQUENCE)
                .ctx(path, "reading the next sequence")?
                .map(|v| v.value());
            if old.is_none_or(|old| *n > old) {
                tables.meta.insert(META_NEXT_SEQUENCE, *n).ctx(path, "writing the next sequence")?;
            }
        }
        StoreOp::Catalogue { bytes } => {
            tables.documents.insert(KEY_CATALOGUE, bytes.as_slice()).ctx(path, "writing the catalogue")?;
            written.bytes += bytes.len();
        }
    }
    Ok(())
}

fn clear_log(tables: &mut Tables<'_>, key: &[u8], path: &Path) -> Result<(), StoreError> {
    tables
        .changes
        .retain_in::<(&[u8], u64), _>((key, 0)..=(key, u64::MAX), |_, _| false)
        .ctx(path, "clearing a change log")
}

fn overflow(path: &Path, order: &OrderId) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("the change log of order {order} is full"),
    }
}

/// Schema 1 to 2: the archived flags get a time, unknown for those already
/// set. The time of the migration stands for it: their retention counts
/// from the upgrade, as it counted from every start before.
fn migrate_from_v1(txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
    let flagged: Vec<Vec<u8>> = {
        let table = txn.open_table(ARCHIVED_V1).ctx(path, "opening the schema 1 archived table")?;
        let keys = table.iter().ctx(path, "reading schema 1 archived flags")?;
        keys.map(|item| item.map(|(key, _)| key.value().to_vec()))
            .collect::<Result<_, _>>()
            .ctx(path, "reading a schema 1 archived flag")?
    };
    txn.delete_table(ARCHIVED_V1).ctx(path, "dropping the schema 1 archived table")?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(None, |d| i64::try_from(d.as_millis()).ok());
    let mut table = txn.open_table(ARCHIVED).ctx(path, "creating the archived table")?;
    for key in &flagged {
        table.insert(key.as_slice(), now_ms).ctx(path, "migrating an archived flag")?;
    }
    info!(path = %path.display(), orders = flagged.len(), "archived flags given the time of the migration");
    Ok(())
}

/// Opens a table for reading; a table that does not exist reads as empty.
fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    table: TableDefinition<'_, K, V>,
    path: &Path,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(table) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e).ctx(path, "opening a table"),
    }
}

fn stored(orders: &mut BTreeMap<OrderId, StoredOrder>, id: OrderId) -> &mut StoredOrder {
    orders.entry(id.clone()).or_insert_with(|| StoredOrder {
        id,
        snapshot: None,
        changes: Vec::new(),
        archived_at_ms: None,
    })
}

fn decode_id(raw: &[u8]) -> Result<OrderId, String> {
    let s = std::str::from_utf8(raw).map_err(|e| format!("order id is not UTF-8 ({e})"))?;
    OrderId::parse(s).map_err(|e| e.to_string())
}

/// A record's key as text for reports: lossy, at most 80 characters.
fn display_key(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).chars().take(80).collect()
}

fn flush_damaged_log(
    current: Option<(Vec<u8>, Result<OrderId, String>, usize)>,
    damaged: &mut Vec<(String, String)>,
) {
    if let Some((raw, Err(reason), count)) = current {
        damaged.push((display_key(&raw), format!("{count} logged change(s): {reason}")));
    }
}
