//! libp2p's own metrics (connections, gossipsub's mesh and messages, ping
//! round trips, identify), in the Prometheus registry the application
//! serves, next to possync's (which the daemon reads from the status).

use std::sync::{Arc, Mutex, PoisonError};

use libp2p::metrics::{Metrics, Recorder, Registry};
use libp2p::ping;
use libp2p::swarm::SwarmEvent;

use crate::net::BehaviourEvent;
use crate::net::probe::ProbeEvent;

/// A registry shared by the node, which registers and updates libp2p's
/// metrics in it, and whoever encodes it for a scrape.
pub type SharedRegistry = Arc<Mutex<Registry>>;

/// Locks `registry`; a panic elsewhere while it was locked leaves counters
/// that are still worth reading.
pub fn lock(registry: &SharedRegistry) -> std::sync::MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records swarm and behaviour events (libp2p-metrics' recorders).
pub(crate) struct NetworkMetrics(Metrics);

impl std::fmt::Debug for NetworkMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetworkMetrics")
    }
}

impl NetworkMetrics {
    /// Registers the families under `libp2p_` in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        NetworkMetrics(Metrics::new(registry))
    }

    /// Counts one event; the node handles it as before.
    pub(crate) fn record(&self, event: &SwarmEvent<BehaviourEvent>) {
        self.0.record(event);
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => self.0.record(e),
            // The probe speaks libp2p's ping protocol: its round trips and
            // failures go under libp2p's ping metrics.
            SwarmEvent::Behaviour(BehaviourEvent::Probe(e)) => {
                if let Some(e) = as_ping_event(e) {
                    self.0.record(&e);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => self.0.record(e),
            _ => {}
        }
    }
}

/// A ping this node sent, as libp2p-ping reports one; `None` for a ping of
/// the peer's, which libp2p-ping does not report either.
fn as_ping_event(event: &ProbeEvent) -> Option<ping::Event> {
    let (peer, connection, result) = match event {
        ProbeEvent::Answered { peer, connection, rtt } => (peer, connection, Ok(*rtt)),
        ProbeEvent::Failed { peer, connection, error } => (
            peer,
            connection,
            Err(ping::Failure::Other { error: std::io::Error::other(error.clone()).into() }),
        ),
        ProbeEvent::Unsupported { peer, connection } => (peer, connection, Err(ping::Failure::Unsupported)),
        ProbeEvent::Pinged { .. } => return None,
    };
    Some(ping::Event { peer: *peer, connection: *connection, result })
}
