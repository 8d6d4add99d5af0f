//! Prometheus text exposition of the node's counters and gauges.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use possync::Connectivity;

use super::{ApiError, AppState};

/// A per-sink series: name, type, help, and how to read it from a report.
type SinkSeries = (&'static str, &'static str, &'static str, fn(&possync::SinkReport) -> f64);

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let s = state.node.status().await?;
    let c = &s.counters;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric(
        "possync_changes_local_total",
        "counter",
        "Edits made on this terminal and stored.",
        c.local_changes as f64,
    );
    metric(
        "possync_changes_remote_total",
        "counter",
        "Changes received from peers and applied.",
        c.remote_changes as f64,
    );
    metric("possync_changes_rejected_total", "counter", "Peer data refused.", c.rejected as f64);
    metric("possync_gossip_sent_total", "counter", "Gossip messages published.", c.gossip_sent as f64);
    metric(
        "possync_gossip_received_total",
        "counter",
        "Gossip messages received (each once, whoever relayed it).",
        c.gossip_received as f64,
    );
    metric(
        "possync_gossip_publish_failed_total",
        "counter",
        "Publishes that failed (the change then went by catch-up).",
        c.gossip_publish_failed as f64,
    );
    metric(
        "possync_gossip_dropped_total",
        "counter",
        "Gossip messages dropped to a peer that did not take them in time (it is then caught up with).",
        c.gossip_dropped as f64,
    );
    metric(
        "possync_peers_refused_total",
        "counter",
        "Connected terminals refused as members of another multi-session.",
        c.peers_refused as f64,
    );
    metric(
        "possync_links_timed_out_total",
        "counter",
        "Links closed because they stopped answering pings.",
        c.links_timed_out as f64,
    );
    metric("possync_catchup_sent_total", "counter", "Catch-up messages sent.", c.catchup_sent as f64);
    metric(
        "possync_catchup_received_total",
        "counter",
        "Catch-up messages received.",
        c.catchup_received as f64,
    );
    metric(
        "possync_store_commits_total",
        "counter",
        "Durable storage commits (each a disk flush).",
        c.store_commits as f64,
    );
    metric(
        "possync_store_deferred_commits_total",
        "counter",
        "Commits of many peers' changes that did not wait for the disk (the next durable one, at most 100 ms later, takes them along).",
        c.store_deferred_commits as f64,
    );
    metric("possync_store_failures_total", "counter", "Failed storage commits.", c.store_failures as f64);
    metric("possync_peers", "gauge", "Connected terminals.", s.peers.len() as f64);
    metric("possync_open_orders", "gauge", "Orders on the open list.", s.open_orders as f64);
    metric("possync_archived_orders", "gauge", "Orders in the archive.", s.archived_orders as f64);
    let online = match s.connectivity {
        Connectivity::Offline => 0.0,
        Connectivity::Syncing => 1.0,
        Connectivity::Online => 2.0,
    };
    metric("possync_connectivity", "gauge", "0 offline, 1 syncing, 2 online.", online);
    metric("possync_store_bytes", "gauge", "Size of the order database file.", s.store_bytes as f64);
    let name = "possync_rejected_total";
    let _ = writeln!(out, "# HELP {name} Peer data refused, by kind.\n# TYPE {name} counter");
    for (kind, count) in &c.rejected_by_kind {
        let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {count}");
    }
    // Delivery to back offices, one series per sink (sink names are
    // validated: a-z, 0-9, '-', '_', nothing to escape).
    let sink_series: [SinkSeries; 7] = [
        ("possync_delivery_delivered_total", "counter", "Orders a back office confirmed.", |r| {
            r.delivered as f64
        }),
        ("possync_delivery_retried_total", "counter", "Attempts at orders that had failed before.", |r| {
            r.retried as f64
        }),
        ("possync_delivery_failed_total", "counter", "Failed delivery attempts (timeouts included).", |r| {
            r.failed as f64
        }),
        ("possync_delivery_backlog", "gauge", "Closed orders a back office has not confirmed.", |r| {
            r.backlog as f64
        }),
        (
            "possync_delivery_oldest_undelivered_seconds",
            "gauge",
            "Age of the oldest closed order a back office has not confirmed (0: none).",
            |r| r.oldest_undelivered_s.unwrap_or(0) as f64,
        ),
        (
            "possync_delivery_failing",
            "gauge",
            "Delivery failures in a row (0: the back office answers).",
            |r| f64::from(r.failing),
        ),
        (
            "possync_delivery_refused",
            "gauge",
            "Orders the back office refused as they are, held for a retry.",
            |r| r.refused as f64,
        ),
    ];
    for (name, kind, help, value) in sink_series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for r in &s.sinks {
            let _ = writeln!(out, "{name}{{sink=\"{}\"}} {}", r.name, value(r));
        }
    }
    let h = &s.commit_latency;
    let name = "possync_store_commit_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Durable group-commit latency (fsync included).\n# TYPE {name} histogram"
    );
    let mut cumulative = 0;
    for (bound, count) in h.bounds_us.iter().zip(&h.counts) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {cumulative}", *bound as f64 / 1e6);
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", h.sum_us as f64 / 1e6, h.count);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}
