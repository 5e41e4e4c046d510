//! `POST /destinations/{name}/probe`: a destination's test asked for on its card, run as a job on
//! the one queue (never beside a backup), recorded in history like the daily one. The answer
//! waits a little for the outcome, then goes back to the Destinations page with a notice; the
//! card shows the outcome either way.

use super::{At, Live, PageError};
use crate::history::probes::ProbeWhy;
use crate::jobs::{Job, TriggerError};
use crate::pipeline::probing::ProbeTarget;
use crate::web::AppState;
use crate::web::frame::{Section, back_to};
use crate::web::ingress::Ingress;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::time::Duration;

/// How long the answer waits for the test before saying it runs on.
const WAIT: Duration = Duration::from_secs(30);

/// `POST /destinations/{name}/probe`
pub async fn probe(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Destinations);
    let d = s
        .destinations
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| at.nothing_here())?;
    let nonce = crate::destinations::probe::random_nonce().map_err(|e| {
        at.said(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No test",
            "The test did not start",
            &format!("the system gave no random bytes to name the test file: {e}"),
        )
    })?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = Job::Probe {
        targets: vec![ProbeTarget {
            destination: d.name.clone(),
            nonce,
        }],
        why: ProbeWhy::Asked,
        reply: Some(tx),
    };
    let notice = match s.triggers.submit(job) {
        Err(TriggerError::Queued) => "busy",
        Err(TriggerError::Stopped) => "stopping",
        Ok(()) => match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(rows)) if rows.iter().all(|r| r.ok) => "probe-passed",
            Ok(Ok(_)) => "probe-failed",
            Ok(Err(_)) => "stopping",
            Err(_) => "probe-running",
        },
    };
    Ok(back_to(&ingress.prefix, "/destinations", notice))
}
