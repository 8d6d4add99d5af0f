//! The JavaScript client library, `clients/js`: its node tests (the routes
//! against `docs/openapi.json`, the live feed across a daemon restart, and
//! S30, the reference addon's extension example of `docs/EXTENDING.md`)
//! against real `possync run` daemons, the binary cargo built for this test.
//!
//! Needs Node.js 20+ (the library has no npm dependencies). With
//! `POSSYNC_JS_TEST=1` (`.ci/run` sets it) a missing `node` fails the test;
//! without it the test shows as ignored (see `build.rs`).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[test]
#[cfg_attr(not(js_test), ignore = "set POSSYNC_JS_TEST=1 to run it (needs Node.js)")]
fn the_javascript_client_library_passes_its_tests_against_real_daemons() {
    let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(node_ok, "POSSYNC_JS_TEST=1 but `node` is not on PATH (Node.js 20 or later)");
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "clients", "js"].iter().collect();
    let started = Instant::now();
    let status = Command::new("node")
        // Node 20 has WebSocket only behind this flag (Node 22 by default).
        .args(["--experimental-websocket", "--test", "--test-reporter=spec", "--test-timeout=60000"])
        .args([
            "test/routes.test.mjs",
            "test/answer.test.mjs",
            "test/feed.test.mjs",
            "test/extending.test.mjs",
        ])
        .current_dir(&dir)
        .env("POSSYNC_BIN", env!("CARGO_BIN_EXE_possync"))
        .status()
        .unwrap_or_else(|e| panic!("node could not start: {e}"));
    assert!(status.success(), "the client library's tests (clients/js/test) failed: {status}");
    let _ = writeln!(
        std::io::stderr(),
        "client library tests passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
