//! # possync-engine: the sans-IO sync engine
//!
//! [`Engine`] is one terminal's state machine: local edits, messages from
//! peers and the passing of time go in; storage writes, messages to send and
//! events come out as [`Output`]s. It performs no IO, reads no clock and draws
//! randomness only from a seeded generator, so the simulator (`possync-sim`)
//! can run dozens of terminals with loss, delay, partitions and restarts from
//! one seed, and the real node drives the very same code over libp2p.
//!
//! - [`wire`]: the messages, byte by byte (`docs/PROTOCOL.md`).
//! - [`ActorOwner`]: which terminal an Automerge actor belongs to.
//! - [`summary`]: bucketed fingerprints of orders for anti-entropy.
//! - [`Engine`]: fan-out of local changes, catch-up (summary → heads → fetch
//!   or Automerge sync), lifecycle (open list, archive, retention), payment
//!   claims ([`PaymentClaim`]: who is taking an order's payment right now),
//!   and the delivery outbox (`delivery.rs`: which closed orders go to which
//!   back office, when, and from which terminal). `engine.rs` holds its
//!   state and inputs; each concern is a file of `engine/` (the table at the
//!   top of `engine.rs`).
//! - [`CatalogueDoc`]: the catalogue every terminal shares, one Automerge
//!   document replaced whole and checked on receipt (`catalogue_doc.rs`),
//!   replicated by the engine (`engine/catalogue_sync.rs`).
//! - [`CommitPipeline`]: the durability pipeline (group commit, deferred
//!   commits of peers' changes, acknowledgement only once durable), with the
//!   disk's answers fed back in as inputs.
//!
//! How a runtime drives it is in `docs/ARCHITECTURE.md`.

mod catalogue_doc;
mod claims;
mod commit_pipeline;
mod config;
mod delivery;
mod delivery_failure;
mod engine;
mod guard;
mod orders;
mod output;
mod owner;
mod peer;
mod retention;
mod rng;
pub mod summary;
pub mod wire;

pub use catalogue_doc::{CatalogueDoc, CatalogueError, IMPORT_USER, VersionedCatalogue, may_replace};
pub use claims::PaymentClaim;
pub use commit_pipeline::{
    CommitAction, CommitConfig, CommitPipeline, Release, StorageFailure, Write, WriteFailed, WriteId,
};
pub use config::EngineConfig;
pub use delivery::{DeliveryConfig, SinkStatus};
pub use delivery_failure::DeliveryFailure;
pub use engine::{Engine, EngineError, EngineStatus, GossipIn, PeerId, RestoreReport, StoredOrder, Verdict};
pub use guard::BAN;
pub use output::{Event, Origin, Output, Rejection, StoreOp};
pub use owner::ActorOwner;
pub use rng::SplitMix64;
