//! `lifeboat::fuzzing::options`: what it feeds and checks is said there (the test suite replays
//! this target's corpus through the same function).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifeboat::fuzzing::options(data));
