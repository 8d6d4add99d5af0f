//! Where an Odoo back office is, how to log in, and what its POS expects.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;

/// What the order mapping needs to know about the Odoo side besides ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooTarget {
    pub api: OdooApi,
    /// The open `pos.session` orders are filed under. Odoo moves an order
    /// for a closed session into a rescue (13-17) or open (18) session.
    pub session_id: i64,
    /// possync terminal id -> the number Odoo's order reference carries
    /// for it (`Order 00042-003-0017`: session, terminal, sequence). The
    /// same on every terminal; an order from a terminal not listed is held.
    pub terminals: BTreeMap<String, u16>,
    /// The Odoo product a tip becomes a line of (the POS config's
    /// `tip_product_id`); an order with a tip is held without it.
    pub tip_product: Option<i64>,
}

/// Which server method receives orders, by Odoo version (read in
/// `addons/point_of_sale/models/pos_order.py` of each version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OdooApi {
    /// `pos.order.create_from_ui(orders, draft)`, Odoo 13 to 17: each order
    /// as `{"id": uid, "data": {...}}`, payments in `statement_ids` with a
    /// `payment_method_id` (Odoo 12 wanted account journals and bank
    /// statements instead, and is not supported).
    CreateFromUi,
    /// `pos.order.sync_from_ui(orders)`, Odoo 18: each order as the
    /// `pos.order` record's own fields, payments in `payment_ids`.
    SyncFromUi,
}

/// How to log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OdooAuth {
    /// A user's password: `/web/session/authenticate`, then
    /// `/web/dataset/call_kw` with the session cookie.
    Password { login: String, password: Secret },
    /// An API key (Odoo 14 and later): `/jsonrpc`, service `object`,
    /// `execute_kw` with the key in place of the password.
    ApiKey { login: String, key: Secret },
}

/// One Odoo back office.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OdooConfig {
    /// `http[s]://host[:port]`, no path.
    pub url: String,
    /// With https: the CA certificates (PEM) the server's certificate must
    /// chain to, instead of Mozilla's roots (a private CA).
    pub ca_file: Option<std::path::PathBuf>,
    pub db: String,
    pub auth: OdooAuth,
    /// The method, session, terminal numbers and tip product.
    pub target: OdooTarget,
    /// How long one request may take.
    pub timeout: Duration,
}
