//! The overview: whether the home is protected, in one line a newcomer understands; each
//! destination's newest verified copy and its age; what is running now (live); when the next
//! backup and check are due; the problems in plain words; the last few runs; "Back up now".

use super::{At, Live, PageError, local, outcome};
use crate::history::{CopyRecord, RunRow};
use crate::human;
use crate::jobs::TriggerError;
use crate::pipeline::progress::Snapshot;
use crate::pipeline::run::RunRequest;
use crate::report::{Problem, ProblemKind, Severity, Summary};
use crate::schedule::ScheduleName;
use crate::web::frame::{Frame, Section, back_to};
use crate::web::ingress::Ingress;
use crate::web::{AppState, Services};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The headline.
pub struct Verdict {
    /// `ok`, `warn`, `bad`, or `new` (nothing yet, nothing wrong).
    pub level: &'static str,
    pub headline: String,
    pub detail: String,
    /// Where to go to fix it, when one page does.
    pub link: Option<(String, &'static str)>,
}

/// One destination's card.
pub struct DestinationCard {
    pub name: String,
    pub kind: &'static str,
    pub location: String,
    pub level: &'static str,
    pub newest: String,
    pub problem: Option<String>,
    pub copies_href: String,
}

/// A problem in plain words, with a short tag.
pub struct ProblemLine {
    pub tag: &'static str,
    pub text: String,
}

/// A run in the short list.
pub struct RunLine {
    pub href: String,
    pub when: String,
    pub ago: String,
    pub name: String,
    pub outcome: &'static str,
    pub class: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub frame: Frame,
    pub verdict: Verdict,
    pub running: bool,
    pub step: String,
    pub next_backup: Option<String>,
    pub next_verify: Option<String>,
    pub destinations: Vec<DestinationCard>,
    pub problems: Vec<ProblemLine>,
    pub recent: Vec<RunLine>,
    pub runs_href: String,
    /// Each database source's last restore drill: its measured recovery time.
    pub drills: Vec<DrillLine>,
}

/// A source's last restore drill, for people.
pub struct DrillLine {
    pub source: String,
    pub text: String,
    pub class: &'static str,
}

#[derive(Deserialize)]
pub struct OverviewQuery {
    notice: Option<String>,
}

fn sentence(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn problem_line(p: &Problem) -> ProblemLine {
    ProblemLine {
        tag: p.tag(),
        text: sentence(&p.shown()),
    }
}

fn verdict(
    summary: &Summary,
    destinations: usize,
    now: DateTime<Utc>,
    kit_href: Option<String>,
) -> Verdict {
    if let Some(href) = kit_href {
        return Verdict {
            level: "bad",
            headline: "Not protected yet".into(),
            detail: "Lifeboat has no key to lock the copies with. Make one on the Emergency kit page and print your kit: it takes two minutes. Then back up.".into(),
            link: Some((href, "Make the key")),
        };
    }
    let Some(good) = &summary.last_good else {
        return match &summary.last {
            Some(r) if r.status != crate::history::RunStatus::Success => Verdict {
                level: "bad",
                headline: "Not protected yet".into(),
                detail: format!(
                    "No backup has reached an off-site copy. The last attempt failed: {}",
                    r.error.as_deref().unwrap_or("see its run")
                ),
                link: None,
            },
            _ => Verdict {
                level: "new",
                headline: "Not protected yet".into(),
                detail: "No backup has an off-site copy yet. Press “Back up now” to make the first one: it takes a few minutes.".into(),
                link: None,
            },
        };
    };
    let newest = summary.copies.iter().filter_map(|c| c.verified_at).max();
    let fresh = newest.map_or_else(|| human::ago(good.started_at, now), |t| human::ago(t, now));
    if summary.problems.is_empty() {
        return Verdict {
            level: "ok",
            headline: "Your home is protected".into(),
            detail: format!(
                "Newest verified off-site copy: {fresh}, on {} of {destinations} destination{}.",
                summary.copies.len().min(destinations),
                if destinations == 1 { "" } else { "s" }
            ),
            link: None,
        };
    }
    let worst = summary.problems.iter().map(Problem::severity).max();
    let serious = summary.state == "failed" || worst == Some(Severity::Bad);
    Verdict {
        level: if serious { "bad" } else { "warn" },
        headline: "Needs attention".into(),
        detail: format!(
            "{} Newest verified off-site copy: {fresh}.",
            problem_line(&summary.problems[0]).text
        ),
        link: None,
    }
}

fn card(
    s: &Services,
    frame: &Frame,
    d: &crate::destinations::Destination,
    newest: Option<&CopyRecord>,
    last_error: Option<String>,
    now: DateTime<Utc>,
    anything_yet: bool,
) -> DestinationCard {
    let limit = chrono::TimeDelta::from_std(s.watch.stale_after).unwrap_or(chrono::TimeDelta::MAX);
    let (level, text) = match newest.and_then(|c| c.verified_at.map(|t| (c, t))) {
        Some((c, t)) => (
            if now - t > limit { "bad" } else { "ok" },
            format!(
                "Newest verified copy {} ({}){}",
                human::ago(t, now),
                local(t, s.tz),
                c.stored_size
                    .map(|b| format!(", {}", human::size(b)))
                    .unwrap_or_default()
            ),
        ),
        None if anything_yet => ("bad", "No verified copy yet".to_owned()),
        None => ("new", "No copy yet".to_owned()),
    };
    DestinationCard {
        name: d.name.clone(),
        kind: d.kind.as_str(),
        location: d.location.clone(),
        level,
        newest: text,
        problem: last_error,
        copies_href: frame.href(&format!("/copies?destination={}", d.name)),
    }
}

/// When the next backups are, for people: the main schedule, then each source's own
/// (`postgres: in 3 h …`).
fn next_backups(s: &Services, now: DateTime<Utc>) -> Option<String> {
    let mut parts: Vec<String> = next_run(s, &ScheduleName::Backup, now)
        .into_iter()
        .collect();
    for plan in &s.schedules {
        if let ScheduleName::SourceBackup(source) = &plan.name
            && let Some(at) = next_run(s, &plan.name, now)
        {
            parts.push(format!("{source}: {at}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// When a schedule next fires, for people.
pub(crate) fn next_run(s: &Services, name: &ScheduleName, now: DateTime<Utc>) -> Option<String> {
    let plan = s.schedules.iter().find(|p| &p.name == name)?;
    let at = crate::schedule::next_after(&plan.cron, plan.tz, now)?;
    let jitter = if plan.jitter.is_zero() {
        String::new()
    } else {
        format!(
            ", up to {} later",
            human::duration(plan.jitter).replace(" 0 s", "")
        )
    };
    Some(format!(
        "{} ({}{jitter})",
        human::in_(now, at),
        local(at, s.tz)
    ))
}

pub(crate) fn run_line(
    frame: &Frame,
    r: &RunRow,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> RunLine {
    let (text, class) = outcome(r.status);
    RunLine {
        href: frame.href(&format!("/runs/{}", r.id)),
        when: local(r.started_at, tz),
        ago: human::ago(r.started_at, now),
        name: r
            .backup_name
            .clone()
            .unwrap_or_else(|| format!("Run {}", r.id)),
        outcome: text,
        class,
    }
}

/// `GET /`
pub async fn page(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Overview);
    let frame = Frame::new(&state, &ingress, Section::Overview, "Overview")
        .with_notice(q.notice.as_deref());
    let now = s.watch.clock.now();
    let running = s.progress.running();
    let loaded = async {
        let summary = Summary::load(&s.history, running, &s.watch).await?;
        let recent = s.history.recent_runs(5).await?;
        let attempts = s.history.last_attempts().await?;
        let drills = s.history.last_drills().await?;
        Ok::<_, crate::history::HistoryError>((summary, recent, attempts, drills))
    };
    let (summary, recent, attempts, drills) = loaded.await.map_err(|e| at.history(e))?;
    let anything_yet = summary.last_good.is_some();
    let no_key = s.keys.encryption().has_no_key();
    let destinations = s
        .destinations
        .iter()
        .map(|d| {
            let newest = summary.copies.iter().find(|c| c.destination == d.name);
            let last_error = attempts
                .iter()
                .find(|a| a.destination == d.name)
                .and_then(|a| {
                    a.error
                        .as_ref()
                        .map(|e| format!("Last attempt failed {}: {e}", human::ago(a.at, now)))
                });
            card(&s, &frame, d, newest, last_error, now, anything_yet)
        })
        .collect();
    let snapshot: Snapshot = s.progress.snapshot(now);
    let page = OverviewPage {
        verdict: verdict(
            &summary,
            s.destinations.len(),
            now,
            no_key.then(|| frame.href("/kit")),
        ),
        running,
        step: snapshot.step.unwrap_or_default(),
        next_backup: next_backups(&s, now),
        drills: drills
            .into_iter()
            .map(|d| DrillLine {
                text: if d.ok {
                    format!(
                        "{} (drilled {}, {}): {}",
                        human::duration(std::time::Duration::from_millis(d.ms)),
                        human::ago(d.at, now),
                        d.copy_id,
                        d.detail
                    )
                } else {
                    format!(
                        "the drill of {} failed {}: {}",
                        d.copy_id,
                        human::ago(d.at, now),
                        d.detail
                    )
                },
                class: if d.ok { "ok" } else { "problem" },
                source: d.source,
            })
            .collect(),
        next_verify: next_run(&s, &ScheduleName::Verify, now),
        destinations,
        // A new install's one "problem" is the headline already; a caution about its settings is
        // not, and is best said before the first backup.
        problems: summary
            .problems
            .iter()
            .filter(|p| anything_yet || summary.last.is_some() || p.kind == ProblemKind::Cleartext)
            .map(problem_line)
            .collect(),
        recent: recent
            .iter()
            .map(|r| run_line(&frame, r, s.tz, now))
            .collect(),
        runs_href: frame.href("/runs"),
        frame,
    };
    Ok(page.into_response())
}

/// Queues a backup; while nothing else runs, the progress board shows it waiting at once.
///
/// # Errors
/// [`TriggerError`] when a job is already waiting or Lifeboat is stopping.
pub(crate) fn start_backup(s: &Services, trigger: &str) -> Result<(), TriggerError> {
    let idle = !s.progress.running();
    let now = s.watch.clock.now();
    if idle {
        // Before the job is queued, so the worker's own start always comes after this.
        s.progress.begin(trigger, now, "Waiting to start");
    }
    s.triggers.fire(RunRequest::new(trigger)).inspect_err(|_| {
        if idle {
            s.progress.abandon();
        }
    })
}

/// `POST /backup` (the button).
pub async fn backup(ingress: Ingress, Live(s): Live) -> Response {
    let notice = match start_backup(&s, "dashboard") {
        Ok(()) => "started",
        Err(TriggerError::Queued) => "busy",
        Err(TriggerError::Stopped) => "stopping",
    };
    back_to(&ingress.prefix, "/", notice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::RunStatus;

    fn good_run(now: DateTime<Utc>) -> RunRow {
        RunRow {
            id: 1,
            started_at: now,
            finished_at: Some(now),
            trigger: "schedule".into(),
            source: "folder".into(),
            status: RunStatus::Success,
            backup_slug: None,
            backup_name: None,
            backup_date: None,
            plain_size: None,
            plain_sha256: None,
            stored_size: None,
            stored_sha256: None,
            error: None,
            warnings: Vec::new(),
            timeline: Vec::new(),
            keys: None,
            versions: None,
            source_name: None,
            copies: Vec::new(),
        }
    }

    fn verdict_with(problem: Problem) -> Verdict {
        let now = Utc::now();
        let summary = Summary {
            state: "idle",
            last: Some(good_run(now)),
            last_good: Some(good_run(now)),
            problems: vec![problem],
            copies: Vec::new(),
            kit: None,
        };
        verdict(&summary, 1, now, None)
    }

    /// Issue 36: a destination that refused its credentials gets no copy until a person acts, so
    /// the headline is as red as for a stale copy (it once was the mild "warn").
    #[test]
    fn settings_to_fix_make_the_headline_bad() {
        let fix = Problem::new(
            ProblemKind::FixSettings,
            "s3 refused the credentials (403); correct them",
        );
        let v = verdict_with(fix);
        assert_eq!(v.level, "bad");
        assert!(
            v.detail
                .starts_with("Fix settings: s3 refused the credentials"),
            "{}",
            v.detail
        );
        let stale = Problem::new(ProblemKind::Stale, "nas holds no verified copy");
        assert_eq!(verdict_with(stale).level, "bad");
        let kit = Problem::new(ProblemKind::Kit, "the emergency kit has never been checked");
        assert_eq!(verdict_with(kit).level, "warn");
    }
}
