//! SecureTar headers and streams (v1, v2, v3): any bytes decrypted with the fixtures' key and read
//! to the end. Every v3 header runs one Argon2id derivation (16 MiB, 8 passes), so this target
//! makes far fewer runs a second than the others.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::archive::securetar::{BackupKey, decrypt};
use lifeboat::secret::Secret;
use std::io::Read;
use std::sync::LazyLock;

static KEY: LazyLock<BackupKey> =
    LazyLock::new(|| BackupKey::new(Secret::new("DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044")));

fuzz_target!(|data: &[u8]| {
    let _ = lifeboat::archive::securetar::key_fits(data, &KEY);
    if let Ok(mut plain) = decrypt(data, &KEY) {
        let mut sink = [0u8; 64 << 10];
        while let Ok(n) = plain.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    }
});
