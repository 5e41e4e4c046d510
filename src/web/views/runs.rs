//! Runs: the history, a page at a time, filtered by outcome, trigger and destination; and one run
//! whole — its timeline, sizes, throughput, checksums, each copy, warnings and errors.

use super::overview::{RunLine, run_line};
use super::{At, Live, PageError, local, outcome};
use crate::history::{RunFilter, RunStatus};
use crate::human;
use crate::web::AppState;
use crate::web::frame::{Frame, Section};
use crate::web::ingress::Ingress;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Runs on a page.
pub const PAGE: usize = 25;

/// An option in a filter's list.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// What changed in the versions running between `run` and the newest of `older` that recorded
/// them ("Core 2025.3.4 → 2025.4.4"), if anything.
fn updated_since(run: &crate::history::RunRow, older: &[crate::history::RunRow]) -> Option<String> {
    let now = run.versions.as_ref()?;
    let before = older.iter().find_map(|r| r.versions.as_ref())?;
    let changes = now.running().changes_since(before.running());
    (!changes.is_empty()).then(|| format!("Updated between these runs: {}", changes.join(", ")))
}

/// A row of the runs table.
pub struct RunRowView {
    pub line: RunLine,
    pub id: i64,
    pub trigger: String,
    pub size: String,
    pub took: String,
    pub copies: String,
    /// The Core version its backup restores to.
    pub restores_to: Option<String>,
    /// What was updated between this run and the one listed below it (the one before).
    pub updated: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "runs.html")]
pub struct RunsPage {
    pub frame: Frame,
    pub action: String,
    pub statuses: Vec<Choice>,
    pub triggers: Vec<Choice>,
    pub destinations: Vec<Choice>,
    pub rows: Vec<RunRowView>,
    pub total: u64,
    pub page: usize,
    pub pages: usize,
    pub newer: Option<String>,
    pub older: Option<String>,
    pub filtered: bool,
}

#[derive(Deserialize, Default)]
pub struct RunsQuery {
    status: Option<String>,
    trigger: Option<String>,
    destination: Option<String>,
    page: Option<String>,
}

const STATUS_CHOICES: [(&str, &str); 5] = [
    ("problems", "Anything but success"),
    ("success", "Verified everywhere"),
    ("partial", "Some destinations failed"),
    ("failed", "Failed"),
    ("interrupted", "Interrupted"),
];

fn statuses_of(key: &str) -> Vec<RunStatus> {
    match key {
        "problems" => vec![
            RunStatus::Partial,
            RunStatus::Failed,
            RunStatus::Interrupted,
        ],
        "success" => vec![RunStatus::Success],
        "partial" => vec![RunStatus::Partial],
        "failed" => vec![RunStatus::Failed],
        "interrupted" => vec![RunStatus::Interrupted],
        "running" => vec![RunStatus::Running],
        _ => Vec::new(),
    }
}

fn nonempty(v: Option<&String>) -> Option<String> {
    v.filter(|s| !s.is_empty()).cloned()
}

/// `GET /runs`
pub async fn list(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Query(q): Query<RunsQuery>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Runs);
    let frame = Frame::new(&state, &ingress, Section::Runs, "Runs");
    let status = nonempty(q.status.as_ref()).filter(|k| !statuses_of(k).is_empty());
    let trigger = nonempty(q.trigger.as_ref());
    let destination = nonempty(q.destination.as_ref());
    let page = q
        .page
        .as_deref()
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let filter = RunFilter {
        statuses: status.as_deref().map(statuses_of).unwrap_or_default(),
        trigger: trigger.clone(),
        destination: destination.clone(),
    };
    let loaded = async {
        let (runs, total) = s.history.runs(filter, PAGE, (page - 1) * PAGE).await?;
        let triggers = s.history.triggers().await?;
        Ok::<_, crate::history::HistoryError>((runs, total, triggers))
    };
    let (runs, total, known_triggers) = loaded.await.map_err(|e| at.history(e))?;
    let now = s.watch.clock.now();
    let pages = usize::try_from(total)
        .unwrap_or(usize::MAX)
        .div_ceil(PAGE)
        .max(1);
    let link = |p: usize| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &status),
            ("trigger", &trigger),
            ("destination", &destination),
        ] {
            if let Some(v) = v {
                query.append_pair(k, v);
            }
        }
        query.append_pair("page", &p.to_string());
        frame.href(&format!("/runs?{}", query.finish()))
    };
    let choices = |all: Vec<(String, String)>, chosen: &Option<String>| {
        all.into_iter()
            .map(|(value, label)| Choice {
                selected: chosen.as_deref() == Some(value.as_str()),
                value,
                label,
            })
            .collect::<Vec<_>>()
    };
    let rows = runs
        .iter()
        .enumerate()
        .map(|(i, r)| RunRowView {
            restores_to: r
                .versions
                .as_ref()
                .and_then(|v| v.backup.core.as_ref())
                .map(|c| format!("Core {c}")),
            updated: updated_since(r, runs.get(i + 1..).unwrap_or_default()),
            line: run_line(&frame, r, s.tz, now),
            id: r.id,
            trigger: r.trigger.clone(),
            size: r.plain_size.map(human::size).unwrap_or_default(),
            took: r.took().map(human::duration).unwrap_or_default(),
            copies: r
                .copies
                .iter()
                .map(|c| format!("{} {}", if c.verified { "✓" } else { "✗" }, c.destination))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    Ok(RunsPage {
        action: frame.href("/runs"),
        statuses: choices(
            STATUS_CHOICES
                .iter()
                .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
                .collect(),
            &status,
        ),
        triggers: choices(
            known_triggers.into_iter().map(|t| (t.clone(), t)).collect(),
            &trigger,
        ),
        destinations: choices(
            s.destinations
                .iter()
                .map(|d| (d.name.clone(), d.name.clone()))
                .collect(),
            &destination,
        ),
        rows,
        total,
        page,
        pages,
        newer: (page > 1).then(|| link(page - 1)),
        older: (page < pages).then(|| link(page + 1)),
        filtered: status.is_some() || trigger.is_some() || destination.is_some(),
        frame,
    }
    .into_response())
}

/// A copy as a run's page shows it.
pub struct CopyView {
    pub destination: String,
    pub copy_id: String,
    pub verified: bool,
    pub size: String,
    pub upload: String,
    pub read_back: String,
    pub error: Option<String>,
    pub href: String,
}

/// A step of the timeline.
pub struct MomentView {
    pub at: String,
    pub offset: String,
    pub what: String,
    pub destination: Option<String>,
    pub failed: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "run.html")]
pub struct RunPage {
    pub frame: Frame,
    pub id: i64,
    pub outcome: &'static str,
    pub class: &'static str,
    pub facts: Vec<(&'static str, String)>,
    pub checksums: Vec<(&'static str, String)>,
    pub timeline: Vec<MomentView>,
    pub copies: Vec<CopyView>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    pub runs_href: String,
    /// What a restore of this run's backup will need, in a line, and what changed since the run
    /// before.
    pub readiness: Option<String>,
    pub readiness_news: Vec<String>,
}

/// `GET /runs/{id}`
pub async fn one(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Runs);
    let frame = Frame::new(&state, &ingress, Section::Runs, &format!("Run {id}"));
    let missing = || {
        at.said(
            StatusCode::NOT_FOUND,
            &format!("Run {id}"),
            "No such run",
            "History holds no run with this number. It may be from another Lifeboat.",
        )
    };
    let number = id.parse::<i64>().map_err(|_| missing())?;
    let run = s
        .history
        .run(number)
        .await
        .map_err(|e| at.history(e))?
        .ok_or_else(missing)?;
    let (text, class) = outcome(run.status);
    let tz = s.tz;
    let mut facts = vec![
        ("Started", local(run.started_at, tz)),
        ("Trigger", run.trigger.clone()),
        (
            "Source",
            match &run.source_name {
                Some(name) if *name != run.source => format!("{name} ({})", run.source),
                _ => run.source.clone(),
            },
        ),
    ];
    if let Some(f) = run.finished_at {
        facts.push(("Finished", local(f, tz)));
    }
    if let Some(d) = run.took() {
        facts.push(("Took", human::duration(d)));
        if let Some(size) = run.plain_size.filter(|_| !d.is_zero()) {
            #[allow(clippy::cast_precision_loss)]
            let rate = size as f64 / d.as_secs_f64();
            facts.push(("Throughput", human::rate(rate)));
        }
    }
    if let Some(n) = &run.backup_name {
        facts.push(("Backup", n.clone()));
    }
    if let Some(slug) = &run.backup_slug {
        facts.push(("Backup id", slug.clone()));
    }
    if let Some(d) = &run.backup_date {
        facts.push(("Made by Home Assistant", d.clone()));
    }
    if let Some(n) = run.plain_size {
        facts.push(("Size", human::size(n)));
    }
    if let Some(n) = run.stored_size {
        facts.push(("Stored size (encrypted)", human::size(n)));
    }
    let ready = s
        .history
        .readiness(run.id)
        .await
        .map_err(|e| at.history(e))?;
    if let Some(v) = ready
        .as_ref()
        .and_then(|r| r.report.restore_into.homeassistant.clone())
    {
        facts.push(("Restores into", format!("Home Assistant {v} or newer")));
    }
    let mut checksums = Vec::new();
    if let Some(h) = &run.plain_sha256 {
        checksums.push(("SHA-256 of the backup", h.clone()));
    }
    if let Some(h) = &run.stored_sha256 {
        checksums.push(("SHA-256 as stored", h.clone()));
    }
    let timeline = run
        .timeline
        .iter()
        .map(|m| MomentView {
            at: m.at.with_timezone(&tz).format("%H:%M:%S").to_string(),
            offset: format!(
                "+{}",
                human::duration((m.at - run.started_at).to_std().unwrap_or_default())
            ),
            what: m.what.clone(),
            destination: m.destination.clone(),
            failed: m.failed,
        })
        .collect();
    let copies = run
        .copies
        .iter()
        .map(|c| {
            let upload = c.upload_ms.map_or_else(String::new, |ms| {
                let d = std::time::Duration::from_millis(ms);
                match c.stored_size.filter(|_| ms > 0) {
                    #[allow(clippy::cast_precision_loss)]
                    Some(b) => format!(
                        "{} ({})",
                        human::duration(d),
                        human::rate(b as f64 / d.as_secs_f64())
                    ),
                    None => human::duration(d),
                }
            });
            CopyView {
                destination: c.destination.clone(),
                copy_id: c.copy_id.clone(),
                verified: c.verified,
                size: c.stored_size.map(human::size).unwrap_or_default(),
                upload,
                read_back: c
                    .verify_ms
                    .map(|ms| human::duration(std::time::Duration::from_millis(ms)))
                    .unwrap_or_default(),
                error: c.error.clone(),
                href: frame.href(&format!("/copies?destination={}", c.destination)),
            }
        })
        .collect();
    Ok(RunPage {
        id: run.id,
        outcome: text,
        class,
        facts,
        checksums,
        timeline,
        copies,
        warnings: run.warnings.clone(),
        error: run.error.clone(),
        readiness: ready.as_ref().map(|r| r.report.digest().describe()),
        readiness_news: ready.map(|r| r.news).unwrap_or_default(),
        runs_href: frame.href("/runs"),
        frame,
    }
    .into_response())
}
