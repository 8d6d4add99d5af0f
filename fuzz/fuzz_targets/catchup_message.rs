//! libFuzzer entry of the `catchup_message` target; the body and its invariants are
//! `possync_fuzz::catchup_message`, and `possync_fuzz::fuzz` says which panics count.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| possync_fuzz::fuzz(possync_fuzz::catchup_message, data));
