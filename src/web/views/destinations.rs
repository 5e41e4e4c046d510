//! Destinations: each one's state (newest verified copy, last attempt, last error, what it is
//! still owed), its retention policy and copy count from history, the space Lifeboat's copies take
//! there over the last 90 days, how long recent runs took, and each one's newest test with a
//! button to test it now.

use super::{At, Live, PageError, local};
use crate::destinations::probe::{Cause, Step};
use crate::history::probes::ProbeRow;
use crate::human;
use crate::web::AppState;
use crate::web::chart::{self, Bar};
use crate::web::frame::{Frame, Section};
use crate::web::ingress::Ingress;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

/// Days the storage chart covers.
const CHART_DAYS: i64 = 90;
/// Runs the duration chart shows.
const CHART_RUNS: usize = 60;

/// One destination's card.
pub struct DestinationView {
    pub name: String,
    pub kind: &'static str,
    pub location: String,
    /// How the server proves who it is (SFTP's host key), when that is the user's to check.
    pub trust: Option<String>,
    pub policy: String,
    pub copies: u64,
    pub space: String,
    pub newest: String,
    pub last_attempt: String,
    pub last_attempt_failed: bool,
    pub last_error: Option<String>,
    pub owed: Vec<String>,
    pub copies_href: String,
    pub runs_href: String,
    /// The newest test of the destination, in words (`None`: never tested).
    pub probe: Option<ProbeLine>,
    /// Where its "Test now" button posts.
    pub probe_action: String,
}

/// A destination's newest test on its card.
pub struct ProbeLine {
    pub text: String,
    pub failed: bool,
}

/// The card's line for the newest test `p`.
fn probe_line(p: &ProbeRow, now: chrono::DateTime<chrono::Utc>) -> ProbeLine {
    let text = if p.ok {
        format!("Passed {}", human::ago(p.at, now))
    } else {
        let cause = p
            .cause
            .as_deref()
            .and_then(Cause::from_word)
            .unwrap_or(Cause::Other);
        let step = p.step.as_deref().and_then(Step::from_word);
        format!(
            "Failed {}: {}{}",
            human::ago(p.at, now),
            cause.words(),
            step.map(|s| format!(" ({})", s.words()))
                .unwrap_or_default()
        )
    };
    ProbeLine {
        text,
        failed: !p.ok,
    }
}

/// The page's query: the notice an action left.
#[derive(Debug, Default, serde::Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "destinations.html")]
pub struct DestinationsPage {
    pub frame: Frame,
    pub destinations: Vec<DestinationView>,
    pub storage_chart: String,
    pub durations_chart: String,
    pub has_runs: bool,
}

/// `GET /destinations` (`?notice=` after a test asked for on a card).
pub async fn page(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Destinations);
    let frame = Frame::new(&state, &ingress, Section::Destinations, "Destinations")
        .with_notice(q.notice.as_deref());
    let now = s.watch.clock.now();
    let from = now - chrono::TimeDelta::days(CHART_DAYS);
    let loaded = async {
        Ok::<_, crate::history::HistoryError>((
            s.history.destination_records().await?,
            s.history.storage_events(from).await?,
            s.history.latest_verified_copies().await?,
            s.history.retries().await?,
            s.history.run_spans(CHART_RUNS).await?,
        ))
    };
    let (records, events, newest, retries, runs) = loaded.await.map_err(|e| at.history(e))?;
    let names: Vec<String> = s.destinations.iter().map(|d| d.name.clone()).collect();
    let probes = s
        .history
        .last_probes(&names)
        .await
        .map_err(|e| at.history(e))?;
    let series = chart::storage_series(&events, &names, from, now);
    let destinations = s
        .destinations
        .iter()
        .zip(&series)
        .map(|(d, line)| {
            let rec = records.iter().find(|r| r.name == d.name);
            let (last_attempt, last_attempt_failed) =
                match rec.and_then(|r| r.last_attempt.as_ref()) {
                    Some((at, None)) => (format!("Succeeded {}", human::ago(*at, now)), false),
                    Some((at, Some(e))) => (format!("Failed {}: {e}", human::ago(*at, now)), true),
                    None => ("Never tried yet".to_owned(), false),
                };
            DestinationView {
                name: d.name.clone(),
                kind: d.kind.as_str(),
                location: d.location.clone(),
                trust: d.store.trust(),
                policy: if d.retention.keeps_everything() {
                    "Keeps every copy".to_owned()
                } else {
                    format!("Keeps {}", d.retention)
                },
                copies: rec.map_or(0, |r| r.copies),
                space: human::size(line.points.last().map_or(0, |p| p.1)),
                newest: newest
                    .iter()
                    .find(|c| c.destination == d.name)
                    .and_then(|c| c.verified_at)
                    .map_or_else(
                        || "No verified copy yet".to_owned(),
                        |t| format!("{} ({})", human::ago(t, now), local(t, s.tz)),
                    ),
                last_attempt,
                last_attempt_failed,
                last_error: rec
                    .and_then(|r| r.last_error.as_ref())
                    .map(|(at, e)| format!("{}: {e}", local(*at, s.tz))),
                owed: retries
                    .iter()
                    .filter(|r| r.destination == d.name)
                    .map(|r| {
                        format!(
                            "{}: attempt {} {}",
                            r.hint,
                            r.attempts + 1,
                            human::in_(now, r.next_at)
                        )
                    })
                    .collect(),
                copies_href: frame.href(&format!("/copies?destination={}", d.name)),
                runs_href: frame.href(&format!("/runs?destination={}", d.name)),
                probe: probes
                    .iter()
                    .find(|p| p.destination == d.name)
                    .map(|p| probe_line(p, now)),
                probe_action: frame.href(&format!("/destinations/{}/probe", d.name)),
            }
        })
        .collect();
    let mut bars: Vec<Bar> = runs
        .iter()
        .filter_map(|r| {
            let took = (r.finished_at? - r.started_at).to_std().ok();
            Some(Bar {
                run_id: r.id,
                started: r.started_at,
                seconds: took.map_or(0.0, |d| d.as_secs_f64()),
                status: r.status,
            })
        })
        .collect();
    bars.reverse();
    Ok(DestinationsPage {
        storage_chart: chart::storage(&series, from, now, s.tz),
        durations_chart: chart::durations(&bars, s.tz),
        has_runs: !bars.is_empty(),
        destinations,
        frame,
    }
    .into_response())
}
