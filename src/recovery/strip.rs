//! Removing the SecureTar layer: rewrite a protected backup as an unprotected one that any Home
//! Assistant restores without the old key. Every inner archive is decrypted while it streams from
//! the input tar into the output tar (v2/v3 headers give the plaintext size the tar header needs;
//! a v1 member, which does not, is spooled to a temporary file first), and `backup.json` is
//! rewritten with `"protected": false`.

use crate::archive::inner::{choose_key, is_plain, probe};
use crate::archive::securetar::{self, BackupKey};
use std::io::{self, Cursor, Read, Seek, Write};

/// Why a backup could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum StripError {
    #[error(
        "{0} cannot be opened with any Home Assistant backup key given (pass --ha-key from Home Assistant's emergency kit)"
    )]
    NoKey(String),
    #[error("{name}: {reason}")]
    Member { name: String, reason: String },
    #[error("the backup tar is unreadable: {0}")]
    Tar(String),
}

fn member(name: &str) -> impl Fn(io::Error) -> StripError + '_ {
    move |e| StripError::Member {
        name: name.to_owned(),
        reason: match securetar::unwrap_error(&e) {
            Some(s) => s.to_string(),
            None => e.to_string(),
        },
    }
}

/// Copies the backup tar from `input` to `output` without encryption; returns how many members
/// were decrypted.
///
/// # Errors
/// [`StripError`] naming the member that could not be decrypted or written.
pub fn strip(
    input: impl Read,
    output: impl Write,
    keys: &[BackupKey],
) -> Result<usize, StripError> {
    let mut archive = tar::Archive::new(input);
    let mut builder = tar::Builder::new(output);
    let mut decrypted = 0;
    for entry in archive
        .entries()
        .map_err(|e| StripError::Tar(e.to_string()))?
    {
        let mut entry = entry.map_err(|e| StripError::Tar(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| StripError::Tar(e.to_string()))?
            .into_owned();
        let name = path.to_string_lossy().trim_start_matches("./").to_owned();
        let mut header = entry.header().clone();
        let err = member(&name);
        if !header.entry_type().is_file() {
            builder
                .append_data(&mut header, &path, &mut entry)
                .map_err(&err)?;
            continue;
        }
        if name == "backup.json" {
            let mut raw = Vec::new();
            entry.read_to_end(&mut raw).map_err(&err)?;
            let mut json: serde_json::Value =
                serde_json::from_slice(&raw).map_err(|e| StripError::Member {
                    name: name.clone(),
                    reason: e.to_string(),
                })?;
            if let Some(obj) = json.as_object_mut() {
                obj.insert("protected".into(), false.into());
                obj.remove("crypto");
            }
            let raw = serde_json::to_vec(&json).unwrap_or(raw);
            header.set_size(raw.len() as u64);
            builder
                .append_data(&mut header, &path, &raw[..])
                .map_err(&err)?;
            continue;
        }
        let head = probe(&mut entry).map_err(&err)?;
        let looks_inner = name.ends_with(".tar.gz") || name.ends_with(".tar");
        if !looks_inner || is_plain(&head) {
            builder
                .append_data(&mut header, &path, Cursor::new(head).chain(&mut entry))
                .map_err(&err)?;
            continue;
        }
        let key = choose_key(&head, keys)
            .map_err(|e| StripError::Member {
                name: name.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| StripError::NoKey(name.clone()))?;
        let mut plain = securetar::decrypt(Cursor::new(head).chain(&mut entry), &keys[key])
            .map_err(|e| StripError::Member {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        match plain.expected_size() {
            Some(size) => {
                header.set_size(size);
                builder
                    .append_data(&mut header, &path, &mut plain)
                    .map_err(&err)?;
            }
            None => {
                // v1 does not say how large the plaintext is: spool it to learn the size.
                let mut spool = tempfile_in_tmp().map_err(&err)?;
                let size = io::copy(&mut plain, &mut spool).map_err(&err)?;
                spool.rewind().map_err(&err)?;
                header.set_size(size);
                builder
                    .append_data(&mut header, &path, &mut spool)
                    .map_err(&err)?;
            }
        }
        decrypted += 1;
    }
    builder
        .into_inner()
        .map_err(|e| StripError::Tar(e.to_string()))?;
    Ok(decrypted)
}

/// An anonymous temporary file (removed when dropped).
fn tempfile_in_tmp() -> io::Result<std::fs::File> {
    let dir = std::env::temp_dir();
    for attempt in 0..100u32 {
        let path = dir.join(format!("lifeboat-spool-{}-{attempt}", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no temporary file could be created"))
}
