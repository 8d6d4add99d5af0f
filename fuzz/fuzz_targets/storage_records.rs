//! libFuzzer entry of the `storage_records` target; the body and its invariants are
//! `possync_fuzz::storage_records`, and `possync_fuzz::fuzz` says which panics count.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| possync_fuzz::fuzz(possync_fuzz::storage_records, data));
