//! What subscribers of a node hear: the `apply_ms_data` of possync.

use libp2p::PeerId;
use possync_model::{ChangeSummary, OrderId, OrderView};
use serde::Serialize;

use crate::status::NodeStatus;

/// Where a change came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeOrigin {
    Local,
    Remote {
        #[serde(serialize_with = "crate::status::peer_id_str")]
        peer: PeerId,
    },
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// An order changed here or arrived from a peer: which fields of which
    /// lines changed, who changed them, and the order as it is now.
    OrderChanged {
        order: OrderId,
        origin: ChangeOrigin,
        summary: ChangeSummary,
        /// Still on the open list (open, or closed with a review flag).
        active: bool,
        view: Option<Box<OrderView>>,
    },
    /// The order left the open list (paid or cancelled, nothing to review).
    Archived { order: OrderId },
    /// Who is taking the order's payment changed (`None`: nobody now).
    PaymentClaim { order: OrderId, claim: Option<crate::ClaimView> },
    /// A peer sent data that was refused; nothing was applied.
    Rejected {
        #[serde(serialize_with = "crate::status::peer_id_str")]
        peer: PeerId,
        /// A short stable name of the kind of refusal (see `Counters::rejected_by_kind`).
        kind: &'static str,
        reason: String,
    },
    /// The catalogue in force changed: imported or replaced here, or
    /// received from a peer (read it with [`crate::Node::catalogue`]).
    CatalogueChanged { version: u64, origin: ChangeOrigin },
    /// Connectivity or peers changed.
    Status(NodeStatus),
}
