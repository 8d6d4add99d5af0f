//! The node's status as Prometheus metrics: every family possync has served
//! since its first release, by the same sample names.
//!
//! The node counts in its status (one snapshot, read by `/api/status` too);
//! this collector encodes a snapshot through prometheus-client at each
//! scrape. Counters are declared without `_total`, which prometheus-client
//! appends to the samples, as OpenMetrics requires.

use std::fmt;

use possync::{Connectivity, Histogram, NodeStatus, SinkReport};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// One scrape's snapshot of the node.
#[derive(Debug)]
pub struct NodeMetrics(pub NodeStatus);

/// A per-sink family: name, type, help, and how to read it from a report.
type SinkFamily = (&'static str, MetricType, &'static str, fn(&SinkReport) -> u64);

const SINK_FAMILIES: [SinkFamily; 7] = [
    ("possync_delivery_delivered", MetricType::Counter, "Orders a back office confirmed.", |r| r.delivered),
    ("possync_delivery_retried", MetricType::Counter, "Attempts at orders that had failed before.", |r| {
        r.retried
    }),
    ("possync_delivery_failed", MetricType::Counter, "Failed delivery attempts (timeouts included).", |r| {
        r.failed
    }),
    ("possync_delivery_backlog", MetricType::Gauge, "Closed orders a back office has not confirmed.", |r| {
        r.backlog as u64
    }),
    (
        "possync_delivery_oldest_undelivered_seconds",
        MetricType::Gauge,
        "Age of the oldest closed order a back office has not confirmed (0: none).",
        |r| r.oldest_undelivered_s.unwrap_or(0),
    ),
    (
        "possync_delivery_failing",
        MetricType::Gauge,
        "Delivery failures in a row (0: the back office answers).",
        |r| u64::from(r.failing),
    ),
    (
        "possync_delivery_refused",
        MetricType::Gauge,
        "Orders the back office refused as they are, held for a retry.",
        |r| r.refused as u64,
    ),
];

impl Collector for NodeMetrics {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let s = &self.0;
        let c = &s.counters;
        let counters: [(&str, &str, u64); 14] = [
            ("possync_changes_local", "Edits made on this terminal and stored.", c.local_changes),
            ("possync_changes_remote", "Changes received from peers and applied.", c.remote_changes),
            ("possync_changes_rejected", "Peer data refused.", c.rejected),
            ("possync_gossip_sent", "Gossip messages published.", c.gossip_sent),
            (
                "possync_gossip_received",
                "Gossip messages received (each once, whoever relayed it).",
                c.gossip_received,
            ),
            (
                "possync_gossip_publish_failed",
                "Publishes that failed (the change then went by catch-up).",
                c.gossip_publish_failed,
            ),
            (
                "possync_gossip_dropped",
                "Gossip messages dropped to a peer that did not take them in time (it is then caught up with).",
                c.gossip_dropped,
            ),
            (
                "possync_peers_refused",
                "Connected terminals refused as members of another multi-session.",
                c.peers_refused,
            ),
            (
                "possync_links_timed_out",
                "Links closed after no sign of life (gossip, a ping, a ping answered) for the link timeout.",
                c.links_timed_out,
            ),
            ("possync_catchup_sent", "Catch-up messages sent.", c.catchup_sent),
            ("possync_catchup_received", "Catch-up messages received.", c.catchup_received),
            ("possync_store_commits", "Durable storage commits (each a disk flush).", c.store_commits),
            (
                "possync_store_deferred_commits",
                "Commits of many peers' changes that did not wait for the disk (the next durable one, at most 100 ms later, takes them along).",
                c.store_deferred_commits,
            ),
            ("possync_store_failures", "Failed storage commits.", c.store_failures),
        ];
        for (name, help, value) in counters {
            ConstCounter::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        let connectivity = match s.connectivity {
            Connectivity::Offline => 0,
            Connectivity::Syncing => 1,
            Connectivity::Online => 2,
        };
        let gauges: [(&str, &str, i64); 6] = [
            ("possync_peers", "Connected terminals.", s.peers.len() as i64),
            ("possync_open_orders", "Orders on the open list.", s.open_orders as i64),
            ("possync_archived_orders", "Orders in the archive.", s.archived_orders as i64),
            ("possync_connectivity", "0 offline, 1 syncing, 2 online.", connectivity),
            (
                "possync_store_bytes",
                "Size of the order database file.",
                i64::try_from(s.store_bytes).unwrap_or(i64::MAX),
            ),
            (
                "possync_store_failing",
                "1 while the storage is failing (its last commit failed): edits are refused until a commit succeeds.",
                i64::from(s.storage_failure.is_some()),
            ),
        ];
        for (name, help, value) in gauges {
            ConstGauge::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }

        let mut family = e.encode_descriptor(
            "possync_rejected",
            "Peer data refused, by kind.",
            None,
            MetricType::Counter,
        )?;
        for (kind, count) in &c.rejected_by_kind {
            ConstCounter::new(*count).encode(family.encode_family(&[("kind", *kind)])?)?;
        }
        // Sink names are validated (a-z, 0-9, '-', '_'); the encoder escapes
        // label values all the same.
        for (name, kind, help, value) in SINK_FAMILIES {
            let mut family = e.encode_descriptor(name, help, None, kind)?;
            for r in &s.sinks {
                let labels = [("sink", r.name.as_str())];
                let series = family.encode_family(&labels)?;
                match kind {
                    MetricType::Counter => ConstCounter::new(value(r)).encode(series)?,
                    _ => ConstGauge::new(value(r)).encode(series)?,
                }
            }
        }

        histogram(
            &mut e,
            "possync_store_commit_seconds",
            "Durable group-commit latency (fsync included).",
            &s.commit_latency,
        )?;
        histogram(
            &mut e,
            "possync_edit_ack_wait_seconds",
            "How long local edits waited in the node for the commit that made them durable, from the node taking the edit to its answer.",
            &s.ack_wait,
        )
    }
}

/// Encodes one of the node's latency histograms (microsecond buckets) in
/// seconds.
fn histogram(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, h: &Histogram) -> fmt::Result {
    let bounds = h.bounds_us.iter().map(|&b| b as f64 / 1e6).chain([f64::INFINITY]);
    let buckets: Vec<(f64, u64)> = bounds.zip(h.counts.iter().copied()).collect();
    e.encode_descriptor(name, help, None, MetricType::Histogram)?.encode_histogram::<NoLabelSet>(
        h.sum_us as f64 / 1e6,
        h.count,
        &buckets,
        None,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use possync::{Counters, PeerId};
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    fn scrape(status: NodeStatus) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(NodeMetrics(status)));
        let mut out = String::new();
        encode(&mut out, &registry).unwrap();
        out
    }

    /// Labelled series keep the names and integer values of the text the
    /// API served before prometheus-client (dashboards and alerts select
    /// on them).
    #[test]
    fn labelled_series_keep_their_names_and_values() {
        let mut counters = Counters::default();
        counters.rejected_by_kind.insert("flood", 3);
        let mut latency = Histogram::latency();
        latency.observe(std::time::Duration::from_millis(3));
        let status = NodeStatus {
            connectivity: Connectivity::Online,
            peers: vec![PeerId::random()],
            open_orders: 2,
            archived_orders: 0,
            last_sync_ms: None,
            peer_id: PeerId::random(),
            listen_addrs: Vec::new(),
            counters,
            store_bytes: 4096,
            commit_latency: latency.clone(),
            ack_wait: latency,
            sinks: vec![SinkReport {
                name: "pg".into(),
                backlog: 0,
                oldest_undelivered_s: Some(12),
                in_flight: 0,
                last_error: None,
                last_error_at_ms: None,
                delivered: 7,
                retried: 1,
                failed: 2,
                failing: 0,
                refused: 0,
            }],
            storage_failure: None,
        };
        let text = scrape(status);
        for line in [
            "possync_rejected_total{kind=\"flood\"} 3",
            "possync_delivery_delivered_total{sink=\"pg\"} 7",
            "possync_delivery_backlog{sink=\"pg\"} 0",
            "possync_delivery_oldest_undelivered_seconds{sink=\"pg\"} 12",
            "possync_connectivity 2",
            "possync_peers 1",
            "possync_store_bytes 4096",
            "possync_store_failing 0",
            "possync_store_commit_seconds_bucket{le=\"0.002\"} 0",
            "possync_store_commit_seconds_bucket{le=\"0.005\"} 1",
            "possync_edit_ack_wait_seconds_bucket{le=\"+Inf\"} 1",
            "possync_edit_ack_wait_seconds_count 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
    }
}
