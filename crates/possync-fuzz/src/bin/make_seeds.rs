//! Writes the seed corpora to `fuzz/seeds/<target>/` (or the directory
//! given), replacing what is there:
//! `cargo run -p possync-fuzz --bin make_seeds`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds"));
    match possync_fuzz::seeds::write(&dir) {
        Ok(n) => {
            eprintln!("wrote {n} seeds under {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write the seeds under {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
