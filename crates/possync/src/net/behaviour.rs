//! The libp2p behaviour of a terminal: gossipsub for fan-out, request-response
//! for catch-up, identify, ping, and mDNS when enabled.

use std::time::Duration;

use libp2p::gossipsub::{self, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{identify, mdns, ping};
use possync_engine::wire;

use crate::net::codec::{CATCHUP_PROTOCOL, CatchupCodec};

/// Identify's protocol version string for possync terminals.
pub const IDENTIFY_PROTOCOL: &str = "/possync/1.0.0";
/// Gossipsub's message size limit (its default), also advertised in
/// `docs/PROTOCOL.md`.
pub const MAX_GOSSIP_BYTES: usize = 64 * 1024;

/// Gossipsub's mesh degree. An author publishes to every terminal it is
/// connected to (flood publishing, gossipsub's default), and on a shop's LAN
/// every terminal is usually connected to every other: the mesh only
/// carries a change further to terminals that are not, and every copy it
/// sends to one that already has it costs that terminal a signature check.
/// Gossipsub's default (6, from 5 to 12) made 12 such copies of each edit
/// among 5 terminals; 2 makes at most 8, and fewer than 4 when the author is
/// in the mesh. Gossip (IHAVE/IWANT, every heartbeat) and catch-up still
/// reach a terminal the mesh misses.
const MESH_N: usize = 2;
const MESH_N_LOW: usize = 1;
const MESH_N_HIGH: usize = 4;

/// The composed behaviour (its derive generates `BehaviourEvent`).
#[derive(NetworkBehaviour)]
#[allow(missing_debug_implementations)]
pub struct Behaviour {
    pub gossipsub: gossipsub::Behaviour,
    pub catchup: request_response::Behaviour<CatchupCodec>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
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
        .max_transmit_size(MAX_GOSSIP_BYTES)
        .heartbeat_interval(Duration::from_millis(500))
        .mesh_n(MESH_N)
        .mesh_n_low(MESH_N_LOW)
        .mesh_n_high(MESH_N_HIGH)
        .mesh_outbound_min(1)
        .build()
}

impl Behaviour {
    pub fn new(key: &Keypair, mdns_enabled: bool) -> Result<Self, BehaviourError> {
        let config = gossipsub_config().map_err(|e| BehaviourError::Gossipsub(e.to_string()))?;
        let gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)
            .map_err(|e| BehaviourError::Gossipsub(e.to_string()))?;
        let catchup = request_response::Behaviour::with_codec(
            CatchupCodec,
            [(CATCHUP_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
        );
        let identify =
            identify::Behaviour::new(identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public()));
        let mdns = if mdns_enabled {
            Some(mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())?)
        } else {
            None
        };
        Ok(Behaviour {
            gossipsub,
            catchup,
            identify,
            ping: ping::Behaviour::new(
                // Frequent, short pings: a silently dead link (cable pulled)
                // is noticed within seconds, not at TCP's pace.
                ping::Config::new()
                    .with_interval(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(5)),
            ),
            mdns: mdns.into(),
        })
    }
}
