//! Payment methods (Odoo `pos.payment.method`).

use serde::{Deserialize, Serialize};

use crate::ids::PaymentMethodId;

/// Odoo's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// Counted in the drawer (`is_cash_count`).
    Cash,
    /// Card, transfer, voucher: the amount is exact.
    Bank,
    /// Charged to the customer's account.
    PayLater,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub name: String,
    pub kind: PaymentKind,
    /// Tendering more than is due gives change back. Odoo gives change on
    /// cash only; defaults to whether the method is cash.
    #[serde(default)]
    pub gives_change: Option<bool>,
}

impl PaymentMethod {
    pub fn gives_change(&self) -> bool {
        self.gives_change.unwrap_or(self.kind == PaymentKind::Cash)
    }
}
