//! One run from start to record: ask the source what to ship, stream each backup through the single
//! pass, read every copy back, write the manifests of the verified ones, and record it all.
//! A run succeeds when every destination holds a verified copy, is partial when some do, and fails
//! when none do — with the reason for every destination that failed.

use super::fanout::LaneResult;
use super::progress::{LaneState, Progress};
use super::ship::{ShipFailure, Shipped, ship};
use super::verify::read_back;
use crate::archive::BackupJson;
use crate::archive::securetar::BackupKey;
use crate::clock::Clock;
use crate::config::EncryptionSpec;
use crate::crypto::keyring::Keyring;
use crate::crypto::recipient_fingerprint;
use crate::destinations::{Destination, Manifest, layout, manifest};
use crate::history::{CopyRecord, History, HistoryError, KeyLedger, RunEnd, RunStatus};
use crate::secret::Secret;
use crate::source::{Pending, Source};
use serde::Serialize;
use std::sync::Arc;
use tokio::time::Instant;

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
}

/// Why a run with no key to encrypt to does not start.
pub const NO_KEY: &str = "there is no key to encrypt the copies to yet: make one on Lifeboat's \
    Emergency kit page (or run `lifeboat keys generate`), or set encryption.recipients; \
    Lifeboat never ships a backup unencrypted";

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

/// What one run did, for people and for JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: i64,
    pub status: RunStatus,
    pub backup: Option<BackupJson>,
    pub plain_size: Option<u64>,
    pub plain_sha256: Option<String>,
    pub copies: Vec<CopyReport>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// What retention did after this run (on the last run of a request only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retention: Vec<crate::pipeline::prune::PruneReport>,
}

impl RunReport {
    /// `destination: why` for every destination that did not get a verified copy.
    pub fn failed_destinations(&self) -> Vec<String> {
        self.copies
            .iter()
            .filter(|c| !c.verified)
            .map(|c| {
                format!(
                    "{}: {}",
                    c.destination,
                    c.error.as_deref().unwrap_or("failed")
                )
            })
            .collect()
    }
}

/// One destination's copy in a run.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub destination: String,
    pub location: String,
    pub copy_id: String,
    pub object: String,
    /// Present only for a verified copy.
    pub manifest: Option<String>,
    pub verified: bool,
    pub error: Option<String>,
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
        let creates = self.source.creates_backups();
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
        if let Err(error) = check_destination_names(&self.destinations, &request.destinations) {
            return self.refuse(request, creates, error).await;
        }
        // No key to encrypt to: say so before Home Assistant makes a backup nobody can ship.
        if let Err(error) = self.encryption_now().await {
            return self.refuse(request, creates, error).await;
        }
        // Before Home Assistant is asked to make a backup: is there anywhere to put it?
        let mut skipped = Vec::new();
        if creates {
            match self.preflight(request).await? {
                Ok(s) => skipped = s,
                Err(why) => return self.refuse(request, true, why).await,
            }
            self.progress.step("Home Assistant is making the backup");
            self.progress
                .note(self.clock.now(), "Asked Home Assistant for a backup", None);
        }
        let shipped = if request.reship {
            Default::default()
        } else {
            self.history.shipped_source_keys().await?
        };
        let now = self.clock.now();
        let pending = match self
            .source
            .pending(
                &shipped,
                now,
                &crate::source::Asked {
                    name: request.name.as_deref(),
                    partial: request.partial.as_ref(),
                },
            )
            .await
        {
            Ok(p) => p,
            Err(e) => return self.refuse(request, creates, e.to_string()).await,
        };
        if pending.is_empty() {
            if creates {
                self.observer.refresh().await;
            }
            self.progress.end(self.clock.now(), None, "nothing");
            return Ok(Vec::new());
        }
        if creates {
            self.progress
                .note(self.clock.now(), "Home Assistant finished the backup", None);
        }
        if !creates {
            self.observer.started(request).await;
            match self.preflight(request).await? {
                Ok(s) => skipped = s,
                Err(why) => return self.refuse(request, true, why).await,
            }
        }
        let mut reports = Vec::new();
        for p in pending {
            let opened = self.source.open(&p).await;
            let report = self.run_opened(request, &p, opened, &skipped).await?;
            self.observer.finished(&report).await;
            reports.push(report);
        }
        if reports
            .iter()
            .any(|r| matches!(r.status, RunStatus::Success | RunStatus::Partial))
        {
            self.progress.step("Applying retention");
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
        self.end_progress(&reports);
        Ok(reports)
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
    /// A message when the source cannot list its backups or history cannot be used.
    pub async fn clean_local(&self, keep: u32) -> Result<Vec<String>, String> {
        let Some(local) = self
            .source
            .local_backups()
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = self.destinations.iter().map(|d| d.name.clone()).collect();
        let safe = self
            .history
            .verified_everywhere(&names)
            .await
            .map_err(|e| e.to_string())?;
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
                .await
                .map_err(|e| e.to_string())?;
            match error {
                None => deleted.push(backup.id),
                Some(e) => tracing::warn!("deleting Home Assistant backup {}: {e}", backup.id),
            }
        }
        Ok(deleted)
    }

    /// Applies every destination's retention policy (see [`crate::pipeline::prune::prune_all`]).
    pub async fn prune(&self, dry_run: bool) -> Vec<crate::pipeline::prune::PruneReport> {
        crate::pipeline::prune::prune_all(
            &self.destinations,
            &self.history,
            self.clock.now(),
            self.tz,
            dry_run,
        )
        .await
    }

    /// Stores a key Home Assistant used in the vault (kept for good: a rotation must not orphan
    /// older backups) and returns every key at hand, the vault's newest first, then the options'.
    async fn remember_key(&self, key: Option<Secret>) -> Vec<Secret> {
        let keys = self.keys.clone();
        let now = self.clock.now();
        let joined = tokio::task::spawn_blocking(move || {
            if let Some(k) = key
                && let Err(e) = keys.remember_ha_key(&k, "home-assistant", now)
            {
                tracing::warn!("keeping Home Assistant's backup key in the vault: {e}");
            }
            keys.ha_keys()
        })
        .await;
        joined.unwrap_or_else(|_| self.keys.options_ha_keys.clone())
    }

    /// What copies are encrypted to now (see [`Keyring::encryption`]).
    ///
    /// # Errors
    /// What to do, when there is no key at all.
    pub async fn encryption_now(&self) -> Result<EncryptionSpec, String> {
        let keys = self.keys.clone();
        let spec = tokio::task::spawn_blocking(move || keys.encryption())
            .await
            .unwrap_or_else(|_| self.keys.options.clone());
        if spec.has_no_key() {
            return Err(NO_KEY.to_owned());
        }
        Ok(spec)
    }

    /// Records a run that failed before any backup was read.
    async fn record_failure(
        &self,
        trigger: &str,
        error: String,
    ) -> Result<RunReport, HistoryError> {
        let now = self.clock.now();
        let run_id = self
            .history
            .start_run(now, trigger, &self.source.describe())
            .await?;
        self.progress.failed(now, error.clone(), None);
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
        Ok(failed_report(run_id, error))
    }

    /// The destinations `request` asks for (every one when it names none).
    fn asked<'a>(&'a self, request: &'a RunRequest) -> impl Iterator<Item = &'a Destination> {
        self.destinations
            .iter()
            .filter(|d| request.destinations.is_empty() || request.destinations.contains(&d.name))
    }

    /// Checks the destinations asked for: those that fail, with why; or, when none passes, the
    /// reason no backup can be made.
    async fn preflight(
        &self,
        request: &RunRequest,
    ) -> Result<Result<Vec<(String, String)>, String>, HistoryError> {
        let asked: Vec<Destination> = self.asked(request).cloned().collect();
        let need = self.history.last_stored_size().await?;
        // Only a folder needs to know (a missing one that held copies is a disk not mounted).
        let mut held = std::collections::HashSet::new();
        for d in asked.iter().filter(|d| d.kind.is_local_disk()) {
            if self.history.held_a_copy(&d.name).await? {
                held.insert(d.name.clone());
            }
        }
        let (passed, skipped) = super::preflight::check_all(&asked, need, &held).await;
        self.sweep_orphans(&passed).await;
        if passed.is_empty() {
            let why: Vec<String> = skipped.iter().map(|(d, w)| format!("{d}: {w}")).collect();
            return Ok(Err(format!(
                "no destination passed the pre-flight check, so no backup was made: {}",
                why.join("; ")
            )));
        }
        Ok(Ok(skipped))
    }

    /// Removes uploads that cut-off runs left on the destinations, once per run or retry pass
    /// (before any backup of it starts); a failure is only logged (the backup still goes ahead).
    pub(crate) async fn sweep_orphans(&self, destinations: &[Destination]) {
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
        error: String,
    ) -> Result<Vec<RunReport>, HistoryError> {
        if !announced {
            self.observer.started(request).await;
        }
        let report = self.record_failure(&request.trigger, error).await?;
        self.observer.finished(&report).await;
        let reports = vec![report];
        self.end_progress(&reports);
        Ok(reports)
    }

    /// One run of a backup the source has (tried to) open, to the destinations asked for less
    /// those that failed the pre-flight check (`skipped`, with why: recorded as failed copies).
    pub(crate) async fn run_opened(
        &self,
        request: &RunRequest,
        pending: &Pending,
        opened: Result<crate::source::Opened, crate::source::SourceError>,
        skipped: &[(String, String)],
    ) -> Result<RunReport, HistoryError> {
        let trigger = request.trigger.as_str();
        let encryption = match self.encryption_now().await {
            Ok(e) => e,
            Err(why) => return self.record_failure(trigger, why).await,
        };
        let lock = lock_of(&encryption);
        let destinations: Vec<Destination> = self
            .asked(request)
            .filter(|d| !skipped.iter().any(|(n, _)| n == &d.name))
            .cloned()
            .collect();
        let started = self.clock.now();
        let run_id = self
            .history
            .start_run(started, trigger, &self.source.describe())
            .await?;
        let copy_id = layout::copy_id(started, &pending.hint);
        let object = layout::data_object(&copy_id);
        let mut end = RunEnd {
            source_key: Some(pending.key.clone()),
            warnings: pending.warnings.clone(),
            ..RunEnd::default()
        };
        // The key the source made the backup with first, then the vault's, then the configured ones.
        let known = self.remember_key(pending.ha_key.clone()).await;
        let keys: Vec<BackupKey> = pending
            .ha_key
            .iter()
            .chain(known.iter())
            .map(|k| BackupKey::new(k.clone()))
            .collect();
        let keys = Arc::new(keys);
        for (name, why) in skipped {
            self.progress
                .failed(started, format!("Left out: {why}"), Some(name));
        }
        let outcome = match opened {
            Ok(opened) => {
                self.progress.run(run_id, Some(&pending.hint), opened.size);
                self.progress
                    .step("Reading, checking, encrypting and uploading the backup");
                let names: Vec<String> = destinations.iter().map(|d| d.name.clone()).collect();
                let pass_started = self.clock.now();
                let counters = self.progress.pass(pass_started, &names);
                let outcome = ship(
                    opened.stream,
                    opened.size,
                    &destinations,
                    &object,
                    &encryption,
                    keys.clone(),
                    &counters,
                )
                .await;
                self.note_pass(pass_started, &outcome);
                outcome
            }
            Err(e) => Err(ShipFailure {
                error: super::ship::ShipError::Source(std::io::Error::other(e.to_string())),
                lanes: Vec::new(),
            }),
        };
        // Destinations that missed a backup the source delivered whole: they go in the retry queue.
        let mut owed: Vec<(String, Option<String>)> = Vec::new();
        let mut delivered = true;
        let (mut status, mut copies, backup) = match outcome {
            Err(failure) => {
                delivered = matches!(failure.error, super::ship::ShipError::AllDestinationsFailed);
                if delivered {
                    owed = failure
                        .lanes
                        .iter()
                        .map(|l| {
                            (
                                l.destination.name.clone(),
                                l.result.as_ref().err().map(ToString::to_string),
                            )
                        })
                        .collect();
                }
                end.error = Some(failure.error.to_string());
                let copies = failure
                    .lanes
                    .iter()
                    .map(|l| self.failed_copy(l, &copy_id, &object, "not stored: the run failed"))
                    .collect();
                (RunStatus::Failed, copies, None)
            }
            Ok(shipped) => {
                end.backup_slug = Some(shipped.inspection.backup.slug.clone());
                end.backup_name = Some(shipped.inspection.backup.name.clone());
                end.backup_date = Some(shipped.inspection.backup.date.clone());
                end.plain_size = Some(shipped.inspection.size);
                end.plain_sha256 = Some(shipped.plain_sha256.clone());
                end.stored_size = Some(shipped.stored_size);
                end.stored_sha256 = Some(shipped.stored_sha256.clone());
                end.warnings.extend(shipped.inspection.warnings());
                let key_fingerprint = shipped
                    .inspection
                    .key_index()
                    .and_then(|i| keys.get(i))
                    .map(BackupKey::fingerprint);
                end.keys = Some(KeyLedger {
                    protected: shipped.inspection.backup.protected,
                    ha_key: key_fingerprint.clone(),
                    recipients: lock.recipients.clone(),
                    passphrase: lock.passphrase,
                });
                let copies = self
                    .verify_and_record(
                        &shipped,
                        &copy_id,
                        &object,
                        &lock,
                        key_fingerprint.as_deref(),
                    )
                    .await;
                let ok = copies.iter().filter(|c| c.0.verified).count();
                let status = match ok {
                    0 => RunStatus::Failed,
                    n if n == copies.len() => RunStatus::Success,
                    _ => RunStatus::Partial,
                };
                if ok == 0 {
                    end.error = Some("no destination holds a verified copy".into());
                }
                owed = copies
                    .iter()
                    .filter(|c| !c.0.verified)
                    .map(|c| (c.0.destination.clone(), c.0.error.clone()))
                    .collect();
                (status, copies, Some(shipped.inspection.backup.clone()))
            }
        };
        for (name, why) in skipped {
            if let Some(d) = self.destinations.iter().find(|d| &d.name == name) {
                copies.push(copy_pair(
                    d,
                    &copy_id,
                    &object,
                    None,
                    Some(why.clone()),
                    None,
                    None,
                ));
                if delivered {
                    owed.push((name.clone(), Some(why.clone())));
                }
            }
        }
        if status == RunStatus::Success && !skipped.is_empty() {
            status = RunStatus::Partial;
        }
        // In the order the destinations are configured, whatever stage each stopped at.
        let rank = |name: &str| self.destinations.iter().position(|d| d.name == name);
        copies.sort_by_key(|c| rank(&c.0.destination));
        let records: Vec<CopyRecord> = copies.iter().map(|(r, _)| r.clone()).collect();
        let finished = self.clock.now();
        self.progress.note(
            finished,
            format!(
                "Recorded: {}",
                match status {
                    RunStatus::Success => "every destination holds a verified copy",
                    RunStatus::Partial => "some destinations hold a verified copy",
                    _ => "no verified copy",
                }
            ),
            None,
        );
        end.timeline = self.progress.take_timeline();
        self.history
            .finish_run(run_id, finished, status, end.clone(), records)
            .await?;
        for (destination, error) in owed {
            self.history
                .queue_retry(crate::history::upkeep::RetryRow {
                    source_key: pending.key.clone(),
                    destination,
                    hint: pending.hint.clone(),
                    locator: pending.locator.clone(),
                    attempts: 0,
                    next_at: finished + super::retry::delay(0),
                    last_error: error,
                    queued_at: finished,
                })
                .await?;
        }
        Ok(RunReport {
            run_id,
            status,
            backup,
            plain_size: end.plain_size,
            plain_sha256: end.plain_sha256,
            copies: copies.into_iter().map(|(_, c)| c).collect(),
            error: end.error,
            warnings: end.warnings,
            retention: Vec::new(),
        })
    }

    fn failed_copy(
        &self,
        lane: &LaneResult,
        copy_id: &str,
        object: &str,
        fallback: &str,
    ) -> (CopyRecord, CopyReport) {
        let error = match &lane.result {
            Err(e) => e.to_string(),
            Ok(_) => fallback.to_owned(),
        };
        copy_pair(
            &lane.destination,
            copy_id,
            object,
            None,
            Some(error),
            None,
            None,
        )
    }

    /// Reads back every committed copy (all at once), writes the manifests of the good ones, and
    /// removes the data of a copy that does not match.
    async fn verify_and_record(
        &self,
        shipped: &Shipped,
        copy_id: &str,
        object: &str,
        lock: &manifest::Encryption,
        ha_key: Option<&str>,
    ) -> Vec<(CopyRecord, CopyReport)> {
        let checks = shipped.lanes.iter().map(|lane| async move {
            let (bytes, upload) = match &lane.result {
                Ok(v) => *v,
                Err(_) => return self.failed_copy(lane, copy_id, object, ""),
            };
            let d = &lane.destination;
            let started = Instant::now();
            self.progress.lane(&d.name, LaneState::ReadingBack);
            if let Err(e) = read_back(d, object, shipped.stored_size, &shipped.stored_sha256).await
            {
                self.progress.lane(&d.name, LaneState::Failed);
                self.progress.failed(
                    self.clock.now(),
                    format!("Reading the copy back failed: {e}"),
                    Some(&d.name),
                );
                // The stored bytes are not the verified ones: never leave them looking like a copy.
                let _ = d.store.delete(object).await;
                let mut pair = copy_pair(
                    d,
                    copy_id,
                    object,
                    None,
                    Some(e.to_string()),
                    Some(upload),
                    Some(started.elapsed()),
                );
                pair.0.stored_size = Some(bytes);
                return pair;
            }
            let verify = started.elapsed();
            let verified_at = self.clock.now();
            let m = self.manifest(shipped, copy_id, object, verified_at, lock, ha_key);
            let name = layout::manifest_object(copy_id);
            match d.store.write_small(&name, m.to_json()).await {
                Ok(()) => {
                    self.progress.lane(&d.name, LaneState::Verified);
                    self.progress.note(
                        verified_at,
                        format!(
                            "Read back in {}: matches what was sent; manifest written",
                            crate::human::duration(verify)
                        ),
                        Some(&d.name),
                    );
                    let mut pair = copy_pair(
                        d,
                        copy_id,
                        object,
                        Some(name),
                        None,
                        Some(upload),
                        Some(verify),
                    );
                    pair.0.stored_size = Some(shipped.stored_size);
                    pair.0.stored_sha256 = Some(shipped.stored_sha256.clone());
                    pair.0.verified_at = Some(verified_at);
                    pair
                }
                Err(e) => {
                    let _ = d.store.delete(object).await;
                    self.progress.lane(&d.name, LaneState::Failed);
                    self.progress.failed(
                        self.clock.now(),
                        format!("Writing the manifest failed: {e}"),
                        Some(&d.name),
                    );
                    copy_pair(
                        d,
                        copy_id,
                        object,
                        None,
                        Some(format!("writing the manifest failed: {e}")),
                        Some(upload),
                        Some(verify),
                    )
                }
            }
        });
        futures::future::join_all(checks).await
    }

    /// Puts the single pass on the timeline: what was read, and each destination's upload.
    fn note_pass(
        &self,
        pass_started: chrono::DateTime<chrono::Utc>,
        outcome: &Result<Shipped, ShipFailure>,
    ) {
        let lanes = match outcome {
            Ok(shipped) => {
                self.progress.note(
                    self.clock.now(),
                    format!(
                        "Read {} once: every archive inside checked, encrypted to {}",
                        crate::human::size(shipped.inspection.size),
                        crate::human::size(shipped.stored_size)
                    ),
                    None,
                );
                &shipped.lanes
            }
            Err(failure) => {
                self.progress
                    .failed(self.clock.now(), failure.error.to_string(), None);
                &failure.lanes
            }
        };
        for lane in lanes {
            let name = lane.destination.name.as_str();
            match &lane.result {
                Ok((bytes, took)) => {
                    let at = pass_started
                        + chrono::TimeDelta::from_std(*took).unwrap_or(chrono::TimeDelta::zero());
                    if outcome.is_err() {
                        // Thrown away with the pass.
                        self.progress.lane(name, LaneState::Failed);
                    } else {
                        self.progress.lane(name, LaneState::Uploaded);
                        self.progress.note(
                            at,
                            format!(
                                "Uploaded {} in {}",
                                crate::human::size(*bytes),
                                crate::human::duration(*took)
                            ),
                            Some(name),
                        );
                    }
                }
                Err(e) => {
                    self.progress.lane(name, LaneState::Failed);
                    self.progress.failed(
                        self.clock.now(),
                        format!("Upload failed: {e}"),
                        Some(name),
                    );
                }
            }
        }
    }

    fn manifest(
        &self,
        shipped: &Shipped,
        copy_id: &str,
        object: &str,
        verified: chrono::DateTime<chrono::Utc>,
        lock: &manifest::Encryption,
        ha_key: Option<&str>,
    ) -> Manifest {
        Manifest {
            format: manifest::FORMAT,
            copy_id: copy_id.to_owned(),
            object: object.to_owned(),
            created: verified,
            lifeboat_version: crate::VERSION.to_owned(),
            backup: shipped.inspection.backup.clone(),
            plain: manifest::Digest {
                size: shipped.inspection.size,
                sha256: shipped.plain_sha256.clone(),
            },
            stored: manifest::Digest {
                size: shipped.stored_size,
                sha256: shipped.stored_sha256.clone(),
            },
            encryption: lock.clone(),
            ha_key_fingerprint: ha_key.map(str::to_owned),
            verified,
        }
    }
}

/// What a copy encrypted with `spec` says it is locked with: fingerprints, never keys.
fn lock_of(spec: &EncryptionSpec) -> manifest::Encryption {
    manifest::Encryption {
        scheme: "age".into(),
        recipients: spec.recipients.iter().map(recipient_fingerprint).collect(),
        passphrase: spec.passphrase.is_some(),
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn copy_pair(
    d: &Destination,
    copy_id: &str,
    object: &str,
    manifest: Option<String>,
    error: Option<String>,
    upload: Option<std::time::Duration>,
    verify: Option<std::time::Duration>,
) -> (CopyRecord, CopyReport) {
    let verified = manifest.is_some();
    (
        CopyRecord {
            destination: d.name.clone(),
            copy_id: copy_id.to_owned(),
            object: object.to_owned(),
            verified,
            stored_size: None,
            stored_sha256: None,
            error: error.clone(),
            upload_ms: upload.map(millis),
            verify_ms: verify.map(millis),
            verified_at: None,
        },
        CopyReport {
            destination: d.name.clone(),
            location: d.location.clone(),
            copy_id: copy_id.to_owned(),
            object: object.to_owned(),
            manifest,
            verified,
            error,
        },
    )
}

/// Refuses names that are not configured destinations, naming the ones that are.
///
/// # Errors
/// The message for a person, when a name is unknown.
pub fn check_destination_names(configured: &[Destination], asked: &[String]) -> Result<(), String> {
    let unknown: Vec<&str> = asked
        .iter()
        .filter(|n| !configured.iter().any(|d| &d.name == *n))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = configured.iter().map(|d| d.name.as_str()).collect();
    Err(format!(
        "no destination is named {}; they are: {}",
        unknown.join(", "),
        names.join(", ")
    ))
}

fn failed_report(run_id: i64, error: String) -> RunReport {
    RunReport {
        run_id,
        status: RunStatus::Failed,
        backup: None,
        plain_size: None,
        plain_sha256: None,
        copies: Vec::new(),
        error: Some(error),
        warnings: Vec::new(),
        retention: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DestinationKind, DestinationSpec};

    #[test]
    fn unknown_destination_names_are_refused_with_the_known_ones() {
        let dest = |name: &str| {
            crate::destinations::open(&DestinationSpec {
                name: name.into(),
                retention: Default::default(),
                kind: DestinationKind::Local {
                    path: "/tmp/x".into(),
                },
            })
            .unwrap()
        };
        let all = [dest("nas"), dest("b2")];
        assert!(check_destination_names(&all, &[]).is_ok());
        assert!(check_destination_names(&all, &["b2".into()]).is_ok());
        let e = check_destination_names(&all, &["usb".into(), "nas".into()]).unwrap_err();
        assert_eq!(e, "no destination is named usb; they are: nas, b2");
    }
}
