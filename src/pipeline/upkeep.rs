//! Upkeep after runs, for one source: retention on every destination (see [`super::prune`]), and
//! the clean-up of Home Assistant's own backups (`keep_local`) — beyond the newest few, those with
//! a verified copy on every destination are deleted, each deletion recorded with its reason (see
//! [`super::delete`]).

use super::delete::{Deletion, Doomed, delete_and_record};
use super::prune::{Owner, PruneReport, prune_all};
use super::runner::Runner;
use crate::history::HistoryError;
use crate::source::SourceError;

/// Why Home Assistant's own backups could not be cleaned up.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("listing Home Assistant's backups: {0}")]
    Source(#[from] SourceError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

impl Runner {
    /// Deletes Home Assistant's own backups beyond the newest `keep` that have a verified copy on
    /// every destination (see [`crate::retention::local`]); each deletion is recorded with its
    /// reason. Returns the slugs or ids deleted.
    ///
    /// # Errors
    /// [`CleanError`] when the source cannot list its backups or history cannot be used.
    pub async fn clean_local(&self, keep: u32) -> Result<Vec<String>, CleanError> {
        let Some(local) = self.source.local_backups().await? else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = self.destinations.iter().map(|d| d.name.clone()).collect();
        let safe = self.history.verified_everywhere(&names).await?;
        let mut deleted = Vec::new();
        for (backup, reason) in crate::retention::local::to_delete(local, &safe, keep) {
            let deletion = Deletion {
                copy_id: backup.id.clone(),
                made: Some(backup.date),
                trigger: "keep_local".into(),
                reason,
            };
            let doomed = Doomed::HomeAssistant(self.source.as_ref());
            let done = delete_and_record(&self.history, doomed, deletion, self.clock.now()).await;
            done.recorded?;
            match done.deleted {
                Ok(()) => deleted.push(backup.id),
                Err(e) => tracing::warn!("deleting Home Assistant backup {}: {e}", backup.id),
            }
        }
        Ok(deleted)
    }

    /// Applies every destination's retention policy (see [`prune_all`]).
    pub async fn prune(&self, dry_run: bool) -> Vec<PruneReport> {
        let owner = Owner {
            source: self.source_name.clone(),
            first: self.first_source,
        };
        prune_all(
            &self.destinations,
            self.retention.as_ref(),
            &owner,
            &self.history,
            self.clock.now(),
            self.tz,
            dry_run,
        )
        .await
    }
}
