//! One run from start to record, stage by stage: plan (which destinations, pre-flight —
//! [`super::plan`]), ship (the single pass — [`super::ship`]), commit (read back, manifest last —
//! [`super::commit`]) and record (history, the retry queue — [`super::record`],
//! [`super::retry`]); then retention ([`super::prune`]). A run succeeds when every destination
//! holds a verified copy, is partial when some do, and fails when none do — with the reason for
//! every destination that failed. What happens is told as typed events ([`super::events`]).

use super::commit::{CopyPlan, commit_all, lane_failed, lock_of};
use super::events::Event;
use super::plan::{self, Refusal, Skipped, check_destination_names};
use super::progress::{Progress, Teller};
use super::record::{CopyOutcome, RunReport, status_of};
use super::retry;
use super::ship::{ShipError, ShipFailure, Shipped, Walk, ship};
use crate::archive::securetar::BackupKey;
use crate::archive::{BackupJson, Inspection};
use crate::clock::Clock;
use crate::config::EncryptionSpec;
use crate::crypto::keyring::Keyring;
use crate::destinations::{Destination, layout};
use crate::history::upkeep::RetryRow;
use crate::history::{History, HistoryError, KeyLedger, RunEnd, RunReadiness, RunStatus};
use crate::secret::Secret;
use crate::source::{Opened, Pending, Source, SourceError};
use std::collections::HashSet;
use std::sync::Arc;

/// Everything a run needs.
#[derive(Clone)]
pub struct Runner {
    pub source: Arc<dyn Source>,
    pub destinations: Vec<Destination>,
    /// What copies are encrypted to and which Home Assistant keys open protected backups: the
    /// options' and the vault's (every key Home Assistant has used is kept there and tried).
    pub keys: Keyring,
    pub history: History,
    pub clock: Arc<dyn Clock>,
    /// Told when runs start and finish (Home Assistant entities, events, notifications).
    pub observer: Arc<dyn RunObserver>,
    /// The home's time zone: retention counts days, weeks… there.
    pub tz: chrono_tz::Tz,
    /// Keep this many backups on Home Assistant's disk and delete older ones once they are
    /// off-site everywhere; `None` leaves Home Assistant's backups alone.
    pub keep_local: Option<u32>,
    /// Live progress, for the dashboard.
    pub progress: Arc<Progress>,
    /// The source's name (`home-assistant`, `postgres`, `configs`…), in every copy's manifest.
    pub source_name: String,
    /// Whether it is the configuration's first source (it owns copies made before copies named
    /// their source).
    pub first_source: bool,
    /// The source's own retention, over the destinations' (`None`: theirs).
    pub retention: Option<crate::retention::Policy>,
}

/// The name deletions of Home Assistant's own backups are recorded under.
pub const LOCAL_HA: &str = "home-assistant";

/// What one request for a backup asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// Why: `cli`, `schedule`, `manual`, `stdin`, `event`…
    pub trigger: String,
    /// Ship again what history says was shipped already.
    pub reship: bool,
    /// The name for a backup the source creates.
    pub name: Option<String>,
    /// Only these destinations (by name); every one when empty.
    pub destinations: Vec<String>,
    /// Only these parts, for a backup the source creates.
    pub partial: Option<crate::source::Partial>,
    /// Ship what Home Assistant made since the last backup shipped, as ship mode does, even
    /// when the source makes its own backups (Home Assistant announced a new one).
    pub ship_new: bool,
    /// Which sources (by name) the daemon backs up, in turn; the first source when empty.
    pub sources: Vec<String>,
}

impl RunRequest {
    /// A plain request.
    pub fn new(trigger: &str) -> Self {
        Self {
            trigger: trigger.to_owned(),
            ..Self::default()
        }
    }
}

/// Told about runs as they happen. Both calls must not fail the run: report problems themselves.
#[async_trait::async_trait]
pub trait RunObserver: Send + Sync {
    /// A run is starting.
    async fn started(&self, request: &RunRequest);
    /// A run has finished (successfully or not) and is recorded.
    async fn finished(&self, report: &RunReport);
    /// Something else changed what there is to tell (a re-verification); tell it again.
    async fn refresh(&self) {}
}

/// Tells several observers, in order.
pub struct Observers(pub Vec<Arc<dyn RunObserver>>);

#[async_trait::async_trait]
impl RunObserver for Observers {
    async fn started(&self, request: &RunRequest) {
        for o in &self.0 {
            o.started(request).await;
        }
    }
    async fn finished(&self, report: &RunReport) {
        for o in &self.0 {
            o.finished(report).await;
        }
    }
    async fn refresh(&self) {
        for o in &self.0 {
            o.refresh().await;
        }
    }
}

/// An observer that does nothing (standalone runs with nobody to tell).
pub struct Quiet;

#[async_trait::async_trait]
impl RunObserver for Quiet {
    async fn started(&self, _: &RunRequest) {}
    async fn finished(&self, _: &RunReport) {}
}

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

/// How one run ended, before it is recorded.
struct Outcome {
    end: RunEnd,
    copies: Vec<CopyOutcome>,
    backup: Option<BackupJson>,
    /// The source delivered the backup whole: destinations without a copy are owed it.
    delivered: bool,
}

/// Where the single pass sends a backup, and how it locks and opens it.
struct PassTo<'a> {
    destinations: &'a [Destination],
    object: &'a str,
    encryption: &'a EncryptionSpec,
    /// Home Assistant keys that open a protected backup's inner archives.
    keys: Arc<Vec<BackupKey>>,
}

/// Why Home Assistant's own backups could not be cleaned up.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("listing Home Assistant's backups: {0}")]
    Source(#[from] SourceError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

impl Runner {
    fn teller(&self) -> Teller<'_> {
        Teller {
            progress: &self.progress,
            clock: self.clock.as_ref(),
        }
    }

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
            self.progress.end(self.clock.now(), None, "nothing");
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

    /// Records what a run's backup restores to (its `backup.json`) and what ran when it was made.
    async fn record_versions(
        &self,
        report: &RunReport,
        host: Option<&crate::source::Host>,
    ) -> Result<(), HistoryError> {
        let Some(b) = &report.backup else {
            return Ok(());
        };
        let versions = crate::history::RunVersions {
            backup: crate::history::Versions {
                core: b.homeassistant.as_ref().map(|h| h.version.clone()),
                supervisor: b.supervisor_version.clone(),
                os: None,
            },
            host: host.map(|h| h.versions.clone()),
        };
        self.history.set_versions(report.run_id, &versions).await
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
            last.map_or("nothing", |r| r.status.as_str()),
        );
    }

    /// Deletes Home Assistant's own backups beyond the newest `keep` that have a verified copy on
    /// every destination (see [`crate::retention::local`]); each deletion is recorded with its
    /// reason. Returns the slugs or ids deleted.
    ///
    /// # Errors
    /// [`CleanError`] when the source cannot list its backups or history cannot be used.
    pub async fn clean_local(&self, keep: u32) -> Result<Vec<String>, CleanError> {
        let Some(local) = self.source.local_backups().await? else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = self.destinations.iter().map(|d| d.name.clone()).collect();
        let safe = self.history.verified_everywhere(&names).await?;
        let mut deleted = Vec::new();
        for (backup, reason) in crate::retention::local::to_delete(local, &safe, keep) {
            let error = self
                .source
                .delete_local(&backup.id)
                .await
                .err()
                .map(|e| e.to_string());
            self.history
                .record_deletion(crate::history::upkeep::DeletionRow {
                    at: self.clock.now(),
                    destination: LOCAL_HA.into(),
                    copy_id: backup.id.clone(),
                    made: Some(backup.date),
                    trigger: "keep_local".into(),
                    reason,
                    error: error.clone(),
                })
                .await?;
            match error {
                None => deleted.push(backup.id),
                Some(e) => tracing::warn!("deleting Home Assistant backup {}: {e}", backup.id),
            }
        }
        Ok(deleted)
    }

    /// The source as history records it.
    fn described(&self) -> crate::history::Described {
        crate::history::Described {
            name: Some(self.source_name.clone()),
            describe: self.source.describe(),
        }
    }

    /// Applies every destination's retention policy (see [`super::prune::prune_all`]).
    pub async fn prune(&self, dry_run: bool) -> Vec<super::prune::PruneReport> {
        let owner = super::prune::Owner {
            source: self.source_name.clone(),
            first: self.first_source,
        };
        super::prune::prune_all(
            &self.destinations,
            self.retention.as_ref(),
            &owner,
            &self.history,
            self.clock.now(),
            self.tz,
            dry_run,
        )
        .await
    }

    /// Stores a key Home Assistant used in the vault (kept for good: a rotation must not orphan
    /// older backups) and returns every key at hand: the one the source made the backup with
    /// first, then the vault's newest first, then the options'.
    async fn keys_for(&self, pending: &Pending) -> Arc<Vec<BackupKey>> {
        let keys = self.keys.clone();
        let now = self.clock.now();
        let key: Option<Secret> = pending.ha_key.clone();
        let joined = tokio::task::spawn_blocking(move || {
            if let Some(k) = &key
                && let Err(e) = keys.remember_ha_key(k, "home-assistant", now)
            {
                tracing::warn!("keeping Home Assistant's backup key in the vault: {e}");
            }
            keys.ha_keys()
        })
        .await;
        let known = joined.unwrap_or_else(|_| self.keys.options_ha_keys.clone());
        Arc::new(
            pending
                .ha_key
                .iter()
                .chain(known.iter())
                .map(|k| BackupKey::new(k.clone()))
                .collect(),
        )
    }

    /// What copies are encrypted to now (see [`Keyring::encryption`]).
    ///
    /// # Errors
    /// [`Refusal::NoKey`] when there is no key at all.
    pub async fn encryption_now(&self) -> Result<EncryptionSpec, Refusal> {
        let keys = self.keys.clone();
        let spec = tokio::task::spawn_blocking(move || keys.encryption())
            .await
            .unwrap_or_else(|_| self.keys.options.clone());
        if spec.has_no_key() {
            return Err(Refusal::NoKey);
        }
        Ok(spec)
    }

    /// Records a run that failed before any backup was read.
    async fn record_failure(
        &self,
        trigger: &str,
        error: &Refusal,
    ) -> Result<RunReport, HistoryError> {
        let now = self.clock.now();
        let run_id = self
            .history
            .start_run(now, trigger, self.described())
            .await?;
        let error = error.to_string();
        self.progress
            .tell(now, &Event::Refused { why: error.clone() });
        self.history
            .finish_run(
                run_id,
                self.clock.now(),
                RunStatus::Failed,
                RunEnd {
                    error: Some(error.clone()),
                    timeline: self.progress.take_timeline(),
                    ..RunEnd::default()
                },
                Vec::new(),
            )
            .await?;
        Ok(RunReport::failed(run_id, &self.source_name, error))
    }

    /// The destinations `request` asks for (every one when it names none).
    fn asked<'a>(&'a self, request: &'a RunRequest) -> impl Iterator<Item = &'a Destination> {
        self.destinations
            .iter()
            .filter(|d| request.destinations.is_empty() || request.destinations.contains(&d.name))
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

    /// Removes uploads that cut-off runs left on the destinations, once per run or retry pass
    /// (before any backup of it starts); a failure is only logged (the backup still goes ahead).
    async fn sweep_orphans(&self, destinations: &[Destination]) {
        let now = self.clock.now();
        let sweeps = destinations
            .iter()
            .map(|d| async move { (d, super::orphans::sweep(d, &self.history, now).await) });
        for (d, swept) in futures::future::join_all(sweeps).await {
            match swept {
                Ok(removed) if removed.is_empty() => {}
                Ok(removed) => tracing::info!(
                    "{}: removed {} unfinished upload(s) left by a run that was cut off: {}",
                    d.name,
                    removed.len(),
                    removed.join(", ")
                ),
                Err(e) => tracing::warn!("{}: looking for unfinished uploads: {e}", d.name),
            }
        }
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
    async fn run_opened(
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
        let object = match &pending.content {
            Some((spec, _)) => layout::data_object_as(&copy_id, &spec.suffix()),
            None => layout::data_object(&copy_id),
        };
        let notes = opened.as_ref().ok().and_then(|o| o.notes.clone());
        for s in skipped {
            self.teller().tell(&Event::LeftOut {
                destination: &s.destination,
                why: s.error.to_string(),
            });
        }
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
        for s in skipped {
            if let Some(d) = self.destinations.iter().find(|d| d.name == s.destination) {
                let why = s.error.to_string();
                let failed = CopyOutcome::failed(d, &copy_id, &object, why, Some(s.error.kind()));
                outcome.copies.push(failed);
            }
        }
        self.record(run_id, pending, outcome).await
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

    /// Runs the single pass over the opened backup (see [`ship`]).
    async fn pass(
        &self,
        run_id: i64,
        pending: &Pending,
        opened: Result<Opened, SourceError>,
        to: PassTo<'_>,
    ) -> Result<Shipped, ShipFailure> {
        let opened = opened.map_err(|e| ShipFailure {
            error: ShipError::Source(std::io::Error::other(e.to_string())),
            lanes: Vec::new(),
        })?;
        self.progress.run(run_id, Some(&pending.hint), opened.size);
        self.teller().tell(&Event::Reading);
        let names: Vec<String> = to.destinations.iter().map(|d| d.name.clone()).collect();
        let pass_started = self.clock.now();
        let counters = self.progress.pass(pass_started, &names);
        let walk = match &pending.content {
            Some((spec, backup)) => Walk::Content(*spec, backup.clone()),
            None => Walk::Backup(to.keys),
        };
        let outcome = ship(
            opened.stream,
            opened.size,
            to.destinations,
            to.object,
            to.encryption,
            walk,
            &counters,
        )
        .await;
        self.tell_pass(pass_started, &outcome);
        outcome
    }

    /// Reads back and commits the copies of a pass that succeeded; a failed pass leaves failed
    /// copies only.
    async fn commit(
        &self,
        pending: &Pending,
        shipped: Result<Shipped, ShipFailure>,
        plan: &CopyPlan<'_>,
        keys: &[BackupKey],
    ) -> Outcome {
        let mut end = RunEnd {
            source_key: Some(pending.key.clone()),
            warnings: pending.warnings.clone(),
            ..RunEnd::default()
        };
        let mut shipped = match shipped {
            Ok(s) => s,
            Err(failure) => {
                end.error = Some(failure.error.to_string());
                let copies = failure
                    .lanes
                    .iter()
                    .map(|l| lane_failed(l, plan, "not stored: the run failed"))
                    .collect();
                return Outcome {
                    end,
                    copies,
                    backup: None,
                    delivered: matches!(failure.error, ShipError::AllDestinationsFailed),
                };
            }
        };
        // Only the source knows which add-ons are installed but left out of a partial backup.
        if !shipped.inspection.backup.kind.is_full()
            && let Some(installed) = self.source.installed_addons().await
        {
            let Inspection {
                readiness, backup, ..
            } = &mut shipped.inspection;
            readiness.add_left_out_addons(&installed, backup);
        }
        let ha_key = describe_pass(&mut end, &shipped, keys, plan);
        let plan = CopyPlan {
            ha_key: ha_key.as_deref(),
            ..*plan
        };
        let copies = commit_all(self.teller(), &shipped, &plan).await;
        if !copies.iter().any(|c| c.verified) {
            end.error = Some("no destination holds a verified copy".into());
        }
        Outcome {
            end,
            copies,
            backup: Some(shipped.inspection.backup),
            delivered: true,
        }
    }

    /// Records the run, files what its destinations are owed, and makes its report.
    async fn record(
        &self,
        run_id: i64,
        pending: &Pending,
        mut outcome: Outcome,
    ) -> Result<RunReport, HistoryError> {
        // Over every destination asked for: one left out makes the run partial at best.
        let status = status_of(&outcome.copies);
        // In the order the destinations are configured, whatever stage each stopped at.
        let rank = |name: &str| self.destinations.iter().position(|d| d.name == name);
        outcome.copies.sort_by_key(|c| rank(&c.destination));
        let finished = self.clock.now();
        self.progress.tell(finished, &Event::Recorded { status });
        let mut end = outcome.end;
        if let Some(r) = end.readiness.as_mut()
            && let Some(before) = self.history.readiness_before(run_id).await?
        {
            r.news = r.report.news_since(&before);
        }
        let news = end
            .readiness
            .as_ref()
            .map(|r| r.news.clone())
            .unwrap_or_default();
        end.timeline = self.progress.take_timeline();
        let records = outcome.copies.iter().map(CopyOutcome::record).collect();
        self.history
            .finish_run(run_id, finished, status, end.clone(), records)
            .await?;
        if outcome.delivered {
            let owed: Vec<&CopyOutcome> = outcome.copies.iter().filter(|c| !c.verified).collect();
            retry::owe(&self.history, &self.destinations, pending, &owed, finished).await?;
        }
        Ok(RunReport {
            run_id,
            source: self.source_name.clone(),
            status,
            backup: outcome.backup,
            plain_size: end.plain_size,
            plain_sha256: end.plain_sha256,
            copies: outcome.copies,
            error: end.error,
            warnings: end.warnings,
            readiness_news: news,
            retention: Vec::new(),
        })
    }

    /// Puts the single pass on the timeline: what was read, and each destination's upload.
    fn tell_pass(
        &self,
        pass_started: chrono::DateTime<chrono::Utc>,
        outcome: &Result<Shipped, ShipFailure>,
    ) {
        let t = self.teller();
        let lanes = match outcome {
            Ok(shipped) => {
                t.tell(&Event::PassDone {
                    read: shipped.inspection.size,
                    stored: shipped.stored_size,
                });
                &shipped.lanes
            }
            Err(failure) => {
                t.tell(&Event::PassFailed {
                    error: failure.error.to_string(),
                });
                &failure.lanes
            }
        };
        for lane in lanes {
            let destination = lane.destination.name.as_str();
            match &lane.result {
                // Thrown away with the pass.
                Ok(_) if outcome.is_err() => t.tell(&Event::Discarded { destination }),
                Ok((bytes, took)) => {
                    let at = pass_started
                        + chrono::TimeDelta::from_std(*took).unwrap_or(chrono::TimeDelta::zero());
                    let event = Event::Uploaded {
                        destination,
                        bytes: *bytes,
                        took: *took,
                    };
                    self.progress.tell(at, &event);
                }
                Err(e) => t.tell(&Event::UploadFailed {
                    destination,
                    error: e.to_string(),
                }),
            }
        }
    }

    /// Retries every due entry of the queue (see [`retry`]), one run per backup, to the
    /// destinations it owes.
    ///
    /// # Errors
    /// Only when history cannot be read or written.
    pub async fn retry_due(&self) -> Result<Vec<RunReport>, HistoryError> {
        let mut by_backup = retry::due(&self.history, &self.destinations, self.clock.now()).await?;
        // The other sources' backups are theirs to send again.
        by_backup.retain(|key, _| self.source.owns_key(key));
        let owed: Vec<Destination> = self
            .destinations
            .iter()
            .filter(|d| {
                by_backup
                    .values()
                    .flatten()
                    .any(|r| r.destination == d.name)
            })
            .cloned()
            .collect();
        self.sweep_orphans(&owed).await;
        let mut reports = Vec::new();
        for rows in by_backup.values() {
            if let Some(report) = self.retry_one(rows).await? {
                reports.push(report);
            }
        }
        Ok(reports)
    }

    /// Retries one backup to the destinations in `rows`.
    async fn retry_one(&self, rows: &[RetryRow]) -> Result<Option<RunReport>, HistoryError> {
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let names: Vec<String> = rows.iter().map(|r| r.destination.clone()).collect();
        let pending = Pending {
            key: first.source_key.clone(),
            hint: first.hint.clone(),
            locator: first.locator.clone(),
            warnings: Vec::new(),
            ha_key: None,
            content: self.source.content(self.clock.now()),
        };
        let opened = match self.source.open(&pending).await {
            Err(e) if !e.is_retryable() => {
                tracing::warn!(
                    "giving up on {} for {}: the source cannot give it any more ({e})",
                    first.hint,
                    names.join(", ")
                );
                for n in &names {
                    self.history.retry_done(&pending.key, n).await?;
                }
                return Ok(None);
            }
            other => other,
        };
        let request = RunRequest {
            destinations: names,
            ..RunRequest::new("retry")
        };
        self.progress.begin(
            "retry",
            self.clock.now(),
            "Retrying destinations owed a backup",
        );
        self.observer.started(&request).await;
        let report = self.run_opened(&request, &pending, opened, &[]).await?;
        self.observer.finished(&report).await;
        self.end_progress(std::slice::from_ref(&report));
        retry::settle(
            &self.history,
            &self.destinations,
            rows,
            &report,
            self.clock.now(),
        )
        .await?;
        Ok(Some(report))
    }
}

/// Fills the run's record with what the pass learned (the backup, sizes, digests, the keys its
/// copies need); returns the fingerprint of the Home Assistant key that opened it, if any.
fn describe_pass(
    end: &mut RunEnd,
    shipped: &Shipped,
    keys: &[BackupKey],
    plan: &CopyPlan<'_>,
) -> Option<String> {
    let backup = &shipped.inspection.backup;
    end.backup_slug = Some(backup.slug.clone());
    end.backup_name = Some(backup.name.clone());
    end.backup_date = Some(backup.date.clone());
    end.plain_size = Some(shipped.inspection.size);
    end.plain_sha256 = Some(shipped.plain_sha256.clone());
    end.stored_size = Some(shipped.stored_size);
    end.stored_sha256 = Some(shipped.stored_sha256.clone());
    end.warnings.extend(shipped.inspection.warnings());
    // A folder's tar or a dump has no restore-readiness report: it must not stand in for the
    // newest Home Assistant backup's on the kit and the moving page.
    end.readiness = shipped.inspection.content.is_none().then(|| RunReadiness {
        report: shipped.inspection.readiness.clone(),
        news: Vec::new(),
    });
    let ha_key = shipped
        .inspection
        .key_index()
        .and_then(|i| keys.get(i))
        .map(BackupKey::fingerprint);
    end.keys = Some(KeyLedger {
        protected: backup.protected,
        ha_key: ha_key.clone(),
        recipients: plan.lock.recipients.clone(),
        passphrase: plan.lock.passphrase,
    });
    ha_key
}
