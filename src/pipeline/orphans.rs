//! Unfinished uploads left on a destination when a run was cut off (Lifeboat killed, the box
//! losing power, the add-on restarted for an update): each destination a run or a retry pass is
//! about to send to is swept first, so half-written files never pile up on a NAS. An upload is
//! removed when history shows the run that started it is over, or, when this Lifeboat did not
//! start it (another installation writing to the same folder), once it is older than any upload
//! runs.

use super::runner::Runner;
use crate::destinations::{Destination, StoreError, layout};
use crate::history::{History, HistoryError};
use chrono::{DateTime, TimeDelta, Utc};
use thiserror::Error;

/// Older than this, an upload nobody here knows of is abandoned: no backup takes a day to send.
pub const ABANDONED_AFTER: TimeDelta = TimeDelta::hours(24);

/// Why a sweep stopped.
#[derive(Debug, Error)]
pub enum SweepError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Whether an upload named for a run that started at `started` is to be removed at `now`;
/// `ours_and_over` says whether history has that run and it is no longer running. A name with no
/// time in it is kept (nothing says whose it is).
pub fn is_orphan(started: Option<DateTime<Utc>>, ours_and_over: bool, now: DateTime<Utc>) -> bool {
    match started {
        Some(t) => ours_and_over || now - t > ABANDONED_AFTER,
        None => false,
    }
}

/// Removes the destination's orphaned uploads; returns their names.
///
/// # Errors
/// The destination could not list or delete, or history could not be read; what was removed
/// before that stays removed.
pub async fn sweep(
    d: &Destination,
    history: &History,
    now: DateTime<Utc>,
) -> Result<Vec<String>, SweepError> {
    let mut removed = Vec::new();
    for name in d.store.unfinished().await? {
        // A name the destination listed is not trusted: one that would reach outside the folder
        // is left alone, and said.
        if let Err(e) = crate::destinations::names::deletable(&name) {
            tracing::warn!(
                "{}: an upload's name is refused and left alone: {e}",
                d.name
            );
            continue;
        }
        let started = layout::started_in_name(&name);
        let ours_and_over = match started {
            Some(t) => history.run_started_then_is_over(t).await?,
            None => false,
        };
        if is_orphan(started, ours_and_over, now) {
            d.store.delete(&name).await?;
            removed.push(name);
        }
    }
    Ok(removed)
}

impl Runner {
    /// Removes uploads that cut-off runs left on the destinations, once per run or retry pass
    /// (before any backup of it starts); a failure is only logged (the backup still goes ahead).
    pub(super) async fn sweep_orphans(&self, destinations: &[Destination]) {
        let now = self.clock.now();
        let sweeps = destinations
            .iter()
            .map(|d| async move { (d, sweep(d, &self.history, now).await) });
        for (d, swept) in futures::future::join_all(sweeps).await {
            match swept {
                Ok(removed) if removed.is_empty() => {}
                Ok(removed) => tracing::info!(
                    "{}: removed {} unfinished upload(s) left by a run that was cut off: {}",
                    d.name,
                    removed.len(),
                    removed.join(", ")
                ),
                Err(e) => tracing::warn!("{}: looking for unfinished uploads: {e}", d.name),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn only_uploads_that_nobody_is_writing_are_orphans() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let hour_ago = Some(now - TimeDelta::hours(1));
        assert!(is_orphan(hour_ago, true, now), "our run is over");
        assert!(
            !is_orphan(hour_ago, false, now),
            "someone may be writing it"
        );
        assert!(is_orphan(Some(now - TimeDelta::hours(25)), false, now));
        assert!(!is_orphan(None, true, now));
    }
}
