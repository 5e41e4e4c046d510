//! `lifeboat inspect ARCHIVE`: what is in a backup, checked to the end, with no Home Assistant and
//! no destination. Takes a Home Assistant backup tar, or a Lifeboat copy (an age file) with
//! `--identity` (the emergency kit's identity file). Prints `backup.json`, the tar's SHA-256 and
//! size, and for every inner archive the SHA-256 and size of its decrypted gzip stream and its
//! sorted file list, and the restore-readiness report (what a restore will need of a person).
//! A copy of a `dir:` or `command:` source is walked as what it is (the manifest beside it, or its
//! name, says which): a folder's tar to its end, a dump to its tool's closing line.

use anyhow::Context;
use lifeboat::archive::content::{self, Compression, ContentReport, ContentSpec, DumpTool, Kind};
use lifeboat::archive::securetar::BackupKey;
use lifeboat::archive::{ArchiveError, HashingReader, inspect};
use lifeboat::destinations::{Manifest, layout};
use lifeboat::secret::Secret;
use serde_json::{Map, json};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Reads the age identities (`AGE-SECRET-KEY-1…` lines) of an identity or kit file.
///
/// # Errors
/// When the file cannot be read or holds no identity.
pub(crate) fn read_identities(path: &Path) -> anyhow::Result<Vec<age::x25519::Identity>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let ids: Vec<age::x25519::Identity> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .filter_map(|l| l.parse().ok())
        .collect();
    anyhow::ensure!(
        !ids.is_empty(),
        "{} holds no age identity (a line starting AGE-SECRET-KEY-1)",
        path.display()
    );
    Ok(ids)
}

pub async fn run(
    archive: PathBuf,
    ha_keys: Vec<String>,
    identity: Option<PathBuf>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let ids = identity.as_deref().map(read_identities).transpose()?;
    let keys: Vec<BackupKey> = ha_keys
        .into_iter()
        .map(|k| BackupKey::new(Secret::new(k)))
        .collect();
    if let Some(spec) = content_of(&archive) {
        return run_content(archive, spec, ids, as_json).await;
    }
    let path = archive.clone();
    let (result, (size, sha256)) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut hashing = HashingReader::new(open_plain(&path, ids.as_deref())?);
        let result = inspect(&mut hashing, &keys, true);
        // Hash what is left too, so the SHA-256 is of the whole file even when the walk stopped.
        let _ = std::io::copy(&mut hashing, &mut std::io::sink());
        Ok((result, hashing.finish()))
    })
    .await??;
    let inspection = match result {
        Ok(i) => i,
        Err(e) => {
            report_failure(&archive, &e, as_json);
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut inner = Map::new();
    for r in &inspection.inner {
        inner.insert(
            r.name.clone(),
            json!({
                "securetar": r.securetar,
                "checked": r.checked,
                "gzip_sha256": r.stream_sha256,
                "gzip_size": r.stream_size,
                "files": r.files,
            }),
        );
    }
    let out = json!({
        "backup.json": inspection.backup_raw,
        "sha256": sha256,
        "size": size,
        "inner": inner,
        "warnings": inspection.warnings(),
        "readiness": inspection.readiness,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let b = &inspection.backup;
        println!(
            "{}: Home Assistant backup {:?} ({}, {}, {})",
            archive.display(),
            b.name,
            b.slug,
            b.kind,
            b.date
        );
        println!("  {size} bytes, sha-256 {sha256}");
        for r in &inspection.inner {
            let enc = r
                .securetar
                .as_deref()
                .map(|v| format!(" SecureTar {v},"))
                .unwrap_or_default();
            match (r.checked, r.stream_size, r.entries) {
                (true, Some(s), Some(n)) => println!(
                    "  ok    {}:{enc} {s} bytes, {n} entries, walked to the end",
                    r.name
                ),
                _ => println!("  ??    {}:{enc} not checked (no key for it)", r.name),
            }
        }
        for w in inspection.warnings() {
            println!("  warning: {w}");
        }
        println!("Before you restore:");
        for line in inspection.readiness.lines() {
            println!("  {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The file's bytes, decrypted with `ids` when given.
fn open_plain(path: &Path, ids: Option<&[age::x25519::Identity]>) -> anyhow::Result<Box<dyn Read>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(match ids {
        Some(ids) => {
            use lifeboat::crypto::age_open::{AgeReader, OpenError};
            match AgeReader::new(BufReader::new(file), ids) {
                Ok(plain) => Box::new(plain),
                Err(OpenError::NoIdentity) => {
                    anyhow::bail!("the identity does not open this copy (is it the right kit?)")
                }
                Err(e) => anyhow::bail!("{} is not an age file: {e}", path.display()),
            }
        }
        None => Box::new(BufReader::new(file)),
    })
}

/// What a copy of a `dir:` or `command:` source holds: from the manifest beside it when there is
/// one, else from its name (`.tar.gz`, `.sql.gz`, `.sql`, `.out`…); `None` for a Home Assistant
/// backup (`.tar`).
fn content_of(archive: &Path) -> Option<ContentSpec> {
    let name = archive.file_name()?.to_string_lossy().into_owned();
    let base = name.strip_suffix(".age").unwrap_or(&name);
    let manifest = (base != name)
        .then(|| base.split('.').next())
        .flatten()
        .map(|id| archive.with_file_name(layout::manifest_object(id)))
        .and_then(|m| std::fs::read(m).ok())
        .and_then(|bytes| Manifest::parse(&bytes).ok());
    if let Some(m) = manifest {
        return m.content.as_ref().map(ContentReport::spec);
    }
    let (base, compression) = match base.strip_suffix(".gz") {
        Some(b) => (b, Compression::Gzip),
        None => (base, Compression::None),
    };
    let kind = if base.ends_with(".tar") {
        if compression == Compression::None {
            return None;
        }
        Kind::Folder
    } else if base.ends_with(".sql") || base.ends_with(".out") || compression == Compression::Gzip {
        Kind::Dump
    } else {
        return None;
    };
    Some(ContentSpec {
        kind,
        compression,
        tool: DumpTool::Other,
    })
}

/// `lifeboat inspect` of a folder's tar or a dump.
async fn run_content(
    archive: PathBuf,
    spec: ContentSpec,
    ids: Option<Vec<age::x25519::Identity>>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let path = archive.clone();
    let (result, (size, sha256)) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut hashing = HashingReader::new(open_plain(&path, ids.as_deref())?);
        let result = content::walk(&mut hashing, &spec);
        let _ = std::io::copy(&mut hashing, &mut std::io::sink());
        Ok((result, hashing.finish()))
    })
    .await??;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            report_failure(&archive, &e, as_json);
            return Ok(ExitCode::FAILURE);
        }
    };
    if as_json {
        let out = json!({"content": report, "sha256": sha256, "size": size});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let what = match report.kind {
            Kind::Folder => "a folder's tar",
            Kind::Dump => "a command's output",
        };
        println!("{}: {what}, walked to the end", archive.display());
        println!("  {size} bytes, sha-256 {sha256}");
        println!("  {}", report.describe());
    }
    Ok(ExitCode::SUCCESS)
}

fn report_failure(archive: &Path, e: &ArchiveError, as_json: bool) {
    if as_json {
        println!("{}", json!({"error": e.to_string()}));
    }
    eprintln!("lifeboat: {}: {e}", archive.display());
}
