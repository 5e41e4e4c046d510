//! What every page shares: the frame around it (ingress prefix, who is looking, the form token,
//! which section is open, a notice after an action), the page shown when the options are invalid,
//! and the page for anything that went wrong.

use super::AppState;
use super::ingress::Ingress;
use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The sections in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Runs,
    Copies,
    Destinations,
    Kit,
    Settings,
}

/// One navigation link.
pub struct NavLink {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// The frame around every page.
pub struct Frame {
    pub prefix: String,
    pub user: Option<String>,
    pub csrf: String,
    pub title: String,
    pub nav: Vec<NavLink>,
    pub notice: Option<&'static str>,
    /// Problems with the options (the server is idle until they are fixed).
    pub problems: Vec<String>,
    pub version: &'static str,
}

impl Frame {
    pub fn new(state: &AppState, ingress: &Ingress, section: Section, title: &str) -> Self {
        let prefix = ingress.prefix.clone();
        let nav = [
            (Section::Overview, "/", "Overview"),
            (Section::Runs, "/runs", "Runs"),
            (Section::Copies, "/copies", "Copies"),
            (Section::Destinations, "/destinations", "Destinations"),
            (Section::Kit, "/kit", "Emergency kit"),
            (Section::Settings, "/settings", "Settings"),
        ]
        .into_iter()
        .map(|(s, path, label)| NavLink {
            href: format!("{prefix}{path}"),
            label,
            current: s == section,
        })
        .collect();
        Self {
            prefix,
            user: ingress.user.clone(),
            csrf: state.csrf.as_str().to_owned(),
            title: title.to_owned(),
            nav,
            notice: None,
            // No destination yet is a new install, not options to fix: the pages say so and
            // lead to adding one.
            problems: state
                .problems()
                .iter()
                .filter(|p| !p.ends_with(crate::config::NO_DESTINATION))
                .cloned()
                .collect(),
            version: crate::VERSION,
        }
    }

    /// Adds the notice named by a `?notice=` key (unknown keys show nothing: no text is ever
    /// taken from the URL).
    pub fn with_notice(mut self, key: Option<&str>) -> Self {
        self.notice = key.and_then(notice);
        self
    }

    /// A link inside the dashboard.
    pub fn href(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

/// The fixed texts an action can leave behind.
fn notice(key: &str) -> Option<&'static str> {
    Some(match key {
        "started" => "Backup started. Progress shows below.",
        "update-started" => {
            "Backing up off-site first; the update is installed only once a copy is verified. Progress shows below."
        }
        "busy" => {
            "A job is already waiting to start, so this one was not queued. Try again when it has begun."
        }
        "stopping" => "Lifeboat is shutting down; nothing was started.",
        "probe-passed" => {
            "The destination passed its test: a test file was written, read back, listed and deleted."
        }
        "probe-failed" => "The destination failed its test. Its card says why and what to fix.",
        "probe-running" => {
            "The test is still running, or waits for the job before it. Its card shows the outcome when it is done."
        }
        "verifying" => "Reading the copy back now. The result shows here when it is done.",
        "pinned" => "Pinned: retention will never delete this copy.",
        "unpinned" => "Unpinned: retention may delete this copy again.",
        "deleted" => "The copy was deleted.",
        "delete-queued" => {
            "The copy is deleted as soon as the job running now ends, and then leaves this list."
        }
        "key-kept" => {
            "The new key is kept: copies from now on are encrypted to it. Keep the printed kit safe."
        }
        "key-registered" => {
            "The key is registered: the kit check asks for it from now on. Only a digest of its last group is kept."
        }
        "signer-trusted" => {
            "The earlier box's signing keys are trusted: the copies it signed count as this home's again."
        }
        "key-forgotten" => "The key was thrown away; nothing changed. Throw its sheet away too.",
        "dest-saved" => "Saved. The change is applied now.",
        "dest-saved-later" => "Saved. The change is applied when the backup running now ends.",
        "dest-removed" => "Removed. Its copies stay where they are; Lifeboat sends no more there.",
        "dest-removed-later" => {
            "Removed. Its copies stay where they are; the change is applied when the backup running now ends."
        }
        "kit-checked" => "Your kit passed its check. Thank you: the date is recorded.",
        "drilling" => {
            "Restore drill started: the copy is read, decrypted and opened to the end. The verdict shows below."
        }
        "settings-saved" => "Settings saved, and in use now.",
        "settings-saved-after-job" => {
            "Settings saved. The job running now finishes on the old ones; the new ones take over when it ends."
        }
        "restoring" => {
            "Restoring the copy into Home Assistant. It appears in Settings → System → Backups when done."
        }
        _ => return None,
    })
}

/// Where to go after an action, with its notice.
pub fn back_to(frame_prefix: &str, path: &str, notice: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    axum::response::Redirect::to(&format!("{frame_prefix}{path}{sep}notice={notice}"))
        .into_response()
}

/// A page that says what went wrong and what to do.
#[derive(Template, WebTemplate)]
#[template(path = "problem.html")]
pub struct ProblemPage {
    pub frame: Frame,
    pub heading: String,
    pub detail: String,
    /// What to do about it, when a page of the dashboard does it.
    pub link: Option<(String, &'static str)>,
}

/// Renders [`ProblemPage`] with a status.
pub fn problem(status: StatusCode, frame: Frame, heading: &str, detail: &str) -> Response {
    let page = ProblemPage {
        frame,
        heading: heading.to_owned(),
        detail: detail.to_owned(),
        link: None,
    };
    (status, page).into_response()
}

/// The page shown in place of any other while the options are invalid. When what is missing is
/// a destination (a new install), it says so and leads to adding one.
pub fn idle(state: &AppState, ingress: &Ingress) -> Response {
    let no_destination = state
        .problems()
        .iter()
        .any(|p| p.ends_with(crate::config::NO_DESTINATION));
    if no_destination {
        let frame = Frame::new(state, ingress, Section::Overview, "Not protected yet");
        let page = ProblemPage {
            heading: "Not protected yet".into(),
            detail: "Lifeboat has nowhere to keep copies of your backups. Add a destination: a \
                     USB disk or NAS folder, a cloud bucket, a server. Test tries it before it \
                     is saved."
                .into(),
            link: Some((frame.href("/destinations/new"), "Add a destination")),
            frame,
        };
        return page.into_response();
    }
    let frame = Frame::new(state, ingress, Section::Overview, "Fix the options");
    problem(
        StatusCode::OK,
        frame,
        "Lifeboat is idle: the options need fixing",
        "Open the add-on's Configuration tab (or your lifeboat.toml), fix each problem listed above, and restart Lifeboat.",
    )
}
