//! Finishing a run: recording it in history (with what its backup restores to and what ran when
//! it was made), filing what its destinations are owed on the retry queue, and making its report.
//! A run refused before any backup was read is recorded here too.

use super::commit::Outcome;
use super::events::Event;
use super::plan::Refusal;
use super::record::{CopyOutcome, RunReport, status_of};
use super::retry;
use super::runner::Runner;
use crate::history::{HistoryError, RunEnd, RunStatus};
use crate::source::Pending;

impl Runner {
    /// Records what a run's backup restores to (its `backup.json`) and what ran when it was made.
    pub(super) async fn record_versions(
        &self,
        report: &RunReport,
        host: Option<&crate::source::Host>,
    ) -> Result<(), HistoryError> {
        let Some(b) = &report.backup else {
            return Ok(());
        };
        let versions = crate::history::RunVersions {
            backup: crate::history::Versions {
                core: b.homeassistant.as_ref().map(|h| h.version.clone()),
                supervisor: b.supervisor_version.clone(),
                os: None,
            },
            host: host.map(|h| h.versions.clone()),
        };
        self.history.set_versions(report.run_id, &versions).await
    }

    /// Records a run that failed before any backup was read.
    pub(super) async fn record_failure(
        &self,
        trigger: &str,
        error: &Refusal,
    ) -> Result<RunReport, HistoryError> {
        let now = self.clock.now();
        let run_id = self
            .history
            .start_run(now, trigger, self.described())
            .await?;
        let error = error.to_string();
        self.progress
            .tell(now, &Event::Refused { why: error.clone() });
        self.history
            .finish_run(
                run_id,
                self.clock.now(),
                RunStatus::Failed,
                RunEnd {
                    error: Some(error.clone()),
                    timeline: self.progress.take_timeline(),
                    ..RunEnd::default()
                },
                Vec::new(),
            )
            .await?;
        Ok(RunReport::failed(run_id, &self.source_name, error))
    }

    /// Records the run, files what its destinations are owed, and makes its report.
    pub(super) async fn record(
        &self,
        run_id: i64,
        pending: &Pending,
        mut outcome: Outcome,
    ) -> Result<RunReport, HistoryError> {
        // Over every destination asked for: one left out makes the run partial at best.
        let status = status_of(&outcome.copies);
        // In the order the destinations are configured, whatever stage each stopped at.
        let rank = |name: &str| self.destinations.iter().position(|d| d.name == name);
        outcome.copies.sort_by_key(|c| rank(&c.destination));
        let finished = self.clock.now();
        self.progress.tell(finished, &Event::Recorded { status });
        let mut end = outcome.end;
        if let Some(r) = end.readiness.as_mut()
            && let Some(before) = self.history.readiness_before(run_id).await?
        {
            r.news = r.report.news_since(&before);
        }
        let news = end
            .readiness
            .as_ref()
            .map(|r| r.news.clone())
            .unwrap_or_default();
        end.timeline = self.progress.take_timeline();
        let records = outcome.copies.iter().map(CopyOutcome::record).collect();
        self.history
            .finish_run(run_id, finished, status, end.clone(), records)
            .await?;
        if outcome.delivered {
            let owed: Vec<&CopyOutcome> = outcome.copies.iter().filter(|c| !c.verified).collect();
            retry::owe(&self.history, &self.destinations, pending, &owed, finished).await?;
        }
        Ok(RunReport {
            run_id,
            source: self.source_name.clone(),
            status,
            backup: outcome.backup,
            plain_size: end.plain_size,
            plain_sha256: end.plain_sha256,
            copies: outcome.copies,
            error: end.error,
            warnings: end.warnings,
            readiness_news: news,
            retention: Vec::new(),
        })
    }
}
