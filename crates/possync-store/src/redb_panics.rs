//! redb 4.6 panics on some damaged files instead of returning an error: an
//! `unreachable!` on a page of an unknown type while opening, an index out
//! of range in the allocator's bitmap while closing (both found by the
//! `storage_records` fuzz target; see `docs/RELIABILITY.md`). A damaged disk
//! must not crash the terminal, nor every restart after: here such panics
//! become [`StoreError::Corrupt`], naming the file.

use std::ops::{Deref, DerefMut};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use redb::Database;
use tracing::warn;

use crate::error::StoreError;

/// Runs one store operation; a redb panic in it is a [`StoreError::Corrupt`].
pub(crate) fn guard_panics<T>(
    path: &Path,
    action: &'static str,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("the database failed while {action}: the file is damaged"),
        })
    })
}

/// The redb database, closed under `catch_unwind`: redb writes its
/// allocator state when the last handle is dropped, and on a damaged file
/// that can panic too.
pub(crate) struct ClosingDb(Option<Database>);

impl ClosingDb {
    pub(crate) fn new(db: Database) -> Self {
        ClosingDb(Some(db))
    }
}

impl Deref for ClosingDb {
    type Target = Database;

    fn deref(&self) -> &Database {
        // Only `drop` takes it out.
        self.0.as_ref().expect("the database is open until dropped")
    }
}

impl DerefMut for ClosingDb {
    fn deref_mut(&mut self) -> &mut Database {
        self.0.as_mut().expect("the database is open until dropped")
    }
}

impl Drop for ClosingDb {
    fn drop(&mut self) {
        if let Some(db) = self.0.take()
            && catch_unwind(AssertUnwindSafe(|| drop(db))).is_err()
        {
            warn!("the database failed while closing: the file is damaged");
        }
    }
}
