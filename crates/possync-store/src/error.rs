use std::path::PathBuf;

/// Why the store could not do what was asked. Every variant names the
/// database file (or, for a store on a custom backend, the label it was
/// opened with).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Another process (or another `Store` in this one) has the database open.
    #[error(
        "{path} is in use by another process: is another possync terminal running on this data directory?"
    )]
    InUse { path: PathBuf },

    /// The file was written by a newer possync whose layout this version
    /// does not know. Nothing was changed.
    #[error(
        "{path} has storage schema version {found}, newer than the {supported} this possync reads: upgrade possync (the file was left untouched)"
    )]
    NewerSchema { path: PathBuf, found: u64, supported: u64 },

    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },

    /// A read or write failed; a failed write changed nothing.
    #[error("{path}: {action} failed: {source}")]
    Db {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: Box<redb::Error>,
    },

    /// A file-system operation around the database file failed.
    #[error("{path}: {action} failed: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot compact {path}: {source}")]
    Compact {
        path: PathBuf,
        #[source]
        source: redb::CompactionError,
    },

    /// A record that must hold one thing holds another (not a damaged order,
    /// which `load` reports and skips, but the store's own bookkeeping).
    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
}

impl StoreError {
    /// The operating system's error behind this one, if there is one: its
    /// [`std::io::Error::kind`] tells a full disk (`StorageFull`) or a
    /// read-only one from a damaged file. (redb's errors do not expose
    /// their IO error as a `source`, so this looks inside them.)
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            StoreError::CreateDir { source, .. } | StoreError::Io { source, .. } => Some(source),
            StoreError::Db { source, .. } => match source.as_ref() {
                redb::Error::Io(e) => Some(e),
                _ => None,
            },
            StoreError::Open { source: redb::DatabaseError::Storage(redb::StorageError::Io(e)), .. }
            | StoreError::Compact {
                source: redb::CompactionError::Storage(redb::StorageError::Io(e)), ..
            } => Some(e),
            _ => None,
        }
    }
}
