//! The web POS page in a real browser: runs `tests/browser/pos.test.mjs`
//! (no catalogue), `catalogue.test.mjs` (the restaurant catalogue, PIN
//! login, taxes) and `backlog.test.mjs` (a manager sees what the back office
//! has not confirmed) with Node's test runner + playwright-core driving Debian's
//! Chromium, each against its own `possync demo --terminals 2`, the binary
//! cargo built for this test.
//!
//! Opt-in, as it needs Chromium and Node: `POSSYNC_BROWSER_TEST=1 cargo test
//! -p possync-daemon --test browser` (`.ci/run` sets it and installs both).
//! Without it the test shows as ignored (see `build.rs`); with it a missing
//! Chromium or Node fails it.
//! Add `UPDATE_SCREENSHOTS=1` to rewrite `docs/screenshots/*.png`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const CHROMIUM: &str = "/usr/bin/chromium";

fn on_path(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    assert!(status.success(), "{what} failed: {status}");
}

#[test]
#[cfg_attr(not(browser_test), ignore = "set POSSYNC_BROWSER_TEST=1 to run it (needs Chromium and Node.js)")]
fn web_pos_in_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "POSSYNC_BROWSER_TEST=1 but {CHROMIUM} is missing: `apt-get install chromium` (Debian's package)"
    );
    assert!(on_path("node"), "POSSYNC_BROWSER_TEST=1 but `node` is not on PATH (Node.js 20 or later)");

    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "browser"].iter().collect();
    if !dir.join("node_modules").join("playwright-core").exists() {
        assert!(on_path("npm"), "node_modules missing in {} and no `npm` to install it", dir.display());
        let install = if dir.join("package-lock.json").exists() { "ci" } else { "install" };
        run(
            Command::new("npm").args([install, "--no-audit", "--no-fund"]).current_dir(&dir),
            &format!("npm {install} in {}", dir.display()),
        );
    }

    let started = Instant::now();
    run(
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "--test-concurrency=1", "--test-timeout=300000"])
            // One demo and one browser at a time.
            .args(["pos.test.mjs", "catalogue.test.mjs", "backlog.test.mjs"])
            .current_dir(&dir)
            .env("POSSYNC_BIN", env!("CARGO_BIN_EXE_possync"))
            .env("POSSYNC_CHROMIUM", CHROMIUM),
        "the browser tests (tests/browser/*.test.mjs)",
    );
    let _ = writeln!(std::io::stderr(), "browser test passed in {:.1} s", started.elapsed().as_secs_f64());
}
