//! POS users (Odoo `res.users` with the POS role Odoo derives from its groups).

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::pin::PinHash;

/// What a user may do. A manager may also override prices, change the
/// catalogue, resolve reviews and refund; the order model will check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Cashier,
    Manager,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    /// No PIN: the user cannot log in on a terminal until a manager sets one
    /// (an Odoo import brings none: Odoo does not export them).
    #[serde(default)]
    pub pin: Option<PinHash>,
}

impl User {
    /// Whether `pin` logs this user in.
    pub fn check_pin(&self, pin: &str) -> bool {
        self.pin.as_ref().is_some_and(|h| h.verify(pin))
    }
}
