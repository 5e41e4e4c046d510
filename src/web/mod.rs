//! The dashboard Home Assistant shows in its sidebar through ingress, a small JSON API and live
//! progress; jobs it starts go to the daemon's one queue ([`crate::jobs`]). Handlers take the
//! services through one extractor ([`views::Live`]), which answers with the idle page when the
//! options are invalid. Pages are askama templates (`templates/`) with one stylesheet and one small
//! script (`static/`); every state-changing request is a POST guarded by [`csrf`].
//!
//! Routes (all under the ingress prefix when there is one):
//! - `GET /` overview · `GET /runs` · `GET /runs/{id}` · `GET /copies` · `GET /destinations`
//! - `GET /copies/{destination}/{copy}/delete|restore` asks; `POST …/verify|pin|unpin|delete|restore`
//!   act
//! - `GET /destinations/new` chooses a kind · `GET /destinations/new/{kind}` its form ·
//!   `GET /destinations/{name}/edit` · `POST /destinations/test|save` ·
//!   `GET|POST /destinations/{name}/remove` (asks, then removes)
//! - `POST /destinations/{name}/probe` tests a destination now
//! - `GET /drives` "Add a cloud drive"; `POST /drives/connect|import`
//! - `GET /kit` the emergency kit; `POST /kit/new|confirm|forget|register|check|print`
//! - `GET /settings` the schedule and retention, with what each destination would keep; `POST
//!   /settings` saves them (or, with "Preview", shows what they would keep)
//! - `POST /backup` (a form: answers with a redirect to the overview)
//! - `GET /api/live` (server-sent events) · `GET /api/progress` · `GET /api/health` ·
//!   `GET /api/runs` · `POST /api/backup` (JSON)

mod api;
mod assets;
pub mod chart;
pub mod csrf;
mod frame;
pub mod ingress;
pub mod listings;
mod live;
pub mod qr;
pub mod views;

use crate::destinations::Destination;
use crate::history::History;
use crate::jobs::Triggers;
use crate::pipeline::progress::Progress;
use crate::report::Watch;
use crate::schedule::Schedule;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What the dashboard reads and acts on, when the options are valid.
#[derive(Clone)]
pub struct Services {
    pub history: History,
    pub triggers: Triggers,
    pub destinations: Vec<Destination>,
    /// Which destinations must stay fresh, how fresh, and the clock.
    pub watch: Watch,
    /// The backup and re-verification schedules, for "next run" times.
    pub schedules: Vec<Schedule>,
    /// The home's time zone, for every time shown.
    pub tz: chrono_tz::Tz,
    pub progress: Arc<Progress>,
    /// Every key known here, for the emergency-kit page.
    pub keys: crate::crypto::keyring::Keyring,
    /// The key pair shown once and waiting to be confirmed.
    pub pending_key: views::kit::PendingSlot,
    /// Where "restore into Home Assistant" sends a copy (`None` with a folder source).
    pub restore_into: Option<crate::recovery::restore::HaTarget>,
    /// Home Assistant's update entities, for "Back up off-site, then update" (`None` without a
    /// Home Assistant websocket).
    pub updates: Option<crate::ha::updates::UpdateClient>,
    /// Verified copies a safe update waits for.
    pub min_verified: usize,
    /// The sources besides the first, for the kit (how to open their copies).
    pub sources: Vec<crate::crypto::kit::KitSource>,
    /// The copies page's kept listings.
    pub listings: Arc<listings::Listings>,
}

/// What the pages serve at one time: the services built from one set of settings, or none and
/// the problems with them. Applying new settings swaps it whole.
#[derive(Clone, Default)]
pub struct Generation {
    /// `None` when the options are invalid: the server then stays up, idle, showing why.
    pub services: Option<Arc<Services>>,
    /// Problems with the options, shown on every page.
    pub problems: Arc<Vec<String>>,
}

/// The generation served now; a request takes it once and keeps it to the end.
#[derive(Default)]
pub struct Current(std::sync::RwLock<Generation>);

impl Current {
    /// Serving `generation`.
    pub fn new(generation: Generation) -> Self {
        Self(std::sync::RwLock::new(generation))
    }

    /// The generation served now.
    pub fn get(&self) -> Generation {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Serves `generation` from the next request on.
    pub fn set(&self, generation: Generation) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = generation;
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The services and problems served now (swapped when new settings are applied).
    pub current: Arc<Current>,
    /// Which peers may connect.
    pub access: ingress::Access,
    /// The token every form carries.
    pub csrf: csrf::Token,
    /// Ends live-progress streams at shutdown.
    pub shutdown: CancellationToken,
    /// Where "Add a cloud drive" keeps the remotes it connects.
    pub drives: crate::destinations::kinds::rclone::store::connect::Drives,
    /// Where the settings live and how a change is saved and applied (`None`: not here, as in
    /// tests that build the state by hand).
    pub setup: Option<Arc<crate::setup::Setup>>,
}

impl AppState {
    /// The services now, `None` when the options are invalid.
    pub fn services(&self) -> Option<Arc<Services>> {
        self.current.get().services
    }

    /// The problems with the options now, shown on every page.
    pub fn problems(&self) -> Arc<Vec<String>> {
        self.current.get().problems
    }
}

/// Nothing from elsewhere: no inline script, no outside resources, framed only by Home Assistant's
/// own page (ingress serves it from the same origin).
async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::HeaderValue;
    let h = resp.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    resp
}

/// The router, testable without a socket.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(views::overview::page))
        .route("/runs", get(views::runs::list))
        .route("/runs/{id}", get(views::runs::one))
        .route("/copies", get(views::copies::page))
        .route("/copies/list-again", post(views::copies::list_again))
        .route(
            "/copies/{destination}/{copy}/{action}",
            get(views::copies::confirm_delete).post(views::copies::act),
        )
        .route(
            "/copies/{destination}/{copy}/restore",
            get(views::restore::ask).post(views::restore::start),
        )
        .route("/moving", get(views::moving::page))
        .route("/updates", get(views::updates::page))
        .route("/updates/install", post(views::updates::install))
        .route("/destinations", get(views::destinations::page))
        .route("/destinations/new", get(views::setup::choose))
        .route("/destinations/new/{kind}", get(views::setup::new))
        .route("/destinations/test", post(views::setup::test))
        .route("/destinations/save", post(views::setup::save))
        .route("/destinations/{name}/edit", get(views::setup::edit))
        .route(
            "/destinations/{name}/remove",
            get(views::setup::ask_remove).post(views::setup::remove),
        )
        .route("/destinations/{name}/probe", post(views::probe::probe))
        .route("/drives", get(views::drives::page))
        .route("/drives/connect", post(views::drives::connect))
        .route("/drives/import", post(views::drives::import))
        .route("/kit", get(views::kit::page))
        .route("/kit/new", post(views::kit::make))
        .route("/kit/confirm", post(views::kit::confirm))
        .route("/kit/forget", post(views::kit::forget))
        .route("/kit/register", post(views::kit::register))
        .route("/kit/check", post(views::kit::check))
        .route("/kit/print", post(views::kit::print))
        .route("/kit/trust", post(views::signers::trust))
        .route(
            "/settings",
            get(views::settings::page).post(views::settings::submit),
        )
        .route("/backup", post(views::overview::backup))
        .route("/api/live", get(live::events))
        .route("/api/progress", get(live::progress))
        .route(ingress::HEALTH_PATH, get(api::health))
        .route("/api/runs", get(api::runs))
        .route("/api/backup", post(api::backup))
        .route("/static/{file}", get(assets::file))
        .fallback(views::not_found)
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.csrf.clone(),
            csrf::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            ingress::guard,
        ))
        .with_state(state)
}
