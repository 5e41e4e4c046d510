//! The retry queue: a destination that missed a backup the source delivered whole is owed that
//! backup. The queue lives in history, so it survives restarts. An entry is retried with growing
//! delays for as long as the source still has the backup, and leaves the queue when the
//! destination holds a verified copy — or when the source says the backup is gone.
//!
//! A destination that refused its settings (credentials denied, a bucket that does not exist) is
//! not retried blindly: its entry waits for the settings to change (their digest is kept), is
//! reported as a problem that names what to fix, and is due at once when they do change.
//!
//! Every write to the queue is here; [`super::retrying`] drives it.

use super::record::{CopyOutcome, RunReport};
use crate::destinations::Destination;
use crate::history::upkeep::{Failed, RetryRow};
use crate::history::{History, HistoryError};
use crate::source::Pending;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long to wait before attempt `attempts + 1`: 5 minutes, doubling, at most 6 hours.
pub fn delay(attempts: u32) -> chrono::TimeDelta {
    let d = Duration::from_secs(300)
        .saturating_mul(1u32 << attempts.min(16))
        .min(Duration::from_secs(6 * 3600));
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::hours(6))
}

/// The settings digest an entry waits on, when `copy` failed in a way only new settings can fix.
fn waits_for(copy: Option<&CopyOutcome>, d: Option<&Destination>) -> Option<String> {
    copy.filter(|c| c.needs_new_settings)
        .and(d)
        .map(Destination::settings_now)
}

/// Files every copy of the run that failed, of a backup the source delivered whole, as owed.
///
/// # Errors
/// [`HistoryError`] when the queue cannot be written.
pub async fn owe(
    history: &History,
    destinations: &[Destination],
    pending: &Pending,
    failed: &[&CopyOutcome],
    now: DateTime<Utc>,
) -> Result<(), HistoryError> {
    for c in failed {
        let d = destinations.iter().find(|d| d.name == c.destination);
        history
            .queue_retry(RetryRow {
                source_key: pending.key.clone(),
                destination: c.destination.clone(),
                hint: pending.hint.clone(),
                locator: pending.locator.clone(),
                attempts: 0,
                next_at: now + delay(0),
                last_error: c.error.clone(),
                queued_at: now,
                failure: c.failure.map(str::to_owned),
                waits_for: waits_for(Some(c), d),
            })
            .await?;
    }
    Ok(())
}

/// Whether an entry is due: its time has come and it does not wait for settings that are still
/// the refused ones; or it waited for new settings and they have changed. An entry for a
/// destination no longer configured is due too (to leave the queue).
pub fn is_due(r: &RetryRow, destinations: &[Destination], now: DateTime<Utc>) -> bool {
    let Some(d) = destinations.iter().find(|d| d.name == r.destination) else {
        return true;
    };
    match &r.waits_for {
        Some(refused) => *refused != d.settings_now(),
        None => r.next_at <= now,
    }
}

/// The due entries, by backup; entries for destinations no longer configured leave the queue.
///
/// # Errors
/// [`HistoryError`] when the queue cannot be read or written.
pub async fn due(
    history: &History,
    destinations: &[Destination],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Vec<RetryRow>>, HistoryError> {
    let mut by_backup: BTreeMap<String, Vec<RetryRow>> = BTreeMap::new();
    for r in history.retries().await? {
        if !destinations.iter().any(|d| d.name == r.destination) {
            tracing::info!(
                "dropping the retry of {} to {}: no such destination any more",
                r.hint,
                r.destination
            );
            history.retry_done(&r.source_key, &r.destination).await?;
            continue;
        }
        if is_due(&r, destinations, now) {
            by_backup.entry(r.source_key.clone()).or_default().push(r);
        }
    }
    Ok(by_backup)
}

/// Takes the entries of `rows` out of the queue when the retry's report shows a verified copy,
/// and otherwise records the failure and when to try next.
///
/// # Errors
/// [`HistoryError`] when the queue cannot be written.
pub async fn settle(
    history: &History,
    destinations: &[Destination],
    rows: &[RetryRow],
    report: &RunReport,
    now: DateTime<Utc>,
) -> Result<(), HistoryError> {
    for r in rows {
        let copy = report
            .copies
            .iter()
            .find(|c| c.destination == r.destination);
        if copy.is_some_and(|c| c.verified) {
            history.retry_done(&r.source_key, &r.destination).await?;
            continue;
        }
        let why = copy
            .and_then(|c| c.error.clone())
            .or_else(|| report.error.clone())
            .unwrap_or_else(|| "no verified copy".into());
        let d = destinations.iter().find(|d| d.name == r.destination);
        let waiting = waits_for(copy, d);
        let failed = Failed {
            error: &why,
            failure: copy.and_then(|c| c.failure),
            waits_for: waiting.as_deref(),
        };
        history
            .retry_failed(
                &r.source_key,
                &r.destination,
                now + delay(r.attempts + 1),
                failed,
            )
            .await?;
    }
    Ok(())
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
