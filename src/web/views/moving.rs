//! Moving to new hardware: a walk-through built from the newest verified copy's restore-readiness
//! report — what to plug in before anything else, which Home Assistant to install, which copy to
//! restore and from where, what to bring back that the backup does not hold, and what to sign in
//! to again afterwards.

use super::{At, Live, PageError, local};
use crate::history::{RunReadiness, RunRow};
use crate::web::AppState;
use crate::web::frame::{Frame, Section};
use crate::web::ingress::Ingress;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// Where the newest verified copy is.
pub struct Place {
    pub destination: String,
    pub copy_id: String,
    pub restore_href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "moving.html")]
pub struct MovingPage {
    pub frame: Frame,
    /// The newest verified run's report, the name of its backup and when it was made.
    pub readiness: Option<RunReadiness>,
    pub readiness_counts: Option<String>,
    pub backup: String,
    pub made: String,
    pub places: Vec<Place>,
    pub kit_href: String,
}

/// `GET /moving`
pub async fn page(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Copies);
    let frame = Frame::new(&state, &ingress, Section::Copies, "Moving to new hardware");
    let newest = s
        .history
        .newest_readiness()
        .await
        .map_err(|e| at.history(e))?;
    let run: Option<RunRow> = match &newest {
        Some((id, _, _)) => s.history.run(*id).await.map_err(|e| at.history(e))?,
        None => None,
    };
    let places = run
        .as_ref()
        .map(|r| {
            r.copies
                .iter()
                .filter(|c| c.verified)
                .map(|c| Place {
                    destination: c.destination.clone(),
                    copy_id: c.copy_id.clone(),
                    restore_href: frame
                        .href(&format!("/copies/{}/{}/restore", c.destination, c.copy_id)),
                })
                .collect()
        })
        .unwrap_or_default();
    let page = MovingPage {
        kit_href: frame.href("/kit"),
        frame,
        backup: run
            .as_ref()
            .and_then(|r| r.backup_name.clone())
            .unwrap_or_default(),
        made: run
            .as_ref()
            .map(|r| local(r.finished_at.unwrap_or(r.started_at), s.tz))
            .unwrap_or_default(),
        readiness: newest.map(|(_, _, r)| r),
        readiness_counts: None,
        places,
    };
    Ok(page.into_response())
}
