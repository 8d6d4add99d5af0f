//! What the engine asks its runtime to do. The engine never performs IO; it
//! queues these and the runtime (the real node, or the simulator) carries them
//! out in order.

use possync_model::{ChangeSummary, OrderId, OrderView, SinkName};

use crate::wire::WireError;

#[derive(Debug)]
pub enum Output<P> {
    /// Write these to storage as one atomic batch, durably. A local edit is
    /// acknowledged only once its batch is on disk; messages that follow may
    /// be sent before the write completes (a change a peer holds is never
    /// lost, and a restarted engine never reuses its actor).
    Persist(Vec<StoreOp>),
    /// Publish on the multi-session's gossip topic.
    Broadcast(Vec<u8>),
    /// Send to one peer over the pairwise catch-up protocol.
    Send { to: P, bytes: Vec<u8> },
    /// Tell the application.
    Event(Event<P>),
    /// Close every connection to this peer and refuse it for a while
    /// ([`crate::BAN`]): it sent refused data or flooded us too often.
    Disconnect { peer: P, reason: String },
    /// Deliver this closed order to the back office `sink` (upsert by order
    /// id), then tell the engine the answer ([`crate::Engine::delivered`]).
    /// The claim on it is already in the `Persist` batch before this.
    Deliver { sink: SinkName, order: OrderId, payload: Box<OrderView> },
}

/// One storage write. See `crates/possync-store/README.md` for the store's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// Append raw changes to an order's log.
    Append { order: OrderId, changes: Vec<Vec<u8>> },
    /// Replace an order's snapshot and drop its change log (compaction, or a
    /// whole order received from a peer).
    Snapshot { order: OrderId, bytes: Vec<u8> },
    /// The order was paid or cancelled (and needs no review): keep it only in
    /// the archive. `at_ms`: the wall-clock time of the archiving (`None`
    /// when the engine was given no wall clock), kept so that retention
    /// counts from it across restarts ([`crate::StoredOrder::archived_at_ms`]).
    Archive { order: OrderId, at_ms: Option<i64> },
    /// An archived order came back to the open list (a concurrent edit
    /// flagged it for review).
    Unarchive { order: OrderId },
    /// Retention is over: forget the order.
    Delete { order: OrderId },
    /// The next order-name sequence number of this terminal.
    NextSequence(u64),
    /// Replace the stored catalogue document (the whole saved document,
    /// handed back at start-up with [`crate::Engine::restore_catalogue`]).
    Catalogue { bytes: Vec<u8> },
}

/// Where a change came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin<P> {
    Local,
    Peer(P),
}

#[derive(Debug)]
pub enum Event<P> {
    /// An order changed: what changed, who made it, and whether it is on the
    /// open list now.
    OrderChanged { order: OrderId, origin: Origin<P>, summary: ChangeSummary, active: bool },
    /// An order left the open list (paid or cancelled, nothing to review).
    Archived { order: OrderId },
    /// Who is taking the order's payment changed: `None` when nobody is.
    PaymentClaim { order: OrderId, claim: Option<crate::PaymentClaim> },
    /// Data from a peer was refused; nothing was applied.
    Rejected { from: P, reason: Rejection },
    /// The catalogue in force changed (read it with
    /// [`crate::Engine::catalogue`]).
    CatalogueChanged { version: u64, origin: Origin<P> },
}

/// Why a peer's data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("undecodable message: {0}")]
    Wire(#[from] WireError),
    #[error("order {order}: {detail}")]
    Order { order: OrderId, detail: String },
    #[error("order limit reached ({0} orders)")]
    TooManyOrders(usize),
    /// A gossip message carried a change written under an actor that does
    /// not belong to the terminal that signed the message.
    #[error("order {order}: change by actor {actor} not owned by the signer of the gossip message")]
    ForeignActor { order: OrderId, actor: String },
    /// More messages than the per-peer rate allows (`what`: which traffic).
    #[error("{what} over the per-peer rate limit")]
    Flood { what: &'static str },
    /// A message larger than the protocol allows, refused by the transport
    /// before it was read.
    #[error("message of {bytes} bytes over the limit")]
    Oversized { bytes: usize },
    /// More gossip bringing nothing new than the per-peer budget allows.
    #[error("storm of duplicate gossip (only changes already held)")]
    Duplicates,
    /// A message from a peer that is not up (`Engine::peer_up`), refused
    /// unread.
    #[error("message from a terminal that is not a peer")]
    NotAPeer,
    /// Catalogue changes that do not validate, or by a user who may not
    /// make them.
    #[error("catalogue: {detail}")]
    Catalogue { detail: String },
}

impl Rejection {
    /// A short stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::Wire(_) => "malformed",
            Rejection::Order { .. } => "invalid_change",
            Rejection::TooManyOrders(_) => "too_many_orders",
            Rejection::ForeignActor { .. } => "foreign_actor",
            Rejection::Flood { .. } => "flood",
            Rejection::Oversized { .. } => "oversized",
            Rejection::Duplicates => "duplicates",
            Rejection::Catalogue { .. } => "invalid_catalogue",
            Rejection::NotAPeer => "not_a_peer",
        }
    }
}
