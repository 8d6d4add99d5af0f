//! How the libFuzzer binaries call a target. libfuzzer-sys installs a panic
//! hook that aborts at the first panic, before any unwinding. But possync
//! catches some panics on purpose: Automerge 0.12 panics on some crafted
//! changes and documents, and the model turns those into refusals under
//! `catch_unwind` (see `docs/RELIABILITY.md`). Under that hook every such
//! refusal would count as a crash. So the hook here only records the panic,
//! and a panic is a crash when it escapes the target, as it would escape to
//! a terminal's main loop.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// The last panic's message, location and (with `RUST_BACKTRACE=1`)
    /// backtrace: printed only if it escapes the target.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `target` on `data`; aborts the process (what libFuzzer reports as a
/// crash) when a panic escapes it, after printing that panic.
pub fn fuzz(target: crate::Target, data: &[u8]) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // POSSYNC_FUZZ_PRINT_PANICS=1 prints the caught panics too (to debug
        // a crash the process aborts on before the target returns).
        let print_all = std::env::var_os("POSSYNC_FUZZ_PRINT_PANICS").is_some();
        std::panic::set_hook(Box::new(move |info| {
            let backtrace = std::backtrace::Backtrace::capture();
            let panic = format!("{info}\n{backtrace}");
            if print_all {
                eprintln!("possync-fuzz: panic: {panic}");
            }
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(panic));
        }));
    });
    if catch_unwind(AssertUnwindSafe(|| target(data))).is_err() {
        let panic = LAST_PANIC.with(|last| last.borrow_mut().take()).unwrap_or_default();
        eprintln!("possync-fuzz: a panic escaped the target: {panic}");
        std::process::abort();
    }
}
