//! # possync-fuzz: the bodies of possync's fuzz targets
//!
//! One target per decoder that input from outside reaches: a peer's gossip
//! and catch-up messages, the Automerge changes inside them, a client's API
//! request bodies, and the database file on disk. Each is a plain function
//! of the input bytes that panics when an invariant breaks, so that the
//! same code runs under libFuzzer (`fuzz/`, with cargo fuzz) and, on stable,
//! in this crate's test replaying the seed corpus and every past crash
//! (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`). How to run them
//! and what they found is in `docs/RELIABILITY.md`, "Fuzzing".
//!
//! The targets start from a small fixture ([`fixture`]) and are deterministic:
//! an input that crashed once crashes again.

mod api_json;
mod catchup_message;
mod change_validation;
pub mod fixture;
mod harness;
pub mod seeds;
mod split;
pub mod storage_records;
mod wire_envelope;

pub use api_json::api_json;
pub use catchup_message::catchup_message;
pub use change_validation::change_validation;
pub use harness::fuzz;
pub use storage_records::storage_records;
pub use wire_envelope::wire_envelope;

/// A target's body: panics when the input breaks one of its invariants.
pub type Target = fn(&[u8]);

/// Every target, by the name its cargo fuzz binary and corpus folders have.
pub const TARGETS: [(&str, Target); 5] = [
    ("wire_envelope", wire_envelope),
    ("catchup_message", catchup_message),
    ("change_validation", change_validation),
    ("api_json", api_json),
    ("storage_records", storage_records),
];

/// The target named `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
