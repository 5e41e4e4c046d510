//! Recovery with nothing but the emergency kit and the destination's credentials: download a copy,
//! check the stored object's SHA-256, decrypt it with the kit's age identity, check the plain tar's
//! SHA-256, and write it as a Home Assistant backup tar — optionally with the SecureTar layer removed
//! ([`strip`]) so a fresh Home Assistant restores it without the old key — or extract it safely
//! ([`extract`]). Output appears only when every check passed. The restore-readiness report is
//! read from the same stream as it is written, for the person to see what the restore will need.

pub mod db_drill;
pub mod drill;
pub mod drills;
pub mod dump_guard;
pub mod extract;
pub mod restore;
pub mod strip;

use crate::archive::HashingReader;
use crate::archive::content::{self, ContentReport, ContentSpec, Kind};
use crate::archive::inspect::{ChannelReader, inspect};
use crate::archive::readiness::Readiness;
use crate::archive::securetar::BackupKey;
use crate::destinations::{Destination, Manifest};
use bytes::Bytes;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Why a recovery failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("cannot read the copy from {destination}: {reason}")]
    Download { destination: String, reason: String },
    #[error(
        "the stored copy is not what was verified when it was made ({what} differs): it was changed or damaged on the destination"
    )]
    Mismatch { what: &'static str },
    #[error("the kit's identity does not open this copy: {0} (is it the kit for this home?)")]
    Identity(String),
    #[error("{0}")]
    Archive(String),
    #[error("{path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} exists already; choose a new place so nothing is overwritten")]
    Exists(PathBuf),
    #[error(
        "{0} exists already: recovery writes there before the output is complete, and does not touch what it did not make; if an earlier recovery left it, remove it, or choose another place"
    )]
    StagingExists(PathBuf),
}

/// Where the recovered backup goes.
#[derive(Debug, Clone)]
pub enum Output {
    /// A Home Assistant backup tar at this path.
    Tar(PathBuf),
    /// The backup's members extracted into this (new) folder.
    Extract(PathBuf),
}

/// What a recovery did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recovered {
    pub copy_id: String,
    pub output: PathBuf,
    pub plain_size: u64,
    pub plain_sha256: String,
    /// Inner archives decrypted when the SecureTar layer was removed.
    pub decrypted_members: usize,
    /// What a restore of it will need, read on the way.
    pub readiness: Option<Readiness>,
    /// Why the report could not be read, when it could not (the backup itself is still checked
    /// against its manifest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_error: Option<String>,
    /// For a copy of a `dir:` or `command:` source: what its walk found on the way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentReport>,
}

/// Why the walk of a recovered copy's insides (its report) failed: the content walk's or the
/// backup inspection's own error, or the walker's end.
type WalkError = Box<dyn std::error::Error + Send + Sync>;

/// What the walker beside the output found.
enum Walked {
    Backup(Box<Readiness>),
    Content(ContentReport),
}

/// Passes a stream through and hands a copy of every chunk to the report's walker, so the copy is
/// read once. A walker that stopped is let go: the stream goes on without it.
struct Teed<R> {
    inner: R,
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
}

impl<R: Read> Read for Teed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0
            && let Some(tx) = &self.tx
            && tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err()
        {
            self.tx = None;
        }
        Ok(n)
    }
}

fn out_err(path: &Path) -> impl FnOnce(std::io::Error) -> RecoverError + '_ {
    move |source| RecoverError::Output {
        path: path.to_owned(),
        source,
    }
}

/// The sibling path an output is written to before it is complete.
fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// The staging place, made new by this run (a file readable by its owner only, or such a
/// folder); refused when something is there already, so that removing it after a failure only
/// ever removes what this run made.
struct Staged {
    path: PathBuf,
    /// The file, for a backup tar; `None` for a folder.
    file: Option<std::fs::File>,
}

fn make_staging(output: &Output, staging: &Path) -> Result<Staged, RecoverError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let made = match output {
        Output::Tar(_) => std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(staging)
            .map(Some),
        Output::Extract(_) => std::fs::DirBuilder::new()
            .mode(0o700)
            .create(staging)
            .map(|()| None),
    };
    match made {
        Ok(file) => Ok(Staged {
            path: staging.to_owned(),
            file,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(RecoverError::StagingExists(staging.to_owned()))
        }
        Err(e) => Err(out_err(staging)(e)),
    }
}

/// Removes the staging place this run made.
fn remove_staging(staging: &Path, folder: bool) {
    let _ = if folder {
        std::fs::remove_dir_all(staging)
    } else {
        std::fs::remove_file(staging)
    };
}

/// Starts reading a copy's data object (or its parts, end to end).
pub(crate) async fn open_copy(
    destination: &Destination,
    manifest: &Manifest,
) -> Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>, RecoverError> {
    let store = destination.store.clone();
    crate::destinations::parts::open(store, &manifest.object, &manifest.parts)
        .await
        .map_err(|e| RecoverError::Download {
            destination: destination.name.clone(),
            reason: e.to_string(),
        })
}

/// The decrypted (plain tar) stream of a stored copy, opened with the kit's identities (what
/// `recover`, a restore into Home Assistant and the drills read; `examples/age_decrypt.rs` times
/// it).
///
/// # Errors
/// [`RecoverError::Identity`] when it is not an age file or no identity opens it.
pub fn decrypt_copy<'a, R: Read + 'a>(
    stored: &'a mut R,
    identities: &[age::x25519::Identity],
) -> Result<impl Read + 'a, RecoverError> {
    crate::crypto::age_open::AgeReader::new(BufReader::new(stored), identities)
        .map_err(|e| RecoverError::Identity(e.to_string()))
}

/// Checks what was read against the manifest: the stored object first (a changed copy explains
/// any later failure), then `outcome`, then the decrypted backup.
pub(crate) fn check_digests<T>(
    manifest: &Manifest,
    stored: (u64, String),
    plain: (u64, String),
    outcome: Result<T, RecoverError>,
) -> Result<T, RecoverError> {
    if stored.0 != manifest.stored.size || stored.1 != manifest.stored.sha256 {
        return Err(RecoverError::Mismatch {
            what: "the stored object's sha-256",
        });
    }
    let value = outcome?;
    if plain.0 != manifest.plain.size || plain.1 != manifest.plain.sha256 {
        return Err(RecoverError::Mismatch {
            what: "the decrypted backup's sha-256",
        });
    }
    Ok(value)
}

/// Recovers one copy. `remove_encryption` decrypts every SecureTar member with one of `ha_keys`.
///
/// # Errors
/// [`RecoverError`] saying what failed; nothing is left at the output path then.
pub async fn recover(
    destination: &Destination,
    manifest: &Manifest,
    identities: Vec<age::x25519::Identity>,
    output: Output,
    remove_encryption: bool,
    ha_keys: Vec<BackupKey>,
) -> Result<Recovered, RecoverError> {
    let target = match &output {
        Output::Tar(p) | Output::Extract(p) => p.clone(),
    };
    if target.exists() {
        return Err(RecoverError::Exists(target));
    }
    let reader = open_copy(destination, manifest).await?;
    let manifest = manifest.clone();
    let staging = partial(&target);
    let staged = make_staging(&output, &staging)?;
    let folder = staged.file.is_none();
    tokio::task::spawn_blocking(move || {
        let outcome = write_recovered(
            reader,
            &manifest,
            &identities,
            &output,
            staged,
            remove_encryption,
            &ha_keys,
        );
        match outcome {
            Ok((decrypted, report)) => {
                let (readiness, readiness_error, content) = match report {
                    Ok(Walked::Backup(r)) => (Some(*r), None, None),
                    Ok(Walked::Content(c)) => (None, None, Some(c)),
                    // The copy is what was stored, but not whole inside: say so, keep nothing.
                    Err(e) if manifest.content.is_some() => {
                        remove_staging(&staging, folder);
                        return Err(RecoverError::Archive(format!(
                            "the copy is as it was stored, but what it holds is not whole: {e}"
                        )));
                    }
                    Err(e) => (None, Some(e.to_string()), None),
                };
                std::fs::rename(&staging, &target).map_err(out_err(&target))?;
                Ok(Recovered {
                    copy_id: manifest.copy_id.clone(),
                    output: target,
                    plain_size: manifest.plain.size,
                    plain_sha256: manifest.plain.sha256.clone(),
                    decrypted_members: decrypted,
                    readiness,
                    readiness_error,
                    content,
                })
            }
            Err(e) => {
                remove_staging(&staging, folder);
                Err(e)
            }
        }
    })
    .await
    .map_err(|e| RecoverError::Archive(e.to_string()))?
}

fn write_recovered(
    reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    manifest: &Manifest,
    identities: &[age::x25519::Identity],
    output: &Output,
    staged: Staged,
    remove_encryption: bool,
    ha_keys: &[BackupKey],
) -> Result<(usize, Result<Walked, WalkError>), RecoverError> {
    let mut stored = HashingReader::new(tokio_util::io::SyncIoBridge::new(reader));
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let content = manifest.content.as_ref().map(ContentReport::spec);
    let (plain, written, report) = std::thread::scope(|scope| {
        let walker = scope.spawn(move || match content {
            Some(spec) => content::walk(ChannelReader::new(rx), &spec).map(Walked::Content),
            None => inspect(ChannelReader::new(rx), ha_keys, false)
                .map(|i| Walked::Backup(Box::new(i.readiness))),
        });
        let decrypted = match decrypt_copy(&mut stored, identities) {
            Ok(d) => d,
            Err(e) => return Err(e),
        };
        let mut plain = HashingReader::new(Teed {
            inner: decrypted,
            tx: Some(tx),
        });
        let written = write_output(
            &mut plain,
            output,
            staged,
            remove_encryption,
            ha_keys,
            content,
        )
        .and_then(|n| {
            // Whatever the tar reader left unread still counts for the checksums.
            std::io::copy(&mut plain, &mut std::io::sink()).map_err(|e| read_error(&e))?;
            Ok(n)
        });
        // Ends the walker's stream.
        let plain = plain.finish();
        let report = match walker.join() {
            Ok(Ok(walked)) => Ok(walked),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err("the report's reader stopped".into()),
        };
        Ok((plain, written, report))
    })?;
    // Read the stored object to its end either way: when decryption failed, its checksum tells a
    // copy changed on the destination from any other trouble.
    let _ = std::io::copy(&mut stored, &mut std::io::sink());
    let n = check_digests(manifest, stored.finish(), plain, written)?;
    Ok((n, report))
}

fn write_output(
    plain: &mut impl Read,
    output: &Output,
    staged: Staged,
    remove_encryption: bool,
    ha_keys: &[BackupKey],
    content: Option<ContentSpec>,
) -> Result<usize, RecoverError> {
    let staging = staged.path.as_path();
    match (output, staged.file) {
        (Output::Extract(_), _) if content.is_some_and(|c| c.kind == Kind::Dump) => {
            Err(RecoverError::Archive(
                "a dump is one file, not a folder: recover it with --out FILE".into(),
            ))
        }
        (Output::Extract(_), _) if let Some(spec) = content => {
            extract::extract_into(spec.compression.decoder(&mut *plain), staging, true)
                .map_err(|e| RecoverError::Archive(e.to_string()))?;
            Ok(0)
        }
        (Output::Tar(_), Some(file)) => {
            let mut w = std::io::BufWriter::new(file);
            let n = if remove_encryption {
                strip::strip(&mut *plain, &mut w, ha_keys)
                    .map_err(|e| RecoverError::Archive(e.to_string()))?
            } else {
                std::io::copy(plain, &mut w).map_err(|e| read_error(&e))?;
                0
            };
            let file = w
                .into_inner()
                .map_err(|e| out_err(staging)(e.into_error()))?;
            file.sync_all().map_err(out_err(staging))?;
            Ok(n)
        }
        (Output::Extract(_), _) => {
            extract::extract_into(plain, staging, false)
                .map_err(|e| RecoverError::Archive(e.to_string()))?;
            Ok(0)
        }
        (Output::Tar(_), None) => Err(RecoverError::Archive(
            "a backup tar is written to a file, not a folder".into(),
        )),
    }
}

fn read_error(e: &std::io::Error) -> RecoverError {
    RecoverError::Archive(format!("reading the copy failed: {e}"))
}
