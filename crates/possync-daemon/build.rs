//! Opt-in tests show as `ignored` rather than passing silently when their
//! environment is missing: `POSSYNC_BROWSER_TEST=1` (Chromium and Node.js)
//! and `POSSYNC_JS_TEST=1` (Node.js and npm) turn them on, and `.ci/run`
//! sets both.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for (var, cfg) in [("POSSYNC_BROWSER_TEST", "browser_test"), ("POSSYNC_JS_TEST", "js_test")] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var_os(var).is_some_and(|v| v == "1") {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
