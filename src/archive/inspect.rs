//! The streaming walker: reads an outer backup tar from start to end exactly once, parses
//! `backup.json`, lists the inner archives and proves the archive is complete (every member's data
//! present, and the end-of-archive blocks after the last one).
//!
//! It is synchronous (the `tar` crate is); the pipeline runs it on a blocking thread and feeds it
//! the same bytes it hashes and encrypts, through [`ChannelReader`].

use super::Counting;
use super::inner::{self, InnerReport};
use super::readiness::{Found, Readiness};
use super::securetar::BackupKey;
use super::{ArchiveError, BackupJson};
use bytes::{Buf, Bytes};
use std::io::{self, Read};

/// A `backup.json` larger than this is not a backup.json.
pub(crate) const MAX_BACKUP_JSON: u64 = 1 << 20;
const BLOCK: u64 = 512;

/// What the walk found.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub backup: BackupJson,
    /// `backup.json` exactly as found.
    pub backup_raw: serde_json::Value,
    pub members: Vec<Member>,
    /// The deep check of every inner archive.
    pub inner: Vec<InnerReport>,
    /// Bytes in the whole archive.
    pub size: u64,
    /// What a restore of it will lose or need, read on the way.
    pub readiness: Readiness,
    /// For a copy of a `dir:` or `command:` source, what its walk found (no Home Assistant
    /// backup then: no members, no inner archives).
    pub content: Option<super::content::ContentReport>,
}

impl Inspection {
    /// The key (index into the keys given to [`inspect`]) that opened the protected members.
    pub fn key_index(&self) -> Option<usize> {
        self.inner.iter().find_map(|r| r.key_index)
    }

    /// What a person should know although the archive is sound.
    pub fn warnings(&self) -> Vec<String> {
        let unchecked: Vec<&str> = self
            .inner
            .iter()
            .filter(|r| !r.checked)
            .map(|r| r.name.as_str())
            .collect();
        if unchecked.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "{} of {} inner archives are encrypted with a Home Assistant backup key Lifeboat does not have, \
             so they could not be checked ({}); add the key from Home Assistant's emergency kit",
            unchecked.len(),
            self.inner.len(),
            unchecked.join(", ")
        )]
    }
}

/// One member of the outer tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The name without a leading `./`.
    pub name: String,
    pub size: u64,
}

fn io_to_archive(e: &io::Error) -> ArchiveError {
    // tar reports a header cut short as "failed to read entire block".
    if e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("entire block") {
        ArchiveError::Truncated(e.to_string())
    } else {
        ArchiveError::Malformed(e.to_string())
    }
}

/// Walks an archive to its very end.
///
/// # Errors
/// [`ArchiveError::Truncated`] when data or the end marker is missing, [`ArchiveError::NotABackup`]
/// when there is no `backup.json`, [`ArchiveError::Malformed`] for anything else a tar reader refuses.
pub fn inspect<R: Read>(
    reader: R,
    keys: &[BackupKey],
    list_files: bool,
) -> Result<Inspection, ArchiveError> {
    let mut counting = Counting {
        inner: reader,
        count: 0,
    };
    let mut backup = None;
    let mut members = Vec::new();
    let mut inner_reports = Vec::new();
    let mut found = Found::default();
    let mut end_of_data = 0u64;
    {
        let mut archive = tar::Archive::new(super::guard::Guarded::new(&mut counting));
        let entries = archive.entries().map_err(|e| io_to_archive(&e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| io_to_archive(&e))?;
            let name = entry
                .path()
                .map_err(|e| ArchiveError::Malformed(e.to_string()))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_owned();
            let size = entry.size();
            let is_description = name == "backup.json" || name == "snapshot.json";
            if is_description && backup.is_none() {
                backup = Some(description(&name, size, &mut entry)?);
            } else if name.ends_with(".tar.gz") || name.ends_with(".tar") {
                let checked = inner_archive(&name, size, &mut entry, keys, list_files, &mut found);
                inner_reports.push(checked?);
            } else {
                skip(&name, size, &mut entry)?;
            }
            end_of_data = entry.raw_file_position() + size.div_ceil(BLOCK) * BLOCK;
            members.push(Member { name, size });
        }
    }
    end_blocks(&mut counting)?;
    if counting.count < end_of_data + 2 * BLOCK {
        return Err(ArchiveError::Truncated(format!(
            "the stream ended after {} bytes, before the end-of-archive marker",
            counting.count
        )));
    }
    let backup = backup.ok_or_else(|| {
        ArchiveError::NotABackup("there is no backup.json at the top of the archive".into())
    })?;
    let (backup, backup_raw) = backup;
    let readiness = Readiness::build(&found, &backup);
    Ok(Inspection {
        backup,
        backup_raw,
        members,
        inner: inner_reports,
        size: counting.count,
        readiness,
        content: None,
    })
}

/// The backup's description (`backup.json`, `snapshot.json`), `size` bytes long: parsed, and as
/// raw JSON.
fn description(
    name: &str,
    size: u64,
    entry: impl Read,
) -> Result<(BackupJson, serde_json::Value), ArchiveError> {
    if size > MAX_BACKUP_JSON {
        return Err(ArchiveError::NotABackup(format!("{name} is {size} bytes")));
    }
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry
        .take(size)
        .read_to_end(&mut buf)
        .map_err(|e| io_to_archive(&e))?;
    if buf.len() as u64 != size {
        return Err(ArchiveError::Truncated(format!("{name} ends early")));
    }
    Ok((
        BackupJson::parse(&buf)?,
        serde_json::from_slice(&buf).unwrap_or_default(),
    ))
}

/// An inner archive (`homeassistant.tar.gz`, an add-on's), `size` bytes long, checked to its end.
fn inner_archive(
    name: &str,
    size: u64,
    entry: impl Read,
    keys: &[BackupKey],
    list_files: bool,
    found: &mut Found,
) -> Result<InnerReport, ArchiveError> {
    let mut counted = Counting {
        inner: entry,
        count: 0,
    };
    let checked = inner::check(name, &mut counted, keys, list_files, found);
    if checked.is_err() {
        // Refused partway: read the rest (not decompressed) to tell a member cut
        // short from one that is whole but would not restore.
        io::copy(&mut counted, &mut io::sink()).map_err(|e| io_to_archive(&e))?;
    }
    if counted.count != size {
        return Err(ArchiveError::Truncated(format!(
            "{name} should hold {size} bytes but the stream ended after {}",
            counted.count
        )));
    }
    checked.map_err(|e| ArchiveError::WouldNotRestore(e.to_string()))
}

/// Any other member, `size` bytes long: read through, to be sure it is all there.
fn skip(name: &str, size: u64, mut entry: impl Read) -> Result<(), ArchiveError> {
    let copied = io::copy(&mut entry, &mut io::sink()).map_err(|e| io_to_archive(&e))?;
    if copied != size {
        return Err(ArchiveError::Truncated(format!(
            "{name} should hold {size} bytes but the stream ended after {copied}"
        )));
    }
    Ok(())
}

/// The rest must be the end-of-archive blocks (two zero blocks, padded to a record): drains it
/// all so the whole stream is read, and so a stream cut at a member boundary is caught.
fn end_blocks(rest: &mut impl Read) -> Result<(), ArchiveError> {
    let mut tail = [0u8; 8192];
    loop {
        let n = rest.read(&mut tail).map_err(|e| io_to_archive(&e))?;
        if n == 0 {
            return Ok(());
        }
        if tail[..n].iter().any(|&b| b != 0) {
            return Err(ArchiveError::Malformed(
                "data after the end-of-archive marker".into(),
            ));
        }
    }
}

/// A blocking `Read` over a bounded channel of chunks: lets the synchronous walker consume the
/// very chunks the async pipeline reads, without a second read or a copy of the backup.
pub struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChannelReader {
    /// Reads from `rx` until the sender is dropped (end of stream).
    pub fn new(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    const BJ: &[u8] =
        br#"{"slug":"abcd1234","name":"n","date":"2026-01-01T00:00:00+00:00","type":"full"}"#;

    #[test]
    fn walks_a_complete_archive() {
        let data = vec![7u8; 3000];
        let bytes = archive(&[("./backup.json", BJ), ("./homeassistant.tar.gz", &data)]);
        let i = inspect(&bytes[..], &[], false).unwrap();
        assert_eq!(i.backup.slug, "abcd1234");
        assert_eq!(
            i.members[1],
            Member {
                name: "homeassistant.tar.gz".into(),
                size: 3000
            }
        );
        assert_eq!(i.size, bytes.len() as u64);
    }

    #[test]
    fn truncation_anywhere_is_caught() {
        let data = vec![7u8; 3000];
        let bytes = archive(&[("./backup.json", BJ), ("./homeassistant.tar.gz", &data)]);
        assert_eq!(bytes.len(), 5632);
        // At a header boundary after backup.json, inside a member, right after the last member,
        // and inside the end marker.
        for cut in [1024, 2000, 4608, 5000] {
            let err = inspect(&bytes[..cut], &[], false).unwrap_err();
            assert!(
                matches!(err, ArchiveError::Truncated(_)),
                "cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn a_tar_without_backup_json_is_not_a_backup() {
        let bytes = archive(&[("./other.txt", b"x")]);
        assert!(matches!(
            inspect(&bytes[..], &[], false).unwrap_err(),
            ArchiveError::NotABackup(_)
        ));
    }

    #[test]
    fn random_bytes_are_refused() {
        let junk = vec![0x5au8; 4096];
        assert!(inspect(&junk[..], &[], false).is_err());
    }
}
