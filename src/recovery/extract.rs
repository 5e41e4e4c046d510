//! Safe extraction of a backup tar into a new folder: only plain files and folders, each landing
//! inside the folder. Absolute paths, `..`, links and devices are refused with the member's name,
//! never written.

use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Why extraction stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("refusing {name:?}: {why}")]
    Hostile { name: String, why: &'static str },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The path a member may take inside the target, or why not.
fn safe_relative(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err("it climbs out with .."),
            Component::RootDir | Component::Prefix(_) => return Err("it is an absolute path"),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("it has no name");
    }
    Ok(out)
}

/// Extracts every member of `input` into `target`, which must not exist yet.
///
/// # Errors
/// [`ExtractError::Hostile`] for a member that could escape or is not a plain file or folder.
pub fn extract(input: impl Read, target: &Path) -> Result<(), ExtractError> {
    std::fs::create_dir(target)?;
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.into_owned();
        let name = raw.to_string_lossy().into_owned();
        let rel = safe_relative(&raw).map_err(|why| ExtractError::Hostile {
            name: name.clone(),
            why,
        })?;
        let kind = entry.header().entry_type();
        let dest = target.join(&rel);
        if kind.is_dir() {
            std::fs::create_dir_all(&dest)?;
        } else if kind.is_file() {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&dest)?;
            io::copy(&mut entry, &mut f)?;
        } else if kind.is_symlink() || kind.is_hard_link() {
            return Err(ExtractError::Hostile {
                name,
                why: "it is a link (a Home Assistant backup has none)",
            });
        } else if !kind.is_pax_global_extensions() && !kind.is_pax_local_extensions() {
            return Err(ExtractError::Hostile {
                name,
                why: "it is not a plain file or folder",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar whose one member has exactly this raw name and type (bypassing the builder's checks).
    fn raw_tar(name: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_size(if kind.is_file() { 3 } else { 0 });
        h.set_mode(0o644);
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        if kind.is_file() {
            let mut block = [0u8; 512];
            block[..3].copy_from_slice(b"bad");
            out.extend_from_slice(&block);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn hostile_members_are_refused_and_nothing_escapes() {
        let base = tempfile::tempdir().unwrap();
        for (i, (name, kind, link)) in [
            ("../escape.txt", tar::EntryType::Regular, None),
            ("/etc/escape.txt", tar::EntryType::Regular, None),
            ("a/../../escape.txt", tar::EntryType::Regular, None),
            ("link", tar::EntryType::Symlink, Some("/etc/passwd")),
            ("hard", tar::EntryType::Link, Some("../../x")),
        ]
        .into_iter()
        .enumerate()
        {
            let target = base.path().join(format!("t{i}"));
            let err = extract(&raw_tar(name, kind, link)[..], &target).unwrap_err();
            assert!(matches!(err, ExtractError::Hostile { .. }), "{name}: {err}");
        }
        assert!(!base.path().join("escape.txt").exists());
        assert!(!Path::new("/etc/escape.txt").exists());
    }

    #[test]
    fn plain_members_land_inside() {
        let base = tempfile::tempdir().unwrap();
        let target = base.path().join("out");
        extract(
            &raw_tar("./data/file.txt", tar::EntryType::Regular, None)[..],
            &target,
        )
        .unwrap();
        assert_eq!(std::fs::read(target.join("data/file.txt")).unwrap(), b"bad");
    }
}
