//! The comparison peer: `samod` (the automerge maintainers' Rust
//! automerge-repo) in its usual hub-and-spoke form over loopback TCP, doing
//! the work possync is measured on: propagation of order edits between
//! terminals and catch-up of a fresh terminal. Both sides run in this
//! process on the same tokio runtime, so their figures compare within one
//! run. `all` and the `samod` subcommand put them next to possync's.

mod catchup;
mod net;
mod propagation;

pub use catchup::measure as catchup;
pub use propagation::measure as propagation;
