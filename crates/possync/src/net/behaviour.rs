//! The libp2p behaviour of a terminal: gossipsub for fan-out, request-response
//! for catch-up, identify, ping, and mDNS when enabled.

use std::time::Duration;

use libp2p::gossipsub::{self, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::metrics::Registry;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{identify, mdns};
use possync_engine::wire;

use crate::liveness::PING_TIMEOUT;
use crate::net::codec::{CATCHUP_PROTOCOL, CatchupCodec};
use crate::net::probe::Probe;

/// Identify's protocol version string for possync terminals.
pub const IDENTIFY_PROTOCOL: &str = "/possync/1.0.0";
/// Most message ids gossipsub announces (IHAVE) or asks for (IWANT) in one
/// control frame, and to or from one peer per heartbeat (its default).
pub const MAX_CONTROL_IDS: usize = 5000;

/// The largest control part of a gossipsub frame a terminal reads: room
/// for [`MAX_CONTROL_IDS`] ids of [`wire::MESSAGE_ID_LEN`] bytes, each a
/// length-delimited protobuf field (a tag and a one-byte length), and the
/// frame's own fields (topic, nesting).
///
/// Gossipsub's defaults disagree with each other: it sends IHAVEs of up to
/// 5,000 ids but refuses a control part over 16 KiB (~740 of our ids). A
/// refused frame closes the stream and loses the messages queued behind it
/// (docs/PERFORMANCE.md, "the partial deliveries near the limit"). possync
/// itself no longer sends IHAVE (see [`gossipsub_config`]), but a terminal
/// of an earlier release does, and the limit must hold for whatever
/// gossipsub may send.
pub const MAX_CONTROL_FRAME_BYTES: usize = MAX_CONTROL_IDS * (wire::MESSAGE_ID_LEN + 2) + 1024;

/// The largest gossipsub frame a terminal reads (`docs/PROTOCOL.md`): a
/// data message stays under the engine's `max_gossip_bytes` (60 KiB), a
/// control frame under [`MAX_CONTROL_FRAME_BYTES`].
pub const MAX_GOSSIP_FRAME_BYTES: usize = 128 * 1024;
const _: () = assert!(MAX_CONTROL_FRAME_BYTES <= MAX_GOSSIP_FRAME_BYTES);

/// Gossipsub's mesh degree. An author publishes to every terminal it is
/// connected to (flood publishing, gossipsub's default), and on a shop's LAN
/// every terminal is usually connected to every other: the mesh only
/// carries a change further to terminals that are not, and every copy it
/// sends to one that already has it costs that terminal a signature check.
/// Gossipsub's default (6, from 5 to 12) made 12 such copies of each edit
/// among 5 terminals; 2 makes at most 8, and fewer than 4 when the author is
/// in the mesh. Catch-up reaches a terminal the mesh misses.
const MESH_N: usize = 2;
const MESH_N_LOW: usize = 1;
const MESH_N_HIGH: usize = 4;

/// How often mDNS asks the LAN for terminals. Its default (5 min) is for
/// finding new peers; a terminal whose record expired while its link was
/// down (records live 6 min) is found again within this interval. A query
/// is one small multicast packet.
const MDNS_QUERY_INTERVAL: Duration = Duration::from_secs(30);

/// The composed behaviour (its derive generates `BehaviourEvent`).
#[derive(NetworkBehaviour)]
#[allow(missing_debug_implementations)]
pub struct Behaviour {
    pub gossipsub: gossipsub::Behaviour,
    pub catchup: request_response::Behaviour<CatchupCodec>,
    pub identify: identify::Behaviour,
    /// libp2p's ping, sent on quiet links when the node asks (`liveness`).
    pub probe: Probe,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Errors building the behaviour.
#[derive(Debug, thiserror::Error)]
pub enum BehaviourError {
    #[error("gossipsub configuration: {0}")]
    Gossipsub(String),
    #[error("mDNS: {0}")]
    Mdns(#[from] std::io::Error),
}

/// Gossipsub's configuration for a multi-session's topic. Public so that
/// the benchmark's floor runs the same stack.
pub fn gossipsub_config() -> Result<gossipsub::Config, gossipsub::ConfigBuilderError> {
    gossipsub::ConfigBuilder::default()
        // Messages are signed by their author and must be: the strict
        // mode refuses unsigned or forged ones.
        .validation_mode(ValidationMode::Strict)
        // Forward a message only once the engine has applied it.
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(wire::message_id(&m.data).to_vec()))
        .max_transmit_size(MAX_GOSSIP_FRAME_BYTES)
        .max_control_messages_sent(MAX_CONTROL_IDS)
        .max_control_message_size(MAX_CONTROL_FRAME_BYTES)
        // No lazy gossip (IHAVE to peers outside the mesh each heartbeat):
        // possync repairs lost messages itself and sooner (a missing
        // dependency at once, a `SlowPeer` at once, anti-entropy every
        // 15 s), while under load IHAVE announces messages still in flight,
        // which are then sent again and their signatures checked again
        // (figures: docs/PERFORMANCE.md).
        .gossip_lazy(0)
        .gossip_factor(0.0)
        .heartbeat_interval(Duration::from_millis(500))
        .mesh_n(MESH_N)
        .mesh_n_low(MESH_N_LOW)
        .mesh_n_high(MESH_N_HIGH)
        .mesh_outbound_min(1)
        // Tell mesh peers at once that a message arrived (IDONTWANT), so
        // that they do not relay it here, whatever its size: a relayed copy
        // costs its receiver a signature check, far more than the 20-byte
        // control message. `relay_delay` lets the other receivers'
        // IDONTWANT arrive before this node relays.
        .idontwant_message_size_threshold(0)
        .build()
}

impl Behaviour {
    /// With `metrics`, gossipsub registers its own there (mesh, topic
    /// peers, messages by topic, under `libp2p_gossipsub_`).
    pub fn new(
        key: &Keypair,
        mdns_enabled: bool,
        metrics: Option<&mut Registry>,
    ) -> Result<Self, BehaviourError> {
        let config = gossipsub_config().map_err(|e| BehaviourError::Gossipsub(e.to_string()))?;
        let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)
            .map_err(|e| BehaviourError::Gossipsub(e.to_string()))?;
        if let Some(registry) = metrics {
            // One topic per terminal; a foreign topic seen on the wire gets
            // no series of its own (the labels stay bounded).
            let config = gossipsub::MetricsConfig {
                max_topics: 1,
                max_never_subscribed_topics: 0,
                ..Default::default()
            };
            gossipsub = gossipsub.with_metrics(registry.sub_registry_with_prefix("libp2p_gossipsub"), config);
        }
        let catchup = request_response::Behaviour::with_codec(
            CatchupCodec,
            [(CATCHUP_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
        );
        let identify =
            identify::Behaviour::new(identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public()));
        let mdns = if mdns_enabled {
            let config = mdns::Config { query_interval: MDNS_QUERY_INTERVAL, ..Default::default() };
            Some(mdns::tokio::Behaviour::new(config, key.public().to_peer_id())?)
        } else {
            None
        };
        Ok(Behaviour { gossipsub, catchup, identify, probe: Probe::new(PING_TIMEOUT), mdns: mdns.into() })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every control frame gossipsub may send under this configuration is
    /// one its receiver accepts: announcing or asking for the most ids it
    /// allows fits both the control limit and the frame limit.
    #[test]
    fn the_largest_control_frame_gossipsub_sends_is_accepted() {
        let config = gossipsub_config().unwrap();
        let ids = config.max_control_messages_sent();
        // Each id: a tag byte, a length byte, the id; the topic and the
        // nested messages' own tags and lengths take well under 1 KiB.
        let largest = ids * (wire::MESSAGE_ID_LEN + 2) + 512;
        assert!(largest <= config.max_control_message_size(), "{largest} over the control limit");
        assert!(largest <= config.max_transmit_size(), "{largest} over the frame limit");
        // And data messages the engine builds fit a frame.
        let engine = possync_engine::EngineConfig::default();
        assert!(engine.max_gossip_bytes + 1024 <= config.max_transmit_size());
    }
}
