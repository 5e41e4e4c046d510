//! Pre-flight: before Home Assistant is asked for a backup, every destination is checked — it
//! answers, it lists (credentials accepted for reading), a small probe object can be written and
//! deleted (credentials accepted for writing), and a local folder is there (a disk that is not
//! mounted is never stood in for by a new folder, see [`mount_guard`]) and has room for a backup
//! about the size of the last one. A destination that fails is left out of the run with the reason (and
//! queued for retry); when none passes, no backup is made at all.

use crate::destinations::{Destination, mount_guard};
use crate::disk::free_space;
use std::collections::HashSet;
use std::path::Path;

/// The probe object written and deleted at the destination's root.
pub const PROBE: &str = ".lifeboat-preflight";

/// Checks one destination; `need` is the expected size of the stored backup, when known;
/// `held_copies` whether history has stored copies there before.
///
/// # Errors
/// What failed, in words for a person.
pub async fn check(d: &Destination, need: Option<u64>, held_copies: bool) -> Result<(), String> {
    if d.kind.is_local_disk()
        && let Some(why) = mount_guard::refusal(Path::new(&d.location), held_copies, Path::is_dir)
    {
        return Err(format!("pre-flight: {why}"));
    }
    d.store
        .list()
        .await
        .map_err(|e| format!("pre-flight: cannot list {}: {e}", d.location))?;
    d.store
        .write_small(
            PROBE,
            b"Lifeboat checks it can write here; safe to delete.\n".to_vec(),
        )
        .await
        .map_err(|e| format!("pre-flight: cannot write to {}: {e}", d.location))?;
    d.store
        .delete(PROBE)
        .await
        .map_err(|e| format!("pre-flight: cannot delete from {}: {e}", d.location))?;
    if d.kind.is_local_disk()
        && let Some(need) = need
        && let Some(free) = free_space(std::path::Path::new(&d.location))
    {
        // A tenth more than the last backup: backups grow.
        let want = need.saturating_add(need / 10);
        if free < want {
            return Err(format!(
                "pre-flight: only {} MiB free on {}, and a backup needs about {} MiB: make room or \
                 lower retention there",
                free >> 20,
                d.location,
                want >> 20
            ));
        }
    }
    Ok(())
}

/// Checks every destination at once; returns the ones that passed and the reasons of the others.
/// `held_copies` names the destinations where copies were stored before.
pub async fn check_all(
    destinations: &[Destination],
    need: Option<u64>,
    held_copies: &HashSet<String>,
) -> (Vec<Destination>, Vec<(String, String)>) {
    let verdicts = futures::future::join_all(destinations.iter().map(|d| async move {
        (
            d.clone(),
            check(d, need, held_copies.contains(&d.name)).await,
        )
    }))
    .await;
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    for (d, v) in verdicts {
        match v {
            Ok(()) => passed.push(d),
            Err(why) => {
                tracing::warn!("{}: {why}", d.name);
                failed.push((d.name, why));
            }
        }
    }
    (passed, failed)
}
