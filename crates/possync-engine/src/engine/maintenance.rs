//! The once-a-second sweep: sync sessions and fetches gone silent, retention
//! of archived orders (and of their tombstones), half-received orders nobody
//! is completing.

use std::collections::HashSet;
use std::time::Instant;

use possync_model::OrderId;

use super::{Engine, PeerId};
use crate::orders::Life;
use crate::output::StoreOp;

impl<P: PeerId> Engine<P> {
    pub(super) fn maintain(&mut self, now: Instant) {
        let timeout = self.cfg.sync_timeout;
        let mut restart: Vec<P> = Vec::new();
        for (peer, state) in self.peers.iter_mut() {
            let stalled: Vec<OrderId> = state
                .sessions
                .iter()
                .filter(|(_, s)| now.saturating_duration_since(s.last_activity) >= timeout)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &stalled {
                state.end_session(id);
            }
            state.fetching.retain(|_, asked| now.saturating_duration_since(*asked) < timeout);
            if !stalled.is_empty() {
                restart.push(peer.clone());
            }
        }
        for peer in restart {
            self.fill_sessions(&peer, now);
        }
        // Retention of archived orders.
        let expired: Vec<OrderId> = self
            .orders
            .iter()
            .filter(|(_, e)| matches!(e.life(), Life::Archived(since) if now.saturating_duration_since(since) >= self.cfg.retention))
            // Never an order some back office has not confirmed.
            .filter(|(id, _)| !self.deliveries.holds(id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.orders.remove(&id);
            self.tombstones.insert(id.clone(), now + self.cfg.retention);
            self.pending_store.push(StoreOp::Delete { order: id });
        }
        self.tombstones.retain(|_, until| now < *until);
        // Half-received orders nobody completes are dropped with their peers'
        // sessions; keep only those still being worked on.
        let busy: HashSet<OrderId> = self
            .peers
            .values()
            .flat_map(|p| p.sessions.keys().chain(p.fetching.keys()).chain(p.queue.iter()))
            .cloned()
            .collect();
        self.orders.retain(|id, e| e.is_complete() || busy.contains(id) || !e.doc.is_empty());
    }
}
