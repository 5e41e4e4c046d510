//! Settings: the schedule (backup and re-verification times, jitter, time zone) and retention (the
//! default and each destination's own), changed from the dashboard where the settings live
//! ([`crate::setup`]: checked by Lifeboat's own validation, saved, confirmed, applied without a
//! restart). Beside the retention fields: which of today's copies each destination would keep
//! ([`preview`]), from history, under the settings as they stand or, with "Preview", as edited;
//! a preview saves and deletes nothing. A refused change shows the page again with each problem
//! on its field and everything the person typed.

mod form;
pub mod preview;

pub use form::{DestinationRetention, SettingsForm};
pub use preview::{PreviewBlock, PreviewCopy};

use crate::config::edit::SettingsDoc;
use crate::setup::{Applied, Setup, SetupError};
use crate::web::AppState;
use crate::web::frame::{Frame, Section, back_to, problem};
use crate::web::ingress::Ingress;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub frame: Frame,
    /// Where a change is saved.
    pub home: String,
    pub form: SettingsForm,
    /// Why the change was not saved, each naming its field.
    pub problems: Vec<String>,
    /// The page answers "Preview": nothing was saved.
    pub previewed: bool,
    pub preview: Vec<PreviewBlock>,
    /// Why there is no preview.
    pub no_preview: Option<String>,
}

impl SettingsPage {
    /// What is wrong with `field`, if anything.
    pub fn problem_for(&self, field: &str) -> Option<String> {
        self.problems.iter().find_map(|p| {
            p.strip_prefix(field)
                .and_then(|rest| rest.strip_prefix(": "))
                .map(str::to_owned)
        })
    }

    /// The preview of `destination`'s copies.
    pub fn blocks_of(&self, destination: &str) -> Vec<&PreviewBlock> {
        self.preview
            .iter()
            .filter(|b| b.destination == destination)
            .collect()
    }
}

#[derive(Deserialize)]
pub struct SettingsQuery {
    notice: Option<String>,
}

/// The setup, when the settings can be changed here.
fn setup_of(state: &AppState) -> Option<&Setup> {
    state.setup.as_deref().filter(|s| s.editable())
}

/// The page that says where the settings are changed instead.
fn elsewhere(state: &AppState, frame: Frame) -> Response {
    let detail = if state.setup.is_some() {
        "These settings come from the command line (lifeboat serve --from/--to): change them there and restart Lifeboat."
    } else {
        "Change the schedule and retention in the add-on's Configuration tab (or in your lifeboat.toml), then restart Lifeboat."
    };
    problem(
        StatusCode::OK,
        frame,
        "The settings are not changed here",
        detail,
    )
}

fn frame(state: &AppState, ingress: &Ingress) -> Frame {
    Frame::new(state, ingress, Section::Settings, "Settings")
}

/// `GET /settings`
pub async fn page(
    State(state): State<AppState>,
    ingress: Ingress,
    Query(q): Query<SettingsQuery>,
) -> Response {
    let frame = frame(&state, &ingress).with_notice(q.notice.as_deref());
    let Some(setup) = setup_of(&state) else {
        return elsewhere(&state, frame);
    };
    let doc = match setup.current().await {
        Ok(d) => d,
        Err(e) => return unreadable(frame, setup, &e),
    };
    let form = SettingsForm::from_doc(&doc);
    let mut page = SettingsPage {
        frame,
        home: setup.home.describe(),
        form,
        problems: Vec::new(),
        previewed: false,
        preview: Vec::new(),
        no_preview: None,
    };
    fill_preview(&state, setup, &doc, &mut page).await;
    page.into_response()
}

/// `POST /settings`: "Save" (saved where the settings live, then a notice) or "Preview" (the
/// page again, with the copies each destination would keep under the edited settings).
pub async fn submit(
    State(state): State<AppState>,
    ingress: Ingress,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let frame = frame(&state, &ingress);
    let Some(setup) = setup_of(&state) else {
        return elsewhere(&state, frame);
    };
    let mut doc = match setup.current().await {
        Ok(d) => d,
        Err(e) => return unreadable(frame, setup, &e),
    };
    let form = SettingsForm::from_pairs(&doc, &pairs);
    let previewing = pairs.iter().any(|(k, v)| k == "action" && v == "preview");
    let mut page = SettingsPage {
        frame,
        home: setup.home.describe(),
        form,
        problems: Vec::new(),
        previewed: previewing,
        preview: Vec::new(),
        no_preview: None,
    };
    if let Err(problems) = page.form.apply(&mut doc) {
        page.problems = problems;
        return (StatusCode::BAD_REQUEST, page).into_response();
    }
    if previewing {
        fill_preview(&state, setup, &doc, &mut page).await;
        let status = if page.problems.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        return (status, page).into_response();
    }
    match setup.save(&doc).await {
        Ok(applied) => {
            let notice = match applied {
                Applied::Now => "settings-saved",
                Applied::AfterJob => "settings-saved-after-job",
            };
            back_to(&page.frame.prefix, "/settings", notice)
        }
        Err(e) => {
            let status = match e {
                SetupError::Home(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::BAD_REQUEST,
            };
            page.problems = problems_of(e);
            (status, page).into_response()
        }
    }
}

/// Each problem of a refused change, as the page shows it.
fn problems_of(e: SetupError) -> Vec<String> {
    match e {
        SetupError::Invalid(problems) => problems,
        other => vec![other.to_string()],
    }
}

/// The settings could not be read where they live.
fn unreadable(frame: Frame, setup: &Setup, e: &SetupError) -> Response {
    problem(
        StatusCode::BAD_GATEWAY,
        frame,
        "The settings could not be read",
        &format!(
            "Reading {}: {e}. Nothing was changed.",
            setup.home.describe()
        ),
    )
}

/// Puts into `page` what each destination would keep under `doc`, or why that cannot be shown.
async fn fill_preview(state: &AppState, setup: &Setup, doc: &SettingsDoc, page: &mut SettingsPage) {
    let config = match setup.check(doc) {
        Ok(c) => c,
        Err(e) => {
            page.no_preview = Some(
                "The settings do not validate, so there is nothing to preview; see the problems above."
                    .into(),
            );
            if page.problems.is_empty() {
                page.problems = problems_of(e);
            }
            return;
        }
    };
    let Some(s) = state.services() else {
        page.no_preview =
            Some("No history to preview: Lifeboat is idle until its options are fixed.".into());
        return;
    };
    match preview::preview(&config, &s.history, s.watch.clock.now()).await {
        Ok(blocks) => page.preview = blocks,
        Err(e) => {
            tracing::warn!("settings preview: {e}");
            page.no_preview = Some("History could not be read; see the log.".into());
        }
    }
}
