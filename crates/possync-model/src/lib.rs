//! # possync-model: the order model
//!
//! One point-of-sale order is one Automerge document. This crate is pure: no
//! IO, no clocks, no randomness of its own (callers pass time in
//! [`EditContext`] and random bits to the id constructors), so the sync engine
//! and the simulator can drive it deterministically.
//!
//! - [`OrderDoc`]: the document; local edits ([`Edit`]) go in and come out as
//!   change bytes to broadcast; remote changes are validated before they count.
//! - [`OrderView`]: the typed, validated read of an order, with totals,
//!   [`Conflict`]s (concurrent writes of one field, every competing value) and
//!   [`ReviewFlag`]s (money-related conflicts a manager must see).
//! - [`ChangeSummary`]: which fields of which lines a merge changed, and who
//!   made the changes: what change events carry.
//! - [`ext`]: extension fields, the integrator's own data on orders and lines.
//!
//! The schema is written down in `docs/ORDER_MODEL.md`; how each kind of
//! concurrent edit merges is in `docs/CONFLICTS.md`.

mod author;
mod change_summary;
pub mod chunks;
mod conflict;
pub mod delivery;
mod edit;
mod error;
pub mod ext;
mod ids;
mod order_doc;
mod pricing;
pub mod privileges;
mod read;
pub mod schema;
pub mod till;
mod touched;
mod view;

pub use author::{Author, EditContext, Stamp};
pub use change_summary::ChangeSummary;
pub use conflict::{Conflict, ReviewFlag};
pub use delivery::{Confirmation, DeliveryClaim, DeliveryEdit, DeliveryFailure, SinkDelivery, SinkName};
pub use edit::{Edit, NewLine, NewOrder, OpenOrder};
pub use error::{EditError, InvalidId, LoadError, RemoteError, SchemaError};
pub use ext::Extension;
pub use ids::{LineId, MAX_ID_LEN, OrderId, OrderName, PaymentId, TerminalId};
pub use order_doc::{LocalChange, OrderDoc, RemoteApplied, change_author, decode_changes};
pub use possync_money::{Discount, Money, Quantity, line_total};
pub use privileges::Roles;
pub use schema::OrderState;
pub use till::{NewRefund, Tender};
pub use view::{LineView, OrderView, PaymentView, Totals};

/// Re-exported so integrators name the same Automerge types possync uses.
pub use automerge;
