//! The deep check of one inner archive, inside the single pass: decrypt it when it is SecureTar
//! (trying each known Home Assistant backup key), gunzip it when compressed, and walk its tar to the
//! very end. An archive that would not restore is found here, before any copy is claimed.
//!
//! Whether a member is encrypted is read from its first bytes, not from `backup.json`: the
//! Supervisor writes `backup.json` last, after the members.

use super::HashingReader;
use super::readiness::Found;
use super::securetar::{self, BackupKey, SecureTarError};
use std::io::{self, Read};

/// Bytes looked at to recognise a member's format and to try keys on.
const PROBE: usize = 64 * 1024;

/// What the deep check found for one inner archive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InnerReport {
    pub name: String,
    /// SecureTar version, `None` for a plain member.
    pub securetar: Option<String>,
    /// Whether the member was opened and walked to its end.
    pub checked: bool,
    /// SHA-256 and size of the decrypted gzip (or tar) stream, when checked.
    pub stream_sha256: Option<String>,
    pub stream_size: Option<u64>,
    /// Entries in the inner tar, when checked.
    pub entries: Option<u64>,
    /// The inner tar's entry names, sorted, when asked for (`lifeboat inspect`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// Index into the keys of the key that opened it.
    #[serde(skip)]
    pub key_index: Option<usize>,
}

/// Why an inner archive would not restore.
#[derive(Debug, thiserror::Error)]
pub enum InnerError {
    #[error("{name} cannot be opened with any known Home Assistant backup key")]
    NoKeyFits { name: String },
    #[error("{name}: {source}")]
    SecureTar {
        name: String,
        source: SecureTarError,
    },
    #[error("{name} is damaged: {reason}")]
    Damaged { name: String, reason: String },
}

fn is_gzip(b: &[u8]) -> bool {
    b.len() >= 3 && b[..3] == [0x1f, 0x8b, 0x08]
}

fn is_tar(b: &[u8]) -> bool {
    b.len() >= 262 && &b[257..262] == b"ustar"
}

/// Checks one member. `data` is the member's bytes, read to their end here (so the outer walk can
/// go on); `keys` are the Home Assistant backup keys to try; what the restore-readiness report
/// needs is taken into `found` as the member's files go by.
///
/// # Errors
/// [`InnerError`] when the member would not restore. A member that needs a key Lifeboat does not
/// have is not an error: it comes back with `checked: false`.
pub fn check(
    name: &str,
    mut data: impl Read,
    keys: &[BackupKey],
    list_files: bool,
    found: &mut Found,
) -> Result<InnerReport, InnerError> {
    let damaged = |reason: String| InnerError::Damaged {
        name: name.to_owned(),
        reason,
    };
    let probe = probe(&mut data).map_err(|e| damaged(e.to_string()))?;
    let mut report = InnerReport {
        name: name.to_owned(),
        securetar: None,
        checked: false,
        stream_sha256: None,
        stream_size: None,
        entries: None,
        files: list_files.then(Vec::new),
        key_index: None,
    };
    if is_plain(&probe) {
        walk(io::Cursor::new(probe).chain(data), &mut report, found)
            .map_err(|e| damaged(e.to_string()))?;
        return Ok(report);
    }
    let magic = probe.starts_with(b"SecureTar");
    report.securetar = Some(
        match probe.get(9) {
            Some(2) if magic => "v2",
            Some(3) if magic => "v3",
            _ => "v1",
        }
        .to_owned(),
    );
    // Find the key: v3 checks it in its header; v1/v2 show it in the first decrypted bytes.
    let chosen = choose_key(&probe, keys).map_err(|source| InnerError::SecureTar {
        name: name.to_owned(),
        source,
    })?;
    let Some(i) = chosen else {
        // Drain the member so the outer walk goes on; report it unchecked, or fail if keys exist.
        io::copy(&mut data, &mut io::sink()).map_err(|e| damaged(e.to_string()))?;
        found.sealed.push(name.to_owned());
        if keys.is_empty() {
            return Ok(report);
        }
        return Err(InnerError::NoKeyFits {
            name: name.to_owned(),
        });
    };
    report.key_index = Some(i);
    let plain = securetar::decrypt(io::Cursor::new(probe).chain(&mut data), &keys[i]).map_err(
        |source| InnerError::SecureTar {
            name: name.to_owned(),
            source,
        },
    )?;
    walk(plain, &mut report, found).map_err(|e| damaged(e.to_string()))?;
    io::copy(&mut data, &mut io::sink()).map_err(|e| damaged(e.to_string()))?;
    Ok(report)
}

/// Reads up to the first 64 KiB of a member: enough to recognise it and to try keys on.
///
/// # Errors
/// The reader's error.
pub fn probe(data: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut probe = Vec::with_capacity(PROBE);
    data.take(PROBE as u64).read_to_end(&mut probe)?;
    Ok(probe)
}

/// Whether a member's first bytes are a plain (not SecureTar) gzip or tar stream.
pub fn is_plain(probe: &[u8]) -> bool {
    is_gzip(probe) || is_tar(probe)
}

/// The index of the first key that opens the SecureTar member starting with `probe`.
///
/// # Errors
/// [`SecureTarError`] when the header is unusable.
pub fn choose_key(probe: &[u8], keys: &[BackupKey]) -> Result<Option<usize>, SecureTarError> {
    for (i, key) in keys.iter().enumerate() {
        if securetar::key_fits(probe, key)? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Gunzips (when compressed) and walks the inner tar to its end, then drains the stream.
/// Why an inner archive's stream broke off before its end.
#[derive(Debug, thiserror::Error)]
enum Broken {
    #[error("{}", describe(.0))]
    Read(io::Error),
    #[error("an entry of {size} bytes ends after {copied}")]
    Short { size: u64, copied: u64 },
}

fn walk(stream: impl Read, report: &mut InnerReport, found: &mut Found) -> Result<(), Broken> {
    let mut hashing = HashingReader::new(stream);
    let mut head = [0u8; 3];
    let n = hashing.read(&mut head).map_err(Broken::Read)?;
    let prefix = io::Cursor::new(head[..n].to_vec());
    let entries = if is_gzip(&head[..n]) {
        let mut gz = flate2::read::GzDecoder::new(prefix.chain(&mut hashing));
        let count = walk_tar(&mut gz, &report.name, report.files.as_mut(), found)?;
        io::copy(&mut gz, &mut io::sink()).map_err(Broken::Read)?;
        count
    } else {
        walk_tar(
            &mut prefix.chain(&mut hashing),
            &report.name,
            report.files.as_mut(),
            found,
        )?
    };
    io::copy(&mut hashing, &mut io::sink()).map_err(Broken::Read)?;
    report.checked = true;
    if super::readiness::gather::is_homeassistant(&report.name) {
        found.homeassistant_read = true;
    }
    report.entries = Some(entries);
    if let Some(files) = report.files.as_mut() {
        files.sort();
    }
    let (size, sha256) = hashing.finish();
    report.stream_size = Some(size);
    report.stream_sha256 = Some(sha256);
    Ok(())
}

fn walk_tar(
    r: &mut impl Read,
    member: &str,
    mut files: Option<&mut Vec<String>>,
    found: &mut Found,
) -> Result<u64, Broken> {
    let mut archive = tar::Archive::new(super::guard::Guarded::new(r));
    let mut count = 0u64;
    for entry in archive.entries().map_err(Broken::Read)? {
        let mut entry = entry.map_err(Broken::Read)?;
        let size = entry.size();
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let wanted = if entry.header().entry_type().is_file() {
            found.wants(member, &raw)
        } else {
            None
        };
        if let Some(files) = files.as_deref_mut() {
            // As Python's tarfile names them: no trailing slash on directories.
            files.push(raw.trim_end_matches('/').to_owned());
        }
        // Counted, so an entry read partly by the report and drained after is still checked for
        // its full size.
        let mut counted = super::Counting {
            inner: &mut entry,
            count: 0,
        };
        if let Some(wanted) = wanted {
            found
                .read(member, wanted, &mut counted, size)
                .map_err(Broken::Read)?;
        }
        io::copy(&mut counted, &mut io::sink()).map_err(Broken::Read)?;
        let copied = counted.count;
        if copied != size {
            return Err(Broken::Short { size, copied });
        }
        count += 1;
    }
    Ok(count)
}

fn describe(e: &io::Error) -> String {
    match securetar::unwrap_error(e) {
        Some(s) => s.to_string(),
        None => e.to_string(),
    }
}
