//! The updates Home Assistant has waiting, each with "Back up off-site, then update" (the safe
//! update, [`crate::pipeline::safe_update`]): the list is read from Home Assistant when the page
//! is opened; the button queues the job, whose two phases (the backup's run, then the install)
//! show on the overview's progress board.

use super::Live;
use crate::ha::updates::{UpdateEntity, Updates};
use crate::jobs::{Job, TriggerError};
use crate::pipeline::safe_update::UpdateAsk;
use crate::web::AppState;
use crate::web::frame::{Frame, Section, back_to};
use crate::web::ingress::Ingress;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// One update waiting, as the page shows it.
pub struct Waiting {
    pub entity_id: String,
    pub name: String,
    pub from: String,
    pub to: String,
    /// What the backup before it holds.
    pub backs_up: String,
    /// Why the button is not offered, when it is not.
    pub blocked: Option<String>,
}

impl Waiting {
    fn of(e: &UpdateEntity) -> Self {
        Self {
            entity_id: e.entity_id.clone(),
            name: e.name.clone(),
            from: e.installed.clone().unwrap_or_else(|| "?".into()),
            to: e.latest.clone().unwrap_or_else(|| "?".into()),
            backs_up: match &e.updates {
                Updates::Addon(slug) => format!("the add-on alone ({slug})"),
                _ => "everything (a full backup)".into(),
            },
            blocked: e.check_installable().err().map(|e| e.to_string()),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "updates.html")]
pub struct UpdatesPage {
    pub frame: Frame,
    pub waiting: Vec<Waiting>,
    /// Why the list could not be read, when it could not.
    pub error: Option<String>,
    pub min_verified: usize,
    pub destinations: usize,
    pub running: bool,
}

/// `GET /updates`
pub async fn page(State(state): State<AppState>, ingress: Ingress, Live(s): Live) -> Response {
    let frame = Frame::new(&state, &ingress, Section::Overview, "Updates");
    let (waiting, error) = match &s.updates {
        None => (
            Vec::new(),
            Some(
                "Lifeboat has no Home Assistant to ask: the source is a folder. Updates are \
                 installed through Home Assistant (a supervisor or core source)."
                    .to_owned(),
            ),
        ),
        Some(ha) => {
            // A page must not hang on a Home Assistant that does not answer.
            let quick = crate::ha::updates::UpdateClient {
                answer: Duration::from_secs(5),
                ..ha.clone()
            };
            match quick.list().await {
                Ok(all) => (
                    all.iter()
                        .filter(|e| e.available)
                        .map(Waiting::of)
                        .collect(),
                    None,
                ),
                Err(e) => (
                    Vec::new(),
                    Some(format!("Home Assistant could not be asked: {e}")),
                ),
            }
        }
    };
    UpdatesPage {
        frame,
        waiting,
        error,
        min_verified: s.min_verified,
        destinations: s.destinations.len(),
        running: s.progress.running(),
    }
    .into_response()
}

/// The button's form.
#[derive(serde::Deserialize)]
pub struct InstallForm {
    pub entity_id: String,
}

/// `POST /updates/install`: queues the safe update of one entity.
pub async fn install(ingress: Ingress, Live(s): Live, Form(f): Form<InstallForm>) -> Response {
    let ask = UpdateAsk {
        target: f.entity_id,
        min_verified: s.min_verified,
        trigger: "dashboard".into(),
    };
    let idle = !s.progress.running();
    if idle {
        s.progress
            .begin("dashboard", s.watch.clock.now(), "Waiting to start");
    }
    let notice = match s.triggers.submit(Job::Update { ask, reply: None }) {
        Ok(()) => "update-started",
        Err(e) => {
            if idle {
                s.progress.abandon();
            }
            match e {
                TriggerError::Queued => "busy",
                TriggerError::Stopped => "stopping",
            }
        }
    };
    back_to(&ingress.prefix, "/", notice)
}
