//! The fuzz targets' bodies: one function per parser of hostile input, fed any bytes (age files,
//! tars to extract or to strip of SecureTar, folder tars and dumps, manifests, rclone.conf,
//! WebDAV listings, backup archives, backup.json, SecureTar, options, commands). The fuzz
//! crate (`fuzz/fuzz_targets/*.rs`, one line each) and the test suite (`tests/fuzz_corpora.rs`,
//! which replays every kept corpus and every crash found) call these same functions, so what was
//! fuzzed is what is tested. Each may refuse its input; none may panic, hang or hold much memory,
//! and each asserts what must hold whatever the input (extraction writes nothing outside its
//! folder, a name the manifest check passes is one name inside the destination…). A failed
//! assertion here is a bug in the module under test.
//!
//! Not part of Lifeboat's API: hidden from its docs, used by nothing else.

use crate::archive::content::{self, Compression, ContentSpec, DumpTool, Kind};
use crate::archive::pg_rows::{RowCounter, table_name_parts};
use crate::archive::securetar::BackupKey;
use crate::destinations::kinds::rclone::store::conf::Conf;
use crate::destinations::kinds::rclone::store::connect;
use crate::destinations::manifest::Manifest;
use crate::destinations::{dav_xml, layout, names};
use crate::recovery::{extract, strip};
use crate::secret::Secret;
use crate::signing::SigningKey;
use std::io::{self, Read};
use std::path::Path;
use std::sync::LazyLock;

/// The private half of the fuzzing identity; the corpus's age files are encrypted to its public
/// half, `age1u368sxunz0ge3fut5ht6u2x6zuw3fave7esrzw53qv2xxxp34dlqauf3r4`. A key for tests only:
/// it protects nothing.
pub const AGE_IDENTITY: &str =
    "AGE-SECRET-KEY-17L8AARKRXSVMD6SQT5ZHLZUVAL4L7896JKHUL8ZHAJMEK99NLF6QDXQS97";

static IDENTITY: LazyLock<Vec<age::x25519::Identity>> = LazyLock::new(|| {
    AGE_IDENTITY
        .parse()
        .map(|id| vec![id])
        .unwrap_or_else(|e| panic!("the fuzzing identity does not parse: {e}"))
});

/// The real archives' Home Assistant backup keys: the emergency-kit key of the Supervisor-style
/// fixtures (SecureTar v2 and v3) and the password of the Home Assistant Core one (v2). One set
/// for every run, so a v3 root key derived once (16 MiB of Argon2id) is reused.
static HA_KEYS: LazyLock<Vec<BackupKey>> = LazyLock::new(|| {
    ["DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044", "backup-password-123"]
        .into_iter()
        .map(|k| BackupKey::new(Secret::new(k.to_owned())))
        .collect()
});

/// Reads `r` to its end into nothing; the bytes read, or the error that stopped it.
fn drain(mut r: impl Read) -> io::Result<u64> {
    io::copy(&mut r, &mut io::sink())
}

/// The age reader: `data` as a stored copy, opened with the fuzzing identity as `recover`, a
/// restore and the drills open one, and read to its end.
pub fn age_open(data: &[u8]) {
    let mut stored = data;
    let Ok(reader) = crate::recovery::decrypt_copy(&mut stored, &IDENTITY) else {
        return;
    };
    if let Ok(n) = drain(reader) {
        assert!(
            n <= data.len() as u64,
            "{n} bytes of plaintext from a {}-byte file",
            data.len()
        );
    }
}

/// Extraction: `data` as a tar, extracted into a fresh folder, as a Home Assistant backup and as
/// a folder's copy (links made). Nothing may appear beside the folder, nothing may be written
/// through a link, and no file may get a setuid, setgid or sticky bit (nor, for a Home Assistant
/// backup, more than its owner's read and write, or be a link).
pub fn extract(data: &[u8]) {
    for folder in [false, true] {
        let base = crate::scratch::unique_name(&std::env::temp_dir().join("lifeboat-fuzz-extract"));
        std::fs::create_dir(&base).unwrap_or_else(|e| panic!("{}: {e}", base.display()));
        // A folder a planted link could point at: it must stay empty.
        let canary = base.join("canary");
        std::fs::create_dir(&canary).unwrap_or_else(|e| panic!("{}: {e}", canary.display()));
        let target = base.join("out");
        let _ = extract::extract_with(data, &target, folder);
        let beside: Vec<String> = read_names(&base)
            .into_iter()
            .filter(|n| n != "out" && n != "canary")
            .collect();
        assert!(beside.is_empty(), "written beside the folder: {beside:?}");
        assert!(
            read_names(&canary).is_empty(),
            "written through a link into {}",
            canary.display()
        );
        if target.exists() {
            check_extracted(&target, folder);
        }
        std::fs::remove_dir_all(&base).unwrap_or_else(|e| panic!("{}: {e}", base.display()));
    }
}

/// The names in a folder.
fn read_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every file under `dir` (links not followed) has the modes extraction promises.
fn check_extracted(dir: &Path, folder: bool) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            assert!(
                folder,
                "a link in a Home Assistant backup: {}",
                path.display()
            );
        } else if meta.is_dir() {
            check_extracted(&path, folder);
        } else {
            assert!(meta.is_file(), "not a plain file: {}", path.display());
            assert_eq!(mode & 0o7000, 0, "{} has mode {mode:o}", path.display());
            if !folder {
                assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
            }
        }
    }
}

/// SecureTar removal: `data` as a protected backup tar, rewritten without encryption with the
/// real archives' keys. When it succeeds, what it wrote is a tar read to its end.
pub fn strip(data: &[u8]) {
    let mut out = Vec::new();
    if strip::strip(data, &mut out, &HA_KEYS).is_err() {
        return;
    }
    // Raw, as strip reads its input: extension headers come through as members.
    let mut archive = tar::Archive::new(&out[..]);
    let entries = archive
        .entries()
        .unwrap_or_else(|e| panic!("strip wrote an unreadable tar: {e}"))
        .raw(true);
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("strip wrote an unreadable tar: {e}"));
        drain(entry).unwrap_or_else(|e| panic!("strip wrote an unreadable tar: {e}"));
    }
}

/// The content walk and the row counter. The first byte says how the rest is made (bit 0: a
/// folder's tar or a dump; bit 1: gzipped; bits 2–3: the dump tool; bits 4–7: the piece size the
/// row counter is fed in). The row counter counts the same fed whole or in pieces, and a table
/// name it counted reads, if at all, as parts that quote back to themselves.
pub fn content(data: &[u8]) {
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    let spec = ContentSpec {
        kind: if how & 1 == 0 {
            Kind::Folder
        } else {
            Kind::Dump
        },
        compression: if how & 2 == 0 {
            Compression::None
        } else {
            Compression::Gzip
        },
        tool: match (how >> 2) & 3 {
            1 => DumpTool::Postgres,
            2 => DumpTool::Mariadb,
            _ => DumpTool::Other,
        },
    };
    if let Ok(report) = content::walk(rest, &spec) {
        let _ = report.describe();
        if spec.compression == Compression::None {
            assert_eq!(report.bytes, rest.len() as u64, "bytes walked");
        }
    }
    let mut whole = RowCounter::default();
    whole.feed(rest);
    let mut pieces = RowCounter::default();
    for piece in rest.chunks(usize::from(how >> 4) + 1) {
        pieces.feed(piece);
    }
    let tables = whole.finish();
    assert_eq!(tables, pieces.finish(), "rows fed whole and in pieces");
    // A drill queries each table by the parts of its name: they quote back to the same parts.
    for table in tables.keys() {
        let name = table.split_once('/').map_or(table.as_str(), |(_, t)| t);
        for candidate in [table.as_str(), name] {
            let Some(parts) = table_name_parts(candidate) else {
                continue;
            };
            assert!(
                (1..=2).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty()),
                "{candidate:?} as {parts:?}"
            );
            let quoted: Vec<String> = parts
                .iter()
                .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
                .collect();
            assert_eq!(
                table_name_parts(&quoted.join(".")).as_ref(),
                Some(&parts),
                "{candidate:?} quoted back"
            );
        }
    }
}

/// Manifest parsing and the names check: `data`'s first line is the name the manifest was listed
/// under, the rest the manifest. The manifest is checked under that name and under its own; a
/// manifest the check passes names only single names inside the destination, and one that
/// parses reads back the same after being written, and intact once signed.
pub fn manifest(data: &[u8]) {
    let (listed, body) = match memchr::memchr(b'\n', data) {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (String::new(), data),
    };
    let Ok(m) = Manifest::parse(body) else {
        return;
    };
    let own = layout::manifest_object(&m.copy_id);
    for name in [listed.as_str(), own.as_str()] {
        if names::copy(name, &m).is_ok() {
            assert!(names::single(name).is_ok(), "listed name {name:?} passed");
            assert!(
                names::single(&m.object).is_ok(),
                "object {:?} passed",
                m.object
            );
            assert!(layout::is_copy_id(&m.copy_id), "copy id {:?}", m.copy_id);
            for part in &m.parts {
                let of = layout::part_of(&part.object).map(|(of, _)| of);
                assert!(
                    names::single(&part.object).is_ok() && of == Some(m.object.as_str()),
                    "part {:?} passed",
                    part.object
                );
            }
        }
    }
    let again = Manifest::parse(&m.to_json())
        .unwrap_or_else(|e| panic!("a manifest written does not parse: {e}"));
    assert_eq!(again, m, "a manifest written reads back different");
    let signed = m.signed(&SIGNING_KEY);
    if let Err(e) = Manifest::parse(&signed.to_json()) {
        panic!("a manifest signed and written is refused: {e}");
    }
}

/// A signing key for [`manifest`]'s check that what is signed reads back intact.
static SIGNING_KEY: LazyLock<SigningKey> = LazyLock::new(|| {
    SigningKey::from_seed(&[7; 32]).unwrap_or_else(|e| panic!("the fuzzing signing key: {e}"))
});

/// rclone.conf: `data` as the file's text (and as a pasted section, as the drives page's import
/// takes it). What parses renders and parses back to the same sections, rendering is stable, and
/// a section the import accepts is there, whole, in rclone.conf once merged.
pub fn rclone_conf(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(conf) = Conf::parse(&text, "fuzz") else {
        return;
    };
    let rendered = conf.render();
    let back = Conf::parse(&rendered, "rendered")
        .unwrap_or_else(|e| panic!("rendered rclone.conf does not parse: {e}"));
    assert_eq!(back.render(), rendered, "rendering again changed it");
    assert_eq!(section_texts(&back), section_texts(&conf), "sections");
    let first = conf.sections.first().map(|s| s.name.clone());
    for name in [None, first.as_deref()] {
        let Ok((remote, section)) = connect::pasted_section(&text, name) else {
            continue;
        };
        let mut merged = Conf::parse(&rendered, "rendered")
            .unwrap_or_else(|e| panic!("rendered rclone.conf does not parse: {e}"));
        merged.put(section.clone());
        let reread = Conf::parse(&merged.render(), "merged")
            .unwrap_or_else(|e| panic!("merged rclone.conf does not parse: {e}"));
        let kept = reread
            .get(&remote)
            .unwrap_or_else(|| panic!("[{remote}] is not in rclone.conf once merged"));
        assert_eq!(
            kept.text().trim_end(),
            section.text().trim_end(),
            "[{remote}]"
        );
    }
}

/// Each section's name and lines, trailing blank lines aside (rendering writes them once).
fn section_texts(conf: &Conf) -> Vec<(String, String)> {
    conf.sections
        .iter()
        .map(|s| (s.name.clone(), s.text().trim_end().to_owned()))
        .collect()
}

/// WebDAV's `PROPFIND` answer: `data` as the body, parsed, each entry's href judged against a
/// folder. An entry taken as a child of the folder has one name, without a slash.
pub fn dav_xml(data: &[u8]) {
    const FOLDER: &str = "/remote.php/dav/files/alice/HA%20backups/";
    let text = String::from_utf8_lossy(data);
    let Ok(entries) = dav_xml::parse_multistatus(&text) else {
        return;
    };
    for e in entries {
        let segment = dav_xml::last_segment(&e.href);
        if dav_xml::is_child(&e.href, FOLDER) {
            let name = segment.unwrap_or_else(|| panic!("a child without a name: {:?}", e.href));
            assert!(
                !name.is_empty() && !name.contains('/'),
                "{:?} names {name:?}",
                e.href
            );
        }
    }
}

/// The outer-tar walker: `data` as a backup archive, walked to the end with inner archives opened
/// (plain ones; protected ones without a key).
pub fn outer_tar(data: &[u8]) {
    let _ = crate::archive::inspect::inspect(data, &[], true);
}

/// `backup.json` as Home Assistant and the Supervisor write it, and anything else; and the same
/// bytes as every file the restore-readiness report reads (config entries, registries, auth,
/// configuration.yaml, secrets.yaml, .HA_VERSION, an add-on's addon.json), then the report built
/// from whatever was read.
pub fn backup_json(data: &[u8]) {
    use crate::archive::BackupJson;
    use crate::archive::readiness::{Found, Readiness};
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
    const PLAIN: &[u8] =
        br#"{"slug":"a1b2c3d4","name":"n","date":"2026-01-01T00:00:00+00:00","type":"partial",
  "homeassistant":{"version":"2026.1.0"},"addons":[{"slug":"core_zwave_js"}],"folders":[]}"#;
    let parsed = BackupJson::parse(data);
    let mut found = Found {
        homeassistant_read: true,
        ..Found::default()
    };
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
}

/// SecureTar headers and streams (v1, v2, v3): `data` decrypted with the real archives' keys
/// and read to the end. Every new v3 salt runs one Argon2id derivation (16 MiB, 8 passes).
pub fn securetar(data: &[u8]) {
    use crate::archive::securetar::{decrypt, key_fits};
    for key in HA_KEYS.iter() {
        let _ = key_fits(data, key);
        if let Ok(plain) = decrypt(data, key) {
            let _ = drain(plain);
        }
    }
}

/// The options parser and validation: `data` as the add-on's `options.json` and as
/// `lifeboat.toml`, then validated as the binary does.
pub fn options(data: &[u8]) {
    use crate::config::{Env, parse_options, validate};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Env::from_pairs([("SUPERVISOR_TOKEN", "t")]);
    for name in ["options.json", "lifeboat.toml"] {
        if let Ok(opts) = parse_options(Path::new(name), text) {
            let _ = validate(opts, &env, std::path::PathBuf::from("/data"));
        }
    }
}

/// Commands from automations: `data` as a line on stdin (`hassio.app_stdin`), and as an event's
/// data when it is JSON.
pub fn stdin_commands(data: &[u8]) {
    use crate::daemon::commands::{parse, parse_line};
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_line(line);
    if let Ok(value) = serde_json::from_str(line) {
        let _ = parse(value);
    }
}
