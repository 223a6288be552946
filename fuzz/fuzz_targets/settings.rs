#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zato_common::fuzzing::settings(data));
