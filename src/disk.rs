//! Free space on a local disk: asked by pre-flight of a folder destination, and by history to
//! tell a full data folder from other write failures.

use std::path::Path;

/// Bytes free for an unprivileged writer on the file system holding `path`.
pub fn free_space(path: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}
