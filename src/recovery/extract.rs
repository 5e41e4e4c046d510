//! Safe extraction of a backup tar into a new folder: only plain files and folders, each landing
//! inside the folder. Absolute paths, `..`, links and devices are refused with the member's name,
//! never written. A folder's copy (a `dir:` source) may hold symbolic links: those are made as
//! links, never followed — a member whose path goes through one is refused — and files get their
//! permission bits back, never setuid, setgid or sticky. Files are created readable by their owner
//! only (a backup's members hold its secrets) unless the folder's copy says otherwise.

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
    extract_with(input, target, false)
}

/// Like [`extract`]; with `folder`, symbolic links are made (never followed) and modes kept.
///
/// # Errors
/// As [`extract`], and for a member whose path goes through a link.
pub fn extract_with(input: impl Read, target: &Path, folder: bool) -> Result<(), ExtractError> {
    std::fs::create_dir(target)?;
    extract_into(input, target, folder)
}

/// Permission bits a file gets back: never setuid, setgid or sticky.
const KEPT_MODE: u32 = 0o777;

/// Like [`extract_with`], into `target`, an empty folder the caller made.
///
/// # Errors
/// As [`extract_with`].
pub fn extract_into(input: impl Read, target: &Path, folder: bool) -> Result<(), ExtractError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut archive = tar::Archive::new(crate::archive::guard::Guarded::new(input));
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
        if folder && through_a_link(target, &rel) {
            return Err(ExtractError::Hostile {
                name,
                why: "its path goes through a symbolic link",
            });
        }
        if folder && kind.is_symlink() {
            let Some(to) = entry.link_name()? else {
                return Err(ExtractError::Hostile {
                    name,
                    why: "it is a link to nothing",
                });
            };
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::os::unix::fs::symlink(&*to, &dest)?;
        } else if kind.is_dir() {
            std::fs::create_dir_all(&dest)?;
        } else if kind.is_file() {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&dest)?;
            io::copy(&mut entry, &mut f)?;
            if folder && let Ok(mode) = entry.header().mode() {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(mode & KEPT_MODE))?;
            }
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

/// Whether a folder on the way to `rel` inside `target` is a symbolic link.
fn through_a_link(target: &Path, rel: &Path) -> bool {
    let mut at = target.to_path_buf();
    let mut parts = rel.components().peekable();
    while let Some(c) = parts.next() {
        if parts.peek().is_none() {
            break;
        }
        at.push(c);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
    }
    false
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
    fn a_folder_s_links_are_made_and_never_written_through() {
        let base = tempfile::tempdir().unwrap();
        let outside = base.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "l", &outside).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o600);
        b.append_data(&mut h, "l/x.txt", &b"bad"[..]).unwrap();
        let t = b.into_inner().unwrap();
        let target = base.path().join("out");
        let e = extract_with(&t[..], &target, true).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_link(target.join("l")).unwrap(), outside);
        assert!(!outside.join("x.txt").exists());
        // A Home Assistant backup still has no links.
        assert!(extract(&t[..], &base.path().join("ha")).is_err());
    }

    #[test]
    fn setuid_setgid_and_sticky_bits_are_never_given_back() {
        let base = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        for (name, mode) in [("suid", 0o4755), ("sgid", 0o2750), ("sticky", 0o1644)] {
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(mode);
            b.append_data(&mut h, name, &b"x"[..]).unwrap();
        }
        let t = b.into_inner().unwrap();
        let target = base.path().join("out");
        extract_with(&t[..], &target, true).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |n: &str| {
            std::fs::metadata(target.join(n))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("suid"), 0o755);
        assert_eq!(mode("sgid"), 0o750);
        assert_eq!(mode("sticky"), 0o644);
        // A Home Assistant backup's members are for its owner only.
        let ha = base.path().join("ha");
        extract(
            &raw_tar("backup.json", tar::EntryType::Regular, None)[..],
            &ha,
        )
        .unwrap();
        assert_eq!(
            std::fs::metadata(ha.join("backup.json"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
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
