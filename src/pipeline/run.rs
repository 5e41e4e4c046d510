//! One run from start to record, stage by stage: plan (which destinations, pre-flight —
//! [`super::plan`]), ship (the single pass — [`super::pass`], [`super::ship`]), commit (read back,
//! manifest last — [`super::commit`]) and record (history, the retry queue — [`super::finish`],
//! [`super::retry`]); then retention ([`super::prune`]) and the clean-up of Home Assistant's own
//! backups ([`super::upkeep`]). A run succeeds when every destination holds a verified copy, is
//! partial when some do, and fails when none do — with the reason for every destination that
//! failed. What happens is told as typed events ([`super::events`]).

use super::commit::{CopyPlan, lock_of};
use super::events::Event;
use super::pass::PassTo;
use super::plan::{self, Refusal, Skipped, check_destination_names};
use super::progress::JobOutcome;
use super::record::{CopyOutcome, RunReport};
use crate::destinations::{Destination, layout};
use crate::history::{HistoryError, RunStatus};
use crate::source::{Opened, Pending, SourceError};
use std::collections::HashSet;

pub use super::delete::LOCAL_HA;
pub use super::observer::{Observers, Quiet, RunObserver};
pub use super::request::RunRequest;
pub use super::runner::Runner;
pub use super::upkeep::CleanError;

/// Why a request stopped early: history failed, or the run was refused (and whether the
/// observers were already told it started).
enum Stop {
    History(HistoryError),
    Refused { why: Refusal, announced: bool },
}

impl From<HistoryError> for Stop {
    fn from(e: HistoryError) -> Self {
        Self::History(e)
    }
}

impl Stop {
    fn refused(announced: bool) -> impl FnOnce(Refusal) -> Self {
        move |why| Self::Refused { why, announced }
    }
}

impl Runner {
    /// Ships every pending backup of the source, one run each. `reship` ignores what history says
    /// was shipped already. Returns no reports when there is nothing new.
    ///
    /// # Errors
    /// Only when history cannot be written; everything else is recorded in the reports.
    pub async fn run(&self, trigger: &str, reship: bool) -> Result<Vec<RunReport>, HistoryError> {
        self.run_request(&RunRequest {
            reship,
            ..RunRequest::new(trigger)
        })
        .await
    }

    /// Ships what `request` asks for, one run per pending backup.
    ///
    /// # Errors
    /// Only when history cannot be written; everything else is recorded in the reports.
    pub async fn run_request(&self, request: &RunRequest) -> Result<Vec<RunReport>, HistoryError> {
        // A source that creates backups is "running" from the moment it is asked; one that ships
        // what exists announces a run only when there is something to ship.
        let creates = self.source.creates_backups() && !request.ship_new;
        self.progress.begin(
            &request.trigger,
            self.clock.now(),
            if creates {
                "Checking the destinations"
            } else {
                "Looking for new backups"
            },
        );
        if creates {
            self.observer.started(request).await;
        }
        match self.ship_request(request, creates).await {
            Ok(reports) => Ok(reports),
            Err(Stop::History(e)) => Err(e),
            Err(Stop::Refused { why, announced }) => self.refuse(request, announced, &why).await,
        }
    }

    async fn ship_request(
        &self,
        request: &RunRequest,
        creates: bool,
    ) -> Result<Vec<RunReport>, Stop> {
        check_destination_names(&self.destinations, &request.destinations)
            .map_err(Stop::refused(creates))?;
        // No key to encrypt to: say so before Home Assistant makes a backup nobody can ship.
        self.encryption_now()
            .await
            .map_err(Stop::refused(creates))?;
        // Before Home Assistant is asked to make a backup: does it fit on Home Assistant's own
        // disk, and is there anywhere to put it?
        let host = self.source.host().await;
        let mut skipped = Vec::new();
        if creates {
            if let Some(free) = host.as_ref().and_then(|h| h.disk_free) {
                let last = self.history.last_plain_size().await?.unwrap_or(0);
                plan::room_on_home_assistant(free, last).map_err(Stop::refused(true))?;
            }
            skipped = self.plan(request).await?;
            self.teller().tell(&Event::AskedHomeAssistant);
        }
        let pending = self.pending(request, creates).await?;
        if pending.is_empty() {
            if creates {
                self.observer.refresh().await;
            }
            self.progress
                .end(self.clock.now(), None, JobOutcome::Nothing);
            return Ok(Vec::new());
        }
        if creates {
            self.teller().tell(&Event::HomeAssistantFinished);
        } else {
            self.observer.started(request).await;
            skipped = self.plan(request).await?;
        }
        let mut reports = Vec::new();
        for p in pending {
            let opened = self.source.open(&p).await;
            let report = self.run_opened(request, &p, opened, &skipped).await?;
            self.record_versions(&report, host.as_ref()).await?;
            self.observer.finished(&report).await;
            reports.push(report);
        }
        self.after_runs(&mut reports).await;
        self.end_progress(&reports);
        Ok(reports)
    }

    /// What the source has to ship for `request`.
    async fn pending(&self, request: &RunRequest, creates: bool) -> Result<Vec<Pending>, Stop> {
        let shipped = if request.reship {
            Default::default()
        } else {
            self.history.shipped_source_keys().await?
        };
        let asked = crate::source::Asked {
            name: request.name.as_deref(),
            partial: request.partial.as_ref(),
            ship_new: request.ship_new,
        };
        self.source
            .pending(&shipped, self.clock.now(), &asked)
            .await
            .map_err(|e| Stop::refused(creates)(e.into()))
    }

    /// Retention, and the clean-up of Home Assistant's own backups, after runs that stored a copy.
    async fn after_runs(&self, reports: &mut [RunReport]) {
        if !reports
            .iter()
            .any(|r| matches!(r.status, RunStatus::Success | RunStatus::Partial))
        {
            return;
        }
        self.teller().tell(&Event::ApplyingRetention);
        let pruned = self.prune(false).await;
        if let Some(last) = reports.last_mut() {
            last.retention = pruned;
        }
        if let Some(keep) = self.keep_local
            && let Err(e) = self.clean_local(keep).await
        {
            tracing::warn!("cleaning up Home Assistant's own backups: {e}");
        }
    }

    /// Tells the progress board how the job ended: as its last run did.
    pub(crate) fn end_progress(&self, reports: &[RunReport]) {
        let last = reports.last();
        self.progress.end(
            self.clock.now(),
            last.map(|r| r.run_id),
            last.map_or(JobOutcome::Nothing, |r| JobOutcome::of_run(r.status)),
        );
    }

    /// Checks the destinations asked for; returns those left out, with why.
    async fn plan(&self, request: &RunRequest) -> Result<Vec<Skipped>, Stop> {
        let asked: Vec<Destination> = self.asked(request).cloned().collect();
        let need = self.history.last_stored_size().await?;
        // Only a folder needs to know (a missing one that held copies is a disk not mounted).
        let mut held = HashSet::new();
        for d in asked.iter().filter(|d| d.kind.is_local_disk()) {
            if self.history.held_a_copy(&d.name).await? {
                held.insert(d.name.clone());
            }
        }
        let (passed, skipped) = plan::check_all(&asked, need, &held).await;
        self.sweep_orphans(&passed).await;
        if passed.is_empty() {
            return Err(Stop::Refused {
                why: Refusal::NonePassed(skipped),
                announced: true,
            });
        }
        Ok(skipped)
    }

    /// Records a run that could not start, and tells the observers.
    async fn refuse(
        &self,
        request: &RunRequest,
        announced: bool,
        why: &Refusal,
    ) -> Result<Vec<RunReport>, HistoryError> {
        if !announced {
            self.observer.started(request).await;
        }
        let report = self.record_failure(&request.trigger, why).await?;
        self.observer.finished(&report).await;
        let reports = vec![report];
        self.end_progress(&reports);
        Ok(reports)
    }

    /// One run of a backup the source has (tried to) open, to the destinations asked for less
    /// those that failed the pre-flight check (`skipped`: recorded as failed copies).
    pub(super) async fn run_opened(
        &self,
        request: &RunRequest,
        pending: &Pending,
        opened: Result<Opened, SourceError>,
        skipped: &[Skipped],
    ) -> Result<RunReport, HistoryError> {
        let encryption = match self.encryption_now().await {
            Ok(e) => e,
            Err(why) => return self.record_failure(&request.trigger, &why).await,
        };
        let destinations: Vec<Destination> = self
            .asked(request)
            .filter(|d| !skipped.iter().any(|s| s.destination == d.name))
            .cloned()
            .collect();
        let started = self.clock.now();
        let run_id = self
            .history
            .start_run(started, &request.trigger, self.described())
            .await?;
        let copy_id = layout::copy_id(started, &pending.hint);
        let object = data_object(pending, &copy_id);
        let notes = opened.as_ref().ok().and_then(|o| o.notes.clone());
        self.tell_left_out(skipped);
        let keys = self.keys_for(pending).await;
        let lock = lock_of(&encryption);
        let signer =
            crate::signing::fresh_seed().and_then(|seed| self.keys.signing_key(started, &seed));
        let plan = CopyPlan {
            copy_id: &copy_id,
            object: &object,
            lock: &lock,
            ha_key: None,
            source: &self.source_name,
            signer: signer.as_ref(),
        };
        let to = PassTo {
            destinations: &destinations,
            object: &object,
            encryption: &encryption,
            keys: keys.clone(),
        };
        let shipped = self.pass(run_id, pending, opened, to).await;
        let mut outcome = self.commit(pending, shipped, &plan, &keys).await;
        if let Some(notes) = notes
            && let Ok(mut notes) = notes.lock()
        {
            outcome.end.warnings.append(&mut notes);
        }
        self.mention_remarks(&destinations, &mut outcome.end.warnings);
        outcome
            .copies
            .extend(self.left_out(skipped, &copy_id, &object));
        self.record(run_id, pending, outcome).await
    }

    /// Puts the destinations that failed the pre-flight check on the timeline.
    fn tell_left_out(&self, skipped: &[Skipped]) {
        for s in skipped {
            self.teller().tell(&Event::LeftOut {
                destination: &s.destination,
                why: s.error.to_string(),
            });
        }
    }

    /// The failed copies of the destinations that failed the pre-flight check.
    fn left_out(&self, skipped: &[Skipped], copy_id: &str, object: &str) -> Vec<CopyOutcome> {
        skipped
            .iter()
            .filter_map(|s| {
                let d = self.destinations.iter().find(|d| d.name == s.destination)?;
                let why = s.error.to_string();
                Some(CopyOutcome::failed(
                    d,
                    copy_id,
                    object,
                    why,
                    Some(s.error.kind()),
                ))
            })
            .collect()
    }

    /// Puts on the timeline, and among the run's warnings, what the destinations' stores had to
    /// say about the run (rclone's own retries after a cloud's rate limits, say).
    fn mention_remarks(&self, destinations: &[Destination], warnings: &mut Vec<String>) {
        for d in destinations {
            for remark in d.store.remarks() {
                self.teller().tell(&Event::Remark {
                    destination: &d.name,
                    remark: &remark,
                });
                warnings.push(format!("{}: {remark}", d.name));
            }
        }
    }
}

/// The data object a copy of `pending` is stored as.
fn data_object(pending: &Pending, copy_id: &str) -> String {
    match &pending.content {
        Some((spec, _)) => layout::data_object_as(copy_id, &spec.suffix()),
        None => layout::data_object(copy_id),
    }
}
