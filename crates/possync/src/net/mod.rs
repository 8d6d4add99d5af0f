//! The libp2p side of a terminal: transport, behaviour, catch-up framing.

pub mod behaviour;
pub mod codec;
pub mod metrics;
pub mod probe;
pub mod transport;

pub use behaviour::{Behaviour, BehaviourEvent};
pub use metrics::SharedRegistry;
