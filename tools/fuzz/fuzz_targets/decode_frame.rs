//! cargo-fuzz target over the frame decoder (see ../check.rs for the property).
#![no_main]

include!("../check.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));
