//! libFuzzer entry of the `change_validation` target; the body and its invariants are
//! `possync_fuzz::change_validation`, and `possync_fuzz::fuzz` says which panics count.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| possync_fuzz::fuzz(possync_fuzz::change_validation, data));
