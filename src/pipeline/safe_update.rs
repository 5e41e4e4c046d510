//! The safe update: back up off-site, then update. One job of the queue, in order:
//!
//! 1. look the update up in Home Assistant (an `update.*` entity, or an add-on by its slug) and
//!    refuse what cannot be installed now — before any backup is made;
//! 2. make a backup that covers what the update touches (the add-on alone for an add-on, as Home
//!    Assistant's own pre-update backup does; a full backup for Core, the OS, the Supervisor or
//!    anything else) and ship it like any run: read back and verified on every destination;
//! 3. require at least `min_verified` destinations to hold a verified copy of it;
//! 4. only then install, with Home Assistant's `update.install` service (see
//!    [`crate::ha::updates`]), and follow it to the end.
//!
//! When the backup falls short nothing is installed. When the install fails, the copies made for
//! it are pinned (retention keeps them until someone unpins them): they are what a way back
//! starts from.

use super::events::Event;
use super::progress::JobOutcome;
use super::record::RunReport;
use super::run::{RunRequest, Runner};
use crate::ha::updates::{UpdateClient, UpdateEntity, UpdateError};
use crate::history::HistoryError;
use serde::Serialize;

/// What a safe update is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateAsk {
    /// An `update.*` entity id, or an add-on's slug.
    pub target: String,
    /// Install only when at least this many destinations hold a verified copy.
    pub min_verified: usize,
    /// Who asked (`dashboard`, `stdin`, `event`, `cli`).
    pub trigger: String,
}

/// The step a safe update stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Looking the update up: nothing was backed up or installed.
    Lookup,
    /// The backup fell short: nothing was installed.
    Backup,
    /// Home Assistant could not install it; the backup's copies are pinned.
    Install,
}

/// How a safe update ended.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateReport {
    pub target: String,
    pub entity: Option<UpdateEntity>,
    /// The run that made the backup, once one ran.
    pub run_id: Option<i64>,
    /// The destinations holding a verified copy of that backup.
    pub verified: Vec<String>,
    pub installed: bool,
    /// The version installed afterwards, when it was.
    pub version_now: Option<String>,
    /// Where it stopped, when it was not installed.
    pub stopped_at: Option<Stage>,
    pub error: Option<String>,
}

impl UpdateReport {
    fn new(ask: &UpdateAsk) -> Self {
        Self {
            target: ask.target.clone(),
            entity: None,
            run_id: None,
            verified: Vec::new(),
            installed: false,
            version_now: None,
            stopped_at: None,
            error: None,
        }
    }

    fn stop(mut self, at: Stage, error: String) -> Self {
        self.stopped_at = Some(at);
        self.error = Some(error);
        self
    }

    /// What to tell people, in one paragraph.
    pub fn message(&self) -> String {
        let what = self
            .entity
            .as_ref()
            .map_or_else(|| self.target.clone(), UpdateEntity::label);
        let copies = if self.verified.is_empty() {
            String::new()
        } else {
            format!(
                " The backup made first (run {}) is verified on {}.",
                self.run_id.unwrap_or_default(),
                self.verified.join(", ")
            )
        };
        let error = self.error.as_deref().unwrap_or("unknown error");
        match self.stopped_at {
            None => format!("Installed {what}.{copies}"),
            Some(Stage::Lookup) => format!("Did not update {what}: {error}"),
            Some(Stage::Backup) => {
                format!("Did not install {what}: the backup before it fell short. {error}{copies}")
            }
            Some(Stage::Install) => format!(
                "Installing {what} failed: {error}.{copies} Its copies are pinned, so retention keeps \
                 them; unpin them on the Copies page once you no longer need them."
            ),
        }
    }
}

/// Why a safe update could not go ahead, before any backup was made.
/// Why a safe update asked of the daemon did not even begin, or could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum NotUpdated {
    #[error(
        "Lifeboat has no Home Assistant websocket to install updates through (set the source to \
         core or supervisor)"
    )]
    NoWebsocket,
    #[error("recording the backup failed: {0}")]
    Recording(#[from] HistoryError),
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(
        "{need} verified copies were asked for, but only {have} {}: no backup could ever be \
         enough, so none was made",
        destinations_are(*.have)
    )]
    TooFew { need: usize, have: usize },
    #[error(
        "the source is in ship mode (it ships Home Assistant's backups and makes none): a safe \
         update needs a source that makes backups (mode create)"
    )]
    ShipMode,
    #[error(transparent)]
    HomeAssistant(#[from] UpdateError),
}

/// "destination is configured" or "destinations are configured", as `n` asks.
fn destinations_are(n: usize) -> &'static str {
    if n == 1 {
        "destination is configured"
    } else {
        "destinations are configured"
    }
}

/// Runs a safe update (see the module header). Every outcome is in the report; the progress board
/// shows the backup's run, then the install.
///
/// # Errors
/// Only when history cannot be written.
pub async fn safe_update(
    runner: &Runner,
    ha: &UpdateClient,
    ask: &UpdateAsk,
) -> Result<UpdateReport, HistoryError> {
    let report = UpdateReport::new(ask);
    let progress = &runner.progress;
    let clock = runner.clock.as_ref();
    progress.begin(&ask.trigger, clock.now(), "Looking up the update");
    let need = ask.min_verified.max(1);
    let entity = match look_up(runner, ha, ask, need).await {
        Ok(e) => e,
        Err(e) => {
            let why = e.to_string();
            progress.tell(clock.now(), &Event::UpdateStopped { why: why.clone() });
            progress.end(clock.now(), None, JobOutcome::Failed);
            return Ok(report.stop(Stage::Lookup, why));
        }
    };
    let mut report = UpdateReport {
        entity: Some(entity.clone()),
        ..report
    };
    let request = RunRequest {
        trigger: ask.trigger.clone(),
        name: Some(format!("Before updating {}", entity.label())),
        partial: entity.backup_parts(),
        ..RunRequest::default()
    };
    let runs = runner.run_request(&request).await?;
    let Some(run) = runs.last() else {
        return Ok(report.stop(Stage::Backup, "no backup was made".into()));
    };
    report.run_id = Some(run.run_id);
    report.verified = run
        .copies
        .iter()
        .filter(|c| c.verified)
        .map(|c| c.destination.clone())
        .collect();
    if report.verified.len() < need {
        let why = short_of(run, need, runner.destinations.len(), report.verified.len());
        return Ok(report.stop(Stage::Backup, why));
    }
    install(runner, ha, ask, &entity, run, report).await
}

/// Looks the update up, and refuses what cannot be installed now.
async fn look_up(
    runner: &Runner,
    ha: &UpdateClient,
    ask: &UpdateAsk,
    need: usize,
) -> Result<UpdateEntity, LookupError> {
    let have = runner.destinations.len();
    if need > have {
        return Err(LookupError::TooFew { need, have });
    }
    if !runner.source.creates_backups() {
        return Err(LookupError::ShipMode);
    }
    let entity = ha.find(&ask.target).await?;
    entity.check_installable()?;
    Ok(entity)
}

/// Why the backup's verified copies fall short of `need`, with every failure.
fn short_of(run: &RunReport, need: usize, destinations: usize, verified: usize) -> String {
    let why = format!(
        "{verified} of {} destinations hold a verified copy, and at least {need} must.",
        run.copies.len().max(destinations),
    );
    let failures: Vec<String> = run
        .copies
        .iter()
        .filter_map(|c| c.error.as_ref().map(|e| format!("{}: {e}", c.destination)))
        .chain(run.error.clone())
        .collect();
    if failures.is_empty() {
        why
    } else {
        format!("{why} {}", failures.join("; "))
    }
}

/// Installs the update, its backup verified off-site; when Home Assistant cannot install it, the
/// backup's verified copies are pinned.
async fn install(
    runner: &Runner,
    ha: &UpdateClient,
    ask: &UpdateAsk,
    entity: &UpdateEntity,
    run: &RunReport,
    mut report: UpdateReport,
) -> Result<UpdateReport, HistoryError> {
    let progress = &runner.progress;
    let clock = runner.clock.as_ref();
    let label = entity.label();
    progress.begin(&ask.trigger, clock.now(), &format!("Installing {label}"));
    let backed_up = Event::BackedUpFirst {
        run_id: run.run_id,
        verified: &report.verified,
    };
    progress.tell(clock.now(), &backed_up);
    match ha.install(entity).await {
        Ok(now) => {
            progress.tell(clock.now(), &Event::Installed { what: &label });
            progress.end(clock.now(), Some(run.run_id), JobOutcome::Updated);
            report.installed = true;
            report.version_now = now.installed;
            Ok(report)
        }
        Err(e) => {
            for c in run.copies.iter().filter(|c| c.verified) {
                runner
                    .history
                    .pin(&c.destination, &c.copy_id, clock.now())
                    .await?;
            }
            let why = e.to_string();
            progress.tell(clock.now(), &Event::UpdateStopped { why: why.clone() });
            progress.end(clock.now(), Some(run.run_id), JobOutcome::NotInstalled);
            Ok(report.stop(Stage::Install, why))
        }
    }
}
