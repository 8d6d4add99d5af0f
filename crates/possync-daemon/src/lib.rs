//! # possync-daemon: the LAN peer
//!
//! The `possync` binary: a terminal daemon with a local HTTP JSON API, a
//! WebSocket change feed, Prometheus metrics and a web POS page
//! ([`api::router`]); `keygen`; `demo` (several terminals on this machine);
//! and small clients of a running terminal (`status`, `orders`, `export`,
//! `catalogue`).

pub mod api;
pub mod catalogue_file;
pub mod client;
pub mod config;
pub mod demo;
pub mod demo_postgres;
pub mod export;
pub mod offline_import;
pub mod policy;
pub mod sink_config;
