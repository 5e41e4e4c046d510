//! `backup.json` as Home Assistant and the Supervisor write it, and anything else; and the same
//! bytes as every file the restore-readiness report reads (config entries, registries, auth,
//! configuration.yaml, secrets.yaml, .HA_VERSION, an add-on's addon.json), then the report built
//! from whatever was read. It may refuse, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::archive::backup_json::BackupJson;
use lifeboat::archive::readiness::{Found, Readiness};

const FILES: [(&str, &str); 8] = [
    ("homeassistant.tar.gz", "data/.storage/core.config_entries"),
    ("homeassistant.tar.gz", "data/.storage/core.device_registry"),
    ("homeassistant.tar.gz", "data/.storage/core.entity_registry"),
    ("homeassistant.tar.gz", "data/.storage/auth"),
    ("homeassistant.tar.gz", "data/configuration.yaml"),
    ("homeassistant.tar.gz", "data/secrets.yaml"),
    ("homeassistant.tar.gz", "data/.HA_VERSION"),
    ("core_zwave_js.tar.gz", "addon.json"),
];

const PLAIN: &[u8] = br#"{"slug":"a1b2c3d4","name":"n","date":"2026-01-01T00:00:00+00:00","type":"partial",
  "homeassistant":{"version":"2026.1.0"},"addons":[{"slug":"core_zwave_js"}],"folders":[]}"#;

fuzz_target!(|data: &[u8]| {
    let parsed = BackupJson::parse(data);
    let mut found = Found::default();
    found.homeassistant_read = true;
    for (member, path) in FILES {
        if let Some(wanted) = found.wants(member, path) {
            let _ = found.read(member, wanted, &mut &data[..], data.len() as u64);
        }
    }
    let backup = match parsed {
        Ok(b) => b,
        Err(_) => match BackupJson::parse(PLAIN) {
            Ok(b) => b,
            Err(_) => return,
        },
    };
    let report = Readiness::build(&found, &backup);
    let _ = report.lines();
    let _ = report.news_since(&Readiness::default());
});
