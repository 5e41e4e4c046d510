//! The single-flight worker: every trigger (HTTP, scheduler, and later stdin and HA events) goes
//! through one queue of depth one, so there is never a second concurrent backup; a trigger while
//! one is queued is refused with a reason. Stops at the shared shutdown signal.

use crate::pipeline::run::Runner;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Why a run was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Manual,
    Schedule,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Schedule => "schedule",
        }
    }
}

/// Why a trigger was not taken.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("a backup is already waiting to start; this one was not queued")]
    Queued,
    #[error("Lifeboat is shutting down")]
    Stopped,
}

/// The sending side, cheap to clone.
#[derive(Clone)]
pub struct Triggers(mpsc::Sender<Trigger>);

impl Triggers {
    /// Asks for a run.
    ///
    /// # Errors
    /// [`TriggerError::Queued`] when one is already waiting, [`TriggerError::Stopped`] at shutdown.
    pub fn fire(&self, t: Trigger) -> Result<(), TriggerError> {
        self.0.try_send(t).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TriggerError::Queued,
            mpsc::error::TrySendError::Closed(_) => TriggerError::Stopped,
        })
    }
}

/// Starts the worker; it runs until `shutdown` is cancelled.
pub fn spawn(
    runner: Runner,
    shutdown: CancellationToken,
) -> (Triggers, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel(1);
    let task = tokio::spawn(async move {
        loop {
            let trigger: Trigger = tokio::select! {
                () = shutdown.cancelled() => break,
                t = rx.recv() => match t { Some(t) => t, None => break },
            };
            tokio::select! {
                () = shutdown.cancelled() => {
                    // Dropping the run aborts its uploads; the run is marked interrupted.
                    if let Err(e) = runner.history.mark_interrupted(runner.clock.now()).await {
                        tracing::error!("recording the interrupted run: {e}");
                    }
                    break;
                }
                r = runner.run(trigger.as_str(), false) => match r {
                    Ok(reports) => for rep in reports {
                        tracing::info!(run = rep.run_id, status = rep.status.as_str(), "run finished");
                    },
                    Err(e) => tracing::error!("recording the run failed: {e}"),
                },
            }
        }
    });
    (Triggers(tx), task)
}
