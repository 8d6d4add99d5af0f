//! The terminal's disk writer: one thread that owns the store and carries
//! out the actor's commits in order, so that while a commit waits for the
//! disk the actor goes on applying peers' changes, sending messages and
//! taking commands.
//!
//! The actor keeps at most one commit in flight (see `actor.rs`): what it
//! produces meanwhile is gathered into the next one, so the group commit
//! grows with the load instead of a queue growing here.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use possync_engine::StoreOp;
use possync_store::Store;
use tokio::sync::mpsc;
use tracing::warn;

/// One commit for the writer.
#[derive(Debug)]
pub(crate) struct Commit {
    pub batches: Vec<Vec<StoreOp>>,
    /// Wait for the disk (and make earlier deferred commits durable too);
    /// otherwise the next durable commit takes this one along.
    pub durable: bool,
}

/// What became of a [`Commit`].
#[derive(Debug)]
pub(crate) struct Committed {
    pub result: Result<(), String>,
    pub durable: bool,
    /// Whether it wrote anything (a durable commit of nothing only makes
    /// earlier deferred ones durable, or does nothing at all).
    pub wrote: bool,
    /// Time spent in the store.
    pub elapsed: Duration,
}

/// The actor's side of the writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    commits: Option<std_mpsc::SyncSender<Commit>>,
    pub done: mpsc::Receiver<Committed>,
    thread: Option<JoinHandle<()>>,
    /// The database file, for its size in the status.
    pub path: PathBuf,
}

impl Writer {
    /// Starts the thread; it owns `store` until [`Writer::close`].
    pub(crate) fn spawn(store: Store) -> std::io::Result<Self> {
        let path = store.path().to_path_buf();
        // One commit in flight, one queued at most (the actor sends the next
        // only after the previous one is done).
        let (commits, inbox) = std_mpsc::sync_channel::<Commit>(1);
        let (report, done) = mpsc::channel(2);
        let thread = std::thread::Builder::new()
            .name("possync-writer".into())
            .spawn(move || run(store, inbox, report))?;
        Ok(Writer { commits: Some(commits), done, thread: Some(thread), path })
    }

    /// Hands a commit to the thread. Fails only if the thread is gone.
    pub(crate) fn send(&self, commit: Commit) -> Result<(), String> {
        match &self.commits {
            Some(tx) => tx.send(commit).map_err(|_| "the storage writer stopped".to_owned()),
            None => Err("the storage writer is closed".to_owned()),
        }
    }

    /// Stops the thread once it has carried out what it was sent, and waits
    /// for it: the store is closed (its deferred commits made durable) when
    /// this returns.
    pub(crate) fn close(&mut self) {
        self.commits = None;
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

fn run(mut store: Store, inbox: std_mpsc::Receiver<Commit>, report: mpsc::Sender<Committed>) {
    while let Ok(Commit { batches, durable }) = inbox.recv() {
        let started = Instant::now();
        let wrote = batches.iter().any(|b| !b.is_empty());
        let result = match (wrote, durable) {
            (false, true) => store.sync(),
            (false, false) => Ok(()),
            (true, true) => store.apply(&batches),
            (true, false) => store.apply_deferred(&batches),
        };
        let committed = Committed {
            result: result.map_err(|e| e.to_string()),
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
