//! The dashboard's pages, one module per section, and what they share: finding the services
//! ([`Live`], or the idle page), times in the home's zone, and run outcomes in plain words.

pub mod copies;
pub mod destinations;
pub mod drives;
mod error;
pub mod kit;
pub mod moving;
pub mod overview;
pub mod probe;
pub mod restore;
pub mod runs;
mod sealing;
pub mod settings;
pub mod setup;
pub mod signers;
pub mod updates;

pub use error::{At, PageError};

use super::frame::{Section, idle};
use super::ingress::Ingress;
use super::{AppState, Services};
use crate::history::RunStatus;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The services, as an extractor: a handler that takes `Live(s)` runs only when the options are
/// valid; otherwise the request is answered with the idle page that says what is wrong with them.
pub struct Live(pub Arc<Services>);

impl FromRequestParts<AppState> for Live {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match state.services() {
            Some(s) => Ok(Self(s)),
            None => {
                let Ok(ingress) = Ingress::from_request_parts(parts, state).await;
                Err(idle(state, &ingress))
            }
        }
    }
}

/// Anything not found.
pub async fn not_found(State(state): State<AppState>, ingress: Ingress) -> PageError {
    At::new(&state, &ingress, Section::Overview).nothing_here()
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
