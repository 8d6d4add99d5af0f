//! Cross-crate acceptance tests live in `tests/` beside this file: scenarios
//! from `docs/SCENARIOS.md` that need real terminals (libp2p on loopback,
//! redb storage) together. Crate-level tests stay with their crates:
//! `possync-model` (conflict table, properties), `possync-sim` (scenarios by
//! the hundreds of seeds), `possync` (network), `possync-daemon` (API, CLI).
