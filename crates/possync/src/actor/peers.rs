//! The actor's side of peers: which connections are heard (allow-list,
//! bans, isolation, refusals), the session handshake (`crate::admission`),
//! dead links (`crate::liveness`) and redials (`crate::dialer`).

use std::collections::BTreeSet;
use std::time::Duration;

use libp2p::PeerId;
use libp2p::core::ConnectedPoint;
use libp2p::swarm::ConnectionId;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use tracing::{debug, warn};

use super::Actor;
use crate::admission::{Refusal, TOPIC_PREFIX};
use crate::dialer::Dial;

/// A terminal of another multi-session is not dialled again, nor heard,
/// for this long after it was refused.
const REFUSED_FOR: Duration = Duration::from_secs(60);
/// Refused terminals remembered so that each is logged as a warning once.
const MAX_WARNED_REFUSALS: usize = 1024;

impl Actor {
    /// A connection is up: closed at once if the peer is not to be heard
    /// (isolation, allow-list, ban, refusal); otherwise the terminal waits
    /// for its session (see `admission`).
    pub(super) fn connection_established(
        &mut self,
        now: std::time::Instant,
        peer_id: PeerId,
        connection_id: ConnectionId,
        endpoint: &ConnectedPoint,
    ) {
        let not_allowed = !self.allowed.is_empty() && !self.allowed.contains(&peer_id);
        if not_allowed {
            warn!(peer = %peer_id, "peer not in the allow-list: disconnected");
        }
        // Banned peers and other sessions' terminals are refused by the dialer.
        if self.isolated || not_allowed || self.dialer.is_refused(&peer_id, now) {
            self.swarm.close_connection(connection_id);
            return;
        }
        let dialled = match endpoint {
            ConnectedPoint::Dialer { address, .. } => Some(address),
            ConnectedPoint::Listener { .. } => None,
        };
        self.dialer.connected(peer_id, dialled);
        self.connections.insert(connection_id, peer_id);
        // Of the two ends of a quiet link, the lower peer id pings first.
        let leads = self.swarm.local_peer_id() < &peer_id;
        self.liveness.watch(connection_id, now, leads);
        if !self.connected.contains(&peer_id) && !self.admission.is_waiting(&peer_id) {
            debug!(peer = %peer_id, "terminal connected: waiting for its session");
            self.admission.connected(peer_id, now);
            // A new connection to a peer whose earlier one is still
            // closing: gossipsub already knows its topics and will
            // not send them again.
            let known: Vec<String> = self
                .swarm
                .behaviour()
                .gossipsub
                .all_peers()
                .filter(|(p, _)| **p == peer_id)
                .flat_map(|(_, topics)| topics.into_iter().map(|t| t.as_str().to_owned()))
                .collect();
            for topic in known {
                self.subscribed(now, peer_id, &topic);
            }
        }
    }

    /// A connection closed; `remaining` of the peer's are still open.
    pub(super) fn connection_closed(
        &mut self,
        now: std::time::Instant,
        peer_id: PeerId,
        connection_id: ConnectionId,
        remaining: u32,
    ) {
        self.connections.remove(&connection_id);
        self.liveness.forget(&connection_id);
        if remaining == 0 {
            self.peer_gone(peer_id, now);
        }
    }

    /// `peer` subscribed to `topic`: a terminal waiting for admission is
    /// admitted when it is this session's topic, with the catch-up requests
    /// it sent meanwhile.
    pub(super) fn subscribed(&mut self, now: std::time::Instant, peer: PeerId, topic: &str) {
        if let Some(held) = self.admission.subscribed(&peer, topic) {
            debug!(%peer, "terminal joined this session: admitted");
            self.connected.insert(peer);
            self.engine.peer_up(now, peer);
            self.collect();
            for (request, channel) in held {
                self.catchup_request(now, peer, request, channel);
            }
        } else if topic == self.topic.hash().as_str() && self.connected.contains(&peer) {
            // Subscribed again: what it missed meanwhile, now.
            self.engine.catch_up_with(&peer);
            self.collect();
        }
    }

    /// The peer's last connection is gone (closed, or closing as dead).
    pub(super) fn peer_gone(&mut self, peer: PeerId, now: std::time::Instant) {
        self.dialer.disconnected(&peer, now);
        if let Some(refusal) = self.admission.disconnected(&peer) {
            // It hung up first, having seen that this terminal is of
            // another session too: refused all the same.
            self.refuse(peer, refusal, now);
        }
        if self.connected.remove(&peer) {
            debug!(%peer, "peer disconnected");
            self.slow_peers.forget(&peer);
            self.engine.peer_down(&peer);
        }
    }

    /// Refuses a connected terminal that is not of this session, naming
    /// both sessions; it is neither dialled nor heard for [`REFUSED_FOR`].
    /// One that joined no session in time is only disconnected.
    pub(super) fn refuse(&mut self, peer: PeerId, refusal: Refusal, now: std::time::Instant) {
        let _ = self.swarm.disconnect_peer_id(peer);
        if self.connected.remove(&peer) {
            self.slow_peers.forget(&peer);
            self.engine.peer_down(&peer);
        }
        if refusal == Refusal::NoSession {
            // Most likely a link too lossy or slow to carry the subscription
            // in time: hang up and try afresh, as after any lost link.
            debug!(%peer, %refusal, "disconnected; it will be dialled again");
            self.dialer.disconnected(&peer, now);
            return;
        }
        if self.warned_refusals.len() >= MAX_WARNED_REFUSALS {
            self.warned_refusals.clear();
        }
        let session = self.topic.hash().as_str().strip_prefix(TOPIC_PREFIX).unwrap_or_default().to_owned();
        if self.warned_refusals.insert(peer) {
            warn!(%peer, %refusal, this_session = %session, "terminal of another multi-session refused: disconnected, no order exchanged");
        } else {
            debug!(%peer, %refusal, "terminal of another multi-session refused again");
        }
        self.counters.peers_refused += 1;
        self.dialer.refuse(peer, now + REFUSED_FOR);
    }

    /// Drops every connection and stops dialling (`true`: a pulled cable,
    /// for tests and drills), or dials everyone at once again (`false`).
    pub(super) fn set_isolated(&mut self, now: std::time::Instant, isolated: bool) {
        self.isolated = isolated;
        if isolated {
            let peers: BTreeSet<PeerId> = self.connections.values().copied().collect();
            for p in peers {
                let _ = self.swarm.disconnect_peer_id(p);
            }
            self.admission.clear();
        } else {
            // The cable is back: dial now, not at the next tick.
            self.dialer.reset(now);
            self.dial_due(now);
        }
    }

    /// The engine asks to ban `peer` (refused data, floods): disconnected,
    /// then neither dialled nor heard for [`possync_engine::BAN`].
    pub(super) fn ban(&mut self, now: std::time::Instant, peer: PeerId, reason: &str) {
        warn!(%peer, %reason, "disconnecting and banning peer");
        self.dialer.refuse(peer, now + possync_engine::BAN);
        let _ = self.swarm.disconnect_peer_id(peer);
        self.peer_gone(peer, now);
    }

    /// The periodic look at peers: dials that are due, links that went
    /// silent, terminals that did not join this session.
    pub(super) fn check_peers(&mut self) {
        let now = Self::now();
        self.dial_due(now);
        for connection in self.liveness.pings_due(now) {
            if let Some(peer) = self.connections.get(&connection) {
                self.swarm.behaviour_mut().probe.ping(*peer, connection);
            }
        }
        let mut dead_peers = BTreeSet::new();
        for connection in self.liveness.dead(now) {
            if let Some(peer) = self.connections.remove(&connection) {
                debug!(%peer, "no sign of life (gossip, ping) for a while: closing the connection");
                self.counters.links_timed_out += 1;
                self.swarm.close_connection(connection);
                dead_peers.insert(peer);
            }
        }
        // The peer is offline now, not once the dead link has finished
        // closing (which waits on TCP).
        for peer in dead_peers {
            if !self.connections.values().any(|p| *p == peer) {
                self.peer_gone(peer, now);
            }
        }
        for (peer, refusal) in self.admission.due(now) {
            self.refuse(peer, refusal, now);
        }
        self.collect();
    }

    pub(super) fn dial_due(&mut self, now: std::time::Instant) {
        if self.isolated {
            return;
        }
        for dial in self.dialer.due(now) {
            let result = match dial {
                Dial::Address(addr) => self.swarm.dial(addr),
                // While disconnected, a fresh dial even if one is pending: a
                // dial whose SYN was lost while the link was down would only
                // end at the transport's outgoing timeout.
                Dial::Peer(peer, addrs) => self.swarm.dial(
                    DialOpts::peer_id(peer).addresses(addrs).condition(PeerCondition::Disconnected).build(),
                ),
            };
            if let Err(e) = result {
                debug!(error = %e, "redial failed");
            }
        }
    }
}
