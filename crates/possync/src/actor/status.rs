//! What the actor reports about itself: [`NodeStatus`], and a
//! [`NodeEvent::Status`] whenever connectivity or the peers change.

use super::Actor;
use crate::clock::wall_ms;
use crate::event::NodeEvent;
use crate::status::{Connectivity, NodeStatus, StorageFailureReport};

impl Actor {
    pub(super) fn connectivity(&self) -> Connectivity {
        if self.connected.is_empty() {
            Connectivity::Offline
        } else if self.engine.status().is_syncing() {
            Connectivity::Syncing
        } else {
            Connectivity::Online
        }
    }

    pub(super) fn status(&self) -> NodeStatus {
        let s = self.engine.status();
        NodeStatus {
            connectivity: self.connectivity(),
            peers: self.connected.iter().copied().collect(),
            open_orders: s.active_orders,
            archived_orders: s.archived_orders,
            last_sync_ms: self.last_sync_ms,
            peer_id: *self.swarm.local_peer_id(),
            listen_addrs: self.swarm.listeners().map(|a| a.to_string()).collect(),
            counters: self.counters.clone(),
            store_bytes: std::fs::metadata(&self.writer.path).map(|m| m.len()).unwrap_or(0),
            commit_latency: self.commit_latency.clone(),
            ack_wait: self.ack_wait.clone(),
            sinks: self.engine.delivery_status(Self::now()).into_iter().map(Into::into).collect(),
            storage_failure: self.commits.failure().map(|f| {
                Box::new(StorageFailureReport {
                    error: f.error.to_string(),
                    since_ms: wall_ms()
                        - i64::try_from(Self::now().saturating_duration_since(f.since).as_millis())
                            .unwrap_or(i64::MAX),
                    failed_commits: f.failed_commits,
                })
            }),
        }
    }

    pub(super) fn publish_status_if_changed(&mut self) {
        let now = (self.connectivity(), self.connected.iter().copied().collect::<Vec<_>>());
        if self.last_status.as_ref() != Some(&now) {
            self.last_status = Some(now);
            let _ = self.events.send(NodeEvent::Status(self.status()));
        }
    }
}
