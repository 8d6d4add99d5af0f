//! The simulated network: latency, loss, duplication and reordering of gossip;
//! reliable, in-order pairwise links that partitions and crashes cut.

use std::time::Duration;

use possync_engine::{Write, WriteFailed, WriteId};
use possync_model::{OrderId, SinkName};

use crate::sink::SinkRow;

/// How the simulated network misbehaves.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub latency_min: Duration,
    pub latency_max: Duration,
    /// Probability that one gossip delivery to one peer is lost.
    pub gossip_loss: f64,
    /// Probability that one gossip delivery is delivered twice.
    pub gossip_duplicate: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency_min: Duration::from_micros(300),
            latency_max: Duration::from_millis(3),
            gossip_loss: 0.0,
            gossip_duplicate: 0.0,
        }
    }
}

/// A message (or a disk write) in flight.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// A write of `node`'s commit pipeline reaches its disk, or fails, if
    /// the process that asked (`incarnation`) still runs.
    DiskWrite {
        node: u64,
        incarnation: u64,
        write: Write,
    },
    /// The disk's answer reaches `node`'s commit pipeline.
    DiskReport {
        node: u64,
        incarnation: u64,
        id: WriteId,
        result: Result<(), WriteFailed>,
    },
    Gossip {
        from: u64,
        to: u64,
        bytes: Vec<u8>,
    },
    /// `epoch` is the link's epoch when sent: a link that went down and up
    /// since then has lost it.
    Direct {
        from: u64,
        to: u64,
        bytes: Vec<u8>,
        epoch: u64,
    },
    /// A delivery request from `node` reaching the simulated back office.
    SinkRequest {
        node: u64,
        sink: SinkName,
        order: OrderId,
        row: SinkRow,
    },
    /// The back office's answer reaching `node`, if the process that asked
    /// (`incarnation`) still runs.
    SinkAnswer {
        node: u64,
        incarnation: u64,
        sink: SinkName,
        order: OrderId,
        result: Result<String, String>,
    },
}

#[derive(Debug)]
pub(crate) struct Scheduled {
    pub at: std::time::Instant,
    pub seq: u64,
    pub delivery: Delivery,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}
