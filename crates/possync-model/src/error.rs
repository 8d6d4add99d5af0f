//! Errors of the order model. Each says what was wrong and where, never panics,
//! and leaves the order untouched.

use automerge::ChangeHash;

use crate::ids::{LineId, OrderId, PaymentId};
use crate::schema::OrderState;

/// An id that is empty, too long or has characters outside `A-Z a-z 0-9 - _ .`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {value:?}")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
}

/// An order document that does not follow the schema of `docs/ORDER_MODEL.md`.
/// Raised when loading from disk and when validating remote changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("field `{path}` is missing")]
    Missing { path: String },
    #[error("field `{path}` should be {expected}, found {found}")]
    WrongType { path: String, expected: &'static str, found: String },
    #[error("field `{path}` is out of range: {detail}")]
    OutOfRange { path: String, detail: String },
    #[error("document holds order `{found}`, expected `{expected}`")]
    WrongOrder { expected: OrderId, found: String },
    #[error("line key `{key}` holds line id `{found}`")]
    LineKeyMismatch { key: String, found: String },
    #[error("too many {what}: {count} (limit {limit})")]
    TooMany { what: &'static str, count: usize, limit: usize },
}

/// A local edit that cannot be made. Nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    #[error("order is {0:?}: it can no longer be edited")]
    Closed(OrderState),
    #[error("order is open: only a closed order can be reviewed or delivered")]
    NotClosed,
    #[error("order has no line `{0}`")]
    UnknownLine(LineId),
    #[error("order already has a line `{0}`")]
    DuplicateLine(LineId),
    #[error("order already has a payment `{0}`")]
    DuplicatePayment(PaymentId),
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("order is not fully paid: total {total}, paid {paid} (minor units)")]
    NotFullyPaid { total: i64, paid: i64 },
    /// A payment of a bill with nothing left to pay: the second of two
    /// cashiers charging one customer, refused before anything is written.
    #[error("nothing is due on this order (due {due} minor units): it is already paid")]
    NothingDue { due: i64 },
    /// A payment above what is due that cannot give change (a card).
    #[error("{amount} minor units is more than the {due} due; only cash gives change")]
    Overpayment { due: i64, amount: i64 },
    /// Cancelling an order that holds money: the customer would be charged
    /// for nothing. Give the payments back first.
    #[error("the order holds {paid} minor units of payments: give them back (refund) before cancelling")]
    HasPayments { paid: i64 },
    #[error("at most {max} minor units may be given back here, not {amount}")]
    RefundTooLarge { max: i64, amount: i64 },
    /// A cashier tried what only a manager may do (`privileges.rs`).
    #[error("only a manager may {action}")]
    ManagerOnly { action: &'static str },
    #[error("the stored order is invalid: {0}")]
    Schema(#[from] SchemaError),
    #[error("automerge: {0}")]
    Automerge(String),
}

impl From<automerge::AutomergeError> for EditError {
    fn from(e: automerge::AutomergeError) -> Self {
        EditError::Automerge(e.to_string())
    }
}

/// Changes received from another terminal that were not applied. The order is
/// exactly as it was before they arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("undecodable change: {0}")]
    Decode(String),
    #[error("change {hash} breaks the order schema: {source}")]
    Schema { hash: ChangeHash, source: SchemaError },
    #[error("automerge refused the changes: {0}")]
    Automerge(String),
    /// A change makes a manager-only action and its author is not a manager
    /// here (`privileges.rs`).
    #[error("change {hash} by `{user}` makes a manager-only action ({action})")]
    ManagerOnly { hash: ChangeHash, user: String, action: &'static str },
}

/// A stored order that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("undecodable order document: {0}")]
    Decode(String),
    #[error("stored order is invalid: {0}")]
    Schema(#[from] SchemaError),
}
