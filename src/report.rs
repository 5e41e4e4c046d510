//! What Lifeboat tells Home Assistant: entities (state, last successful backup, a `problem`
//! binary sensor, each destination's newest copy), events when runs start, finish and fail, and a
//! persistent notification (plus an optional `notify.*` call) on failure, and one when what a
//! restore needs has changed since the last backup. All through Core's REST
//! API — via the Supervisor's proxy in the add-on, or directly with a long-lived token.
//!
//! REST states live until Home Assistant restarts; [`HaReporter::publish`] rebuilds them from
//! history and is called at start, after every run, and periodically. Reporting never fails a run:
//! problems are logged.

use crate::ha::core_api::{HaApi, RestError};
use crate::history::{CopyRecord, History, KitDue, RunRow, RunStatus};
use crate::pipeline::record::RunReport;
use crate::pipeline::run::{RunObserver, RunRequest};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

mod problem;
mod summary;

pub use problem::{Problem, ProblemKind, Severity};
pub use summary::Summary;

/// An entity-id-safe form of a destination name.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// What "protected" means here: which destinations must hold a fresh verified copy, and how fresh.
#[derive(Clone)]
pub struct Watch {
    pub destinations: Vec<String>,
    /// With several sources, each one's name and how long it may go without a verified copy
    /// ("no `postgres` dump for 26 hours"); empty with one source (its destinations say it).
    pub sources: Vec<WatchedSource>,
    /// A destination whose newest verified copy is older than this is stale.
    pub stale_after: std::time::Duration,
    /// How often the emergency kit must pass its check (`None`: never asked).
    pub kit_every: Option<std::time::Duration>,
    /// Settings that work but put something at risk ([`crate::config::cautions`]): each is a
    /// problem for as long as the settings stay.
    pub cautions: Vec<crate::config::Caution>,
    pub clock: std::sync::Arc<dyn crate::clock::Clock>,
}

/// A source whose copies must stay fresh.
#[derive(Debug, Clone)]
pub struct WatchedSource {
    pub name: String,
    /// The first source (it owns runs from before sources had names).
    pub first: bool,
    pub stale_after: std::time::Duration,
}

/// Reports runs to Home Assistant.
pub struct HaReporter {
    api: HaApi,
    history: History,
    watch: Watch,
    /// `notify` service to call on failure (e.g. `mobile_app_pixel`), besides the notification.
    notify_service: Option<String>,
    running: AtomicBool,
}

impl HaReporter {
    /// A reporter over `api`, reading entity states from `history`.
    pub fn new(api: HaApi, history: History, watch: Watch, notify_service: Option<String>) -> Self {
        Self {
            api,
            history,
            watch,
            notify_service,
            running: AtomicBool::new(false),
        }
    }

    fn log(result: Result<(), RestError>) {
        if let Err(e) = result {
            tracing::warn!("telling Home Assistant: {e}");
        }
    }

    /// `sensor.lifeboat_state`, always with the same attributes (an enum sensor keeps its options).
    async fn set_run_state(
        &self,
        state: &str,
        last_run_id: Option<i64>,
        last_error: Option<String>,
    ) -> Result<(), RestError> {
        self.api
            .set_state(
                "sensor.lifeboat_state",
                state,
                json!({"friendly_name": "Lifeboat state", "icon": "mdi:lifebuoy",
                       "options": ["idle", "running", "failed"], "device_class": "enum",
                       "last_run_id": last_run_id, "last_error": last_error}),
            )
            .await
    }

    /// The API it reports through.
    pub fn api(&self) -> &HaApi {
        &self.api
    }

    /// Whether a run is under way.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Sets every entity from history (call at start, after runs, and now and then: Home Assistant
    /// forgets REST states when it restarts).
    pub async fn publish(&self) {
        let s = match Summary::load(&self.history, self.running(), &self.watch).await {
            Ok(s) => s,
            Err(e) => return tracing::warn!("reading history for Home Assistant: {e}"),
        };
        let last = s.last.as_ref();
        Self::log(
            self.set_run_state(
                s.state,
                last.map(|r| r.id),
                last.and_then(|r| r.error.clone()),
            )
            .await,
        );
        Self::log(self.set_last_backup(s.last_good.as_ref()).await);
        Self::log(
            self.api
                .set_state(
                    "binary_sensor.lifeboat_problem",
                    if s.problems.is_empty() { "off" } else { "on" },
                    json!({"friendly_name": "Lifeboat problem", "device_class": "problem", "problems": s.problems}),
                )
                .await,
        );
        self.set_sources_last_backup().await;
        Self::log(self.set_kit_check_due(s.kit.as_ref()).await);
        Self::log(self.note_copies(&s.problems).await);
        for c in &s.copies {
            Self::log(self.set_last_copy(c).await);
        }
    }

    /// `sensor.lifeboat_last_backup`: when the last successful backup started, and what it was.
    async fn set_last_backup(&self, last_good: Option<&RunRow>) -> Result<(), RestError> {
        self.api
            .set_state(
                "sensor.lifeboat_last_backup",
                &last_good.map_or_else(|| "unknown".to_owned(), |r| r.started_at.to_rfc3339()),
                json!({"friendly_name": "Lifeboat last successful backup", "device_class": "timestamp",
                       "backup_name": last_good.and_then(|r| r.backup_name.clone()),
                       "slug": last_good.and_then(|r| r.backup_slug.clone()),
                       "source": last_good.and_then(|r| r.source_name.clone()),
                       "verified_copies": last_good.map(|r| r.copies.iter().filter(|c| c.verified).count())}),
            )
            .await
    }

    /// With several sources, each one's newest verified copy:
    /// `sensor.lifeboat_postgres_last_backup`.
    async fn set_sources_last_backup(&self) {
        for source in &self.watch.sources {
            let newest = match self
                .history
                .newest_verified_of(&source.name, source.first)
                .await
            {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("reading {}'s newest copy: {e}", source.name);
                    continue;
                }
            };
            let id = source.name.replace('-', "_");
            Self::log(
                self.api
                    .set_state(
                        &format!("sensor.lifeboat_{id}_last_backup"),
                        &newest.map_or_else(|| "unknown".to_owned(), |t| t.to_rfc3339()),
                        json!({"friendly_name": format!("Lifeboat {} last verified copy", source.name),
                               "device_class": "timestamp", "source": source.name,
                               "stale_after_hours": source.stale_after.as_secs() / 3600}),
                    )
                    .await,
            );
        }
    }

    /// `binary_sensor.lifeboat_kit_check_due`: on while the emergency kit's check is overdue.
    async fn set_kit_check_due(&self, kit: Option<&KitDue>) -> Result<(), RestError> {
        let kit_overdue = kit.is_some_and(|k| k.overdue(self.watch.clock.now()));
        self.api
            .set_state(
                "binary_sensor.lifeboat_kit_check_due",
                if kit_overdue { "on" } else { "off" },
                json!({"friendly_name": "Lifeboat emergency kit check due", "device_class": "problem",
                       "icon": "mdi:file-key",
                       "last_checked": kit.and_then(|k| k.checked).map(|t| t.to_rfc3339()),
                       "due": kit.and_then(|k| k.due).map(|t| t.to_rfc3339())}),
            )
            .await
    }

    /// Stale or damaged copies need a person even when no run failed: one notification, replaced
    /// while the problems last and dismissed when they are gone.
    async fn note_copies(&self, problems: &[Problem]) -> Result<(), RestError> {
        let lasting: Vec<&Problem> = problems.iter().filter(|p| p.kind.about_copies()).collect();
        if lasting.is_empty() {
            self.api
                .call_service(
                    "persistent_notification",
                    "dismiss",
                    &json!({"notification_id": "lifeboat_copies"}),
                )
                .await
        } else {
            self.api
                .notify_persistent(
                    "lifeboat_copies",
                    "Lifeboat: off-site copies need attention",
                    &lasting
                        .iter()
                        .map(|p| format!("- {p}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
                .await
        }
    }

    /// `sensor.lifeboat_<destination>_last_copy`: the newest verified copy there.
    async fn set_last_copy(&self, c: &CopyRecord) -> Result<(), RestError> {
        self.api
            .set_state(
                &format!("sensor.lifeboat_{}_last_copy", slug(&c.destination)),
                &c.verified_at
                    .map_or_else(|| "unknown".to_owned(), |t| t.to_rfc3339()),
                json!({"friendly_name": format!("Lifeboat {} newest copy", c.destination),
                       "device_class": "timestamp", "copy_id": c.copy_id,
                       "size_bytes": c.stored_size}),
            )
            .await
    }
}

#[async_trait::async_trait]
impl RunObserver for HaReporter {
    async fn started(&self, request: &RunRequest) {
        self.running.store(true, Ordering::SeqCst);
        Self::log(
            self.api
                .fire_event(
                    "lifeboat_backup_started",
                    &json!({"trigger": request.trigger, "destinations": request.destinations, "name": request.name}),
                )
                .await,
        );
        Self::log(self.set_run_state("running", None, None).await);
    }

    async fn finished(&self, report: &RunReport) {
        self.running.store(false, Ordering::SeqCst);
        let data = json!({
            "run_id": report.run_id,
            "source": report.source,
            "status": report.status,
            "backup": report.backup.as_ref().map(|b| json!({"slug": b.slug, "name": b.name, "date": b.date})),
            "size": report.plain_size,
            "destinations": report.copies.iter().map(|c| json!({"name": c.destination, "verified": c.verified, "error": c.error})).collect::<Vec<_>>(),
            "error": report.error,
            "warnings": report.warnings,
            "readiness_news": report.readiness_news,
        });
        let kind = if report.status == RunStatus::Failed {
            "failed"
        } else {
            "finished"
        };
        Self::log(
            self.api
                .fire_event(&format!("lifeboat_backup_{kind}"), &data)
                .await,
        );
        if matches!(report.status, RunStatus::Failed | RunStatus::Partial) {
            let failed: Vec<String> = report
                .failed_destinations()
                .into_iter()
                .map(|f| format!("- {f}"))
                .collect();
            let message = format!(
                "{}{}{}",
                report
                    .error
                    .as_deref()
                    .unwrap_or("Some destinations did not get a verified copy."),
                if failed.is_empty() { "" } else { "\n\n" },
                failed.join("\n")
            );
            let title = if report.status == RunStatus::Failed {
                "Lifeboat: backup failed"
            } else {
                "Lifeboat: backup incomplete"
            };
            Self::log(
                self.api
                    .notify_persistent("lifeboat_backup_failed", title, &message)
                    .await,
            );
            if let Some(service) = &self.notify_service {
                Self::log(
                    self.api
                        .call_service(
                            "notify",
                            service,
                            &json!({"title": title, "message": message}),
                        )
                        .await,
                );
            }
        }
        if !report.readiness_news.is_empty() {
            // One notification for all of it, replaced by the next change.
            let message = format!(
                "Since the last backup, what a restore will need has changed:\n\n{}\n\nThe \
                 copy's \"Before you restore\" panel on the Lifeboat dashboard has the details.",
                report
                    .readiness_news
                    .iter()
                    .map(|n| format!("- {n}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            Self::log(
                self.api
                    .notify_persistent(
                        "lifeboat_readiness",
                        "Lifeboat: what a restore needs has changed",
                        &message,
                    )
                    .await,
            );
        }
        self.publish().await;
    }

    async fn refresh(&self) {
        // Called between runs only (the worker runs one job at a time).
        self.running.store(false, Ordering::SeqCst);
        self.publish().await;
    }
}
