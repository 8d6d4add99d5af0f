//! Refused data and floods: reported as `Event::Rejected` and counted
//! against the peer, which is disconnected past `max_offences` in
//! `offence_window`.

use std::time::Instant;

use super::{Engine, PeerId};
use crate::output::{Event, Output, Rejection};

impl<P: PeerId> Engine<P> {
    /// Counts an offence against a peer of the catch-up protocol; past the
    /// limit, asks the runtime to disconnect it and forgets its state.
    pub(super) fn offence(&mut self, now: Instant, peer: &P, what: &str) {
        let cfg = &self.cfg;
        let Some(state) = self.peers.get_mut(peer) else { return };
        if state.guard.offend(now, cfg) {
            let reason =
                format!("{what}: more than {} offences in {:?}", cfg.max_offences, cfg.offence_window);
            tracing::warn!(?peer, %reason, "disconnecting peer");
            self.peer_down(peer);
            self.outbox.push_back(Output::Disconnect { peer: peer.clone(), reason });
        }
    }

    /// Refused data that counts against its sender: reported, and an offence
    /// (all refused catch-up data; undecodable gossip and gossip under another
    /// terminal's actor).
    pub(super) fn reject_offence(&mut self, now: Instant, from: &P, reason: Rejection) {
        let what = reason.kind();
        self.reject(from.clone(), reason);
        self.offence(now, from, what);
    }

    /// Traffic over a per-peer budget: reported (quietly: a flood must not
    /// flood the log too), and counted as an offence.
    pub(super) fn refuse_flood(&mut self, now: Instant, from: &P, reason: Rejection) {
        tracing::debug!(peer = ?from, %reason, "dropped message from peer");
        let what = reason.kind();
        self.outbox.push_back(Output::Event(Event::Rejected { from: from.clone(), reason }));
        self.offence(now, from, what);
    }

    /// Data from a peer that is not up (never came up through `peer_up`, or
    /// went down while its message was in flight): refused unread and
    /// reported quietly. No state is made for it, so strangers cannot grow
    /// the peer table, and admitting peers stays the runtime's decision.
    pub(super) fn refuse_stranger(&mut self, from: &P) {
        let reason = Rejection::NotAPeer;
        tracing::debug!(peer = ?from, %reason, "dropped message from peer");
        self.outbox.push_back(Output::Event(Event::Rejected { from: from.clone(), reason }));
    }

    pub(super) fn reject(&mut self, from: P, reason: Rejection) {
        tracing::warn!(peer = ?from, %reason, "refused data from peer");
        self.outbox.push_back(Output::Event(Event::Rejected { from, reason }));
    }
}
