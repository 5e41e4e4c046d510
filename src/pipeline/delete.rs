//! Deleting a copy, and recording it: the one way anything Lifeboat made or shipped is deleted —
//! by retention ([`super::prune`]), by the clean-up of Home Assistant's own backups
//! ([`super::upkeep`]) and from the dashboard (a job on the queue). The copy is deleted where
//! it lives (a destination: manifest first, then the data; or Home Assistant's own backup list),
//! then the deletion — or the failed attempt at one — is recorded in history with its reason.

use crate::destinations::Destination;
use crate::destinations::manifest::{self, delete_copy};
use crate::history::upkeep::DeletionRow;
use crate::history::{History, HistoryError};
use crate::source::{Source, SourceError};
use chrono::{DateTime, Utc};

/// The name deletions of Home Assistant's own backups are recorded under.
pub const LOCAL_HA: &str = "home-assistant";

/// Where the copy to delete lives.
#[derive(Clone, Copy)]
pub enum Doomed<'a> {
    /// A copy on a destination, with its data object as its manifest names it.
    Copy {
        destination: &'a Destination,
        object: &'a str,
    },
    /// One of Home Assistant's own backups, through the source.
    HomeAssistant(&'a dyn Source),
}

impl Doomed<'_> {
    /// The name the deletion is recorded under.
    fn name(&self) -> &str {
        match self {
            Self::Copy { destination, .. } => &destination.name,
            Self::HomeAssistant(_) => LOCAL_HA,
        }
    }
}

/// What is deleted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// The copy id (or Home Assistant's backup slug).
    pub copy_id: String,
    /// When the backup was made, when known.
    pub made: Option<DateTime<Utc>>,
    /// Who asked: `retention`, `keep_local`, `dashboard`.
    pub trigger: String,
    pub reason: String,
}

/// Why a copy could not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error(transparent)]
    Copy(#[from] manifest::DeleteError),
    #[error(transparent)]
    HomeAssistant(#[from] SourceError),
    #[error("no destination is named {0}")]
    NoDestination(String),
}

/// How a deletion went: whether the copy is gone, and whether that was recorded.
#[derive(Debug)]
#[must_use]
pub struct Deleted {
    pub deleted: Result<(), DeleteError>,
    pub recorded: Result<(), HistoryError>,
}

/// Deletes `doomed`'s copy, then records the deletion (or the failed attempt) in history, at `at`.
pub async fn delete_and_record(
    history: &History,
    doomed: Doomed<'_>,
    deletion: Deletion,
    at: DateTime<Utc>,
) -> Deleted {
    let deleted = match doomed {
        Doomed::Copy {
            destination,
            object,
        } => delete_copy(destination, &deletion.copy_id, object)
            .await
            .map_err(DeleteError::from),
        Doomed::HomeAssistant(source) => source
            .delete_local(&deletion.copy_id)
            .await
            .map_err(DeleteError::from),
    };
    let row = DeletionRow {
        at,
        destination: doomed.name().to_owned(),
        copy_id: deletion.copy_id,
        made: deletion.made,
        trigger: deletion.trigger,
        reason: deletion.reason,
        error: deleted.as_ref().err().map(ToString::to_string),
    };
    let recorded = history.record_deletion(row).await;
    Deleted { deleted, recorded }
}
