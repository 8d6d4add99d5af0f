//! The order document's keys, types and limits, in one place. `docs/ORDER_MODEL.md`
//! describes the same schema for implementers in other languages; keep the two
//! in step.

use serde::{Deserialize, Serialize};

/// Written into every order at creation. A terminal reads documents of any
/// version: it validates the fields it knows and leaves the others alone, so
/// fields added by a newer release survive an older terminal's edits.
pub const SCHEMA_VERSION: i64 = 1;

// Root keys.
pub const K_SCHEMA: &str = "schema";
pub const K_ID: &str = "id";
pub const K_NAME: &str = "name";
/// The name an order had before its terminal renamed it (ORDER_MODEL, Names).
pub const K_RENAMED_FROM: &str = "renamed_from";
pub const K_CREATED: &str = "created";
pub const K_CHANGED: &str = "changed";
pub const K_CUSTOMER: &str = "customer";
pub const K_PRICELIST: &str = "pricelist";
pub const K_FISCAL_POSITION: &str = "fiscal_position";
pub const K_TABLE: &str = "table";
pub const K_FLOOR: &str = "floor";
pub const K_GUESTS: &str = "guests";
pub const K_NOTE: &str = "note";
pub const K_SPLIT_FROM: &str = "split_from";
pub const K_LINES: &str = "lines";
pub const K_PAYMENTS: &str = "payments";
pub const K_CLOSED: &str = "closed";
pub const K_EXT: &str = "ext";
/// The catalogue's rounding rules an order was opened with (absent without a
/// catalogue); see `pricing.rs`.
pub const K_PRICING: &str = "pricing";

// Line keys.
pub const K_PRODUCT: &str = "product";
pub const K_DISPLAY_NAME: &str = "display_name";
pub const K_QTY: &str = "qty";
pub const K_UNIT_PRICE: &str = "unit_price";
pub const K_DISCOUNT: &str = "discount";
pub const K_KITCHEN_QTY: &str = "kitchen_qty";
/// Copies of the taxes a line was added with (absent: none).
pub const K_TAXES: &str = "taxes";

// Payment keys.
pub const K_METHOD: &str = "method";
pub const K_AMOUNT: &str = "amount";
pub const K_BY: &str = "by";
// Till payment keys (optional: written by `Pay` and `Refund`; a payment
// without them is a plain `AddPayment`, as older releases wrote).
pub const K_TENDERED: &str = "tendered";
pub const K_CHANGE: &str = "change";
pub const K_TIP: &str = "tip";
pub const K_REASON: &str = "reason";
pub const K_REFUND_OF: &str = "refund_of";

// Stamp keys (created / changed / by).
pub const K_USER: &str = "user";
pub const K_TERMINAL: &str = "terminal";
pub const K_AT: &str = "at";

// Closing record keys.
pub const K_STATE: &str = "state";
pub const K_DIGEST: &str = "digest";
pub const K_TOTAL: &str = "total";
/// On a closing written by `ResolveReview` accepting an overpayment: the
/// payments sum it accepted. The `overpaid` flag stays away while the order's
/// payments and lines are exactly those of that closing.
pub const K_ACCEPTED_PAID: &str = "accepted_paid";
/// On a closing written by `ResolveReview`: marks a manager's decision, so
/// that a peer can tell it from a plain closing (`privileges.rs`).
pub const K_RESOLVED: &str = "resolved";

/// Longest free-text field (names, notes, product refs) accepted.
pub const MAX_TEXT_LEN: usize = 1024;
/// Most lines one order may hold; protects every terminal from a runaway or
/// hostile peer.
pub const MAX_LINES: usize = 2000;
/// Most payments one order may hold.
pub const MAX_PAYMENTS: usize = 200;
/// Most guests at one table.
pub const MAX_GUESTS: i64 = 10_000;
/// Largest quantity on one line: one million units.
pub const MAX_QTY_MILLI: i64 = 1_000_000_000;
/// Largest unit price or payment amount, in minor units (10^12: ten billion in
/// a two-decimal currency).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// Largest extension value one edit may write, as JSON text.
pub const MAX_EXT_BYTES: usize = 16 * 1024;
/// Deepest nesting of an extension value.
pub const MAX_EXT_DEPTH: usize = 8;

/// Where an order is in its life.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Open,
    Paid,
    Cancelled,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Open => "open",
            OrderState::Paid => "paid",
            OrderState::Cancelled => "cancelled",
        }
    }

    /// Closing records only ever hold `paid` or `cancelled`.
    pub(crate) fn parse_closed(s: &str) -> Option<Self> {
        match s {
            "paid" => Some(OrderState::Paid),
            "cancelled" => Some(OrderState::Cancelled),
            _ => None,
        }
    }
}
