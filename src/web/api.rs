//! The small JSON API beside the pages: health, the newest runs, and starting a backup.

use super::AppState;
use super::views::overview::start_backup;
use crate::jobs::TriggerError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

/// `GET /api/health`
pub async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let ok = s.problems().is_empty();
    Json(json!({"status": if ok { "ok" } else { "misconfigured" }, "problems": *s.problems()}))
}

fn unavailable(s: &AppState) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(
            json!({"error": "the options are invalid; fix them first", "problems": *s.problems()}),
        ),
    )
        .into_response()
}

/// `GET /api/runs`: the newest 50 runs with their copies.
pub async fn runs(State(s): State<AppState>) -> Response {
    let Some(services) = &s.services() else {
        return unavailable(&s);
    };
    match services.history.recent_runs(50).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => {
            tracing::error!("reading history: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "history could not be read"})),
            )
                .into_response()
        }
    }
}

/// `POST /api/backup`: 202 when queued, 409 when a job is already waiting.
pub async fn backup(State(s): State<AppState>) -> Response {
    let Some(services) = &s.services() else {
        return unavailable(&s);
    };
    match start_backup(services, "manual") {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"status": "started"}))).into_response(),
        Err(e @ TriggerError::Queued) => {
            (StatusCode::CONFLICT, Json(json!({"error": e.to_string()}))).into_response()
        }
        Err(e @ TriggerError::Stopped) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}
