//! The dashboard's pages, one module per section, and what they share: finding the services
//! (or showing the idle page), times in the home's zone, and run outcomes in plain words.

pub mod copies;
pub mod destinations;
pub mod kit;
pub mod overview;
pub mod restore;
pub mod runs;

use super::frame::{Frame, Section, idle, problem};
use super::ingress::Ingress;
use super::{AppState, Services};
use crate::history::{HistoryError, RunStatus};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The services, or the idle page when the options are invalid.
pub(super) fn services(
    state: &AppState,
    ingress: &Ingress,
) -> Result<Arc<Services>, Box<Response>> {
    state
        .services
        .clone()
        .ok_or_else(|| Box::new(idle(state, ingress)))
}

/// The page for a history that cannot be read.
pub(super) fn history_failed(
    state: &AppState,
    ingress: &Ingress,
    section: Section,
    e: &HistoryError,
) -> Response {
    tracing::error!("reading history: {e}");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        Frame::new(state, ingress, section, "History unavailable"),
        "Lifeboat's history could not be read",
        &format!("{e}. Lifeboat's log says more; the data folder may be full or damaged."),
    )
}

/// Anything not found.
pub async fn not_found(State(state): State<AppState>, ingress: Ingress) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        Frame::new(&state, &ingress, Section::Overview, "Not found"),
        "There is nothing here",
        "The link may be old. Start again from the overview.",
    )
}

/// A time in the home's zone, to the minute.
pub(super) fn local(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// A run's outcome for people, and the class that colours it.
pub(super) fn outcome(status: RunStatus) -> (&'static str, &'static str) {
    match status {
        RunStatus::Running => ("Running", "warn"),
        RunStatus::Success => ("Verified everywhere", "ok"),
        RunStatus::Partial => ("Some destinations failed", "warn"),
        RunStatus::Failed => ("Failed", "bad"),
        RunStatus::Interrupted => ("Interrupted", "bad"),
    }
}

/// Whether a path segment can be a destination name or copy id (anything else is not found).
pub(super) fn plain_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s != "."
        && s != ".."
}
