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
//! - [`PostgresConfig`]: where the server is and how to log in; the
//!   password comes from a file or an environment variable and is never
//!   printed.
//! - `testing` (feature `testing`): a throw-away PostgreSQL cluster on a
//!   unix socket, for tests.

pub mod migrations;
mod postgres;
mod postgres_config;
#[cfg(feature = "testing")]
pub mod testing;
mod write;

pub use postgres::PostgresSink;
pub use postgres_config::{PostgresConfig, Secret};
