//! The protocol conformance test: `clients/conformance`, an independent
//! JavaScript peer (js-libp2p, gossipsub, Automerge JS) written from
//! `docs/PROTOCOL.md` and `docs/ORDER_MODEL.md`, joins real `possync run`
//! daemons (the binary cargo built for this test) and exchanges orders both
//! ways (see `clients/conformance/conformance.test.mjs`). It is the proof
//! that the protocol document stays implementable: a protocol change that
//! breaks it changes the document and the peer together.
//!
//! Needs Node.js 20+ and the peer's npm packages (`npm ci` in
//! `clients/conformance`; `.ci/run` does it and sets `POSSYNC_JS_TEST=1`).
//! With `POSSYNC_JS_TEST=1` a missing `node` or `npm` fails the test;
//! without it the test shows as ignored (see `build.rs`).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn on_path(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    assert!(status.success(), "{what} failed: {status}");
}

#[test]
#[cfg_attr(not(js_test), ignore = "set POSSYNC_JS_TEST=1 to run it (needs Node.js and npm)")]
fn a_javascript_peer_written_from_the_protocol_document_joins_real_daemons() {
    assert!(on_path("node"), "POSSYNC_JS_TEST=1 but `node` is not on PATH (Node.js 20 or later)");
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "clients", "conformance"].iter().collect();
    if !dir.join("node_modules").join("libp2p").exists() {
        assert!(on_path("npm"), "POSSYNC_JS_TEST=1, node_modules missing in {} and no `npm`", dir.display());
        run(
            Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir),
            &format!("npm ci in {}", dir.display()),
        );
    }
    let started = Instant::now();
    run(
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "--test-timeout=60000", "conformance.test.mjs"])
            .current_dir(&dir)
            .env("POSSYNC_BIN", env!("CARGO_BIN_EXE_possync")),
        "the conformance test (clients/conformance/conformance.test.mjs)",
    );
    let took = started.elapsed().as_secs_f64();
    let _ = writeln!(std::io::stderr(), "conformance test passed in {took:.1} s");
    assert!(took < 60.0, "the conformance test took {took:.1} s; its budget is 60 s");
}
