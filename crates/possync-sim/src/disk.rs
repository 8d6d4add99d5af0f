//! A terminal's simulated disk under the node's commit pipeline
//! ([`possync_engine::CommitPipeline`]): writes that take time, fail, or
//! reach the disk but not the node before a crash.

use std::time::Duration;

use automerge::ChangeHash;
use possync_engine::StoreOp;
use possync_model::OrderId;

/// How a terminal's disk misbehaves. The default is a perfect, instant disk:
/// a write is durable, and reported, in the step that asked for it.
#[derive(Clone, Debug, Default)]
pub struct DiskFaults {
    /// Time one write takes, drawn uniformly (a slow disk).
    pub latency_min: Duration,
    pub latency_max: Duration,
    /// Probability that one write fails: none of it reaches the disk.
    pub fail: f64,
    /// Time between a write reaching the disk and its completion reaching
    /// the node: a crash in between leaves durable data no caller was told of.
    pub report_delay: Duration,
}

impl DiskFaults {
    /// Whether writes complete in the step that asks for them.
    pub(crate) fn is_instant(&self) -> bool {
        self.latency_max.is_zero() && self.fail <= 0.0 && self.report_delay.is_zero()
    }
}

/// A caller of the simulated terminal waiting for its change to be durable.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// The changes to acknowledge.
    pub changes: Vec<(OrderId, ChangeHash)>,
    /// Batches the engine had produced when the caller's command returned:
    /// all of them must be durable before it is acknowledged.
    pub needs_batches: u64,
}

/// Deferred writes (committed without a flush) not yet durable: a crash
/// keeps a prefix of them, as redb does.
pub(crate) type Unsynced = Vec<Vec<Vec<StoreOp>>>;
