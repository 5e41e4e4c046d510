//! The outer-tar walker: any bytes as a backup archive, walked to the end with inner archives
//! opened (plain ones; protected ones without a key). It may refuse, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lifeboat::archive::inspect::inspect(data, &[], true);
});
