//! The actor's hand-off to the commit pipeline: engine outputs go to
//! [`possync_engine::CommitPipeline`], which decides what to write when;
//! its writes go to the writer thread ([`crate::writer`]), and its releases
//! answer the commands that waited for the disk.

use std::time::Duration;

use libp2p::PeerId;
use possync_engine::{CommitAction, Release, WriteFailed};
use tokio::time::Instant;
use tracing::warn;

use super::{Actor, Deferred};
use crate::error::NodeError;
use crate::writer::{Committed, WriteError};

impl Actor {
    /// Takes the engine's outputs: storage batches, and what must follow
    /// them to the disk, go to the commit pipeline; the rest is carried out
    /// at the next `flush`.
    pub(super) fn collect(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            if let Some(now) = self.commits.take(out) {
                self.pending_after.push(now);
            }
        }
    }

    /// Sends messages and publishes peers' changes at once, then lets the
    /// commit pipeline start the next write or release what a finished one
    /// made durable.
    pub(super) fn flush(&mut self) {
        self.collect();
        for out in std::mem::take(&mut self.pending_after) {
            self.carry_out(out);
        }
        self.drive_commits();
        self.publish_status_if_changed();
    }

    /// Carries out the commit pipeline's actions: writes go to the writer
    /// thread, releases tell the outputs and answer the commands that waited.
    pub(super) fn drive_commits(&mut self) {
        let now = Self::now();
        while let Some(action) = self.commits.poll_action(now) {
            match action {
                CommitAction::Write(write) => {
                    let id = write.id;
                    if let Err((error, write)) = self.writer.send(write) {
                        self.counters.store_failures += 1;
                        warn!(%error, "storage commit failed: the affected edits are not acknowledged");
                        let failed = WriteFailed { error, batches: write.batches };
                        self.commits.completed(now, id, Err(failed));
                    }
                }
                CommitAction::Release(release) => self.finish(release),
            }
        }
    }

    /// The writer finished the write in flight (`None`: the writer is gone).
    pub(super) fn committed(&mut self, done: Option<Committed>) {
        let done = match (done, self.commits.in_flight()) {
            (Some(done), _) => done,
            (None, Some(id)) => Committed {
                id,
                result: Err(WriteFailed { error: WriteError::Stopped, batches: Vec::new() }),
                durable: true,
                wrote: false,
                elapsed: Duration::ZERO,
            },
            (None, None) => return,
        };
        match &done.result {
            Ok(()) if done.durable => {
                if done.wrote {
                    self.commit_latency.observe(done.elapsed);
                }
                self.counters.store_commits += 1;
            }
            Ok(()) => self.counters.store_deferred_commits += 1,
            Err(failed) => {
                self.counters.store_failures += 1;
                warn!(error = %failed.error, "storage commit failed: the affected edits are not acknowledged; trying again");
            }
        }
        self.commits.completed(Self::now(), done.id, done.result);
    }

    /// Tells what waited for a commit, and answers the commands that did.
    pub(super) fn finish(&mut self, release: Release<(Instant, Deferred), PeerId, WriteError>) {
        let Release { result, outputs, waiters } = release;
        for out in outputs {
            self.carry_out(out);
        }
        let storage_error = result.err();
        for (since, d) in waiters {
            if !matches!(d, Deferred::Done(_)) {
                self.ack_wait.observe(since.elapsed());
            }
            let failed = |e: &Option<WriteError>| e.clone().map(NodeError::from);
            match d {
                Deferred::Order(reply, result) => {
                    let result = match (result, failed(&storage_error)) {
                        (Ok(_), Some(e)) => Err(e),
                        (r, _) => r,
                    };
                    if result.is_ok() {
                        self.counters.local_changes += 1;
                    }
                    let _ = reply.send(result);
                }
                Deferred::Edit(reply, result) => {
                    let result = match (result, failed(&storage_error)) {
                        (Ok(Some(_)), Some(e)) => Err(e),
                        (r, _) => r,
                    };
                    if matches!(result, Ok(Some(_))) {
                        self.counters.local_changes += 1;
                    }
                    let _ = reply.send(result);
                }
                Deferred::Done(reply) => {
                    let _ = reply.send(Ok(()));
                }
                Deferred::Version(reply, result) => {
                    let result = match (result, failed(&storage_error)) {
                        (Ok(_), Some(e)) => Err(e),
                        (r, _) => r,
                    };
                    let _ = reply.send(result);
                }
            }
        }
    }
}
