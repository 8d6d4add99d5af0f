//! How a node is set up: [`NodeBuilder`].

use std::path::PathBuf;

use libp2p::Multiaddr;
use possync_engine::EngineConfig;
use possync_model::TerminalId;

use crate::keys::{Identity, SessionKey};

/// Longest multi-session id.
pub const MAX_SESSION_ID_LEN: usize = 64;

/// Everything a node needs. Build it with [`crate::Node::builder`].
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The multi-session (restaurant floor) this terminal belongs to; names
    /// the gossip topic. 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
    pub session: String,
    pub terminal: TerminalId,
    /// Where orders are kept (`possync.redb`) and, if persistent, the identity.
    pub data_dir: PathBuf,
    /// Addresses to listen on. Default: an ephemeral port on 127.0.0.1.
    pub listen: Vec<Multiaddr>,
    /// Other terminals to dial and keep dialling (with backoff) while they
    /// are unreachable.
    pub peers: Vec<Multiaddr>,
    /// The multi-session's pre-shared key; strongly recommended.
    pub session_key: Option<SessionKey>,
    /// When not empty, only these terminals (libp2p peer ids, i.e. their
    /// public keys) may connect; everyone else is disconnected at once. Use
    /// with `Identity::Persistent` so that terminals keep their ids.
    pub allowed_peers: Vec<libp2p::PeerId>,
    pub identity: Identity,
    /// LAN discovery by multicast DNS. Off by default: it multicasts on every
    /// interface.
    pub mdns: bool,
    pub engine: EngineConfig,
    /// Seed of the engine's random generator; drawn from the OS when `None`.
    pub seed: Option<u64>,
    /// Capacity of each event subscriber's queue; a subscriber that falls this
    /// far behind misses events (and is told so) instead of slowing the node.
    pub event_capacity: usize,
    /// Back offices every closed order is delivered to (see `sinks.rs`).
    /// Every terminal of the floor should name each one alike.
    pub sinks: Vec<std::sync::Arc<dyn crate::sinks::Sink>>,
    /// Imported (as [`possync_engine::IMPORT_USER`]) when the terminal
    /// starts with no catalogue document at all: its first start. Later
    /// starts keep the catalogue the floor has.
    pub initial_catalogue: Option<possync_catalogue::Catalogue>,
    /// Where libp2p's metrics (connections, gossipsub, ping, identify) are
    /// registered at start and kept up to date; `None`: not collected.
    pub metrics: Option<crate::net::SharedRegistry>,
    /// Opens the store; `None`: `possync.redb` in `data_dir`.
    pub store: Option<crate::StoreOpener>,
}

/// Builder for [`crate::Node`].
#[derive(Debug)]
pub struct NodeBuilder {
    pub(crate) config: NodeConfig,
}

impl NodeBuilder {
    pub(crate) fn new(session: String, terminal: TerminalId, data_dir: PathBuf) -> Self {
        NodeBuilder {
            config: NodeConfig {
                session,
                terminal,
                data_dir,
                listen: Vec::new(),
                peers: Vec::new(),
                session_key: None,
                allowed_peers: Vec::new(),
                identity: Identity::default(),
                mdns: false,
                engine: EngineConfig::default(),
                seed: None,
                event_capacity: 4096,
                sinks: Vec::new(),
                initial_catalogue: None,
                metrics: None,
                store: None,
            },
        }
    }

    pub fn listen(mut self, addr: Multiaddr) -> Self {
        self.config.listen.push(addr);
        self
    }

    pub fn peer(mut self, addr: Multiaddr) -> Self {
        self.config.peers.push(addr);
        self
    }

    pub fn peers(mut self, addrs: impl IntoIterator<Item = Multiaddr>) -> Self {
        self.config.peers.extend(addrs);
        self
    }

    pub fn session_key(mut self, key: SessionKey) -> Self {
        self.config.session_key = Some(key);
        self
    }

    /// Admits only these terminals (see [`NodeConfig::allowed_peers`]).
    pub fn allow_peers(mut self, peers: impl IntoIterator<Item = libp2p::PeerId>) -> Self {
        self.config.allowed_peers.extend(peers);
        self
    }

    pub fn identity(mut self, identity: Identity) -> Self {
        self.config.identity = identity;
        self
    }

    pub fn mdns(mut self, enabled: bool) -> Self {
        self.config.mdns = enabled;
        self
    }

    pub fn engine_config(mut self, engine: EngineConfig) -> Self {
        self.config.engine = engine;
        self
    }

    /// Delivers every closed order to this back office too.
    pub fn sink(mut self, sink: std::sync::Arc<dyn crate::sinks::Sink>) -> Self {
        self.config.sinks.push(sink);
        self
    }

    /// The catalogue to import if this terminal has never had one.
    pub fn initial_catalogue(mut self, catalogue: possync_catalogue::Catalogue) -> Self {
        self.config.initial_catalogue = Some(catalogue);
        self
    }

    /// Keeps libp2p's metrics in `registry` (see [`NodeConfig::metrics`]).
    pub fn metrics(mut self, registry: crate::net::SharedRegistry) -> Self {
        self.config.metrics = Some(registry);
        self
    }

    /// Opens the store with `opener` rather than from the data directory
    /// (the identity, if persistent, stays there): a test hook for a disk
    /// that fails on demand.
    #[doc(hidden)]
    pub fn store_opener(mut self, opener: crate::StoreOpener) -> Self {
        self.config.store = Some(opener);
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Opens the store, restores every order, starts listening and dialling,
    /// and returns the handle once the node is listening.
    pub async fn spawn(self) -> Result<crate::Node, crate::NodeError> {
        crate::actor::spawn(self.config).await
    }
}

pub(crate) fn check_session_id(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_SESSION_ID_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(()) } else { Err(format!("invalid multi-session id {s:?}: 1-64 of A-Z a-z 0-9 - _ .")) }
}
