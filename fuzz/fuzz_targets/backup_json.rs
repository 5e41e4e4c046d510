//! `backup.json` as Home Assistant and the Supervisor write it, and anything else.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lifeboat::archive::backup_json::BackupJson::parse(data);
});
