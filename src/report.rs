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
use crate::history::{CopyRecord, History, HistoryError, KeyLedger, RunRow, RunStatus};
use crate::pipeline::record::RunReport;
use crate::pipeline::run::{RunObserver, RunRequest};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

mod problem;

pub use problem::{Problem, ProblemKind, Severity};

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
        let (last, last_good) = (s.last.as_ref(), s.last_good.as_ref());
        Self::log(
            self.set_run_state(
                s.state,
                last.map(|r| r.id),
                last.and_then(|r| r.error.clone()),
            )
            .await,
        );
        Self::log(
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
                .await,
        );
        Self::log(
            self.api
                .set_state(
                    "binary_sensor.lifeboat_problem",
                    if s.problems.is_empty() { "off" } else { "on" },
                    json!({"friendly_name": "Lifeboat problem", "device_class": "problem", "problems": s.problems}),
                )
                .await,
        );
        // With several sources, each one's newest verified copy: `sensor.lifeboat_postgres_last_backup`.
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
        let kit_overdue = s
            .kit
            .as_ref()
            .is_some_and(|k| k.overdue(self.watch.clock.now()));
        Self::log(
            self.api
                .set_state(
                    "binary_sensor.lifeboat_kit_check_due",
                    if kit_overdue { "on" } else { "off" },
                    json!({"friendly_name": "Lifeboat emergency kit check due", "device_class": "problem",
                           "icon": "mdi:file-key",
                           "last_checked": s.kit.as_ref().and_then(|k| k.checked).map(|t| t.to_rfc3339()),
                           "due": s.kit.as_ref().and_then(|k| k.due).map(|t| t.to_rfc3339())}),
                )
                .await,
        );
        // Stale or damaged copies need a person even when no run failed: one notification, replaced
        // while the problems last and dismissed when they are gone.
        let lasting: Vec<&Problem> = s
            .problems
            .iter()
            .filter(|p| p.kind.about_copies())
            .collect();
        let note = if lasting.is_empty() {
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
        };
        Self::log(note);
        for c in &s.copies {
            Self::log(
                self.api
                    .set_state(
                        &format!("sensor.lifeboat_{}_last_copy", slug(&c.destination)),
                        &c.verified_at
                            .map_or_else(|| "unknown".to_owned(), |t| t.to_rfc3339()),
                        json!({"friendly_name": format!("Lifeboat {} newest copy", c.destination),
                               "device_class": "timestamp", "copy_id": c.copy_id,
                               "size_bytes": c.stored_size}),
                    )
                    .await,
            );
        }
    }
}

/// Lifeboat's state as people and automations see it, from history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// `idle`, `running` or `failed` (the last run failed).
    pub state: &'static str,
    pub last: Option<RunRow>,
    pub last_good: Option<RunRow>,
    /// What needs a person's attention, in plain words (empty when all is well).
    pub problems: Vec<Problem>,
    /// The newest verified copy on each destination.
    pub copies: Vec<CopyRecord>,
    /// Where the kit check stands (`None` when it is never asked).
    pub kit: Option<crate::history::KitDue>,
}

impl Summary {
    /// Reads the summary from history, judging staleness against `watch`.
    ///
    /// # Errors
    /// [`HistoryError`] when history cannot be read.
    pub async fn load(
        history: &History,
        running: bool,
        watch: &Watch,
    ) -> Result<Self, HistoryError> {
        let now = watch.clock.now();
        let (last, last_good) = history.last_ended_and_good().await?;
        let state = if running {
            "running"
        } else if last.as_ref().is_some_and(|r| r.status == RunStatus::Failed) {
            "failed"
        } else {
            "idle"
        };
        let mut problems = Vec::new();
        match (&last, &last_good) {
            (_, None) => problems.push(Problem::new(
                ProblemKind::NothingYet,
                "no backup has a verified off-site copy yet",
            )),
            (Some(r), _) if r.status == RunStatus::Failed => {
                problems.push(Problem::new(
                    ProblemKind::LastFailed,
                    format!(
                        "the last backup failed: {}",
                        r.error.as_deref().unwrap_or("see Lifeboat")
                    ),
                ));
            }
            (Some(r), _) if r.status == RunStatus::Partial => {
                let failed: Vec<&str> = r
                    .copies
                    .iter()
                    .filter(|c| !c.verified)
                    .map(|c| c.destination.as_str())
                    .collect();
                problems.push(Problem::new(
                    ProblemKind::Incomplete,
                    format!("the last backup did not reach {}", failed.join(", ")),
                ));
            }
            _ => {}
        }
        // A copy that opens only with a key nobody has is no copy: say so while it is the newest.
        if let Some(good) = &last_good
            && good.keys.as_ref().is_some_and(KeyLedger::ha_key_missing)
        {
            problems.push(Problem::new(
                ProblemKind::Keys,
                "the newest backup is protected with a Home Assistant key Lifeboat has never \
                 seen; import it (lifeboat keys import) from Home Assistant's emergency kit",
            ));
        }
        let copies = history.latest_verified_copies().await?;
        if last_good.is_some() {
            let limit =
                chrono::TimeDelta::from_std(watch.stale_after).unwrap_or(chrono::TimeDelta::MAX);
            for name in &watch.destinations {
                let newest = copies
                    .iter()
                    .find(|c| &c.destination == name)
                    .and_then(|c| c.verified_at);
                match newest {
                    None => problems.push(Problem::new(
                        ProblemKind::Stale,
                        format!("{name} holds no verified copy"),
                    )),
                    Some(t) if now.signed_duration_since(t) > limit => {
                        problems.push(Problem::new(
                            ProblemKind::Stale,
                            format!(
                                "the newest verified copy on {name} is {} hours old",
                                now.signed_duration_since(t).num_hours()
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        for source in &watch.sources {
            let limit =
                chrono::TimeDelta::from_std(source.stale_after).unwrap_or(chrono::TimeDelta::MAX);
            match history
                .newest_verified_of(&source.name, source.first)
                .await?
            {
                None => problems.push(Problem::new(
                    ProblemKind::Stale,
                    format!("{} has no verified copy yet", source.name),
                )),
                Some(t) if now.signed_duration_since(t) > limit => problems.push(Problem::new(
                    ProblemKind::Stale,
                    format!(
                        "no verified copy of {} for {} hours",
                        source.name,
                        now.signed_duration_since(t).num_hours()
                    ),
                )),
                Some(_) => {}
            }
        }
        // Failed re-verifications of the last week (older ones have been re-checked or pruned since).
        let mut damaged: Vec<String> = history
            .last_checks()
            .await?
            .into_iter()
            .filter(|(_, c)| !c.ok && now.signed_duration_since(c.at) <= chrono::TimeDelta::days(7))
            .filter(|((d, _), _)| watch.destinations.contains(d))
            .map(|((d, id), c)| format!("copy {id} on {d}: {}", c.error.unwrap_or_default()))
            .collect();
        damaged.sort();
        problems.extend(
            damaged
                .into_iter()
                .map(|text| Problem::new(ProblemKind::Damaged, text)),
        );
        problems.extend(settings_to_fix(history, watch).await?);
        problems.extend(watch.cautions.iter().map(caution));
        let kit = match watch.kit_every {
            Some(every) => Some(history.kit_due(every).await?),
            None => None,
        };
        if let Some(k) = kit.as_ref().filter(|k| k.overdue(now)) {
            let text = match k.checked {
                Some(t) => format!(
                    "the emergency kit was last checked {} days ago; check it on the Emergency kit page",
                    now.signed_duration_since(t).num_days()
                ),
                None => "the emergency kit has never been checked; print it and check it on the \
                         Emergency kit page"
                    .to_owned(),
            };
            problems.push(Problem::new(ProblemKind::Kit, text));
        }
        Ok(Self {
            state,
            last,
            last_good,
            problems,
            copies,
            kit,
        })
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

/// Destinations that refused their settings: retrying cannot help until a person fixes them, so
/// each is a problem that says so (one line per destination, the newest reason).
async fn settings_to_fix(history: &History, watch: &Watch) -> Result<Vec<Problem>, HistoryError> {
    let mut seen = std::collections::BTreeMap::new();
    for r in history.retries().await? {
        if r.waits_for.is_some() && watch.destinations.contains(&r.destination) {
            seen.insert(r.destination.clone(), r);
        }
    }
    Ok(seen
        .into_values()
        .map(|r| {
            let why = match r.failure.as_deref() {
                Some("denied") => "refused the credentials",
                _ => "cannot work with its settings",
            };
            let text = format!(
                "{} {why} ({}); correct them in Lifeboat's options — it is not retried until they \
                 change, then at once",
                r.destination,
                r.last_error.as_deref().unwrap_or("no reason given")
            );
            Problem::new(ProblemKind::FixSettings, text)
        })
        .collect())
}

/// A caution about the settings ([`crate::config::cautions`]) as a problem of its kind, with its
/// words.
fn caution(c: &crate::config::Caution) -> Problem {
    let kind = match c.kind {
        crate::config::CautionKind::Cleartext => ProblemKind::Cleartext,
    };
    Problem::new(kind, c.text.clone())
}
