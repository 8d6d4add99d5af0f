//! What the merge could not settle silently: competing values of one field, and
//! review flags on orders where money is involved.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::author::Stamp;
use crate::schema::OrderState;

/// Two or more terminals wrote the same field concurrently. Every terminal
/// shows the same winner (Automerge's deterministic choice: the write with the
/// highest operation id); the losers are kept here until someone writes the
/// field again, so a cashier can see what was overwritten and put it back.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Conflict {
    /// `customer`, `lines/<line id>/unit_price`, `ext/<key>`, ...
    pub path: String,
    /// The winning value first, then the others.
    pub values: Vec<Json>,
}

/// Why an order needs a manager's eye. Flags are derived from the merged
/// document alone, so every terminal raises the same flags for the same order
/// state, and an order with any flag stays on the open list until resolved.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReviewFlag {
    /// Two terminals closed the order concurrently (e.g. paid twice while
    /// partitioned, or paid on one and cancelled on another). Paid wins over
    /// cancelled; every closing is listed.
    ClosedConcurrently { closings: Vec<(OrderState, Stamp)> },
    /// Lines or payments changed concurrently with the closing (a line added on
    /// a partitioned terminal while another took the payment). The amounts are
    /// the total the closing terminal saw and the total now.
    EditedAfterClose { state: OrderState, closed_total: i64, total: i64 },
    /// A paid order whose payments no longer cover its total.
    Underpaid { total: i64, paid: i64 },
    /// Payments exceed the total (change already left out): a customer
    /// charged twice, or lines removed after payment. Cleared by giving the
    /// extra back (a refund) or by a manager accepting it.
    Overpaid { total: i64, paid: i64 },
}
