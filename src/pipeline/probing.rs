//! The destination test between runs: when each destination is due its daily probe, and one probe
//! run and recorded in history (the worker runs it, so never beside another job). The nonce that
//! names the probe object is given (randomness comes from the edge).

use crate::clock::Clock;
use crate::destinations::Destination;
use crate::destinations::probe::{self, Failure};
use crate::history::probes::{ProbeRow, ProbeWhy};
use crate::history::{History, HistoryError};
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// When the daily probe runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbePlan {
    /// A destination is probed again this long after its last probe (of any kind).
    pub every: Duration,
    /// A destination never probed is probed this long after the daemon started.
    pub first_after: Duration,
    /// How often the daemon looks whether one is due.
    pub tick: Duration,
}

impl Default for ProbePlan {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(24 * 3600),
            first_after: Duration::from_secs(5 * 60),
            tick: Duration::from_secs(60),
        }
    }
}

impl ProbePlan {
    /// Whether a destination last probed at `last` is due at `now`, the daemon having started at
    /// `started`.
    pub fn is_due(
        &self,
        last: Option<DateTime<Utc>>,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        let span = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        match last {
            Some(at) => now.signed_duration_since(at) >= span(self.every),
            None => now.signed_duration_since(started) >= span(self.first_after),
        }
    }
}

/// A destination to probe, and the random bytes that name its probe object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    pub destination: String,
    pub nonce: [u8; 6],
}

/// Probes `d` and records the outcome; returns what was recorded.
///
/// # Errors
/// [`HistoryError`] when the outcome cannot be recorded (the probe itself ran).
pub async fn probe_and_record(
    d: &Destination,
    history: &History,
    clock: &dyn Clock,
    nonce: [u8; 6],
    why: ProbeWhy,
) -> Result<ProbeRow, HistoryError> {
    let at = clock.now();
    let started = std::time::Instant::now();
    let outcome = probe::probe(d.store.as_ref(), nonce).await;
    let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let row = row_of(&d.name, at, took_ms, why, outcome.as_ref().err());
    match &outcome {
        Ok(()) => tracing::info!("{}: the destination test passed", d.name),
        Err(f) => tracing::warn!("{}: the destination test failed: {f}", d.name),
    }
    history.record_probe(row.clone()).await?;
    Ok(row)
}

/// The history row of one probe.
fn row_of(
    destination: &str,
    at: DateTime<Utc>,
    took_ms: u64,
    why: ProbeWhy,
    failure: Option<&Failure>,
) -> ProbeRow {
    ProbeRow {
        destination: destination.to_owned(),
        at,
        ok: failure.is_none(),
        step: failure.map(|f| f.step.as_str().to_owned()),
        cause: failure.map(|f| f.cause.as_str().to_owned()),
        detail: failure.map(|f| f.detail.clone()).unwrap_or_default(),
        took_ms,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_is_due_a_day_after_its_last_probe_and_first_a_few_minutes_after_start() {
        let plan = ProbePlan::default();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let started = t("2026-12-07T10:00:00Z");
        assert!(!plan.is_due(None, started, t("2026-12-07T10:04:00Z")));
        assert!(plan.is_due(None, started, t("2026-12-07T10:05:00Z")));
        let last = Some(t("2026-12-07T10:05:00Z"));
        assert!(!plan.is_due(last, started, t("2026-12-08T10:04:59Z")));
        assert!(plan.is_due(last, started, t("2026-12-08T10:05:00Z")));
    }
}
