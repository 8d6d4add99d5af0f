//! Replays every committed fuzz input through its target on stable, in every
//! `cargo test`: the seed corpora (`fuzz/seeds/<target>/`) and every input
//! that ever crashed a target (`fuzz/regressions/<target>/`, each kept with
//! the fix it led to; see `docs/RELIABILITY.md`, "Fuzzing"). A regression
//! file that panics again fails this test with its name.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// (target, file) for every file under `fuzz/<kind>/<target>/`.
fn inputs(kind: &str) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    for (target, _) in possync_fuzz::TARGETS {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else { continue };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        out.extend(files.into_iter().filter(|p| p.is_file()).map(|p| (target, p)));
    }
    out
}

fn replay(kind: &str) -> usize {
    let inputs = inputs(kind);
    let mut failures = Vec::new();
    for (target, path) in &inputs {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let run = possync_fuzz::target(target).unwrap_or_else(|| panic!("no target {target}"));
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failures.push(format!("{target}: {}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} input(s) crash their target again:\n{}",
        failures.len(),
        failures.join("\n")
    );
    inputs.len()
}

#[test]
fn every_seed_passes_its_target() {
    let n = replay("seeds");
    // Every target has seeds: an empty corpus would make this test vacuous.
    for (target, _) in possync_fuzz::TARGETS {
        let dir = fuzz_dir().join("seeds").join(target);
        let count = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert!(count > 0, "no seeds in {}", dir.display());
    }
    assert!(n > 0);
}

#[test]
fn every_past_crash_stays_fixed() {
    replay("regressions");
}

/// The committed seeds are what the generator makes today (regenerate with
/// `cargo run -p possync-fuzz --bin make_seeds` after changing it or the
/// wire format). Store images excepted: redb's page layout depends on build
/// settings (debug assertions), so only their replay is checked.
#[test]
fn seeds_are_current() {
    for (target, name, bytes) in possync_fuzz::seeds::all() {
        if target == "storage_records" {
            continue;
        }
        let path = fuzz_dir().join("seeds").join(target).join(&name);
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(committed == bytes, "{} is stale: rerun make_seeds", path.display());
    }
}
