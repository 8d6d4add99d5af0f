//! How the node opens its store: at start, and again after a failed write,
//! since redb refuses every write after an IO error until the database is
//! reopened. A disk that works again (space freed, a cable reseated) is
//! written to again without a restart.

use std::path::PathBuf;
use std::sync::Arc;

use possync_store::{Store, StoreError};

type Open = dyn Fn() -> Result<Store, StoreError> + Send + Sync;

/// Opens the terminal's store. The default opens the data directory's
/// file; tests give one over a disk that fails on demand
/// (`possync_store::fault::MemDisk`), with [`crate::NodeBuilder::store_opener`].
#[derive(Clone)]
pub struct StoreOpener(Arc<Open>);

impl StoreOpener {
    pub fn new(open: impl Fn() -> Result<Store, StoreError> + Send + Sync + 'static) -> Self {
        StoreOpener(Arc::new(open))
    }

    /// The store in `dir` (`possync.redb`).
    pub(crate) fn data_dir(dir: PathBuf) -> Self {
        Self::new(move || Store::open(&dir))
    }

    pub(crate) fn open(&self) -> Result<Store, StoreError> {
        (self.0)()
    }
}

impl std::fmt::Debug for StoreOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreOpener")
    }
}
