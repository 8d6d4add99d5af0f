//! The terminal's disk writer: one thread that owns the store and carries
//! out the [`Write`]s of the actor's commit pipeline in order, so that while
//! a commit waits for the disk the actor goes on applying peers' changes,
//! sending messages and taking commands.
//!
//! The pipeline (`possync_engine::CommitPipeline`) keeps at most one write
//! in flight: what the actor produces meanwhile is gathered into the next
//! one, so the group commit grows with the load instead of a queue growing
//! here.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use possync_engine::{StoreOp, Write, WriteFailed, WriteId};
use possync_store::{Store, StoreError};
use tokio::sync::mpsc;
use tracing::warn;

use crate::error::NodeError;
use crate::store_opener::StoreOpener;

/// Why a write did not reach the disk. Every caller that waited for it gets
/// it, hence shared.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// The writer thread is gone (it panicked).
    #[error("the storage writer stopped")]
    Stopped,
}

impl From<WriteError> for NodeError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Store(e) => NodeError::Storage(e),
            WriteError::Stopped => NodeError::WriterStopped,
        }
    }
}

/// What became of a [`Write`], to feed back into the pipeline.
#[derive(Debug)]
pub(crate) struct Committed {
    pub id: WriteId,
    pub result: Result<(), WriteFailed<WriteError>>,
    pub durable: bool,
    /// Whether it wrote anything (a durable write of nothing only makes
    /// earlier deferred ones durable).
    pub wrote: bool,
    /// Time spent in the store.
    pub elapsed: Duration,
}

/// The actor's side of the writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    writes: Option<std_mpsc::SyncSender<Write>>,
    pub done: mpsc::Receiver<Committed>,
    thread: Option<JoinHandle<()>>,
    /// The database file, for its size in the status.
    pub path: PathBuf,
}

impl Writer {
    /// Starts the thread; it owns `store` until [`Writer::close`], and
    /// opens it again with `reopen` after a failed write.
    pub(crate) fn spawn(store: Store, reopen: StoreOpener) -> Result<Self, NodeError> {
        let path = store.path().to_path_buf();
        // One write in flight, one queued at most (the pipeline sends the
        // next only after the previous one is done).
        let (writes, inbox) = std_mpsc::sync_channel::<Write>(1);
        let (report, done) = mpsc::channel(2);
        let thread = std::thread::Builder::new()
            .name("possync-writer".into())
            .spawn(move || run(store, &reopen, inbox, report))
            .map_err(NodeError::WriterSpawn)?;
        Ok(Writer { writes: Some(writes), done, thread: Some(thread), path })
    }

    /// Hands a write to the thread. Fails only if the thread is gone, giving
    /// the write back.
    pub(crate) fn send(&self, write: Write) -> Result<(), (WriteError, Write)> {
        match &self.writes {
            Some(tx) => tx.send(write).map_err(|e| (WriteError::Stopped, e.0)),
            None => Err((WriteError::Stopped, write)),
        }
    }

    /// Stops the thread once it has carried out what it was sent, and waits
    /// for it: the store is closed (its deferred commits made durable) when
    /// this returns.
    pub(crate) fn close(&mut self) {
        self.writes = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("the storage writer panicked while closing the store");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(
    store: Store,
    reopen: &StoreOpener,
    inbox: std_mpsc::Receiver<Write>,
    report: mpsc::Sender<Committed>,
) {
    let mut store = Some(store);
    while let Ok(Write { id, batches, durable }) = inbox.recv() {
        let started = Instant::now();
        let wrote = batches.iter().any(|b| !b.is_empty());
        // redb refuses every write after an IO error until the database is
        // reopened: a failed store is closed, and opened again for the
        // next attempt. Reopening is recovery from a crash, which may lose
        // writes that did not wait for the disk (peers' changes, which
        // catch-up brings back at the next start), never a durable one.
        let result = match store.take().map_or_else(|| reopen.open(), Ok) {
            Ok(mut open) => {
                let result = write(&mut open, &batches, wrote, durable);
                if result.is_ok() {
                    store = Some(open);
                }
                result
            }
            Err(e) => Err(e),
        };
        let committed = Committed {
            id,
            result: result.map_err(|e| WriteFailed { error: WriteError::Store(Arc::new(e)), batches }),
            durable,
            wrote,
            elapsed: started.elapsed(),
        };
        // The actor stopped listening only when it is gone.
        if report.blocking_send(committed).is_err() {
            break;
        }
    }
    // Dropping the store syncs its deferred commits.
    drop(store);
}

fn write(store: &mut Store, batches: &[Vec<StoreOp>], wrote: bool, durable: bool) -> Result<(), StoreError> {
    match (wrote, durable) {
        (false, true) => store.sync(),
        (false, false) => Ok(()),
        (true, true) => store.apply(batches),
        (true, false) => store.apply_deferred(batches),
    }
}
