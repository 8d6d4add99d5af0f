//! The request bodies, as the daemon decodes them. Unknown fields are refused
//! (`deny_unknown_fields`) so that a misspelt field is an error, not a
//! silently ignored value.

use possync_model::{Edit, LineId, Money, OpenOrder, OrderId, PaymentId, Quantity};
use serde::Deserialize;
use serde_json::Value;

use crate::error::BodyError;

/// Longest `user` accepted, in bytes.
pub const MAX_USER_LEN: usize = 64;

/// Every edit names its user: 1 to [`MAX_USER_LEN`] bytes, not only spaces.
pub fn check_user(user: &str) -> Result<(), BodyError> {
    if user.trim().is_empty() || user.len() > MAX_USER_LEN {
        return Err(BodyError::InvalidUser);
    }
    Ok(())
}

/// `POST /api/orders`: opens an order. Besides `user` and `id`, its fields
/// are the order's own ([`OpenOrder`]: table, floor, guests, ...), so
/// the body follows the model field by field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    pub user: String,
    /// An integrator's own id (e.g. Odoo's order uid); fresh when absent.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(flatten)]
    pub fields: OpenOrder,
}

impl OpenBody {
    /// The id the body names, if any.
    pub fn order_id(&self) -> Result<Option<OrderId>, BodyError> {
        Ok(self.id.as_deref().map(OrderId::parse).transpose()?)
    }
}

/// `POST /api/orders/{id}/edit`: one edit of an order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    pub user: String,
    /// One edit, as in `possync_model::Edit` (`{"op": "add_line", ...}`);
    /// decoded by [`parse_edit`].
    pub edit: Value,
}

/// Decodes the `edit` of an [`EditBody`]. `add_line` may omit the line `id`
/// and `add_payment` the `payment` id: fresh ones are made from `fresh`'s
/// random bits (a parameter, so that tests and fuzzing stay deterministic).
pub fn parse_edit(mut raw: Value, mut fresh: impl FnMut() -> u128) -> Result<Edit, BodyError> {
    let obj = raw
        .as_object_mut()
        .ok_or_else(|| BodyError::InvalidEdit("edit must be an object with an \"op\"".into()))?;
    match obj.get("op").and_then(Value::as_str) {
        Some("add_line") if !obj.contains_key("id") => {
            obj.insert("id".into(), Value::String(LineId::from_random(fresh()).to_string()));
        }
        Some("add_payment" | "pay" | "refund") if !obj.contains_key("payment") => {
            obj.insert("payment".into(), Value::String(PaymentId::from_random(fresh()).to_string()));
        }
        _ => {}
    }
    serde_json::from_value(raw).map_err(|e| BodyError::InvalidEdit(e.to_string()))
}

/// [`parse_edit`] on a terminal whose catalogue lists products: an
/// `add_line` may also omit `display_name` and `unit_price`, which
/// [`crate::price_edit`] then fills from the catalogue. Also answers
/// whether the request gave a price of its own (a manager's override).
pub fn parse_catalogue_edit(mut raw: Value, fresh: impl FnMut() -> u128) -> Result<(Edit, bool), BodyError> {
    let mut price_given = false;
    if let Some(obj) = raw.as_object_mut()
        && obj.get("op").and_then(Value::as_str) == Some("add_line")
    {
        price_given = obj.contains_key("unit_price");
        obj.entry("unit_price").or_insert(Value::from(0));
        obj.entry("display_name").or_insert(Value::from(""));
    }
    Ok((parse_edit(raw, fresh)?, price_given))
}

/// `POST /api/orders/{id}/split`: moves quantities of lines to a new order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitBody {
    pub user: String,
    pub lines: Vec<SplitLine>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitLine {
    pub line: LineId,
    pub qty: Quantity,
}

impl SplitBody {
    /// The moves, as `OrderDoc::split` and the node take them.
    pub fn moves(&self) -> Vec<(LineId, Quantity)> {
        self.lines.iter().map(|l| (l.line.clone(), l.qty)).collect()
    }
}

/// `POST /api/network`: isolates the terminal (drills and tests) or lets it
/// reconnect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkBody {
    pub isolated: bool,
}

/// `POST /api/orders/{id}/payment/claim` and `/payment/release`: the payment
/// screen of an order opens (or stays open: a renewal) or closes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    pub user: String,
}

/// One tender of `POST /api/orders/{id}/pay`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenderBody {
    /// `cash`, `card`, ...: only cash gives change.
    pub method: String,
    /// Handed over (cash) or charged (card), tip included, in minor units.
    pub tendered: Money,
    #[serde(default)]
    pub tip: Money,
}

/// Most tenders one `pay` request may carry (a split between a few methods).
pub const MAX_TENDERS: usize = 10;

/// `POST /api/orders/{id}/pay`: takes one or more tenders (split tender) and
/// closes the order as paid once nothing is due.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayBody {
    pub user: String,
    pub tenders: Vec<TenderBody>,
    /// Close the order as paid when the tenders cover it (default true).
    #[serde(default = "yes")]
    pub close: bool,
}

fn yes() -> bool {
    true
}

impl PayBody {
    pub fn check(&self) -> Result<(), BodyError> {
        check_user(&self.user)?;
        if self.tenders.is_empty() || self.tenders.len() > MAX_TENDERS {
            return Err(BodyError::InvalidEdit(format!("between 1 and {MAX_TENDERS} tenders")));
        }
        Ok(())
    }
}

/// `POST /api/orders/{id}/refund`: gives money back (managers only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    pub user: String,
    pub method: String,
    /// How much is given back, above zero, in minor units.
    pub amount: Money,
    pub reason: String,
    #[serde(default)]
    pub refund_of: Option<PaymentId>,
}

/// What a manager does with a flagged order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    /// Give back what payments exceed the total by, then resolve.
    Refund,
    /// Keep what payments exceed the total by, then resolve.
    Accept,
    /// Resolve as the order is (no money to give back).
    Resolve,
}

/// `POST /api/orders/{id}/review`: a manager resolves a flagged order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    pub user: String,
    pub action: ReviewAction,
    pub reason: String,
    /// For `refund`: how the money goes back (default: the method of the
    /// last payment).
    #[serde(default)]
    pub method: Option<String>,
}

/// `POST /api/orders/{id}/refund_order`: opens a refund order for a paid
/// order, with its lines at minus their price (managers only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundOrderBody {
    pub user: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn open(body: Value) -> Result<OpenBody, serde_json::Error> {
        serde_json::from_value(body)
    }

    #[test]
    fn an_open_body_reads_the_order_fields_beside_user_and_id() {
        let body = open(json!({
            "user": "ana", "id": "odoo-42", "table": "T4", "floor": "terrace", "guests": 3,
            "customer": "c1", "pricelist": "happy", "fiscal_position": "fp", "ext": {"course": 2},
        }))
        .unwrap();
        assert_eq!(body.order_id().unwrap().unwrap().as_str(), "odoo-42");
        let fields = body.fields;
        assert_eq!(
            (fields.table.as_deref(), fields.floor.as_deref(), fields.guests),
            (Some("T4"), Some("terrace"), 3)
        );
        assert_eq!((fields.customer.as_deref(), fields.pricelist.as_deref()), (Some("c1"), Some("happy")));
        assert_eq!(fields.fiscal_position.as_deref(), Some("fp"));
        assert_eq!(fields.ext["course"], 2);
        let bare = open(json!({"user": "ana"})).unwrap();
        assert_eq!((bare.order_id().unwrap(), bare.fields), (None, OpenOrder::default()));
    }

    #[test]
    fn an_open_body_refuses_unknown_fields_and_what_only_the_terminal_sets() {
        for field in ["tabel", "refund_of", "pricing", "name", "terminal"] {
            let err = open(json!({"user": "ana", field: "x"})).unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{field}: {err}");
        }
        assert!(open(json!({"user": "ana", "guests": "two"})).is_err());
        assert!(open(json!({"table": "T1"})).is_err(), "user is required");
    }
}
