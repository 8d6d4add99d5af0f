//! libFuzzer entry of the `api_json` target; the body and its invariants are
//! `possync_fuzz::api_json`, and `possync_fuzz::fuzz` says which panics count.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| possync_fuzz::fuzz(possync_fuzz::api_json, data));
