//! The SecureTar readers against every fixture made by real Home Assistant and by the securetar
//! library: the decrypted gzip streams must match `manifest.json` (sha-256, size, file listing),
//! and wrong keys, truncation and damage must be told apart.

use crate::support::*;
use lifeboat::archive::securetar::{BackupKey, SecureTarError, Version, decrypt, unwrap_error};
use lifeboat::secret::Secret;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;

const KIT_KEY: &str = "DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044";

/// The members of an outer backup tar, by name without `./`.
fn members(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut t = tar::Archive::new(archive);
    for e in t.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

fn decrypted(data: &[u8], key: &BackupKey) -> Result<(Version, Vec<u8>), SecureTarError> {
    let mut r = decrypt(data, key)?;
    let mut out = Vec::new();
    match r.read_to_end(&mut out) {
        Ok(_) => Ok((r.version(), out)),
        Err(e) => Err(match unwrap_error(&e) {
            Some(SecureTarError::WrongKey) => SecureTarError::WrongKey,
            Some(SecureTarError::Truncated(m)) => SecureTarError::Truncated(m.clone()),
            Some(SecureTarError::Damaged(m)) => SecureTarError::Damaged(m.clone()),
            _ => SecureTarError::Io(e),
        }),
    }
}

fn listing(gzip: &[u8]) -> Vec<String> {
    let mut t = tar::Archive::new(flate2::read::GzDecoder::new(gzip));
    let mut names: Vec<String> = t
        .entries()
        .unwrap()
        .map(|e| {
            // Python's tarfile names directories without the trailing slash.
            let raw = String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned();
            raw.trim_end_matches('/').to_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_supervisor_style_fixture_decrypts_to_the_recorded_truth() {
    let manifest: Value =
        serde_json::from_slice(&fixture("supervisor-style/manifest.json")).unwrap();
    let key = BackupKey::new(Secret::new(KIT_KEY));
    for (file, want_version) in [
        ("full-plain.tar", None),
        ("full-v2.tar", Some(Version::V2)),
        ("full-v3.tar", Some(Version::V3)),
    ] {
        let truth = &manifest["archives"][file];
        let inner = &truth["inner"];
        let archive = fixture(&format!("supervisor-style/{file}"));
        let mut seen = 0;
        for (name, data) in members(&archive) {
            if name == "backup.json" {
                continue;
            }
            let gzip = match want_version {
                None => data,
                Some(v) => {
                    let (got, plain) =
                        decrypted(&data, &key).unwrap_or_else(|e| panic!("{file}/{name}: {e}"));
                    assert_eq!(got, v, "{file}/{name}");
                    plain
                }
            };
            let t = &inner[&name];
            assert_eq!(
                hex::encode(Sha256::digest(&gzip)),
                t["gzip_sha256"].as_str().unwrap(),
                "{file}/{name}"
            );
            assert_eq!(
                gzip.len() as u64,
                t["gzip_size"].as_u64().unwrap(),
                "{file}/{name}"
            );
            let files: Vec<String> = serde_json::from_value(t["files"].clone()).unwrap();
            assert_eq!(listing(&gzip), files, "{file}/{name}");
            seen += 1;
        }
        assert_eq!(seen, inner.as_object().unwrap().len(), "{file}");
    }
}

#[test]
fn a_real_home_assistant_encrypted_backup_decrypts_like_home_assistant_does() {
    let key = BackupKey::new(Secret::new("backup-password-123"));
    let enc = members(&fixture("ha-core/ha-2026.2.3-encrypted.tar"));
    let by_ha = members(&fixture(
        "ha-core/ha-2026.2.3-encrypted.decrypted-by-ha.tar",
    ));
    let (name, data) = enc.iter().find(|(n, _)| n.ends_with(".tar.gz")).unwrap();
    let (v, plain) = decrypted(data, &key).unwrap();
    assert_eq!(v, Version::V2);
    let expected = &by_ha.iter().find(|(n, _)| n == name).unwrap().1;
    assert!(
        plain == *expected,
        "{name} differs from Home Assistant's own decryption"
    );
}

#[test]
fn wrong_keys_truncation_and_damage_are_told_apart() {
    let wrong = BackupKey::new(Secret::new("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-0000"));
    for file in ["full-v2.tar", "full-v3.tar"] {
        let all = members(&fixture(&format!("supervisor-style/{file}")));
        let (_, ha) = all
            .iter()
            .find(|(n, _)| n == "homeassistant.tar.gz")
            .unwrap();
        assert!(
            matches!(decrypted(ha, &wrong), Err(SecureTarError::WrongKey)),
            "{file}: wrong key"
        );

        let key = BackupKey::new(Secret::new(KIT_KEY));
        // Cut inside the body, at a v3 chunk boundary, and inside the header.
        for cut in [ha.len() / 2, 136 + (1 << 20) + 17, 40] {
            let r = decrypted(&ha[..cut], &key);
            assert!(
                matches!(r, Err(SecureTarError::Truncated(_))),
                "{file} cut at {cut}: {:?}",
                r.map(|(v, p)| (v, p.len()))
            );
        }
    }
    // v3 authenticates every chunk: one flipped bit is caught by the reader itself.
    let all = members(&fixture("supervisor-style/full-v3.tar"));
    let (_, ha) = all
        .iter()
        .find(|(n, _)| n == "homeassistant.tar.gz")
        .unwrap();
    let mut flipped = ha.clone();
    flipped[200_000] ^= 0x04;
    let key = BackupKey::new(Secret::new(KIT_KEY));
    assert!(matches!(
        decrypted(&flipped, &key),
        Err(SecureTarError::Damaged(_))
    ));
}
