//! What a terminal shows about its connection to the others.

use libp2p::PeerId;
use std::collections::BTreeMap;

use serde::Serialize;

/// The three states a cashier sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    /// No other terminal reachable: edits are kept and sent on reconnect.
    Offline,
    /// Connected, catching up with a peer.
    Syncing,
    /// Connected and in step.
    Online,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub connectivity: Connectivity,
    #[serde(serialize_with = "peer_ids_str")]
    pub peers: Vec<PeerId>,
    pub open_orders: usize,
    pub archived_orders: usize,
    /// Wall-clock milliseconds of the last change received from a peer.
    pub last_sync_ms: Option<i64>,
    #[serde(serialize_with = "peer_id_str")]
    pub peer_id: PeerId,
    pub listen_addrs: Vec<String>,
    pub counters: Counters,
    /// Size of the order database file, in bytes.
    pub store_bytes: u64,
    /// How long durable commits (group commits, fsync included) took.
    pub commit_latency: Histogram,
    /// How long local edits waited inside the node for the commit that made
    /// them durable (the write in flight, then their own), from the actor
    /// taking the command to its answer.
    pub ack_wait: Histogram,
    /// Delivery to each back office.
    pub sinks: Vec<SinkReport>,
    /// Set while the storage is failing: edits are refused meanwhile.
    /// (Boxed: the status travels in every `NodeEvent::Status`.)
    pub storage_failure: Option<Box<StorageFailureReport>>,
}

/// The storage is failing: its last commit failed and none succeeded since.
/// Edits are refused (`NodeError::StorageFailed`) until one does; the
/// pending commit is tried again, the store reopened, at most 4 s apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StorageFailureReport {
    /// The latest failure.
    pub error: String,
    /// Wall-clock milliseconds of the first failure in this row.
    pub since_ms: i64,
    /// Failed commits in a row.
    pub failed_commits: u32,
}

/// One back office's delivery, as this terminal sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SinkReport {
    pub name: String,
    /// Closed orders it has not confirmed.
    pub backlog: usize,
    /// Age of the oldest of them, in seconds.
    pub oldest_undelivered_s: Option<u64>,
    pub in_flight: usize,
    /// The latest failure seen here, and when (wall-clock ms).
    pub last_error: Option<String>,
    pub last_error_at_ms: Option<i64>,
    /// Since start: confirmations, attempts at orders that had failed
    /// before, failed attempts.
    pub delivered: u64,
    pub retried: u64,
    pub failed: u64,
    /// Failures in a row (the sink is probed one order at a time).
    pub failing: u32,
    /// Orders the sink refused as they are (held until a catalogue or
    /// configuration fix; retried on their own schedule).
    pub refused: usize,
}

impl From<possync_engine::SinkStatus> for SinkReport {
    fn from(s: possync_engine::SinkStatus) -> Self {
        let (last_error_at_ms, last_error) = match s.last_error {
            Some((at, e)) => (Some(at), Some(e)),
            None => (None, None),
        };
        SinkReport {
            name: s.sink,
            backlog: s.backlog,
            oldest_undelivered_s: s.oldest_undelivered.map(|d| d.as_secs()),
            in_flight: s.in_flight,
            last_error,
            last_error_at_ms,
            delivered: s.delivered,
            retried: s.retried,
            failed: s.failed,
            failing: s.failing,
            refused: s.refused,
        }
    }
}

/// A latency histogram with fixed bucket bounds, Prometheus style
/// (cumulative counts are computed when exported).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Histogram {
    /// Upper bounds of the buckets, in microseconds.
    pub bounds_us: Vec<u64>,
    /// Observations per bucket (not cumulative); one more for "above".
    pub counts: Vec<u64>,
    pub sum_us: u64,
    pub count: u64,
}

impl Histogram {
    /// Buckets from 0.25 ms to 1 s.
    pub fn latency() -> Self {
        let bounds_us =
            vec![250, 500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];
        Histogram { counts: vec![0; bounds_us.len() + 1], bounds_us, sum_us: 0, count: 0 }
    }

    pub fn observe(&mut self, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = self.bounds_us.iter().position(|&b| us <= b).unwrap_or(self.bounds_us.len());
        self.counts[i] += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.count += 1;
    }
}

/// Monotonic counters for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub local_changes: u64,
    pub remote_changes: u64,
    pub rejected: u64,
    /// `rejected`, by kind of refusal (`malformed`, `invalid_change`,
    /// `foreign_actor`, `flood`, `duplicates`, `oversized`, `too_many_orders`).
    pub rejected_by_kind: BTreeMap<&'static str, u64>,
    pub gossip_sent: u64,
    /// Gossip messages gossipsub delivered from the topic (each once,
    /// whoever relayed it).
    pub gossip_received: u64,
    pub gossip_publish_failed: u64,
    /// Gossip messages gossipsub dropped because a peer did not take them
    /// in time (it was then caught up with, at most every 2 s).
    pub gossip_dropped: u64,
    pub catchup_sent: u64,
    pub catchup_received: u64,
    /// Connected terminals refused because they belong to another
    /// multi-session: nothing was exchanged with them.
    pub peers_refused: u64,
    /// Links closed because they showed no sign of life for the link
    /// timeout: no message received, no ping answered or sent by the peer (a silently dead
    /// network: cable pulled, Wi-Fi gone).
    pub links_timed_out: u64,
    /// Durable commits: each waited for the disk. Changes learned from peers
    /// join the next one (this terminal's next edit, or at most 100 ms later).
    pub store_commits: u64,
    /// Commits of changes learned from peers that did not wait for the disk,
    /// made when 256 batches of them gathered within 100 ms; the
    /// next durable commit takes them along.
    pub store_deferred_commits: u64,
    pub store_failures: u64,
}

pub(crate) fn peer_id_str<S: serde::Serializer>(p: &PeerId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_base58())
}

fn peer_ids_str<S: serde::Serializer>(ps: &[PeerId], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(ps.len()))?;
    for p in ps {
        seq.serialize_element(&p.to_base58())?;
    }
    seq.end()
}
