//! The one job queue, as its senders see it: every job — a backup asked for over HTTP, stdin, a
//! Home Assistant event or the schedule, a re-verification, pruning, a due retry, a restore, a
//! safe update, deleting a copy, a destination test — is handed to the daemon's single-flight worker through [`Triggers`], a queue of
//! depth one, so there is never a second concurrent job; a request while one is already waiting is refused with
//! a reason. Jobs whose asker waits for the outcome (automation commands) carry a reply channel
//! and wait for their turn instead.

use crate::history::HistoryError;
use crate::pipeline::delete::{DeleteError, Deletion};
use crate::pipeline::prune::PruneReport;
use crate::pipeline::reverify::{Checked, Pick};
use crate::pipeline::run::RunRequest;
use crate::pipeline::safe_update::{NotUpdated, UpdateAsk, UpdateReport};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Why a request was not taken.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("a job is already waiting to start; this one was not queued")]
    Queued,
    #[error("Lifeboat is shutting down")]
    Stopped,
}

/// Where a job's outcome goes, when someone waits for it.
pub type Reply<T> = Option<oneshot::Sender<T>>;

/// What the worker does.
#[derive(Debug)]
pub enum Job {
    /// Ship backups (then apply retention); `done` is told when the runs have ended.
    Backup {
        request: RunRequest,
        done: Reply<()>,
    },
    /// Re-read stored copies against their manifests and record each verdict.
    Verify {
        pick: Pick,
        reply: Reply<Result<Vec<Checked>, HistoryError>>,
    },
    /// Apply every destination's retention policy (or, dry, say what it would delete).
    Prune {
        dry_run: bool,
        reply: Reply<Vec<PruneReport>>,
    },
    /// Retry the destinations that are owed a backup and are due.
    Retry,
    /// Re-read one copy (asked for from the dashboard).
    VerifyCopy {
        destination: String,
        copy_id: String,
    },
    /// Delete one copy from a destination, and record who did (asked for from the dashboard).
    Delete {
        destination: String,
        /// The copy's data object, as its manifest names it.
        object: String,
        deletion: Deletion,
        reply: Reply<Result<(), DeleteError>>,
    },
    /// Pull one copy back into Home Assistant's backup list, or drill it.
    Restore(RestoreJob),
    /// Test destinations (list, write, read back, find, delete) and record each outcome.
    Probe {
        targets: Vec<crate::pipeline::probing::ProbeTarget>,
        why: crate::history::probes::ProbeWhy,
        reply: Reply<Vec<crate::history::probes::ProbeRow>>,
    },
    /// Back up off-site, then install an update.
    Update {
        ask: UpdateAsk,
        reply: Reply<Result<UpdateReport, NotUpdated>>,
    },
}

impl Job {
    /// A scheduled re-verification: the copies longest unchecked, nobody waiting.
    pub fn scheduled_verify() -> Self {
        Self::Verify {
            pick: Pick::LongestUnchecked(0),
            reply: None,
        }
    }
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

/// The sending side, cheap to clone.
#[derive(Clone)]
pub struct Triggers(mpsc::Sender<Job>, Hand);

/// Whether the worker holds a job now: the worker raises it for each job it takes
/// ([`Hand::hold`]); senders read it ([`Triggers::busy`]).
#[derive(Clone, Default)]
pub struct Hand(Arc<AtomicBool>);

/// A job in the worker's hand; dropping it (the job ended, or was dropped) lowers the hand.
pub struct Holding(Arc<AtomicBool>);

impl Hand {
    /// Marks a job in hand until the returned guard drops.
    pub fn hold(&self) -> Holding {
        self.0.store(true, Ordering::SeqCst);
        Holding(self.0.clone())
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Triggers {
    /// A queue of depth one, its receiving end and the hand that says a job is in progress, for
    /// the worker.
    pub fn channel() -> (Self, mpsc::Receiver<Job>, Hand) {
        let (tx, rx) = mpsc::channel(1);
        let hand = Hand::default();
        (Self(tx, hand.clone()), rx, hand)
    }

    /// Whether a job is in the worker's hand or waits for it (whatever kind: a backup, a check,
    /// a deletion, a test).
    pub fn busy(&self) -> bool {
        self.1.0.load(Ordering::SeqCst) || self.0.capacity() < self.0.max_capacity()
    }

    /// Asks for a backup run.
    ///
    /// # Errors
    /// [`TriggerError::Queued`] when a job is already waiting, [`TriggerError::Stopped`] at
    /// shutdown.
    pub fn fire(&self, request: RunRequest) -> Result<(), TriggerError> {
        self.submit(Job::Backup {
            request,
            done: None,
        })
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

    /// Queues a job, waiting for room behind the one already waiting rather than being refused
    /// (a backup Home Assistant announced must not be lost to a busy queue).
    ///
    /// # Errors
    /// [`TriggerError::Stopped`] at shutdown.
    pub async fn queue(&self, job: Job) -> Result<(), TriggerError> {
        self.0.send(job).await.map_err(|_| TriggerError::Stopped)
    }

    /// Queues a job made with a reply channel — waiting for its turn rather than being refused
    /// while another job waits, since the asker waits for the answer anyway — and returns its
    /// outcome.
    ///
    /// # Errors
    /// [`TriggerError::Stopped`] at shutdown, or when the job was dropped unfinished.
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, TriggerError> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send(make(Some(tx)))
            .await
            .map_err(|_| TriggerError::Stopped)?;
        rx.await.map_err(|_| TriggerError::Stopped)
    }
}
