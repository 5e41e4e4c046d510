//! The single-flight worker: every request for a backup (HTTP, stdin, Home Assistant events, and
//! the scheduler) goes through one queue of depth one, so there is never a second concurrent
//! backup; a request while one is already waiting is refused with a reason. Stops at the shared
//! shutdown signal.

use crate::pipeline::run::{RunRequest, Runner};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Why a request was not taken.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("a backup is already waiting to start; this one was not queued")]
    Queued,
    #[error("Lifeboat is shutting down")]
    Stopped,
}

/// The sending side, cheap to clone.
#[derive(Clone)]
pub struct Triggers(mpsc::Sender<RunRequest>);

impl Triggers {
    /// Asks for a run.
    ///
    /// # Errors
    /// [`TriggerError::Queued`] when one is already waiting, [`TriggerError::Stopped`] at shutdown.
    pub fn fire(&self, request: RunRequest) -> Result<(), TriggerError> {
        self.0.try_send(request).map_err(|e| match e {
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
    let (tx, mut rx) = mpsc::channel::<RunRequest>(1);
    let task = tokio::spawn(async move {
        loop {
            let request = tokio::select! {
                () = shutdown.cancelled() => break,
                r = rx.recv() => match r { Some(r) => r, None => break },
            };
            tokio::select! {
                () = shutdown.cancelled() => {
                    // Dropping the run aborts its uploads; the run is marked interrupted.
                    if let Err(e) = runner.history.mark_interrupted(runner.clock.now()).await {
                        tracing::error!("recording the interrupted run: {e}");
                    }
                    break;
                }
                r = runner.run_request(&request) => match r {
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
