//! [`CommitPipeline`]: the durability pipeline between the engine and the
//! disk, as a sans-IO state machine.
//!
//! It decides what the engine's storage batches become (one group commit,
//! a commit that does not wait for the disk, or nothing yet), and holds the
//! callers' acknowledgements and the outputs that must follow the disk
//! until the commit carrying their batches is durable. The runtime carries
//! out each [`Write`] (the real node on its writer thread, the simulator on
//! a simulated disk) and feeds the result back with
//! [`CommitPipeline::completed`], as samod-core completes its IO tasks, so
//! the simulator drives the very decisions the node makes.
//!
//! The rules it keeps:
//! - a waiter is released with `Ok` only by a durable commit that holds its
//!   batches and every batch before them;
//! - the disk always holds a prefix of the batches, in order: a failed
//!   commit's batches go back to the front and are tried again (every
//!   waiter of the failed commit is told the error, never a silent ack);
//! - at most one write is in flight; what arrives meanwhile joins the next
//!   one (group commit: under load, commits grow instead of queueing);
//! - after a failed commit the storage is failing ([`StorageFailure`]) until
//!   a commit succeeds: the runtime refuses new edits meanwhile rather than
//!   take changes it cannot store, and the retries space out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::output::{Event, Origin, Output, StoreOp};

/// How the pipeline gathers and defers commits.
#[derive(Clone, Debug)]
pub struct CommitConfig {
    /// How long batches holding only changes learned from peers may wait
    /// for the disk (gathered, or committed without a flush) when no local
    /// edit's durable commit takes them along. Every peer that sent them
    /// holds them durably, and catch-up brings back what a crash loses; a
    /// flush per received change cost ~15 % of the CPU of 5 terminals under
    /// load (docs/PERFORMANCE.md).
    pub deferred_sync_delay: Duration,
    /// Peers' batches gathered before they are committed without waiting
    /// for the deadline (still without a flush).
    pub max_gathered_peer_batches: usize,
    /// Batches gathered beyond which the runtime stops taking input
    /// ([`CommitPipeline::accepting`]): a disk slower than the input makes
    /// callers and peers wait, not memory grow.
    pub max_gathered_batches: usize,
    /// How long after a failed commit its batches are tried again; the
    /// delay doubles with each failure in a row, up to `max_retry_delay`.
    pub retry_delay: Duration,
    /// The longest wait between two attempts on a failing disk: how soon a
    /// disk that works again is noticed.
    pub max_retry_delay: Duration,
}

impl Default for CommitConfig {
    fn default() -> Self {
        CommitConfig {
            deferred_sync_delay: Duration::from_millis(100),
            max_gathered_peer_batches: 256,
            max_gathered_batches: 1024,
            retry_delay: Duration::from_millis(250),
            max_retry_delay: Duration::from_secs(4),
        }
    }
}

/// Names one [`Write`] when its result comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteId(u64);

/// A write for the runtime to carry out in one atomic transaction, then
/// report with [`CommitPipeline::completed`].
#[derive(Debug)]
pub struct Write {
    pub id: WriteId,
    /// In order. Empty with `durable`: only make earlier deferred writes
    /// durable.
    pub batches: Vec<Vec<StoreOp>>,
    /// Wait for the disk (which makes every earlier write durable too);
    /// otherwise the write may be lost by a crash until the next durable one.
    pub durable: bool,
}

/// A write that did not happen: nothing of it reached the disk. `E` is the
/// runtime's error (the node's carries the store's typed error back to
/// the callers; the simulator's is a message).
#[derive(Debug)]
pub struct WriteFailed<E = String> {
    pub error: E,
    /// The write's batches, given back to be tried again.
    pub batches: Vec<Vec<StoreOp>>,
}

/// The storage is failing: the last commit failed, and none succeeded
/// since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageFailure<E = String> {
    /// The latest failure's error.
    pub error: E,
    /// When the first failure in this row happened.
    pub since: Instant,
    /// Failed commits in a row.
    pub failed_commits: u32,
}

impl<E: std::fmt::Display> std::fmt::Display for StorageFailure<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (failing for {} commits in a row)", self.error, self.failed_commits)
    }
}

/// Waiters and outputs released by a commit.
#[derive(Debug)]
pub struct Release<W, P, E = String> {
    /// `Ok`: their batches are durable. `Err`: the commit failed; the change
    /// is applied in memory and may reach the disk later, but no one may be
    /// told it is durable.
    pub result: Result<(), E>,
    /// Outputs that had to wait for the disk, to carry out now, in order.
    pub outputs: Vec<Output<P>>,
    /// Callers to answer with `result`, in the order they came.
    pub waiters: Vec<W>,
}

/// What the runtime must do next.
#[derive(Debug)]
pub enum CommitAction<W, P, E = String> {
    Write(Write),
    Release(Release<W, P, E>),
}

/// The write in flight, and what waits for it.
#[derive(Debug)]
struct InFlight<W, P> {
    id: WriteId,
    durable: bool,
    outputs: Vec<Output<P>>,
    waiters: Vec<W>,
}

/// The durability pipeline of one terminal. `W` is whatever the runtime
/// answers once a commit is durable (a reply channel, a simulated caller),
/// `P` the engine's peer id, `E` the runtime's write error.
#[derive(Debug)]
pub struct CommitPipeline<W, P, E = String> {
    config: CommitConfig,
    /// The next commit's batches, gathered while the previous one is in
    /// flight, and what waits for it.
    gathered: Vec<Vec<StoreOp>>,
    outputs: Vec<Output<P>>,
    waiters: Vec<W>,
    in_flight: Option<InFlight<W, P>>,
    /// Releases not yet handed to the runtime.
    released: VecDeque<Release<W, P, E>>,
    /// When the deferred batches (gathered or written without a flush)
    /// must be made durable.
    sync_due: Option<Instant>,
    /// The next commit must be durable even if nothing in it asks for it.
    sync_requested: bool,
    /// No commit starts before this, after a failure.
    retry_at: Option<Instant>,
    /// Some write that did not wait for the disk is not yet durable.
    unsynced: bool,
    /// Set by a failed commit, cleared by the next one that succeeds.
    failure: Option<StorageFailure<E>>,
    next_id: u64,
}

impl<W, P, E: Clone> CommitPipeline<W, P, E> {
    pub fn new(config: CommitConfig) -> Self {
        CommitPipeline {
            config,
            gathered: Vec::new(),
            outputs: Vec::new(),
            waiters: Vec::new(),
            in_flight: None,
            released: VecDeque::new(),
            sync_due: None,
            sync_requested: false,
            retry_at: None,
            unsynced: false,
            failure: None,
            next_id: 0,
        }
    }

    /// Takes one engine output: storage batches and what must follow the
    /// disk (this terminal's own changes shown to the application, an
    /// archived order, a delivery whose claim is in the batch before it)
    /// stay here; anything else comes back, to carry out at once.
    ///
    /// Going ahead of the disk is safe for messages and peers' changes: a
    /// change that reached a peer is never lost (the peer gives it back
    /// through catch-up), and a restarted terminal uses a fresh Automerge
    /// actor, so it never reuses a sequence number either.
    pub fn take(&mut self, output: Output<P>) -> Option<Output<P>> {
        match output {
            Output::Persist(batch) => {
                self.gathered.push(batch);
                None
            }
            Output::Event(
                Event::OrderChanged { origin: Origin::Local, .. }
                | Event::Archived { .. }
                | Event::CatalogueChanged { origin: Origin::Local, .. },
            )
            | Output::Deliver { .. } => {
                self.outputs.push(output);
                None
            }
            other => Some(other),
        }
    }

    /// A caller to answer once everything taken so far is durable.
    pub fn wait(&mut self, waiter: W) {
        self.waiters.push(waiter);
    }

    /// Makes the next commit durable even if nothing in it asks for it
    /// (shutdown).
    pub fn request_sync(&mut self) {
        self.sync_requested = true;
    }

    /// Whether the runtime may take more input: false while more batches
    /// are gathered than [`CommitConfig::max_gathered_batches`].
    pub fn accepting(&self) -> bool {
        self.gathered.len() < self.config.max_gathered_batches
    }

    /// Whether the storage is failing, and since when: the last commit
    /// failed and no later one succeeded. What waits is kept and tried
    /// again; new edits are better refused than applied meanwhile (they
    /// could not be acknowledged, and would fill the pipeline until it
    /// stops taking input).
    pub fn failure(&self) -> Option<&StorageFailure<E>> {
        self.failure.as_ref()
    }

    /// The write out with the runtime, if any.
    pub fn in_flight(&self) -> Option<WriteId> {
        self.in_flight.as_ref().map(|f| f.id)
    }

    /// When [`CommitPipeline::poll_action`] has something to do that no
    /// input brings: a deferred sync, or a retry after a failure.
    /// `None` while a write is in flight: its completion comes first.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        // After a failure the retry is due (and durable) at `retry_at`.
        self.retry_at.or(self.sync_due)
    }

    /// The next thing to do, if any: call until `None` after every input.
    pub fn poll_action(&mut self, now: Instant) -> Option<CommitAction<W, P, E>> {
        if let Some(release) = self.released.pop_front() {
            return Some(CommitAction::Release(release));
        }
        if self.in_flight.is_some() {
            return None;
        }
        if self.retry_at.is_some_and(|at| now < at) {
            return None;
        }
        self.retry_at = None;
        if self.sync_due.is_some_and(|at| at <= now) {
            self.sync_due = None;
            self.sync_requested = true;
        }
        let waiting = !self.waiters.is_empty() || !self.outputs.is_empty();
        if self.gathered.is_empty() && !(self.sync_requested && self.unsynced) {
            self.sync_requested = false;
            // Nothing left to write: what waited is already durable.
            return waiting.then(|| CommitAction::Release(self.release(Ok(()))));
        }
        // Durable before anyone is told. Peers' changes alone join the next
        // durable commit (this terminal's next edit, or the deadline), so a
        // terminal receiving hundreds of changes a second flushes ten times
        // a second, not hundreds.
        let durable = self.sync_requested || waiting;
        if !durable && self.gathered.len() < self.config.max_gathered_peer_batches {
            self.sync_due.get_or_insert(now + self.config.deferred_sync_delay);
            return None;
        }
        self.sync_requested = false;
        let id = WriteId(self.next_id);
        self.next_id += 1;
        let release = self.release(Ok(()));
        self.in_flight = Some(InFlight { id, durable, outputs: release.outputs, waiters: release.waiters });
        Some(CommitAction::Write(Write { id, batches: std::mem::take(&mut self.gathered), durable }))
    }

    /// The runtime carried out write `id`. Its waiters and outputs come out
    /// of the next [`CommitPipeline::poll_action`].
    pub fn completed(&mut self, now: Instant, id: WriteId, result: Result<(), WriteFailed<E>>) {
        let Some(flight) = self.in_flight.take_if(|f| f.id == id) else { return };
        let result = match result {
            Ok(()) => {
                self.failure = None;
                if flight.durable {
                    self.unsynced = false;
                    self.sync_due = None;
                } else {
                    self.unsynced = true;
                    self.sync_due.get_or_insert(now + self.config.deferred_sync_delay);
                }
                Ok(())
            }
            Err(WriteFailed { error, mut batches }) => {
                // Back to the front, so the disk never holds a later batch
                // without the earlier ones.
                batches.append(&mut self.gathered);
                self.gathered = batches;
                let failure = match &mut self.failure {
                    Some(failure) => {
                        failure.error = error.clone();
                        failure.failed_commits = failure.failed_commits.saturating_add(1);
                        failure
                    }
                    None => self.failure.insert(StorageFailure {
                        error: error.clone(),
                        since: now,
                        failed_commits: 1,
                    }),
                };
                let doublings = (failure.failed_commits - 1).min(16);
                let delay = self.config.retry_delay.saturating_mul(1 << doublings);
                self.retry_at = Some(now + delay.min(self.config.max_retry_delay));
                self.sync_requested = true;
                Err(error)
            }
        };
        if !flight.outputs.is_empty() || !flight.waiters.is_empty() {
            self.released.push_back(Release { result, outputs: flight.outputs, waiters: flight.waiters });
        }
    }

    fn release(&mut self, result: Result<(), E>) -> Release<W, P, E> {
        Release {
            result,
            outputs: std::mem::take(&mut self.outputs),
            waiters: std::mem::take(&mut self.waiters),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use possync_model::OrderId;

    type Pipeline = CommitPipeline<&'static str, u64>;

    fn batch(n: u8) -> Output<u64> {
        Output::Persist(vec![StoreOp::NextSequence(u64::from(n))])
    }

    fn write(p: &mut Pipeline, now: Instant) -> Write {
        match p.poll_action(now) {
            Some(CommitAction::Write(w)) => w,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    fn release(p: &mut Pipeline, now: Instant) -> Release<&'static str, u64> {
        match p.poll_action(now) {
            Some(CommitAction::Release(r)) => r,
            other => panic!("expected a release, got {other:?}"),
        }
    }

    #[test]
    fn a_waiter_is_released_only_by_the_durable_commit_of_its_batch() {
        let now = Instant::now();
        let mut p = Pipeline::new(CommitConfig::default());
        assert!(p.take(batch(1)).is_none());
        p.wait("edit 1");
        let w = write(&mut p, now);
        assert!(w.durable);
        // Another edit during the write joins the next commit.
        p.take(batch(2));
        p.wait("edit 2");
        assert!(p.poll_action(now).is_none());
        p.completed(now, w.id, Ok(()));
        let r = release(&mut p, now);
        assert_eq!((r.result, r.waiters), (Ok(()), vec!["edit 1"]));
        let w2 = write(&mut p, now);
        assert_eq!(w2.batches.len(), 1);
        p.completed(now, w2.id, Ok(()));
        assert_eq!(release(&mut p, now).waiters, vec!["edit 2"]);
        assert!(p.poll_action(now).is_none());
    }

    #[test]
    fn peers_changes_wait_for_the_deadline_then_go_durably() {
        let now = Instant::now();
        let mut p = Pipeline::new(CommitConfig::default());
        p.take(batch(1));
        assert!(p.poll_action(now).is_none(), "a peer's change alone starts no commit");
        let due = p.poll_timeout().expect("a deadline is set");
        assert!(p.poll_action(due - Duration::from_millis(1)).is_none());
        let w = write(&mut p, due);
        assert!(w.durable);
    }

    #[test]
    fn many_peers_changes_are_written_without_a_flush_then_synced() {
        let now = Instant::now();
        let cfg = CommitConfig { max_gathered_peer_batches: 2, ..CommitConfig::default() };
        let mut p = Pipeline::new(cfg);
        p.take(batch(1));
        p.take(batch(2));
        let w = write(&mut p, now);
        assert!(!w.durable);
        p.completed(now, w.id, Ok(()));
        assert!(p.poll_action(now).is_none());
        let due = p.poll_timeout().expect("the deferred write must be synced");
        let sync = write(&mut p, due);
        assert!(sync.durable && sync.batches.is_empty());
    }

    #[test]
    fn a_failed_commit_answers_an_error_and_is_tried_again_in_order() {
        let now = Instant::now();
        let mut p = Pipeline::new(CommitConfig::default());
        p.take(batch(1));
        p.wait("edit 1");
        let w = write(&mut p, now);
        p.take(batch(2));
        p.wait("edit 2");
        p.completed(now, w.id, Err(WriteFailed { error: "disk full".into(), batches: w.batches }));
        let r = release(&mut p, now);
        assert_eq!((r.result, r.waiters), (Err("disk full".to_owned()), vec!["edit 1"]));
        assert!(p.poll_action(now).is_none(), "no retry before the delay");
        let retry = p.poll_timeout().expect("a retry is due");
        let again = write(&mut p, retry);
        assert_eq!(again.batches.len(), 2, "the failed batch first, then the next");
        assert_eq!(again.batches[0], vec![StoreOp::NextSequence(1)]);
        p.completed(now, again.id, Ok(()));
        assert_eq!(release(&mut p, now).waiters, vec!["edit 2"]);
    }

    #[test]
    fn a_failing_disk_is_reported_until_a_commit_succeeds_and_retries_space_out() {
        let start = Instant::now();
        let mut p = Pipeline::new(CommitConfig::default());
        p.take(batch(1));
        p.wait("edit 1");
        let mut now = start;
        let mut delays = Vec::new();
        for _ in 0..6 {
            let w = write(&mut p, now);
            assert_eq!(w.batches.len(), 1, "the same batch, tried again");
            p.completed(now, w.id, Err(WriteFailed { error: "EIO".into(), batches: w.batches }));
            let retry = p.poll_timeout().expect("a retry is due");
            delays.push(retry - now);
            now = retry;
            while let Some(CommitAction::Release(_)) = p.poll_action(now - Duration::from_millis(1)) {}
        }
        let failure = p.failure().expect("failing").clone();
        assert_eq!((failure.since, failure.failed_commits, failure.error.as_str()), (start, 6, "EIO"));
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![250, 500, 1000, 2000, 4000, 4000]);
        // The disk works again: the next attempt clears the failure.
        let w = write(&mut p, now);
        p.completed(now, w.id, Ok(()));
        assert_eq!(p.failure(), None);
        p.take(batch(2));
        p.wait("edit 2");
        let w = write(&mut p, now);
        p.completed(now, w.id, Err(WriteFailed { error: "EIO".into(), batches: w.batches }));
        assert_eq!(p.poll_timeout(), Some(now + Duration::from_millis(250)), "a new row starts short");
    }

    #[test]
    fn what_must_follow_the_disk_waits_and_the_rest_goes_at_once() {
        let now = Instant::now();
        let mut p = Pipeline::new(CommitConfig::default());
        let order = OrderId::from_random(1);
        assert!(p.take(Output::Broadcast(vec![1])).is_some());
        assert!(p.take(Output::Event(Event::Archived { order })).is_none());
        p.take(batch(1));
        let w = write(&mut p, now);
        assert!(w.durable, "an archived event makes the commit durable");
        p.completed(now, w.id, Ok(()));
        assert_eq!(release(&mut p, now).outputs.len(), 1);
    }

    #[test]
    fn nothing_written_releases_at_once() {
        let now = Instant::now();
        let mut p = Pipeline::new(CommitConfig::default());
        p.wait("no-op edit");
        assert_eq!(release(&mut p, now).waiters, vec!["no-op edit"]);
        p.request_sync();
        assert!(p.poll_action(now).is_none(), "nothing unsynced: no flush");
    }
}
