//! "Add a cloud drive": connecting Google Drive, OneDrive, Dropbox and the rest with no terminal
//! on the box. The page names the one command to run on any computer with a browser (`rclone
//! authorize "drive"`), takes its pasted answer, and has rclone prove the sign-in by listing the
//! folder before the remote joins rclone.conf in the data folder (see
//! [`crate::destinations::kinds::rclone::store::connect`]). A section of an rclone.conf of one's own can be
//! pasted instead. The page lists the remotes there by name and type only: tokens and passwords
//! never reach it, and a pasted answer is never shown again, even when it is refused.
//! It works while the options are invalid too, since connecting a drive often comes first.

use crate::destinations::kinds::rclone::store::connect::{
    ConnectError, Connected, Listed, PROVIDERS,
};
use crate::secret::Secret;
use crate::web::AppState;
use crate::web::frame::{Frame, Section};
use crate::web::ingress::Ingress;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// A provider on the page.
pub struct ProviderLine {
    pub kind: &'static str,
    pub label: &'static str,
    pub note: &'static str,
    pub command: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "drives.html")]
pub struct DrivesPage {
    pub frame: Frame,
    pub providers: Vec<ProviderLine>,
    pub remotes: Vec<Listed>,
    /// rclone.conf could not be read: why.
    pub unreadable: Option<String>,
    pub config_path: String,
    pub connected: Option<Connected>,
    pub error: Option<String>,
    /// What the connect form held (never the answer).
    pub name: String,
    pub provider: String,
    pub folder: String,
}

/// The connect form.
#[derive(Deserialize)]
pub struct ConnectForm {
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub folder: String,
    pub answer: Option<Secret>,
}

/// The import form.
#[derive(Deserialize)]
pub struct ImportForm {
    pub section: Option<Secret>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub folder: String,
}

async fn render(
    state: &AppState,
    ingress: &Ingress,
    outcome: Result<Option<Connected>, ConnectError>,
    form: (&str, &str, &str),
) -> Response {
    let frame = Frame::new(state, ingress, Section::Destinations, "Add a cloud drive");
    let (remotes, unreadable) = match state.drives.list().await {
        Ok(r) => (r, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let (connected, error) = match outcome {
        Ok(c) => (c, None),
        Err(e) => (None, Some(said(&e))),
    };
    let (name, provider, folder) = form;
    DrivesPage {
        frame,
        providers: PROVIDERS
            .iter()
            .map(|p| ProviderLine {
                kind: p.kind,
                label: p.label,
                note: p.note,
                command: p.authorize(),
            })
            .collect(),
        remotes,
        unreadable,
        config_path: state.drives.config.display().to_string(),
        connected,
        error,
        name: name.to_owned(),
        provider: provider.to_owned(),
        folder: folder.to_owned(),
    }
    .into_response()
}

/// What a refused attempt says; the token or pasted section is never part of it.
fn said(e: &ConnectError) -> String {
    match e {
        ConnectError::Rclone(err) if err.kind == crate::destinations::StoreErrorKind::Denied => {
            format!(
                "The sign-in did not work: {err}. Run the command again and paste its new answer."
            )
        }
        other => format!("Not connected: {other}. Nothing was written to rclone.conf."),
    }
}

/// `GET /drives`
pub async fn page(State(state): State<AppState>, ingress: Ingress) -> Response {
    render(
        &state,
        &ingress,
        Ok(None),
        ("", "drive", "Home Assistant/lifeboat"),
    )
    .await
}

/// `POST /drives/connect`
pub async fn connect(
    State(state): State<AppState>,
    ingress: Ingress,
    Form(form): Form<ConnectForm>,
) -> Response {
    let answer = form.answer.unwrap_or_else(|| Secret::new(""));
    let outcome = state
        .drives
        .connect(&form.name, &form.provider, &answer, &form.folder)
        .await;
    let form_back = (
        form.name.as_str(),
        form.provider.as_str(),
        form.folder.as_str(),
    );
    reply(
        &state,
        &ingress,
        "connecting a cloud drive",
        outcome,
        form_back,
    )
    .await
}

/// `POST /drives/import`
pub async fn import(
    State(state): State<AppState>,
    ingress: Ingress,
    Form(form): Form<ImportForm>,
) -> Response {
    let section = form.section.unwrap_or_else(|| Secret::new(""));
    let outcome = state
        .drives
        .import(&section, Some(form.name.as_str()), &form.folder)
        .await;
    let form_back = ("", "drive", form.folder.as_str());
    reply(
        &state,
        &ingress,
        "adding an rclone remote",
        outcome,
        form_back,
    )
    .await
}

/// The page after a connect or an import: the remote connected, or why not (logged too).
async fn reply(
    state: &AppState,
    ingress: &Ingress,
    doing: &str,
    outcome: Result<Connected, ConnectError>,
    form_back: (&str, &str, &str),
) -> Response {
    if let Err(e) = &outcome {
        tracing::warn!("{doing}: {}", said(e));
    }
    render(state, ingress, outcome.map(Some), form_back).await
}

/// The options that use a connected remote, as the add-on's YAML editor takes them.
pub fn options_snippet(c: &Connected) -> String {
    format!(
        "- name: {}\n  type: rclone\n  remote: \"{}\"",
        c.name,
        c.remote.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

impl DrivesPage {
    /// The rclone destination form, filled with the remote just connected.
    pub fn use_href(&self) -> String {
        let Some(c) = &self.connected else {
            return String::new();
        };
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("name", &c.name.to_ascii_lowercase())
            .append_pair("remote", &c.remote)
            .finish();
        self.frame
            .href(&format!("/destinations/new/rclone?{query}"))
    }

    /// The snippet for the remote just connected.
    pub fn snippet(&self) -> String {
        self.connected
            .as_ref()
            .map(options_snippet)
            .unwrap_or_default()
    }
}
