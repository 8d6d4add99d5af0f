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

impl Behaviour {
    pub fn new(key: &Keypair, mdns_enabled: bool) -> Result<Self, BehaviourError> {
        let config = gossipsub::ConfigBuilder::default()
            // Messages are signed by their author and must be: the strict
            // mode refuses unsigned or forged ones.
            .validation_mode(ValidationMode::Strict)
            // Forward a message only once the engine has applied it.
            .validate_messages()
            .message_id_fn(|m: &gossipsub::Message| MessageId::from(wire::message_id(&m.data).to_vec()))
            .max_transmit_size(MAX_GOSSIP_BYTES)
            .heartbeat_interval(Duration::from_millis(500))
            .build()
            .map_err(|e| BehaviourError::Gossipsub(e.to_string()))?;
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
