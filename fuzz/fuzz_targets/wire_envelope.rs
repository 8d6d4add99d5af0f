//! libFuzzer entry of the `wire_envelope` target; the body and its invariants are
//! `possync_fuzz::wire_envelope`, and `possync_fuzz::fuzz` says which panics count.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| possync_fuzz::fuzz(possync_fuzz::wire_envelope, data));
