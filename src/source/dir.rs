//! A `dir:` source: any folder (`/share`, a home server's config folder), tarred on the fly on a
//! blocking thread and streamed, never staged. Entries go in a stable order (sorted by name);
//! symbolic links are stored as links and never followed, so nothing outside the folder is read;
//! `exclude` globs leave paths out. A file that changes size while it is read is stored at the
//! size it had when its entry began (cut or zero-padded, and said in the log), so the tar stays
//! whole. A file that cannot be read fails the run, naming it: a backup that silently lacks a
//! file is worse than one that says it cannot be made.

use super::pipe::{self, PipeWriter};
use super::{Asked, Opened, Pending, Source, SourceError};
use crate::archive::content::{Compression, ContentSpec, DumpTool, Kind};
use crate::archive::{BackupJson, BackupKind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A folder to tar.
pub struct DirSource {
    name: String,
    path: PathBuf,
    exclude: Vec<glob::Pattern>,
    compression: Compression,
}

impl DirSource {
    /// Tars `path`, leaving out what matches `exclude` (globs that failed to parse are left out
    /// of the list: validation reports them).
    pub fn new(name: &str, path: PathBuf, exclude: &[String], compression: Compression) -> Self {
        Self {
            name: name.to_owned(),
            path,
            exclude: exclude
                .iter()
                .filter_map(|g| glob::Pattern::new(g).ok())
                .collect(),
            compression,
        }
    }

    fn spec(&self) -> ContentSpec {
        ContentSpec {
            kind: Kind::Folder,
            compression: self.compression,
            tool: DumpTool::Other,
        }
    }
}

/// How a copy of a `dir:` or `command:` source describes itself where a Home Assistant backup
/// has its `backup.json`: named after the source and the time.
pub(crate) fn described(source: &str, kind: BackupKind, now: DateTime<Utc>) -> BackupJson {
    BackupJson {
        slug: format!("{source}-{}", now.format("%Y%m%dT%H%M%SZ")),
        name: format!("{source} {}", now.format("%Y-%m-%d %H:%M")),
        date: now.to_rfc3339(),
        kind,
        version: 1,
        protected: false,
        compressed: false,
        homeassistant: None,
        folders: Vec::new(),
        addons: Vec::new(),
        supervisor_version: None,
        extra: serde_json::Map::new(),
    }
}

#[async_trait]
impl Source for DirSource {
    fn describe(&self) -> String {
        format!("dir:{}", self.path.display())
    }

    async fn pending(
        &self,
        _shipped: &HashSet<String>,
        now: DateTime<Utc>,
        _asked: &Asked<'_>,
    ) -> Result<Vec<Pending>, SourceError> {
        let meta = tokio::fs::metadata(&self.path)
            .await
            .map_err(|e| SourceError::Folder {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            })?;
        if !meta.is_dir() {
            return Err(SourceError::Folder {
                path: self.path.display().to_string(),
                reason: "is not a folder".into(),
            });
        }
        Ok(super::made_now(
            self,
            "dir",
            &self.name,
            self.path.display().to_string(),
            now,
        ))
    }

    async fn open(&self, _pending: &Pending) -> Result<Opened, SourceError> {
        let root = self.path.clone();
        let exclude = self.exclude.clone();
        let tarred = pipe::spawn(move |w| write_tar(&root, &exclude, w));
        let stream = match self.compression {
            Compression::None => tarred,
            Compression::Gzip => pipe::gzip(tarred),
        };
        Ok(Opened {
            stream,
            size: None,
            notes: None,
        })
    }

    fn content(&self, now: DateTime<Utc>) -> Option<(ContentSpec, Box<BackupJson>)> {
        Some((
            self.spec(),
            Box::new(described(&self.name, BackupKind::Folder, now)),
        ))
    }

    fn creates_backups(&self) -> bool {
        false
    }

    fn owns_key(&self, key: &str) -> bool {
        super::named_key_of(key, "dir", &self.name)
    }
}

/// Writes the tar of `root` into `w`.
fn write_tar(root: &Path, exclude: &[glob::Pattern], w: &mut PipeWriter) -> io::Result<()> {
    let mut tar = tar::Builder::new(w);
    tar.mode(tar::HeaderMode::Complete);
    tar.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = root.join(&rel);
        let mut names: Vec<_> = fs::read_dir(&full)
            .map_err(|e| named(&full, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| named(&full, e))?;
        names.sort();
        // Folders are visited after the files beside them, in name order.
        let mut folders = Vec::new();
        for name in names {
            let rel = rel.join(&name);
            if excluded(&rel, exclude) {
                continue;
            }
            let full = root.join(&rel);
            let meta = match fs::symlink_metadata(&full) {
                Ok(m) => m,
                // Gone between the listing and now: it is not part of this backup.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(named(&full, e)),
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                let mut h = tar::Header::new_gnu();
                h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
                h.set_size(0);
                tar.append_data(&mut h, &rel, io::empty())
                    .map_err(|e| named(&full, e))?;
                folders.push(rel);
            } else if kind.is_symlink() {
                let target = fs::read_link(&full).map_err(|e| named(&full, e))?;
                let mut h = tar::Header::new_gnu();
                h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                tar.append_link(&mut h, &rel, &target)
                    .map_err(|e| named(&full, e))?;
            } else if kind.is_file() {
                append_file(&mut tar, &full, &rel)?;
            } else {
                tracing::warn!(
                    "{}: left out of the backup (a socket, pipe or device is not a file)",
                    full.display()
                );
            }
        }
        stack.extend(folders.into_iter().rev());
    }
    tar.into_inner()?.flush()
}

/// Adds one regular file at the size it has as it is opened. It is opened without following a
/// link and without waiting on a pipe, and what was opened is checked to be a regular file: the
/// listing saw a file, but whoever can write in the folder may have put a link to a file outside
/// it, or a pipe, in its place since.
fn append_file<W: Write>(tar: &mut tar::Builder<W>, full: &Path, rel: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let opened = fs::OpenOptions::new()
        .read(true)
        .custom_flags(i32::try_from(flags.bits()).unwrap_or(0))
        .open(full);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            tracing::warn!(
                "{}: became a link while it was backed up; left out (links are kept as links, never followed)",
                full.display()
            );
            return Ok(());
        }
        Err(e) => return Err(named(full, e)),
    };
    let meta = file.metadata().map_err(|e| named(full, e))?;
    if !meta.file_type().is_file() {
        tracing::warn!(
            "{}: is no longer a regular file; left out of the backup",
            full.display()
        );
        return Ok(());
    }
    let size = meta.len();
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    h.set_size(size);
    let mut exact = Exact {
        inner: file.take(size),
        left: size,
        path: full,
    };
    tar.append_data(&mut h, rel, &mut exact)
        .map_err(|e| named(full, e))
}

/// Reads exactly `left` bytes: zeros when the file shrank while it was read.
struct Exact<'a, R> {
    inner: R,
    left: u64,
    path: &'a Path,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let mut n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            tracing::warn!(
                "{}: shrank while it was backed up; the rest of its old size is zeros",
                self.path.display()
            );
            buf[..want].fill(0);
            n = want;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn excluded(rel: &Path, exclude: &[glob::Pattern]) -> bool {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let name = rel.file_name().map(Path::new);
    exclude.iter().any(|g| {
        g.matches_path_with(rel, opts) || name.is_some_and(|n| g.matches_path_with(n, opts))
    })
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "cannot back up {}: {e} (fix its permissions, or leave it out with exclude)",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the listing saw as a file became a link to a file outside, or a pipe, before it was
    /// opened: neither the outside file's bytes nor a wait on the pipe.
    #[test]
    fn a_file_swapped_for_a_link_or_a_pipe_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside-secret");
        fs::write(&outside, b"the neighbour's secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        append_file(&mut tar, &link, Path::new("link")).unwrap();
        append_file(&mut tar, &fifo, Path::new("fifo")).unwrap();
        let plain = dir.path().join("plain");
        fs::write(&plain, b"ours").unwrap();
        append_file(&mut tar, &plain, Path::new("plain")).unwrap();
        let bytes = tar.into_inner().unwrap();
        let names: Vec<String> = tar::Archive::new(&bytes[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["plain"]);
        assert!(!bytes.windows(9).any(|w| w == b"neighbour"));
    }

    #[test]
    fn a_file_is_stored_at_the_size_it_had_when_its_entry_began() {
        let path = Path::new("/x");
        // It shrank: the rest is zeros, so the entry is as long as its header says.
        let mut shrank = Exact {
            inner: &b"abc"[..],
            left: 5,
            path,
        };
        let mut out = Vec::new();
        shrank.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc\0\0");
        // It grew: what came after is left for the next backup.
        let mut grew = Exact {
            inner: (&b"abcdef"[..]).take(4),
            left: 4,
            path,
        };
        let mut out = Vec::new();
        grew.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn globs_match_paths_and_names() {
        let g = |s: &str| vec![glob::Pattern::new(s).unwrap()];
        assert!(excluded(Path::new("a/b.tmp"), &g("*.tmp")));
        assert!(excluded(Path::new("cache/x"), &g("cache/*")));
        assert!(!excluded(Path::new("a/cache/x"), &g("cache/*")));
        assert!(excluded(Path::new("a/cache"), &g("cache")));
        assert!(!excluded(Path::new("a/b.txt"), &g("*.tmp")));
    }
}
