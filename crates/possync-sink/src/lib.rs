//! # possync-sink: back offices for closed orders
//!
//! Implementations of [`possync::Sink`]: where a terminal delivers every
//! paid, cancelled or refund order. The engine decides what goes when and
//! retries (`possync-engine/src/delivery.rs`); a sink only writes one
//! order, idempotently: the order id is the key, and delivering an order it
//! already holds with the same content changes nothing.
//!
//! - [`PostgresSink`]: tables of orders, lines, per-tax rows and payments
//!   (`docs/OPERATIONS.md`, "Back office"), created and upgraded by
//!   versioned [`migrations`] at connect; one transaction per order.
//! - [`OdooSink`]: paid orders to Odoo's point of sale over JSON-RPC
//!   (http, or https with rustls), in
//!   the shape `create_from_ui` (Odoo 13-17) or `sync_from_ui` (18) reads
//!   ([`odoo_order`]), catalogue ids mapped to Odoo ids through the
//!   catalogue imported from that Odoo ([`OdooIds`]); an order whose ids do
//!   not map is refused whole. Checked against request fixtures derived
//!   from Odoo's source and a fake server (`tests/odoo.rs`): no live Odoo
//!   was run.
//! - [`PostgresConfig`], [`OdooConfig`]: where the server is and how to
//!   log in; passwords and keys come from a file or an environment
//!   variable ([`Secret`]) and are never printed.
//! - [`held_orders`]: how many orders a PostgreSQL back office holds.
//! - `testing` (feature `testing`): a throw-away PostgreSQL cluster on a
//!   unix socket, for tests and `possync demo --postgres`.

mod http;
pub mod migrations;
mod odoo;
mod odoo_config;
mod odoo_datetime;
mod odoo_ids;
mod odoo_order;
mod odoo_rpc;
mod postgres;
mod postgres_config;
mod postgres_count;
mod secret;
#[cfg(feature = "testing")]
pub mod testing;
mod write;

pub use odoo::OdooSink;
pub use odoo_config::{OdooApi, OdooAuth, OdooConfig, OdooTarget};
pub use odoo_ids::{IdKind, OdooIds};
pub use odoo_order::{NotSendable, OdooOrder, odoo_order, uuid_from};
pub use postgres::PostgresSink;
pub use postgres_config::PostgresConfig;
pub use postgres_count::held_orders;
pub use secret::Secret;
