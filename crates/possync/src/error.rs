//! [`NodeError`], what a node operation can fail with, and
//! [`NetworkError`], its network part. The errors of the layers below are
//! carried, not flattened to text: an embedder matches on them, and
//! [`NodeError::io_error`] gives the operating system's error where there is
//! one (an address in use, a full disk).

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use libp2p::gossipsub::SubscriptionError;
use libp2p::swarm::DialError;
use libp2p::{BehaviourBuilderError, Multiaddr, TransportBuilderError};
use possync_engine::{CatalogueError, EngineError};
use possync_model::EditError;
use possync_store::StoreError;

use crate::keys::KeyError;
use crate::random::NoRandomness;

/// Errors of node operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The configuration is refused (the session id, for one).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The store failed: opening it or reading it back at start-up, or a
    /// commit. After a failed commit the edit is applied in memory but not
    /// durable; it is tried again with the next commit. (Shared: every
    /// edit of the failed commit gets the same error.)
    #[error(transparent)]
    Storage(Arc<StoreError>),
    /// The storage is failing (its last commit failed and none succeeded
    /// since): this change was refused and nothing was applied. The
    /// message names the latest failure; the failed commit itself answered
    /// [`NodeError::Storage`] with the store's error.
    #[error("storage failed, edits are refused until a commit succeeds: {0}")]
    StorageFailed(String),
    /// The thread that writes to the store could not be started.
    #[error("starting the storage writer thread: {0}")]
    WriterSpawn(#[source] std::io::Error),
    /// The thread that writes to the store is gone (it panicked): nothing
    /// more can be made durable until the terminal is restarted.
    #[error("the storage writer stopped: nothing more can be made durable")]
    WriterStopped,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Randomness(#[from] NoRandomness),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("the node has stopped")]
    Stopped,
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        NodeError::Storage(Arc::new(e))
    }
}

impl NodeError {
    /// The edit error behind this one, if the model refused the edit.
    pub fn as_edit_error(&self) -> Option<&EditError> {
        match self {
            NodeError::Engine(EngineError::Edit(e)) => Some(e),
            _ => None,
        }
    }

    /// The operating system's error behind this one, if there is one: its
    /// [`std::io::Error::kind`] tells an address in use (`AddrInUse`) from a
    /// full disk (`StorageFull`) or a missing key file (`NotFound`).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            NodeError::Storage(e) => e.io_error(),
            NodeError::WriterSpawn(e) => Some(e),
            NodeError::Key(KeyError::Io { source, .. }) => Some(source),
            NodeError::Network(e) => e.io_error(),
            _ => None,
        }
    }
}

/// What failed in the network: setting up libp2p, listening, dialling.
///
/// `source` fields hold libp2p's own error, for matching. The error chain
/// (`Error::source`) leads to the operating system's error instead where
/// there is one: libp2p's transport layers wrap it several times, and
/// their wrappers show nothing or the same text again.
#[derive(Debug)]
#[non_exhaustive]
pub enum NetworkError {
    /// The transport (TCP, the session key, Noise, Yamux) could not be built.
    Transport(TransportBuilderError),
    /// The protocols (gossipsub, catch-up, ping, mDNS) could not be set up.
    Behaviour(BehaviourBuilderError),
    Subscribe(SubscriptionError),
    /// An address could not be listened on: in use, not an address of this
    /// machine, or of a kind the transport does not take.
    Listen {
        addr: Multiaddr,
        source: libp2p::TransportError<std::io::Error>,
    },
    /// A listener failed while the node was starting.
    Listener(std::io::Error),
    ListenTimeout(Duration),
    /// A dial asked for with [`crate::Node::dial`] could not start.
    Dial {
        addr: Multiaddr,
        source: Box<DialError>,
    },
}

impl std::fmt::Display for NetworkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkError::Transport(e) => e.fmt(f),
            NetworkError::Behaviour(e) => e.fmt(f),
            NetworkError::Subscribe(e) => write!(f, "joining the session's gossip topic: {e}"),
            NetworkError::Listen { addr, source } => {
                write!(f, "listening on {addr}: {}", transport_reason(source))
            }
            NetworkError::Listener(e) => write!(f, "a listener failed: {}", os_error(e)),
            NetworkError::ListenTimeout(d) => write!(f, "listening did not start within {} s", d.as_secs()),
            NetworkError::Dial { addr, source } => write!(f, "dialling {addr}: {source}"),
        }
    }
}

impl Error for NetworkError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            NetworkError::Transport(e) => e.source(),
            NetworkError::Behaviour(e) => e.source(),
            NetworkError::Subscribe(e) => Some(e),
            NetworkError::Listen { source, .. } => match source {
                libp2p::TransportError::Other(io) => Some(os_error(io)),
                libp2p::TransportError::MultiaddrNotSupported(_) => None,
            },
            NetworkError::Listener(e) => Some(os_error(e)),
            NetworkError::ListenTimeout(_) => None,
            NetworkError::Dial { source, .. } => Some(source.as_ref()),
        }
    }
}

impl NetworkError {
    /// The operating system's error behind this one, if there is one.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            NetworkError::Listen { source: libp2p::TransportError::Other(e), .. } => Some(os_error(e)),
            NetworkError::Listener(e) => Some(os_error(e)),
            NetworkError::Dial { source, .. } => match source.as_ref() {
                DialError::Transport(tries) => tries.iter().find_map(|(_, e)| match e {
                    libp2p::TransportError::Other(e) => Some(os_error(e)),
                    libp2p::TransportError::MultiaddrNotSupported(_) => None,
                }),
                _ => None,
            },
            _ => None,
        }
    }
}

/// What a transport error says: libp2p's shows nothing for an IO error
/// (it leaves it to `source`), so the socket's own error is shown.
fn transport_reason(e: &libp2p::TransportError<std::io::Error>) -> String {
    match e {
        libp2p::TransportError::Other(io) => os_error(io).to_string(),
        other => other.to_string(),
    }
}

/// The innermost IO error under `outer`: the transport's layers wrap the
/// socket's error (`AddrInUse`) in IO errors of kind `Other`.
fn os_error(outer: &std::io::Error) -> &std::io::Error {
    let mut found = outer;
    let mut next: Option<&(dyn Error + 'static)> = outer.get_ref().map(|e| e as _);
    while let Some(e) = next {
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => {
                found = io;
                if io.kind() != std::io::ErrorKind::Other {
                    break;
                }
                io.get_ref().map(|e| e as _)
            }
            None => e.source(),
        };
    }
    found
}
