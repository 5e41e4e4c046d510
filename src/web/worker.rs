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
    Restore(RestoreJob),
}

/// A restore from the dashboard: the copy, the private keys that open it (unsealed or pasted,
/// held only until the job ends), and the Home Assistant to restore into — or none, for a drill
/// (everything a restore does but handing the backup over).
#[derive(Clone)]
pub struct RestoreJob {
    pub destination: String,
    pub copy_id: String,
    pub identities: Vec<age::x25519::Identity>,
    pub into: Option<crate::recovery::restore::HaTarget>,
}

impl std::fmt::Debug for RestoreJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreJob")
            .field("destination", &self.destination)
            .field("copy_id", &self.copy_id)
            .finish_non_exhaustive()
    }
}

impl PartialEq for RestoreJob {
    fn eq(&self, other: &Self) -> bool {
        self.destination == other.destination && self.copy_id == other.copy_id
    }
}

impl Eq for RestoreJob {}

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
        Job::Restore(job) => restore(runner, job).await,
    }
}

/// Every Home Assistant key at hand: the vault's, then the options'.
fn ha_keys(runner: &Runner) -> Vec<crate::archive::securetar::BackupKey> {
    let mut keys = runner.vault.as_ref().map_or_else(Vec::new, |v| {
        v.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .ha_keys()
    });
    keys.extend(runner.ha_keys.iter().cloned());
    keys.into_iter()
        .map(crate::archive::securetar::BackupKey::new)
        .collect()
}

/// Streams a copy into Home Assistant (or drills it), telling the progress board how it goes; a
/// drill's verdict is recorded as a check of the copy.
async fn restore(runner: &Runner, job: RestoreJob) {
    let p = &runner.progress;
    let drill = job.into.is_none();
    p.begin(
        "dashboard",
        runner.clock.now(),
        if drill {
            "Restore drill: reading, decrypting and opening a copy"
        } else {
            "Restoring a copy into Home Assistant"
        },
    );
    let outcome = async {
        let d = runner
            .destinations
            .iter()
            .find(|d| d.name == job.destination)
            .ok_or_else(|| format!("no destination is named {}", job.destination))?;
        let object = crate::destinations::layout::manifest_object(&job.copy_id);
        let bytes = d
            .store
            .read_small(&object, crate::destinations::manifest::MAX_SIZE)
            .await
            .map_err(|e| format!("cannot read the copy's manifest: {e}"))?;
        let m = crate::destinations::Manifest::parse(&bytes)?;
        match &job.into {
            Some(target) => {
                crate::recovery::restore::restore_into_ha(d, &m, job.identities, target)
                    .await
                    .map(|r| {
                        format!(
                            "Copy {} is in Home Assistant as backup {}: Settings → System → Backups, ready to restore",
                            r.copy_id, r.backup_id
                        )
                    })
                    .map_err(|e| e.to_string())
            }
            None => {
                let started = runner.clock.now();
                let drilled =
                    crate::recovery::drill::drill(d, &m, job.identities, ha_keys(runner)).await;
                let ms = u64::try_from(runner.clock.now().signed_duration_since(started).num_milliseconds()).ok();
                let row = crate::history::upkeep::CheckRow {
                    at: runner.clock.now(),
                    ok: drilled.is_ok(),
                    error: drilled.as_ref().err().map(|e| format!("restore drill: {e}")),
                    ms,
                };
                if let Err(e) = runner.history.record_check(&d.name, &m.copy_id, row).await {
                    tracing::error!("recording the drill: {e}");
                }
                drilled
                    .map(|r| {
                        let mut said = format!(
                            "Restore drill passed: copy {} decrypted, both checksums match, {} archives inside opened, in {} (about how long a restore from here takes)",
                            r.copy_id,
                            r.archives,
                            crate::human::duration(r.took)
                        );
                        for w in r.warnings {
                            said.push_str(&format!("; {w}"));
                        }
                        said
                    })
                    .map_err(|e| e.to_string())
            }
        }
    }
    .await;
    let now = runner.clock.now();
    match outcome {
        Ok(said) => {
            tracing::info!(copy = %job.copy_id, "{said}");
            p.note(now, said, Some(&job.destination));
            p.end(now, None, "success");
        }
        Err(e) => {
            tracing::warn!(
                "{} {}: {e}",
                if drill { "drilling" } else { "restoring" },
                job.copy_id
            );
            p.failed(
                now,
                format!(
                    "{} copy {} failed: {e}",
                    if drill {
                        "The restore drill of"
                    } else {
                        "Restoring"
                    },
                    job.copy_id
                ),
                Some(&job.destination),
            );
            p.end(now, None, "failed");
        }
    }
    runner.observer.refresh().await;
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
