//! Plan and pre-flight: which destinations a run goes to. Before Home Assistant is asked for a
//! backup, every destination asked for is checked — it answers, it lists (credentials accepted for
//! reading), a small probe object can be written and deleted (credentials accepted for writing),
//! and a local folder is there (a disk that is not mounted is never stood in for by a new folder,
//! see [`mount_guard`]) and has room for a backup about the size of the last one. A destination
//! that fails is left out of the run with its typed reason (and owed the backup); when none passes,
//! no backup is made at all. Also here: the reasons a run is refused before it starts.

use crate::destinations::{Destination, StoreError, StoreErrorKind, mount_guard};
use crate::disk::free_space;
use crate::source::SourceError;
use std::collections::HashSet;
use std::path::Path;

/// The probe object written and deleted at the destination's root.
pub const PROBE: &str = ".lifeboat-preflight";

/// Why a destination failed its pre-flight check.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PreflightError {
    #[error("pre-flight: {0}")]
    NotMounted(String),
    #[error("pre-flight: cannot list {location}: {source}")]
    List {
        location: String,
        source: StoreError,
    },
    #[error("pre-flight: cannot write to {location}: {source}")]
    Write {
        location: String,
        source: StoreError,
    },
    #[error("pre-flight: cannot delete from {location}: {source}")]
    Delete {
        location: String,
        source: StoreError,
    },
    #[error(
        "pre-flight: only {} MiB free on {location}, and a backup needs about {} MiB: make room or \
         lower retention there", free >> 20, want >> 20
    )]
    NoRoom {
        location: String,
        free: u64,
        want: u64,
    },
}

impl PreflightError {
    /// The failure's status (see [`StoreErrorKind`]).
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            // The disk may be plugged back in: worth trying again.
            Self::NotMounted(_) => StoreErrorKind::Unavailable,
            Self::List { source, .. }
            | Self::Write { source, .. }
            | Self::Delete { source, .. } => source.kind,
            Self::NoRoom { .. } => StoreErrorKind::Full,
        }
    }
}

/// A destination left out of a run, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub destination: String,
    pub error: PreflightError,
}

/// Why a run did not start (it is recorded as a failed run with this reason).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no destination is named {}; they are: {}", unknown.join(", "), known.join(", "))]
    UnknownDestinations {
        unknown: Vec<String>,
        known: Vec<String>,
    },
    #[error(
        "there is no key to encrypt the copies to yet: make one on Lifeboat's Emergency kit page \
         (or run `lifeboat keys generate`), or set encryption.recipients; Lifeboat never ships a \
         backup unencrypted"
    )]
    NoKey,
    #[error(
        "no destination passed the pre-flight check, so no backup was made: {}",
        .0.iter().map(|s| format!("{}: {}", s.destination, s.error)).collect::<Vec<_>>().join("; ")
    )]
    NonePassed(Vec<Skipped>),
    #[error(
        "Home Assistant's disk has {} free, and a backup about the size of the last one ({}) \
         needs {} there with the 1 GiB the Supervisor keeps free: no backup was asked for. Make \
         room on Home Assistant (delete old backups under Settings → System → Backups, or set \
         keep_local)", crate::human::size(*free), crate::human::size(*last), crate::human::size(*want)
    )]
    NoRoomOnHomeAssistant { free: u64, last: u64, want: u64 },
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// What the Supervisor keeps free on its disk: it refuses to start a job below this
/// (`MINIMUM_FREE_SPACE_THRESHOLD`, 1 GiB, in its `resolution/const.py`).
pub const SUPERVISOR_RESERVE: u64 = 1 << 30;

/// Refuses a backup that would not fit on Home Assistant's disk: `free` bytes there, the last
/// backup `last` bytes; it needs a tenth more than the last (backups grow) and the Supervisor's
/// reserve.
///
/// # Errors
/// [`Refusal::NoRoomOnHomeAssistant`] with the figures.
pub fn room_on_home_assistant(free: u64, last: u64) -> Result<(), Refusal> {
    let want = last
        .saturating_add(last / 10)
        .saturating_add(SUPERVISOR_RESERVE);
    if free < want {
        return Err(Refusal::NoRoomOnHomeAssistant { free, last, want });
    }
    Ok(())
}

/// Refuses names that are not configured destinations, naming the ones that are.
///
/// # Errors
/// [`Refusal::UnknownDestinations`] when a name is unknown.
pub fn check_destination_names(
    configured: &[Destination],
    asked: &[String],
) -> Result<(), Refusal> {
    let unknown: Vec<String> = asked
        .iter()
        .filter(|n| !configured.iter().any(|d| &d.name == *n))
        .cloned()
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Refusal::UnknownDestinations {
        unknown,
        known: configured.iter().map(|d| d.name.clone()).collect(),
    })
}

/// Checks one destination; `need` is the expected size of the stored backup, when known;
/// `held_copies` whether history has stored copies there before.
///
/// # Errors
/// [`PreflightError`] naming the step that failed.
pub async fn check(
    d: &Destination,
    need: Option<u64>,
    held_copies: bool,
) -> Result<(), PreflightError> {
    let location = || d.location.clone();
    if d.kind.is_local_disk()
        && let Some(why) = mount_guard::refusal(Path::new(&d.location), held_copies, Path::is_dir)
    {
        return Err(PreflightError::NotMounted(why));
    }
    d.store
        .list()
        .await
        .map_err(|source| PreflightError::List {
            location: location(),
            source,
        })?;
    d.store
        .write_small(
            PROBE,
            b"Lifeboat checks it can write here; safe to delete.\n".to_vec(),
        )
        .await
        .map_err(|source| PreflightError::Write {
            location: location(),
            source,
        })?;
    d.store
        .delete(PROBE)
        .await
        .map_err(|source| PreflightError::Delete {
            location: location(),
            source,
        })?;
    if d.kind.is_local_disk()
        && let Some(need) = need
        && let Some(free) = free_space(Path::new(&d.location))
    {
        // A tenth more than the last backup: backups grow.
        let want = need.saturating_add(need / 10);
        if free < want {
            return Err(PreflightError::NoRoom {
                location: location(),
                free,
                want,
            });
        }
    }
    Ok(())
}

/// Checks every destination at once; returns the ones that passed and the others with why.
/// `held_copies` names the destinations where copies were stored before.
pub async fn check_all(
    destinations: &[Destination],
    need: Option<u64>,
    held_copies: &HashSet<String>,
) -> (Vec<Destination>, Vec<Skipped>) {
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
            Err(error) => {
                tracing::warn!("{}: {error}", d.name);
                failed.push(Skipped {
                    destination: d.name,
                    error,
                });
            }
        }
    }
    (passed, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DestinationKind, DestinationSpec};
    use crate::destinations::kinds::local::LocalSpec;

    #[test]
    fn a_backup_needs_a_tenth_more_than_the_last_and_the_supervisors_reserve_on_its_disk() {
        let gib = 1u64 << 30;
        assert!(room_on_home_assistant(3 * gib, gib).is_ok());
        let e = room_on_home_assistant(2 * gib, gib).unwrap_err();
        let Refusal::NoRoomOnHomeAssistant { want, .. } = e else {
            panic!("{e}")
        };
        assert_eq!(want, gib + gib / 10 + SUPERVISOR_RESERVE);
        let said = e.to_string();
        assert!(
            said.contains("2.0 GiB free") && said.contains("(1.0 GiB)"),
            "{said}"
        );
        // Even the first backup (nothing known of its size) needs the reserve.
        assert!(room_on_home_assistant(gib / 2, 0).is_err());
    }

    #[test]
    fn unknown_destination_names_are_refused_with_the_known_ones() {
        let dest = |name: &str| {
            crate::destinations::open(&DestinationSpec {
                name: name.into(),
                retention: Default::default(),
                kind: DestinationKind::Local(LocalSpec {
                    path: "/tmp/x".into(),
                }),
            })
            .unwrap()
        };
        let all = [dest("nas"), dest("b2")];
        assert!(check_destination_names(&all, &[]).is_ok());
        assert!(check_destination_names(&all, &["b2".into()]).is_ok());
        let e = check_destination_names(&all, &["usb".into(), "nas".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no destination is named usb; they are: nas, b2"
        );
    }
}
