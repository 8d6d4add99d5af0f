//! # possync-store: one terminal's durable store
//!
//! An embedded [redb](https://docs.rs/redb) database in the terminal's data
//! directory (`<dir>/possync.redb`); no server to install. It carries out the
//! engine's [`StoreOp`](possync_engine::StoreOp)s and hands the orders back at
//! start-up for [`Engine::restore`](possync_engine::Engine::restore).
//!
//! - [`Store::apply`] writes all the batches the node has pending in one
//!   transaction with a durable commit (group commit): all of it survives a
//!   crash or power loss once it returns `Ok`, none of it when it fails.
//! - [`Store::load`] reads every order back; a damaged record is reported in
//!   [`Loaded::damaged`] and does not hide the others.
//! - [`Store::stats`] for metrics, [`Store::compact`] for operations.
//!
//! Tables, guarantees, directory layout and backups are in this crate's
//! `README.md`. With the `test-utils` feature, [`fault`] has an in-memory disk
//! that fails on command and models crashes.

mod error;
#[cfg(any(test, feature = "test-utils"))]
pub mod fault;
mod redb_panics;
mod store;

#[cfg(test)]
mod crash_tests;

pub use error::StoreError;
pub use store::{DB_FILE, Loaded, SCHEMA_VERSION, Store, StoreStats};
