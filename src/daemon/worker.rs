//! The single-flight worker: takes jobs from the one queue ([`crate::jobs`]) one at a time and
//! runs them with the runners (one per source, the first first: backups go to the sources they
//! name, retries and retention to every one, the rest to the first); at the shared shutdown signal, the job in hand is dropped (its
//! uploads abort) and a run in progress is marked interrupted.

use crate::history::HistoryError;
use crate::history::probes::{ProbeRow, ProbeWhy};
use crate::jobs::{Job, Reply};
use crate::pipeline::delete::{DeleteError, Deletion, Doomed, delete_and_record};
use crate::pipeline::events::Event;
use crate::pipeline::probing::{self, ProbeTarget};
use crate::pipeline::progress::JobOutcome;
use crate::pipeline::reverify::{Checked, Pick};
use crate::pipeline::run::{RunRequest, Runner};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the worker needs besides the runner.
#[derive(Clone, Default)]
pub struct WorkerSettings {
    /// Most bytes per second re-verification reads.
    pub verify_rate: u64,
    /// Home Assistant's websocket, for safe updates.
    pub updates: Option<crate::ha::updates::UpdateClient>,
    /// Home Assistant's REST API, to tell it how a safe update went.
    pub api: Option<crate::ha::core_api::HaApi>,
}

/// Logs how the runs of a job ended.
fn log_runs(
    what: &str,
    result: Result<Vec<crate::pipeline::record::RunReport>, crate::history::HistoryError>,
) {
    match result {
        Ok(reports) => {
            for rep in reports {
                tracing::info!(
                    run = rep.run_id,
                    status = rep.status.as_str(),
                    "{what} finished"
                );
            }
        }
        Err(e) => tracing::error!("recording the {what} failed: {e}"),
    }
}

async fn work(runners: &[Runner], settings: &WorkerSettings, job: Job) {
    let Some(runner) = runners.first() else {
        return;
    };
    match job {
        Job::Backup { request, done } => back_up(runners, &request, done).await,
        Job::Retry => {
            for r in runners {
                log_runs("retry", r.retry_due().await);
            }
        }
        Job::Verify { pick, reply } => verify(runner, settings, pick, reply).await,
        Job::Prune { dry_run, reply } => {
            let mut reports = Vec::new();
            for r in runners {
                reports.extend(r.prune(dry_run).await);
            }
            if let Some(reply) = reply {
                let _ = reply.send(reports);
            }
        }
        Job::VerifyCopy {
            destination,
            copy_id,
        } => verify_copy(runner, settings, &destination, &copy_id).await,
        Job::Delete {
            destination,
            object,
            deletion,
            reply,
        } => delete(runner, &destination, &object, deletion, reply).await,
        Job::Restore(job) => super::restoring::run(runner, job).await,
        Job::Probe {
            targets,
            why,
            reply,
        } => probe(runner, &targets, why, reply).await,
        Job::Update { ask, reply } => {
            super::updating::run(
                runner,
                settings.updates.as_ref(),
                settings.api.as_ref(),
                ask,
                reply,
            )
            .await;
        }
    }
}

/// Ships backups from the sources `request` names (the first when it names none).
async fn back_up(runners: &[Runner], request: &RunRequest, done: Reply<()>) {
    if request.sources.is_empty()
        && let Some(runner) = runners.first()
    {
        log_runs("run", runner.run_request(request).await);
    }
    for name in &request.sources {
        match runners.iter().find(|r| r.source_name == *name) {
            Some(r) => log_runs("run", r.run_request(request).await),
            None => tracing::warn!("no source is named {name}"),
        }
    }
    if let Some(done) = done {
        // The asker may have gone away; the runs are recorded either way.
        let _ = done.send(());
    }
}

/// Re-verifies the copies `pick` names, and answers whoever waits.
async fn verify(
    runner: &Runner,
    settings: &WorkerSettings,
    pick: Pick,
    reply: Reply<Result<Vec<Checked>, HistoryError>>,
) {
    let checked = crate::pipeline::reverify::reverify(
        &runner.destinations,
        &runner.history,
        runner.clock.as_ref(),
        settings.verify_rate,
        pick,
    )
    .await;
    match &checked {
        Ok(c) => tracing::info!(
            "re-verified {} copies, {} failed",
            c.len(),
            c.iter().filter(|c| !c.ok).count()
        ),
        Err(e) => tracing::error!("recording re-verification failed: {e}"),
    }
    runner.observer.refresh().await;
    if let Some(reply) = reply {
        // The asker may have gone away; the verdicts are recorded either way.
        let _ = reply.send(checked);
    }
}

/// Re-reads one copy, telling the progress board how it went.
async fn verify_copy(runner: &Runner, settings: &WorkerSettings, destination: &str, copy_id: &str) {
    let Some(d) = runner.destinations.iter().find(|d| d.name == destination) else {
        tracing::warn!("no destination is named {destination}");
        return;
    };
    let p = &runner.progress;
    p.begin("dashboard", runner.clock.now(), "Reading a copy back");
    let checked = crate::pipeline::reverify::verify_copy(
        d,
        copy_id,
        &runner.history,
        runner.clock.as_ref(),
        settings.verify_rate,
    )
    .await;
    let now = runner.clock.now();
    let outcome = match checked {
        Ok(c) if c.ok => {
            p.tell(
                now,
                &Event::CopyIntact {
                    destination,
                    copy_id,
                },
            );
            JobOutcome::Success
        }
        Ok(c) => {
            p.tell(
                now,
                &Event::CopyDamaged {
                    destination,
                    copy_id,
                    error: c.error.unwrap_or_default(),
                },
            );
            JobOutcome::Failed
        }
        Err(e) => {
            tracing::error!("recording the check failed: {e}");
            JobOutcome::Failed
        }
    };
    p.end(now, None, outcome);
    runner.observer.refresh().await;
}

/// Tests each destination `targets` names, records every outcome, and answers whoever waits
/// with what was recorded.
async fn probe(
    runner: &Runner,
    targets: &[ProbeTarget],
    why: ProbeWhy,
    reply: Reply<Vec<ProbeRow>>,
) {
    let mut rows = Vec::new();
    for t in targets {
        let Some(d) = runner.destinations.iter().find(|d| d.name == t.destination) else {
            tracing::warn!("no destination is named {}", t.destination);
            continue;
        };
        let clock = runner.clock.as_ref();
        match probing::probe_and_record(d, &runner.history, clock, t.nonce, why).await {
            Ok(row) => rows.push(row),
            Err(e) => tracing::error!("recording the test of {}: {e}", d.name),
        }
    }
    runner.observer.refresh().await;
    if let Some(reply) = reply {
        // The asker may have gone away; the outcomes are recorded either way.
        let _ = reply.send(rows);
    }
}

/// Deletes one copy from a destination and records it (see [`delete_and_record`]), and answers
/// whoever waits; a deletion that cannot be recorded is logged.
async fn delete(
    runner: &Runner,
    destination: &str,
    object: &str,
    deletion: Deletion,
    reply: Reply<Result<(), DeleteError>>,
) {
    let deleted = match runner.destinations.iter().find(|d| d.name == destination) {
        None => Err(DeleteError::NoDestination(destination.to_owned())),
        Some(d) => {
            let doomed = Doomed::Copy {
                destination: d,
                object,
            };
            let now = runner.clock.now();
            let done = delete_and_record(&runner.history, doomed, deletion, now).await;
            if let Err(e) = done.recorded {
                tracing::error!("recording a deletion: {e}");
            }
            done.deleted
        }
    };
    if let Some(reply) = reply {
        // The asker may have gone away; the deletion is recorded either way.
        let _ = reply.send(deleted);
    }
}

/// Runs jobs from `jobs` one at a time until `shutdown` is cancelled or every sender is gone.
pub async fn serve(
    runners: Vec<Runner>,
    settings: WorkerSettings,
    (mut jobs, hand): (mpsc::Receiver<Job>, crate::jobs::Hand),
    shutdown: CancellationToken,
) {
    let Some(runner) = runners.first() else {
        return;
    };
    loop {
        let job = tokio::select! {
            () = shutdown.cancelled() => break,
            r = jobs.recv() => match r { Some(r) => r, None => break },
        };
        let _holding = hand.hold();
        tokio::select! {
            () = shutdown.cancelled() => {
                // Dropping the job aborts its uploads; a run is marked interrupted.
                if let Err(e) = runner.history.mark_interrupted(runner.clock.now()).await {
                    tracing::error!("recording the interrupted run: {e}");
                }
                break;
            }
            () = work(&runners, &settings, job) => {}
        }
    }
}
