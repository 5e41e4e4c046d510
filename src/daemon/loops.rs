//! The daemon's timed loops: each schedule firing its job, the retry queue looked at every
//! minute, each destination's daily test, and Home Assistant's entities published again every five minutes. Every loop submits
//! its work to the one queue and ends at the shutdown signal.

use super::backup_events::Listening;
use crate::clock::Clock;
use crate::destinations::Destination;
use crate::history::History;
use crate::history::probes::{ProbeRow, ProbeWhy};
use crate::jobs::{Job, TriggerError, Triggers};
use crate::pipeline::probing::{ProbePlan, ProbeTarget};
use crate::pipeline::retry;
use crate::pipeline::run::RunRequest;
use crate::report::HaReporter;
use crate::schedule::{self, Fire, RandomJitter, Schedule};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Drives each of `plans` (`backup` and `backup:NAME` fire a backup of their sources, `verify` a
/// re-verification). In ship mode, `events` says whether Home Assistant's backup events are
/// followed right now for the first source it names (Home Assistant): the scheduled look for
/// its new backups is then skipped (the events ship them within seconds).
pub(super) fn spawn_schedules(
    tasks: &mut JoinSet<()>,
    plans: &[Schedule],
    history: &History,
    clock: &Arc<dyn Clock>,
    triggers: &Triggers,
    events: Option<(Listening, String)>,
    shutdown: &CancellationToken,
) {
    for plan in plans {
        let t = triggers.clone();
        let backup = plan.name.is_backup();
        let sources = plan.sources.clone();
        let events = events.clone();
        let fire: Fire<TriggerError> = Arc::new(move |trigger: &str| {
            let mut sources = sources.clone();
            // In ship mode with events followed, Home Assistant's new backups ship within
            // seconds: the scheduled look for them is left out (the other sources still run).
            if backup
                && let Some((listening, first)) = &events
                && listening.now()
                && (sources.is_empty() || sources.first() == Some(first))
            {
                tracing::info!(
                    "scheduled look for new backups skipped: Home Assistant's backup events are followed"
                );
                if sources.len() <= 1 {
                    return Ok(());
                }
                sources.remove(0);
            }
            let job = if backup {
                Job::Backup {
                    request: RunRequest {
                        sources,
                        ..RunRequest::new(trigger)
                    },
                    done: None,
                }
            } else {
                Job::scheduled_verify()
            };
            t.submit(job)
        });
        tasks.spawn(schedule::drive(
            plan.clone(),
            history.clone(),
            clock.clone(),
            Arc::new(RandomJitter),
            fire,
            shutdown.clone(),
        ));
    }
}

/// Every minute: when an entry of the retry queue is due (see [`retry::is_due`]: one waiting for
/// its destination's settings to change is not), a retry job.
pub(super) async fn retry_poll(
    history: History,
    destinations: Vec<Destination>,
    clock: Arc<dyn Clock>,
    triggers: Triggers,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        let now = clock.now();
        let due = history
            .retries()
            .await
            .map(|r| r.iter().any(|r| retry::is_due(r, &destinations, now)))
            .unwrap_or(false);
        // Busy is fine: the queue is looked at again in a minute.
        if due && triggers.submit(Job::Retry).is_ok() {
            tracing::info!("retrying destinations that are owed a backup");
        }
    }
}

/// Every `plan.tick`: the destinations whose daily test is due ([`ProbePlan::is_due`], by the
/// daemon's clock) are tested as one job on the queue, so never beside a backup or another job.
/// A busy queue is looked at again next tick; while a submitted test waits or runs, no other is
/// submitted.
pub(super) async fn probe_daily(
    history: History,
    destinations: Vec<Destination>,
    clock: Arc<dyn Clock>,
    triggers: Triggers,
    plan: ProbePlan,
    stop: CancellationToken,
) {
    let started = clock.now();
    let names: Vec<String> = destinations.iter().map(|d| d.name.clone()).collect();
    let mut pending: Option<oneshot::Receiver<Vec<ProbeRow>>> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(plan.tick) => {}
        }
        if let Some(rx) = &mut pending {
            match rx.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => continue,
                _ => pending = None,
            }
        }
        // Never in the way of another job: a test waiting in the queue's one slot would turn a
        // scheduled backup away.
        if triggers.busy() {
            continue;
        }
        let now = clock.now();
        let last = match history.last_probes(&names).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("reading when destinations were last tested: {e}");
                continue;
            }
        };
        let targets = due_targets(&names, &last, &plan, started, now);
        if targets.is_empty() {
            continue;
        }
        let (tx, rx) = oneshot::channel();
        let job = Job::Probe {
            targets,
            why: ProbeWhy::Daily,
            reply: Some(tx),
        };
        match triggers.submit(job) {
            Ok(()) => pending = Some(rx),
            Err(TriggerError::Queued) => {}
            Err(TriggerError::Stopped) => break,
        }
    }
}

/// The destinations due their daily test, each with fresh random bytes for its probe object.
fn due_targets(
    names: &[String],
    last: &[ProbeRow],
    plan: &ProbePlan,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<ProbeTarget> {
    names
        .iter()
        .filter(|n| {
            let at = last.iter().find(|r| &r.destination == *n).map(|r| r.at);
            plan.is_due(at, started, now)
        })
        .filter_map(|n| match crate::destinations::probe::random_nonce() {
            Ok(nonce) => Some(ProbeTarget {
                destination: n.clone(),
                nonce,
            }),
            Err(e) => {
                tracing::warn!("no randomness to name a test file: {e}");
                None
            }
        })
        .collect()
}

/// Home Assistant forgets REST states when it restarts: publish them now, then every 5 minutes.
pub(super) async fn republish(reporter: Arc<HaReporter>, stop: CancellationToken) {
    loop {
        reporter.publish().await;
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(300)) => {}
        }
    }
}
