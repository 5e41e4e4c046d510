//! The long-running server (`lifeboat serve`): a minimal status page, a health endpoint, and the
//! trigger that every way of starting a backup shares (scheduler, HTTP, later stdin and HA events).
//! The full dashboard is its own piece of work; this is the hook point it grows from.

pub mod ingress;
mod page;
pub mod worker;

use crate::history::History;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;
pub use worker::{TriggerError, Triggers};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// `None` when the options are invalid: the server then stays up, idle, showing why.
    pub history: Option<History>,
    pub triggers: Option<Triggers>,
    /// Problems with the options, shown on the status page.
    pub problems: Arc<Vec<String>>,
    /// Which peers may connect.
    pub access: ingress::Access,
}

/// The router, testable without a socket.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/api/health", get(health))
        .route("/api/runs", get(runs))
        .route("/api/backup", post(backup_now))
        .layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            ingress::guard,
        ))
        .with_state(state)
}

async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let ok = s.problems.is_empty();
    Json(json!({"status": if ok { "ok" } else { "misconfigured" }, "problems": *s.problems}))
}

async fn runs(State(s): State<AppState>) -> axum::response::Response {
    let Some(h) = &s.history else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "the options are invalid"})),
        )
            .into_response();
    };
    match h.recent_runs(50).await {
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

async fn backup_now(State(s): State<AppState>) -> axum::response::Response {
    let Some(t) = &s.triggers else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "fix the options first", "problems": *s.problems})),
        )
            .into_response();
    };
    match t.fire(crate::pipeline::run::RunRequest::new("manual")) {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"status": "started"}))).into_response(),
        Err(e) => (StatusCode::CONFLICT, Json(json!({"error": e.to_string()}))).into_response(),
    }
}

async fn status_page(
    State(s): State<AppState>,
    ingress: ingress::Ingress,
) -> axum::response::Response {
    let runs = match &s.history {
        Some(h) => match h.recent_runs(20).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("reading history: {e}");
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    Html(page::render(&ingress, &s.problems, &runs)).into_response()
}
