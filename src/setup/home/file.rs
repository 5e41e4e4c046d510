//! A standalone settings file: read whole (capped), written whole and atomically (a temporary
//! file beside it, synced, renamed into place), keeping the file's permissions; a new file is
//! its owner's alone (0600: it holds secrets).

use super::HomeError;
use crate::config::edit::{EditError, SettingsDoc};
use crate::config::options::Options;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The largest settings file read: a real one is a few KiB.
const MAX_FILE: u64 = 1 << 20;

pub(super) async fn read(path: &Path) -> Result<SettingsDoc, HomeError> {
    let text = blocking(path, read_text).await?;
    Ok(SettingsDoc::from_toml(&text)?)
}

pub(super) async fn write(path: &Path, doc: &SettingsDoc) -> Result<Options, HomeError> {
    let text = doc.to_toml().ok_or_else(|| {
        HomeError::Edit(EditError::Options(
            "the add-on's options cannot be saved as a settings file".into(),
        ))
    })?;
    blocking(path, move |p| replace(p, text.as_bytes())).await?;
    Ok(read(path).await?.options()?)
}

/// Runs `f` on `path` off the async threads; its error names the file.
async fn blocking<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T> + Send + 'static,
) -> Result<T, HomeError> {
    let p: PathBuf = path.to_owned();
    let done = tokio::task::spawn_blocking(move || f(&p)).await;
    let error = match done {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(e)) => e,
        Err(e) => std::io::Error::other(e.to_string()),
    };
    Err(HomeError::File {
        path: path.to_owned(),
        error,
    })
}

fn read_text(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB: not a settings file",
            MAX_FILE / 1024
        )));
    }
    Ok(text)
}

/// Replaces `target` with `data` whole, with the permissions it had (0600 when new).
fn replace(target: &Path, data: &[u8]) -> std::io::Result<()> {
    let kept = std::fs::metadata(target).ok().map(|m| m.permissions());
    let (tmp, mut f) = crate::scratch::TempFile::beside(target)?;
    if let Some(p) = kept {
        f.set_permissions(p)?;
    }
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    tmp.place(target)?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const TEXT: &str = "# mine\n[source]   # here\ntype = \"folder\"\npath = \"/b\"\n\n\
                        # the disk\n[[destinations]]\ntype = \"local\"\nname = \"usb\"\npath = \"/m\"\n";

    #[tokio::test]
    async fn a_round_trip_keeps_comments_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifeboat.toml");
        std::fs::write(&path, TEXT).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut doc = read(&path).await.unwrap();
        doc.set_retention(Some("last=2"));
        let opts = write(&path, &doc).await.unwrap();
        assert_eq!(opts.retention.as_deref(), Some("last=2"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("retention = \"last=2\"\n{TEXT}"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
    }

    #[tokio::test]
    async fn a_new_file_is_its_owners_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifeboat.toml");
        let doc = SettingsDoc::from_toml(TEXT).unwrap();
        write(&path, &doc).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn a_huge_or_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifeboat.toml");
        let err = read(&path).await.unwrap_err();
        assert!(err.to_string().contains("lifeboat.toml"), "{err}");
        std::fs::write(&path, "#".repeat(2 << 20)).unwrap();
        let err = read(&path).await.unwrap_err();
        assert!(err.to_string().contains("not a settings file"), "{err}");
    }
}
