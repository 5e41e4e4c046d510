//! Temporary files beside the file they will replace: created new (never opened when something
//! is already there: a link planted under the name is not followed), with a random name, readable
//! by their owner only, and removed by the run that made them. Two writers at once (the dashboard
//! and a command, two connections of a drive) never share one.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Twelve random hex digits; the process id, the time and a counter if the system has no
/// randomness to give (the name must still differ from another writer's, not be secret).
fn random_suffix() -> String {
    let mut b = [0u8; 6];
    if getrandom::getrandom(&mut b).is_ok() {
        return hex::encode(b);
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:x}-{nanos:x}-{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A name beside `target` no other writer uses: `target.tmp-<random>`.
pub fn unique_name(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(format!(".tmp-{}", random_suffix()));
    PathBuf::from(name)
}

/// A file made new under a random name, removed when dropped unless renamed into place.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    placed: bool,
}

impl TempFile {
    /// Creates a new, empty file beside `target`, mode 0600.
    ///
    /// # Errors
    /// When the folder cannot take a new file.
    pub fn beside(target: &Path) -> io::Result<(Self, File)> {
        let mut last = None;
        // A clash of random names is near impossible; a planted file under the name is refused.
        for _ in 0..4 {
            let path = unique_name(target);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            match opts.open(&path) {
                Ok(f) => {
                    return Ok((
                        Self {
                            path,
                            placed: false,
                        },
                        f,
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames it to `target` (the same folder, so atomically); it is no longer removed.
    ///
    /// # Errors
    /// When the rename fails: the file is then removed when dropped.
    pub fn place(mut self, target: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, target)?;
        self.placed = true;
        Ok(())
    }
}

/// Replaces `target` with `data` whole: written to a [`TempFile`] beside it, synced, renamed into
/// place, the folder synced. Readers see the old file or the new one, never half of either.
///
/// # Errors
/// When the folder cannot take the new file, or the write, sync or rename fails (the temporary
/// file is then removed).
pub fn replace(target: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let (tmp, mut f) = TempFile::beside(target)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    tmp.place(target)?;
    if let Some(dir) = target.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_writer_gets_its_own_private_file_removed_unless_placed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vault.age");
        let (a, _) = TempFile::beside(&target).unwrap();
        let (b, _) = TempFile::beside(&target).unwrap();
        assert_ne!(a.path(), b.path());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(a.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let gone = a.path().to_owned();
        drop(a);
        assert!(!gone.exists(), "dropped, removed");
        let kept = b.path().to_owned();
        b.place(&target).unwrap();
        assert!(target.exists() && !kept.exists());
    }
}
