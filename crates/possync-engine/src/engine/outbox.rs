//! What leaves the engine: changes gossiped (or announced by summary when too
//! big), pairwise messages, and the end of every step, which puts the
//! step's storage writes in front and batches sync messages per peer.

use possync_model::OrderId;

use super::{Engine, PeerId};
use crate::output::Output;
use crate::wire::{Direct, Gossip};

impl<P: PeerId> Engine<P> {
    pub(super) fn broadcast(&mut self, order: &OrderId, changes: Vec<Vec<u8>>) {
        let bytes = Gossip::Changes { order: order.clone(), changes }.encode();
        if bytes.len() <= self.cfg.max_gossip_bytes {
            self.outbox.push_back(Output::Broadcast(bytes));
        } else {
            // Too big for gossip: every peer compares summaries and fetches it.
            let peers: Vec<P> = self.peers.keys().cloned().collect();
            for p in peers {
                self.send_summary(&p);
            }
        }
    }

    pub(super) fn send(&mut self, to: &P, bytes: Vec<u8>) {
        self.outbox.push_back(Output::Send { to: to.clone(), bytes });
    }

    /// Ends a step: the step's storage writes become one batch at the front of
    /// the queue (so a runtime that carries outputs out in order never
    /// acknowledges before they are durable), then the batched sync messages.
    pub(super) fn flush(&mut self) {
        for (now, order) in std::mem::take(&mut self.pending_renames) {
            self.rename_duplicate(now, &order);
        }
        if !self.pending_store.is_empty() {
            let batch = std::mem::take(&mut self.pending_store);
            self.outbox.push_front(Output::Persist(batch));
        }
        let max = self.cfg.max_direct_bytes;
        let mut sends = Vec::new();
        for (peer, state) in self.peers.iter_mut() {
            if state.outgoing_sync.is_empty() {
                continue;
            }
            let mut batch = Vec::new();
            let mut size = 0;
            for (id, msg) in state.outgoing_sync.drain(..) {
                if size + msg.len() > max && !batch.is_empty() {
                    sends.push((peer.clone(), Direct::Sync { items: std::mem::take(&mut batch) }.encode()));
                    size = 0;
                }
                size += msg.len() + id.as_str().len() + 8;
                batch.push((id, msg));
            }
            sends.push((peer.clone(), Direct::Sync { items: batch }.encode()));
        }
        for (to, bytes) in sends {
            self.outbox.push_back(Output::Send { to, bytes });
        }
    }
}
