//! The drills and the dashboard's restore as use cases, for the CLI and the daemon to call and
//! show: each finds its copy (one this home vouches for), carries the drill or restore out, times
//! it, records the verdict in history, and returns a typed report.
//!
//! - [`restore_drill`]: a copy the dashboard names, read, decrypted and opened to its end (see
//!   [`super::drill`]); the verdict is recorded as a check of the copy.
//! - [`restore_copy`]: the same copy streamed into Home Assistant's backup list instead.
//! - [`db_drill`]: the newest copy of a PostgreSQL dump loaded into a scratch server (see
//!   [`super::db_drill`]); the verdict is recorded as a drill of the source.

use super::RecoverError;
use super::db_drill::{DbDrill, DbDrillError, DbTarget, drill_postgres};
use super::drill::{Drilled, drill};
use super::restore::{HaTarget, Restored, restore_into_ha};
use crate::archive::securetar::BackupKey;
use crate::destinations::manifest::{self, FetchError};
use crate::destinations::{Destination, Manifest, StoreError};
use crate::history::drills::DrillRow;
use crate::history::upkeep::CheckRow;
use crate::history::{History, HistoryError};
use crate::pipeline::prune::Owner;
use crate::pipeline::run::Runner;
use crate::pipeline::vouch::{Contradicted, NotFound, Records, newest_vouched};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Why the copy a job names could not be restored or drilled.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("no destination is named {0}")]
    NoDestination(String),
    #[error("cannot read the copy's manifest: {0}")]
    Manifest(StoreError),
    #[error("{0}")]
    Unreadable(String),
    #[error("reading history: {0}")]
    History(HistoryError),
    /// The copy's manifest contradicts history.
    #[error(transparent)]
    Untrusted(#[from] Contradicted),
    #[error(transparent)]
    Recover(#[from] RecoverError),
}

/// What a restore drill proved, and how long it took (about how long a restore from there takes).
#[derive(Debug, Clone)]
pub struct DrillReport {
    pub destination: String,
    pub drilled: Drilled,
    pub took: Duration,
}

/// The copy `copy_id` on `destination`, fetched and vouched for.
async fn vouched_copy<'a>(
    runner: &'a Runner,
    destination: &str,
    copy_id: &str,
) -> Result<(&'a Destination, Manifest), CopyError> {
    let d = runner
        .destinations
        .iter()
        .find(|d| d.name == destination)
        .ok_or_else(|| CopyError::NoDestination(destination.to_owned()))?;
    let m = manifest::fetch(d, copy_id).await.map_err(|e| match e {
        FetchError::Store(e) => CopyError::Manifest(e),
        FetchError::Unreadable(why) => CopyError::Unreadable(why),
    })?;
    Records::of(&runner.history, &d.name)
        .await
        .map_err(CopyError::History)?
        .judge(&m)
        .map_err(CopyError::Untrusted)?;
    Ok((d, m))
}

/// Streams the copy `copy_id` on `destination` into Home Assistant's backup list.
///
/// # Errors
/// [`CopyError`] saying why it is not there.
pub async fn restore_copy(
    runner: &Runner,
    destination: &str,
    copy_id: &str,
    identities: Vec<age::x25519::Identity>,
    target: &HaTarget,
) -> Result<Restored, CopyError> {
    let (d, m) = vouched_copy(runner, destination, copy_id).await?;
    Ok(restore_into_ha(d, &m, identities, target).await?)
}

/// Drills the copy `copy_id` on `destination` and records the verdict (and its time) as a check of
/// the copy; a failure to record it is logged, never the drill's verdict.
///
/// # Errors
/// [`CopyError`] saying what would stop a restore.
pub async fn restore_drill(
    runner: &Runner,
    destination: &str,
    copy_id: &str,
    identities: Vec<age::x25519::Identity>,
) -> Result<DrillReport, CopyError> {
    let (d, m) = vouched_copy(runner, destination, copy_id).await?;
    let ha_keys = runner
        .keys
        .ha_keys()
        .into_iter()
        .map(BackupKey::new)
        .collect();
    let started = runner.clock.now();
    let drilled = drill(d, &m, identities, ha_keys).await;
    let ended = runner.clock.now();
    let took = (ended - started).to_std().unwrap_or_default();
    let row = CheckRow {
        at: ended,
        ok: drilled.is_ok(),
        error: drilled
            .as_ref()
            .err()
            .map(|e| format!("restore drill: {e}")),
        ms: u64::try_from(took.as_millis()).ok(),
    };
    if let Err(e) = runner.history.record_check(&d.name, &m.copy_id, row).await {
        tracing::error!("recording the drill: {e}");
    }
    Ok(DrillReport {
        destination: d.name.clone(),
        drilled: drilled?,
        took,
    })
}

/// Why a database drill could not be carried out or recorded.
#[derive(Debug, thiserror::Error)]
pub enum DbDrillFailed {
    /// Shown as `drilling SOURCE: why` (the cause follows in the error's chain).
    #[error("drilling {of}")]
    NoCopy {
        of: String,
        #[source]
        error: NotFound,
    },
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// A database drill: which copy, and what it found (or why it could not be carried out).
#[derive(Debug)]
pub struct DbDrillReport {
    pub source: String,
    pub destination: String,
    pub copy_id: String,
    pub outcome: Result<DbDrill, DbDrillError>,
}

impl DbDrillReport {
    /// Whether the drill ran and every table came back whole.
    pub fn ok(&self) -> bool {
        self.outcome.as_ref().is_ok_and(DbDrill::ok)
    }

    /// What was compared, or what went wrong, in one line.
    pub fn detail(&self) -> String {
        match &self.outcome {
            Ok(d) => d.describe(),
            Err(e) => e.to_string(),
        }
    }

    /// The line people see.
    pub fn message(&self) -> String {
        format!(
            "Restore drill of {} (copy {} on {}): {}",
            self.source,
            self.copy_id,
            self.destination,
            self.detail()
        )
    }
}

/// Drills the newest copy of `runner`'s source (or the one named `copy`) on the first destination
/// holding it, into `target`, and records the drill. A drill runs the dump's SQL: only a copy this
/// home vouches for (signed, or recorded in history with the same digests) is drilled, never one
/// that was merely found there.
///
/// # Errors
/// [`DbDrillFailed`] when there is no such copy or the drill cannot be recorded; a drill that ran
/// and failed is a report.
pub async fn db_drill(
    runner: &Runner,
    copy: Option<&str>,
    identities: Vec<age::x25519::Identity>,
    target: DbTarget,
    now: DateTime<Utc>,
) -> Result<DbDrillReport, DbDrillFailed> {
    let owner = Owner {
        source: runner.source_name.clone(),
        first: runner.first_source,
    };
    let (destination, manifest) = newest_vouched(
        &runner.destinations,
        &runner.history,
        |m| owner.owns(m),
        copy,
    )
    .await
    .map_err(|error| DbDrillFailed::NoCopy {
        of: runner.source_name.clone(),
        error,
    })?;
    let report = DbDrillReport {
        source: runner.source_name.clone(),
        destination: destination.name.clone(),
        copy_id: manifest.copy_id.clone(),
        outcome: drill_postgres(&destination, &manifest, identities, target).await,
    };
    record_db_drill(&runner.history, &report, now).await?;
    Ok(report)
}

/// Records a database drill in history.
async fn record_db_drill(
    history: &History,
    report: &DbDrillReport,
    now: DateTime<Utc>,
) -> Result<(), HistoryError> {
    let ms = report
        .outcome
        .as_ref()
        .map_or(0, |d| u64::try_from(d.took.as_millis()).unwrap_or(u64::MAX));
    history
        .record_drill(DrillRow {
            at: now,
            source: report.source.clone(),
            destination: report.destination.clone(),
            copy_id: report.copy_id.clone(),
            ms,
            ok: report.ok(),
            detail: report.detail(),
        })
        .await
}
