//! Peers' messages into the engine: gossip (gathered for the turn and
//! applied together, see `crate::gossip_batch`; validated by the engine,
//! then relayed a little later, see `crate::relay_delay`) and catch-up requests
//! (heard only from admitted peers; held while a terminal waits for
//! admission).

use std::collections::BTreeSet;

use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, Swarm, request_response};
use possync_engine::{ActorOwner, Rejection, Verdict};
use tracing::debug;

use super::Actor;
use crate::net::codec::Oversized;
use crate::net::{Behaviour, BehaviourEvent};

/// A gossip message, which waits for the end of the turn (`GossipBatch`).
pub(super) fn is_gossip_message(event: &SwarmEvent<BehaviourEvent>) -> bool {
    matches!(event, SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message { .. })))
}

/// Tells gossipsub that a message was accepted, which lets it relay it.
pub(super) fn relay(swarm: &mut Swarm<Behaviour>, (message_id, source): (gossipsub::MessageId, PeerId)) {
    swarm.behaviour_mut().gossipsub.report_message_validation_result(
        &message_id,
        &source,
        MessageAcceptance::Accept,
    );
}

impl Actor {
    pub(super) fn on_gossip(&mut self, now: std::time::Instant, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                self.counters.gossip_received += 1;
                // Only admitted peers (connected, allowed, not banned) are heard.
                let admitted = self.connected.contains(&propagation_source);
                match message.source {
                    // Strict validation: every message is signed by its source.
                    Some(signer) if admitted && message.topic == self.topic.hash() => {
                        let signer = ActorOwner::of_identity(&signer.to_bytes());
                        // Applied at the end of the turn, with the others.
                        self.gossip_in.push(message_id, propagation_source, signer, message.data);
                    }
                    _ => self.report_verdict(now, message_id, propagation_source, Verdict::Ignore),
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => self.subscribed(now, peer_id, topic.as_str()),
            gossipsub::Event::SlowPeer { peer_id, failed_messages } => {
                let dropped = failed_messages.priority + failed_messages.non_priority;
                self.counters.gossip_dropped += dropped as u64;
                if self.connected.contains(&peer_id) && self.slow_peers.reported(&peer_id, now) {
                    debug!(peer = %peer_id, dropped, "gossip dropped to a slow peer: catching up with it");
                    self.engine.catch_up_with(&peer_id);
                    self.collect();
                }
            }
            _ => {}
        }
    }

    /// Applies the gossip gathered in this turn and tells gossipsub what
    /// to do with each message.
    pub(super) fn apply_gossip(&mut self) {
        if self.gossip_in.is_empty() {
            return;
        }
        let now = Self::now();
        let mut sources = BTreeSet::new();
        for (message_id, source, verdict) in self.gossip_in.apply(&mut self.engine, now) {
            sources.insert(source);
            self.report_verdict(now, message_id, source, verdict);
        }
        // The links they came over are alive (see `crate::liveness`).
        for (connection, peer) in &self.connections {
            if sources.contains(peer) {
                self.liveness.heard(connection, now);
            }
        }
        self.collect();
    }

    fn report_verdict(
        &mut self,
        now: std::time::Instant,
        message_id: gossipsub::MessageId,
        source: PeerId,
        verdict: Verdict,
    ) {
        let acceptance = match verdict {
            Verdict::Accept => {
                // Relayed a little later (see `relay_delay`).
                if let Some(early) = self.relay_delay.accepted((message_id, source), now) {
                    relay(&mut self.swarm, early);
                }
                return;
            }
            Verdict::Ignore => MessageAcceptance::Ignore,
            Verdict::Reject => MessageAcceptance::Reject,
        };
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
            &message_id,
            &source,
            acceptance,
        );
    }

    /// Lets gossipsub relay the accepted messages whose delay is over.
    pub(super) fn relay_due(&mut self) {
        for accepted in self.relay_delay.due(Self::now()) {
            relay(&mut self.swarm, accepted);
        }
    }

    pub(super) fn on_catchup(
        &mut self,
        now: std::time::Instant,
        event: request_response::Event<Result<Vec<u8>, Oversized>, ()>,
    ) {
        if let request_response::Event::Message { connection_id, .. } = &event {
            // Anything received on a link proves it (see `crate::liveness`).
            self.liveness.heard(connection_id, now);
        }
        match event {
            request_response::Event::Message {
                peer,
                message: request_response::Message::Request { request, channel, .. },
                ..
            } => {
                if self.connected.contains(&peer) {
                    self.catchup_request(now, peer, request, channel);
                } else if let Err((_, channel)) = self.admission.hold(&peer, (request, channel)) {
                    // Not admitted (allow-list, ban, isolation, another
                    // session) nor waiting, or too many held: not heard.
                    drop(channel);
                }
            }
            request_response::Event::OutboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "catch-up message not delivered; the engine retries after its timeout");
            }
            _ => {}
        }
    }

    /// A catch-up request from an admitted peer: acknowledged, then heard.
    pub(super) fn catchup_request(
        &mut self,
        now: std::time::Instant,
        peer: PeerId,
        request: Result<Vec<u8>, Oversized>,
        channel: request_response::ResponseChannel<()>,
    ) {
        self.counters.catchup_received += 1;
        let _ = self.swarm.behaviour_mut().catchup.send_response(channel, ());
        match request {
            Ok(bytes) => self.engine.handle_direct(now, peer, &bytes),
            Err(Oversized { bytes }) => {
                self.engine.refused_by_transport(now, peer, Rejection::Oversized { bytes })
            }
        }
        self.collect();
    }
}
