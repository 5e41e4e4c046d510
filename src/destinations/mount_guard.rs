//! Keeps a folder destination from quietly landing on Home Assistant's own disk when the disk or
//! network share meant to hold it is not mounted: an unplugged USB disk leaves `/media/usb` missing
//! (or empty), and creating the folder there would fill the SD card with copies that burn with the
//! house.
//!
//! The rules, for a destination folder that does not exist:
//! - if copies were stored there before, it is not made again (the disk is gone, not new);
//! - nothing is made directly in a place where disks are mounted (`/media`, `/mnt`…);
//! - only the last folder of the path is made: its parent must exist.
//!
//! A folder that exists is always used as it is.

use std::path::Path;

/// Where disks and network shares appear when mounted (Home Assistant OS mounts USB disks and
/// media-usage network storage under `/media`).
const MOUNT_ROOTS: &[&str] = &["/media", "/mnt", "/run/media", "/Volumes"];

/// Why the folder at `path` must not be created, if it must not. `is_dir` says whether a folder
/// exists (the file system, given as an input); `held_copies` whether history has copies there.
pub fn refusal(path: &Path, held_copies: bool, is_dir: impl Fn(&Path) -> bool) -> Option<String> {
    if is_dir(path) {
        return None;
    }
    let shown = path.display();
    let hint = "Lifeboat does not create it, so that copies never land on Home Assistant's own \
                disk by mistake";
    if held_copies {
        return Some(format!(
            "{shown} is missing, though copies were stored there: is the disk or network share \
             plugged in and mounted? {hint}"
        ));
    }
    let parent = path.parent()?;
    if MOUNT_ROOTS.iter().any(|r| parent == Path::new(r)) {
        return Some(format!(
            "{shown} does not exist: disks and network shares appear in {} once mounted (Home \
             Assistant: Settings → System → Storage). {hint}; if it really is a plain folder, \
             create it first",
            parent.display()
        ));
    }
    if !is_dir(parent) {
        return Some(format!(
            "{} does not exist: is the disk or network share plugged in and mounted? Lifeboat \
             makes only the last folder of the path, so that copies never land on Home \
             Assistant's own disk by mistake",
            parent.display()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(dirs: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |p| dirs.iter().any(|d| Path::new(d) == p)
    }

    #[test]
    fn an_existing_folder_is_used_as_it_is() {
        let f = fs(&["/", "/media", "/media/usb", "/media/usb/ha"]);
        assert_eq!(refusal(Path::new("/media/usb/ha"), true, &f), None);
        assert_eq!(refusal(Path::new("/media/usb"), false, &f), None);
    }

    #[test]
    fn only_the_last_folder_is_made_and_never_a_mount_point() {
        let f = fs(&["/", "/media", "/share", "/share/lifeboat"]);
        assert_eq!(refusal(Path::new("/share/lifeboat/ha"), false, &f), None);
        assert_eq!(refusal(Path::new("/share/new"), false, &f), None);

        let why = refusal(Path::new("/media/usb/ha-backups"), false, &f).unwrap();
        assert!(why.starts_with("/media/usb does not exist"), "{why}");
        let why = refusal(Path::new("/media/usb"), false, &f).unwrap();
        assert!(why.contains("appear in /media once mounted"), "{why}");
        // A network share that is not mounted under /share.
        let why = refusal(Path::new("/share/MyNAS/lifeboat"), false, &f).unwrap();
        assert!(why.starts_with("/share/MyNAS does not exist"), "{why}");
    }

    #[test]
    fn a_folder_that_held_copies_is_not_made_again() {
        let f = fs(&["/", "/share"]);
        let why = refusal(Path::new("/share/MyNAS"), true, &f).unwrap();
        assert!(why.contains("though copies were stored there"), "{why}");
        assert_eq!(refusal(Path::new("/share/MyNAS"), false, &f), None);
    }
}
