//! The single-flight worker: every job — a backup asked for over HTTP, stdin, a Home Assistant
//! event or the schedule, a scheduled re-verification, a due retry — goes through one queue of
//! depth one, so there is never a second concurrent backup; a request while one is already
//! waiting is refused with a reason. Stops at the shared shutdown signal.

use crate::pipeline::run::{RunRequest, Runner};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Why a request was not taken.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("a job is already waiting to start; this one was not queued")]
    Queued,
    #[error("Lifeboat is shutting down")]
    Stopped,
}

/// What the worker does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Ship backups (then apply retention).
    Backup(RunRequest),
    /// Re-read stored copies against their manifests.
    Verify,
    /// Retry the destinations that are owed a backup and are due.
    Retry,
    /// Re-read one copy (asked for from the dashboard).
    VerifyCopy {
        destination: String,
        copy_id: String,
    },
    /// Pull one copy back into Home Assistant's backup list, or drill it.
    Restore(super::restoring::RestoreJob),
}

/// What the worker needs besides the runner.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Most bytes per second re-verification reads.
    pub verify_rate: u64,
}

/// The sending side, cheap to clone.
#[derive(Clone)]
pub struct Triggers(mpsc::Sender<Job>);

impl Triggers {
    /// Asks for a backup run.
    ///
    /// # Errors
    /// [`TriggerError::Queued`] when a job is already waiting, [`TriggerError::Stopped`] at
    /// shutdown.
    pub fn fire(&self, request: RunRequest) -> Result<(), TriggerError> {
        self.submit(Job::Backup(request))
    }

    /// Asks for any job.
    ///
    /// # Errors
    /// As [`Triggers::fire`].
    pub fn submit(&self, job: Job) -> Result<(), TriggerError> {
        self.0.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TriggerError::Queued,
            mpsc::error::TrySendError::Closed(_) => TriggerError::Stopped,
        })
    }
}

/// Logs how the runs of a job ended.
fn log_runs(
    what: &str,
    result: Result<Vec<crate::pipeline::run::RunReport>, crate::history::HistoryError>,
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

async fn work(runner: &Runner, settings: WorkerSettings, job: Job) {
    match job {
        Job::Backup(request) => log_runs("run", runner.run_request(&request).await),
        Job::Retry => log_runs("retry", runner.retry_due().await),
        Job::Verify => {
            let checked = crate::pipeline::reverify::reverify(
                &runner.destinations,
                &runner.history,
                runner.clock.as_ref(),
                settings.verify_rate,
                0,
            )
            .await;
            match checked {
                Ok(c) => tracing::info!(
                    "re-verified {} copies, {} failed",
                    c.len(),
                    c.iter().filter(|c| !c.ok).count()
                ),
                Err(e) => tracing::error!("recording re-verification failed: {e}"),
            }
            runner.observer.refresh().await;
        }
        Job::VerifyCopy {
            destination,
            copy_id,
        } => {
            let Some(d) = runner.destinations.iter().find(|d| d.name == destination) else {
                tracing::warn!("no destination is named {destination}");
                return;
            };
            let p = &runner.progress;
            p.begin("dashboard", runner.clock.now(), "Reading a copy back");
            let checked = crate::pipeline::reverify::verify_copy(
                d,
                &copy_id,
                &runner.history,
                runner.clock.as_ref(),
                settings.verify_rate,
            )
            .await;
            let now = runner.clock.now();
            let outcome = match checked {
                Ok(c) if c.ok => {
                    p.note(
                        now,
                        format!("Copy {copy_id} read back: it matches its manifest"),
                        Some(&destination),
                    );
                    "success"
                }
                Ok(c) => {
                    p.failed(
                        now,
                        format!("Copy {copy_id}: {}", c.error.unwrap_or_default()),
                        Some(&destination),
                    );
                    "failed"
                }
                Err(e) => {
                    tracing::error!("recording the check failed: {e}");
                    "failed"
                }
            };
            p.end(now, None, outcome);
            runner.observer.refresh().await;
        }
        Job::Restore(job) => super::restoring::run(runner, job).await,
    }
}

/// Starts the worker; it runs until `shutdown` is cancelled.
pub fn spawn(
    runner: Runner,
    settings: WorkerSettings,
    shutdown: CancellationToken,
) -> (Triggers, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Job>(1);
    let task = tokio::spawn(async move {
        loop {
            let job = tokio::select! {
                () = shutdown.cancelled() => break,
                r = rx.recv() => match r { Some(r) => r, None => break },
            };
            tokio::select! {
                () = shutdown.cancelled() => {
                    // Dropping the job aborts its uploads; a run is marked interrupted.
                    if let Err(e) = runner.history.mark_interrupted(runner.clock.now()).await {
                        tracing::error!("recording the interrupted run: {e}");
                    }
                    break;
                }
                () = work(&runner, settings, job) => {}
            }
        }
    });
    (Triggers(tx), task)
}
