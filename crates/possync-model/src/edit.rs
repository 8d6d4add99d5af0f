//! The typed operations a terminal performs on an order. One enum, so that the
//! API, the simulator's random workloads and the property tests all speak the
//! same language.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use possync_catalogue::{PricingRules, Tax};

use crate::ids::{LineId, OrderId, OrderName, PaymentId};
use crate::till::{NewRefund, Tender};
use possync_money::{Discount, Money, Quantity};

/// What whoever opens an order chooses about it: `Engine::open_order` and
/// `Node::open_order` take these, and assign the rest (the id unless one is
/// given, the name, the terminal). The API's open body is these fields too
/// (`possync_api::OpenBody`), so its JSON follows them.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub struct OpenOrder {
    #[serde(default)]
    pub table: Option<String>,
    #[serde(default)]
    pub floor: Option<String>,
    #[serde(default)]
    pub guests: u32,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub pricelist: Option<String>,
    #[serde(default)]
    pub fiscal_position: Option<String>,
    #[serde(default)]
    pub ext: Map<String, Json>,
    /// Set on a refund order: the paid order it gives money back for. Set by
    /// the terminal's refund action, which checks the user may refund;
    /// never read from a request body.
    #[serde(skip)]
    pub refund_of: Option<OrderId>,
    /// The catalogue's rounding rules, for an order whose lines carry taxes
    /// (`None`: no taxes). Fixed for the order's life; the node sets them
    /// from the catalogue in force, never a request body.
    #[serde(skip)]
    pub pricing: Option<PricingRules>,
}

impl OpenOrder {
    /// An order at `table`, everything else left out.
    pub fn at_table(table: impl Into<String>) -> Self {
        OpenOrder { table: Some(table.into()), ..OpenOrder::default() }
    }
}

/// Everything needed to open an order: its id and name, which the engine
/// assigns, and the fields its opener chose.
#[derive(Clone, PartialEq, Debug)]
pub struct NewOrder {
    pub id: OrderId,
    pub name: OrderName,
    pub fields: OpenOrder,
}

impl NewOrder {
    pub fn new(id: OrderId, name: OrderName) -> Self {
        Self::with_fields(id, name, OpenOrder::default())
    }

    pub fn with_fields(id: OrderId, name: OrderName, fields: OpenOrder) -> Self {
        NewOrder { id, name, fields }
    }
}

/// A line to add.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct NewLine {
    pub id: LineId,
    pub product: String,
    pub display_name: String,
    pub qty: Quantity,
    pub unit_price: Money,
    #[serde(default)]
    pub discount: Discount,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub ext: Map<String, Json>,
    /// Copies of the line's taxes from the catalogue, in the order they
    /// apply (see `possync_catalogue::Catalogue::price_line`); only on an
    /// order opened with pricing rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<Tax>,
}

impl NewLine {
    /// A line without taxes, discount, note or extension fields.
    pub fn new(
        id: LineId,
        product: impl Into<String>,
        display_name: impl Into<String>,
        qty: Quantity,
        unit_price: Money,
    ) -> Self {
        NewLine {
            id,
            product: product.into(),
            display_name: display_name.into(),
            qty,
            unit_price,
            discount: Discount::NONE,
            note: String::new(),
            ext: Map::new(),
            taxes: Vec::new(),
        }
    }
}

/// One edit of an open order. See `docs/CONFLICTS.md` for how each merges
/// with concurrent edits from other terminals.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    AddLine(NewLine),
    /// Add `delta` (negative to take away) to a line's quantity. Concurrent
    /// changes add up.
    ChangeQty {
        line: LineId,
        delta: Quantity,
    },
    /// Set a line's quantity to what the cashier sees: written as the
    /// difference from the current quantity, so it adds up with concurrent
    /// changes too.
    SetQty {
        line: LineId,
        qty: Quantity,
    },
    /// Quantity to zero. A concurrent increment from another terminal survives.
    RemoveLine {
        line: LineId,
    },
    SetUnitPrice {
        line: LineId,
        unit_price: Money,
    },
    SetDiscount {
        line: LineId,
        discount: Discount,
    },
    SetLineNote {
        line: LineId,
        note: String,
    },
    SetCustomer {
        customer: Option<String>,
    },
    SetPricelist {
        pricelist: Option<String>,
    },
    SetFiscalPosition {
        fiscal_position: Option<String>,
    },
    /// Move the order to another table (and floor).
    SetTable {
        table: Option<String>,
        floor: Option<String>,
    },
    SetGuests {
        guests: u32,
    },
    SetNote {
        note: String,
    },
    /// Record that the kitchen has been sent these lines (all when `None`).
    SendToKitchen {
        lines: Option<Vec<LineId>>,
    },
    AddPayment {
        payment: PaymentId,
        method: String,
        amount: Money,
    },
    /// A payment taken at the till: what was tendered, a tip, and change
    /// for cash. Refused when nothing is due. See `till.rs`.
    Pay(Tender),
    /// Money given back, with a reason: a payment of minus the amount.
    Refund(NewRefund),
    /// Close as paid; payments must cover the total.
    MarkPaid,
    Cancel,
    /// Write extension fields of the order (see `docs/EXTENDING.md`).
    SetExt {
        fields: Map<String, Json>,
    },
    /// Write extension fields of a line.
    SetLineExt {
        line: LineId,
        fields: Map<String, Json>,
    },
    /// A manager has looked at a flagged order: record a fresh closing over the
    /// order as it is now, as `state` (paid or cancelled; the current state when
    /// `None`). Clears `closed_concurrently` and `edited_after_close`;
    /// `underpaid` clears only once payments cover the total, `overpaid`
    /// once the extra is given back (`Refund`) or with `accept`.
    ResolveReview {
        state: Option<crate::schema::OrderState>,
        /// Why: recorded on the closing with who resolved it.
        #[serde(default)]
        reason: Option<String>,
        /// Keep payments above the total as they are (the customer left the
        /// extra): clears `overpaid` for the order exactly as it is now.
        #[serde(default)]
        accept: bool,
    },
}

impl Edit {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Edit::AddLine(_) => "add_line",
            Edit::ChangeQty { .. } => "change_qty",
            Edit::SetQty { .. } => "set_qty",
            Edit::RemoveLine { .. } => "remove_line",
            Edit::SetUnitPrice { .. } => "set_unit_price",
            Edit::SetDiscount { .. } => "set_discount",
            Edit::SetLineNote { .. } => "set_line_note",
            Edit::SetCustomer { .. } => "set_customer",
            Edit::SetPricelist { .. } => "set_pricelist",
            Edit::SetFiscalPosition { .. } => "set_fiscal_position",
            Edit::SetTable { .. } => "set_table",
            Edit::SetGuests { .. } => "set_guests",
            Edit::SetNote { .. } => "set_note",
            Edit::SendToKitchen { .. } => "send_to_kitchen",
            Edit::AddPayment { .. } => "add_payment",
            Edit::Pay(_) => "pay",
            Edit::Refund(_) => "refund",
            Edit::MarkPaid => "mark_paid",
            Edit::Cancel => "cancel",
            Edit::SetExt { .. } => "set_ext",
            Edit::SetLineExt { .. } => "set_line_ext",
            Edit::ResolveReview { .. } => "resolve_review",
        }
    }
}
