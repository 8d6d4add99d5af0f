//! # possync-sim: a deterministic multi-terminal simulator
//!
//! Runs many [`possync_engine::Engine`]s against one virtual clock and one
//! seeded random generator: gossip with latency, loss, duplication and
//! reordering; pairwise links that deliver in order and break with
//! partitions; crashes that keep the disk and lose the memory; late joiners;
//! cloned terminals; disks that are slow, fail, or crash between a write
//! and its acknowledgement, under the node's own commit pipeline
//! ([`possync_engine::CommitPipeline`]); back offices ([`SimSink`]) that fail, time out, lose
//! and repeat their answers. A failing run names its seed; `SIM_SEED=<seed>` replays
//! it exactly.
//!
//! [`workload`] drives a random restaurant rush. The invariant checks
//! ([`Sim::assert_invariants`]) are what every scenario ends with.

mod disk;
mod net;
mod seeds;
mod sim;
mod sink;
mod store;
pub mod workload;

pub use disk::DiskFaults;
pub use net::NetConfig;
pub use seeds::seeds;
pub use sim::{Bounds, Sim, SimNode, owner_of};
pub use sink::{SimSink, SinkFaults, SinkRow};
pub use store::{SimStore, StoredRecord};
