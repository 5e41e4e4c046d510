//! Driving the retry queue ([`super::retry`]): every due entry is retried, one run per backup, to
//! the destinations it owes; the source gives the backup again, or says it is gone.

use super::record::RunReport;
use super::request::RunRequest;
use super::retry;
use super::runner::Runner;
use crate::destinations::Destination;
use crate::history::HistoryError;
use crate::history::upkeep::RetryRow;
use crate::source::Pending;

impl Runner {
    /// Retries every due entry of the queue (see [`retry`]), one run per backup, to the
    /// destinations it owes.
    ///
    /// # Errors
    /// Only when history cannot be read or written.
    pub async fn retry_due(&self) -> Result<Vec<RunReport>, HistoryError> {
        let mut by_backup = retry::due(&self.history, &self.destinations, self.clock.now()).await?;
        // The other sources' backups are theirs to send again.
        by_backup.retain(|key, _| self.source.owns_key(key));
        let owed: Vec<Destination> = self
            .destinations
            .iter()
            .filter(|d| {
                by_backup
                    .values()
                    .flatten()
                    .any(|r| r.destination == d.name)
            })
            .cloned()
            .collect();
        self.sweep_orphans(&owed).await;
        let mut reports = Vec::new();
        for rows in by_backup.values() {
            if let Some(report) = self.retry_one(rows).await? {
                reports.push(report);
            }
        }
        Ok(reports)
    }

    /// Retries one backup to the destinations in `rows`.
    async fn retry_one(&self, rows: &[RetryRow]) -> Result<Option<RunReport>, HistoryError> {
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let names: Vec<String> = rows.iter().map(|r| r.destination.clone()).collect();
        let pending = Pending {
            key: first.source_key.clone(),
            hint: first.hint.clone(),
            locator: first.locator.clone(),
            warnings: Vec::new(),
            ha_key: None,
            content: self.source.content(self.clock.now()),
        };
        let opened = match self.source.open(&pending).await {
            Err(e) if !e.is_retryable() => {
                tracing::warn!(
                    "giving up on {} for {}: the source cannot give it any more ({e})",
                    first.hint,
                    names.join(", ")
                );
                for n in &names {
                    self.history.retry_done(&pending.key, n).await?;
                }
                return Ok(None);
            }
            other => other,
        };
        let request = RunRequest {
            destinations: names,
            ..RunRequest::new("retry")
        };
        self.progress.begin(
            "retry",
            self.clock.now(),
            "Retrying destinations owed a backup",
        );
        self.observer.started(&request).await;
        let report = self.run_opened(&request, &pending, opened, &[]).await?;
        self.observer.finished(&report).await;
        self.end_progress(std::slice::from_ref(&report));
        retry::settle(
            &self.history,
            &self.destinations,
            rows,
            &report,
            self.clock.now(),
        )
        .await?;
        Ok(Some(report))
    }
}
