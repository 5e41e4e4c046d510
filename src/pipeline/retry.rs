//! The retry queue: a destination that missed a backup the source delivered whole is owed that
//! backup. The queue lives in history, so it survives restarts; each due entry is retried with
//! growing delays for as long as the source still has the backup, and leaves the queue when the
//! destination holds a verified copy — or when the source says the backup is gone.

use super::run::{RunReport, RunRequest, Runner};
use crate::destinations::Destination;
use crate::history::HistoryError;
use crate::history::upkeep::RetryRow;
use crate::source::Pending;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long to wait before attempt `attempts + 1`: 5 minutes, doubling, at most 6 hours.
pub fn delay(attempts: u32) -> chrono::TimeDelta {
    let d = Duration::from_secs(300)
        .saturating_mul(1u32 << attempts.min(16))
        .min(Duration::from_secs(6 * 3600));
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::hours(6))
}

impl Runner {
    /// Retries every due entry of the queue, one run per backup (to the destinations it owes).
    ///
    /// # Errors
    /// Only when history cannot be read or written.
    pub async fn retry_due(&self) -> Result<Vec<RunReport>, HistoryError> {
        let now = self.clock.now();
        let mut by_backup: BTreeMap<String, Vec<RetryRow>> = BTreeMap::new();
        for r in self.history.retries().await? {
            if r.next_at <= now {
                by_backup.entry(r.source_key.clone()).or_default().push(r);
            }
        }
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
        for (key, rows) in by_backup {
            let mut names = Vec::new();
            for r in &rows {
                if self.destinations.iter().any(|d| d.name == r.destination) {
                    names.push(r.destination.clone());
                } else {
                    tracing::info!(
                        "dropping the retry of {} to {}: no such destination any more",
                        r.hint,
                        r.destination
                    );
                    self.history.retry_done(&key, &r.destination).await?;
                }
            }
            let Some(first) = rows.first() else { continue };
            if names.is_empty() {
                continue;
            }
            let pending = Pending {
                key: key.clone(),
                hint: first.hint.clone(),
                locator: first.locator.clone(),
                warnings: Vec::new(),
                ha_key: None,
            };
            let opened = match self.source.open(&pending).await {
                Err(e) if !e.is_retryable() => {
                    tracing::warn!(
                        "giving up on {} for {}: the source cannot give it any more ({e})",
                        first.hint,
                        names.join(", ")
                    );
                    for n in &names {
                        self.history.retry_done(&key, n).await?;
                    }
                    continue;
                }
                other => other,
            };
            let request = RunRequest {
                destinations: names.clone(),
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
            let after = self.clock.now();
            for r in rows.iter().filter(|r| names.contains(&r.destination)) {
                let copy = report
                    .copies
                    .iter()
                    .find(|c| c.destination == r.destination);
                match copy {
                    Some(c) if c.verified => self.history.retry_done(&key, &r.destination).await?,
                    _ => {
                        let why = copy
                            .and_then(|c| c.error.clone())
                            .or_else(|| report.error.clone())
                            .unwrap_or_else(|| "no verified copy".into());
                        self.history
                            .retry_failed(&key, &r.destination, after + delay(r.attempts + 1), &why)
                            .await?;
                    }
                }
            }
            reports.push(report);
        }
        Ok(reports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_six_hours() {
        assert_eq!(delay(0), chrono::TimeDelta::minutes(5));
        assert_eq!(delay(1), chrono::TimeDelta::minutes(10));
        assert_eq!(delay(4), chrono::TimeDelta::minutes(80));
        assert_eq!(delay(7), chrono::TimeDelta::hours(6));
        assert_eq!(delay(u32::MAX), chrono::TimeDelta::hours(6));
    }
}
