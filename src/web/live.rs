//! Live progress for the dashboard: `GET /api/live` streams server-sent events (through ingress,
//! which streams `text/event-stream` uncompressed), one JSON view of the progress board per change
//! — at once on connect, so a page opened mid-run joins it, then on every step and about every
//! second while bytes move. `GET /api/progress` answers the same view once, for polling and scripts.

use super::AppState;
use crate::human;
use crate::pipeline::progress::{JobOutcome, LaneState, Snapshot};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// One destination, ready to show.
#[derive(Debug, Serialize, PartialEq)]
pub struct LaneView {
    pub name: String,
    pub state: LaneState,
    pub state_text: &'static str,
    pub bytes: u64,
    pub bytes_text: String,
    /// 0–100 when the size is known.
    pub percent: Option<u8>,
    pub rate_text: Option<String>,
    pub eta_text: Option<String>,
}

/// A step of the timeline, ready to show.
#[derive(Debug, Serialize, PartialEq)]
pub struct MomentView {
    pub at: DateTime<Utc>,
    pub at_text: String,
    pub what: String,
    pub destination: Option<String>,
    pub failed: bool,
}

/// How the last job ended, ready to show.
#[derive(Debug, Serialize, PartialEq)]
pub struct EndedView {
    pub outcome: String,
    pub text: &'static str,
    pub run_id: Option<i64>,
}

/// The progress board, ready to show.
#[derive(Debug, Serialize, PartialEq)]
pub struct LiveView {
    pub running: bool,
    pub step: Option<String>,
    pub backup: Option<String>,
    pub run_id: Option<i64>,
    pub size: Option<u64>,
    pub read: u64,
    pub read_text: String,
    pub percent: Option<u8>,
    pub destinations: Vec<LaneView>,
    pub timeline: Vec<MomentView>,
    pub last: Option<EndedView>,
}

fn percent(part: u64, whole: Option<u64>) -> Option<u8> {
    let whole = whole.filter(|w| *w > 0)?;
    let p = (u128::from(part.min(whole)) * 100 / u128::from(whole)).min(100);
    u8::try_from(p).ok()
}

/// The view of a snapshot, with times in `tz`.
pub fn view(s: Snapshot, tz: chrono_tz::Tz) -> LiveView {
    let size = s.size;
    LiveView {
        running: s.running,
        step: s.step,
        backup: s.backup,
        run_id: s.run_id,
        size,
        read: s.read,
        read_text: match size {
            Some(total) => format!("{} of {}", human::size(s.read), human::size(total)),
            None => human::size(s.read),
        },
        percent: percent(s.read, size),
        destinations: s
            .destinations
            .into_iter()
            .map(|l| LaneView {
                state_text: match l.state {
                    LaneState::Uploading => "Uploading",
                    LaneState::Uploaded => "Uploaded",
                    LaneState::ReadingBack => "Reading back",
                    LaneState::Verified => "Verified",
                    LaneState::Failed => "Failed",
                },
                percent: match l.state {
                    LaneState::Uploading => percent(l.bytes, size),
                    LaneState::Failed => None,
                    LaneState::Uploaded | LaneState::ReadingBack | LaneState::Verified => Some(100),
                },
                bytes_text: human::size(l.bytes),
                rate_text: l.rate.map(human::rate),
                eta_text: l
                    .eta_seconds
                    .map(|s| format!("about {} left", human::duration(Duration::from_secs(s)))),
                name: l.name,
                state: l.state,
                bytes: l.bytes,
            })
            .collect(),
        timeline: s
            .timeline
            .into_iter()
            .map(|m| MomentView {
                at_text: m.at.with_timezone(&tz).format("%H:%M:%S").to_string(),
                at: m.at,
                what: m.what,
                destination: m.destination,
                failed: m.failed,
            })
            .collect(),
        last: s.last.map(|e| EndedView {
            text: match e.outcome {
                JobOutcome::Success => "Done: every destination holds a verified copy.",
                JobOutcome::Partial => "Done, but some destinations did not get a verified copy.",
                JobOutcome::Nothing => "Done: there was nothing new to back up.",
                JobOutcome::Updated => {
                    "Done: the update is installed, after its backup was verified off-site."
                }
                JobOutcome::NotInstalled => {
                    "The update was not installed (the steps above say why); its copies are kept."
                }
                JobOutcome::Failed => "Failed: see the run for why.",
            },
            outcome: e.outcome.as_str().to_owned(),
            run_id: e.run_id,
        }),
    }
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({"error": "the options are invalid"})),
    )
        .into_response()
}

/// `GET /api/progress`
pub async fn progress(State(state): State<AppState>) -> Response {
    let Some(s) = state.services() else {
        return unavailable();
    };
    Json(view(s.progress.snapshot(s.watch.clock.now()), s.tz)).into_response()
}

/// `GET /api/live`
pub async fn events(State(state): State<AppState>) -> Response {
    let Some(s) = state.services() else {
        return unavailable();
    };
    let rx = s.progress.subscribe();
    let shutdown = state.shutdown.clone();
    let stream = futures::stream::unfold(
        (s, rx, None::<String>, shutdown),
        |(s, mut rx, last, shutdown)| async move {
            loop {
                if last.is_some() {
                    // Bytes move without waking the board: look again every second while running.
                    let tick = if s.progress.running() {
                        Duration::from_secs(1)
                    } else {
                        Duration::from_secs(30)
                    };
                    tokio::select! {
                        () = shutdown.cancelled() => return None,
                        r = rx.changed() => if r.is_err() { return None },
                        () = tokio::time::sleep(tick) => {}
                    }
                }
                rx.mark_unchanged();
                let v = view(s.progress.snapshot(s.watch.clock.now()), s.tz);
                let json = serde_json::to_string(&v).unwrap_or_else(|_| "{}".into());
                if last.as_deref() == Some(json.as_str()) {
                    continue;
                }
                let event = Event::default().event("progress").data(json.clone());
                return Some((
                    Ok::<_, std::convert::Infallible>(event),
                    (s, rx, Some(json), shutdown),
                ));
            }
        },
    );
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        "cache-control",
        axum::http::HeaderValue::from_static("no-cache"),
    );
    h.insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::progress::Progress;

    #[test]
    fn views_say_how_far_and_how_fast() {
        let p = Progress::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        p.begin("dashboard", t0, "Reading");
        p.run(3, Some("Nightly"), Some(4 << 20));
        let c = p.pass(t0, &["nas".into()]);
        c.read.store(1 << 20, std::sync::atomic::Ordering::Relaxed);
        c.written_to("nas")
            .store(2 << 20, std::sync::atomic::Ordering::Relaxed);
        let v = view(
            p.snapshot(t0 + chrono::TimeDelta::seconds(2)),
            chrono_tz::UTC,
        );
        assert_eq!(v.percent, Some(25));
        assert_eq!(v.read_text, "1.0 MiB of 4.0 MiB");
        assert_eq!(v.destinations[0].percent, Some(50));
        assert_eq!(v.destinations[0].rate_text.as_deref(), Some("1.0 MiB/s"));
        assert_eq!(
            v.destinations[0].eta_text.as_deref(),
            Some("about 2 s left")
        );
        p.end(t0, Some(3), JobOutcome::Success);
        let v = view(p.snapshot(t0), chrono_tz::UTC);
        assert!(!v.running);
        assert_eq!(v.last.unwrap().run_id, Some(3));
        assert_eq!(percent(5, Some(0)), None);
    }
}
