//! # possync: point-of-sale orders in step across terminals, peer to peer
//!
//! Embed a [`Node`] in a POS terminal daemon: it keeps every open order of
//! the multi-session on this terminal, durably (redb), and in step with the
//! other terminals over libp2p (gossipsub for fan-out, a pairwise catch-up
//! protocol for everything gossip misses), with no server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), possync::NodeError> {
//! use possync::{Node, model::{OpenOrder, TerminalId}};
//! let terminal = TerminalId::parse("BAR").expect("valid terminal id");
//! let node = Node::builder("floor-1", terminal, "/var/lib/possync").spawn().await?;
//! let mut events = node.subscribe();
//! // A fresh id and this terminal's next name; `open_order_with_id` takes yours.
//! let order = node.open_order("ana", OpenOrder::at_table("T4")).await?;
//! # let _ = (order, &mut events);
//! node.shutdown().await
//! # }
//! ```
//!
//! - [`Node`]: the cloneable handle (open, edit, split, read, subscribe,
//!   claim an order's payment).
//! - [`ClaimView`]: a payment in progress on some terminal.
//! - [`SharedCatalogue`]: the catalogue every terminal shares (products,
//!   taxes, users), replaced whole by a manager or an import.
//! - [`NodeEvent`]: change events naming the order, lines and fields that
//!   changed and who changed them.
//! - [`NodeStatus`]: online / syncing / offline, peers, counters.
//! - [`SessionKey`]: the multi-session's pre-shared key.
//! - [`Sink`]: a back office closed orders are delivered to (the
//!   `possync-sink` crate has PostgreSQL's).
//! - [`NodeError`]: what an operation failed with, carrying the layer's own
//!   error ([`store::StoreError`], [`NetworkError`], ...); `io_error()`
//!   gives the operating system's error behind it, if any.
//!
//! Layers: [`model`] (the order document), [`engine`] (the sans-IO sync
//! state machine), [`store`] (storage), [`net`] (libp2p).

mod actor;
mod admission;
mod clock;
mod config;
mod dialer;
mod error;
mod event;
mod gossip_batch;
mod handle;
mod keys;
mod liveness;
pub mod net;
mod payment_claim;
mod random;
mod relay_delay;
mod shared_catalogue;
mod sinks;
mod slow_peers;
mod status;
mod store_opener;
mod writer;

pub use actor::topic_for;
pub use admission::TOPIC_PREFIX;
pub use config::{NodeBuilder, NodeConfig};
pub use error::{NetworkError, NodeError};
pub use event::{ChangeOrigin, NodeEvent};
pub use handle::Node;
pub use keys::{Identity, KeyError, SessionKey};
pub use payment_claim::ClaimView;
pub use random::{NoRandomness, random_u128};
pub use shared_catalogue::SharedCatalogue;
pub use sinks::{DeliveryFailure, DeliveryResult, Sink};
pub use status::{Connectivity, Counters, Histogram, NodeStatus, SinkReport, StorageFailureReport};
pub use store_opener::StoreOpener;

pub use libp2p::{Multiaddr, PeerId};
pub use possync_catalogue as catalogue;
pub use possync_engine as engine;
pub use possync_model as model;
pub use possync_store as store;
