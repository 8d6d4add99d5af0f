//! Which seeds a simulator test runs: `SIM_SEED=<s>` one, `SIM_SEEDS=<n>`
//! seeds 1..=n, otherwise 1..=`default` (each test file picks what fits its
//! run time).

/// The seeds to run, from the environment or `1..=default`.
pub fn seeds(default: u64) -> Vec<u64> {
    match std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(s) => vec![s],
        None => {
            let n = std::env::var("SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
            (1..=n).collect()
        }
    }
}
