//! A test double of the Home Assistant Supervisor and of Home Assistant Core, faithful to
//! `HOME_ASSISTANT.md` and to the real transcripts in `tests/data/transcripts/`:
//!
//! - Supervisor REST: the three auth header variants; bare 401/403 with no body from the security
//!   middleware; `{"result","data"}` / `{"result":"error","message"}` envelopes; `POST
//!   /backups/new/full` with `background: true` returning a job id; `/jobs/info` listing root jobs
//!   newest first with `done` null/false/true, `errors`, `child_jobs` and `reference`; `/jobs/{uuid}`
//!   forbidden to role `backup`; one backup job at a time ("Another job is running for job group
//!   …"); `/backups/{slug}/download` with the real download headers.
//! - Core: the websocket handshake (`auth_required` first, `auth_invalid` then close), strictly
//!   increasing ids (`id_reuse`), `ping`/`pong`, `unknown_command`, `invalid_format`, the backup
//!   manager commands and the `backup/subscribe_events` sequence (current state first, then the
//!   result, `in_progress` before `backup/generate`'s result, stages, `completed`, `idle`), the
//!   `blocked` state right after start, the legacy 2024.x API, and `/api/backup/download/<id>`.
//! - Updates and events, as Home Assistant 2025.4.4 gave them
//!   (`tests/data/transcripts/ws-updates-2025.4.4.json`): `get_states` with `update.*` entities,
//!   `config/entity_registry/get` (the Supervisor integration's `unique_id`s), `call_service`
//!   `update.install` (an unknown entity is not refused, one without the install feature is a
//!   `service_validation_error`, nothing to install a `home_assistant_error`; a Core install drops
//!   the connection), backup-manager events reaching every subscribed connection (Home Assistant's
//!   own backups too), `/host/info` (disk in GiB) and `/info` (versions).
//!
//! - The add-on's own options (`options`): `POST /addons/self/options` judged by the Supervisor's
//!   option rules against the real `config.yaml`, `GET /addons/self/options/config`, `options` in
//!   `GET /addons/self/info`, and the security middleware's path rules for role `backup` (a bare
//!   403 for `/addons/self/options/validate`).
//!
//! Every backup it "creates" is a real archive from the fixtures.

#[path = "ha_double/options.rs"]
mod options;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Which Home Assistant the double plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// A Container/Core install of 2026.2.3: agent `backup.local`.
    Core,
    /// Core 2024.3.3: the legacy backup API.
    LegacyCore,
    /// HAOS: agent `hassio.local`, the Supervisor API and its websocket proxy.
    Supervisor,
}

/// Faults and behaviours a test can switch on.
#[derive(Default, Clone, Debug)]
pub struct Faults {
    /// The next N backup requests are refused as busy.
    pub busy: u32,
    /// `backup/info` state is `blocked` for the next N generate attempts.
    pub blocked: u32,
    /// The backup job fails with this message.
    pub fail_job: Option<String>,
    /// Child jobs record this error (the backup still completes).
    pub child_error: Option<String>,
    /// Downloads are cut to this many bytes.
    pub truncate_download: Option<usize>,
    /// `backup/generate` answers with a job id that is not the backup id.
    pub job_id_differs: bool,
    /// The websocket drops (no close frame) while Home Assistant is making the backup, which
    /// Home Assistant goes on to finish.
    pub drop_mid_backup: bool,
    /// Downloads start only after this long (a run that takes a while).
    pub slow_download: Option<std::time::Duration>,
}

/// An `update.*` entity the double holds, as Home Assistant 2025.4.4 shows one
/// (`tests/data/transcripts/ws-updates-2025.4.4.json`).
#[derive(Clone, Debug)]
pub struct UpdateFixture {
    pub entity_id: String,
    pub name: String,
    /// Its registry entry: the Supervisor integration's are `hassio` with `unique_id`s such as
    /// `home_assistant_core_version_latest` or `core_mosquitto_version_latest`.
    pub platform: String,
    pub unique_id: String,
    pub installed: String,
    pub latest: String,
    pub supported_features: u64,
    /// Installing fails with this message (Home Assistant's `home_assistant_error`).
    pub install_fails: Option<String>,
    /// Installing restarts Home Assistant: the connection drops before any answer (Core).
    pub restarts: bool,
}

impl UpdateFixture {
    /// The Supervisor's Core update entity.
    pub fn core(installed: &str, latest: &str) -> Self {
        Self {
            entity_id: "update.home_assistant_core_update".into(),
            name: "Home Assistant Core Update".into(),
            platform: "hassio".into(),
            unique_id: "home_assistant_core_version_latest".into(),
            installed: installed.into(),
            latest: latest.into(),
            supported_features: 11,
            install_fails: None,
            restarts: true,
        }
    }

    /// The Supervisor's update entity of the add-on `slug`.
    pub fn addon(slug: &str, name: &str, installed: &str, latest: &str) -> Self {
        Self {
            entity_id: format!("update.{}_update", name.to_lowercase().replace(' ', "_")),
            name: format!("{name} Update"),
            platform: "hassio".into(),
            unique_id: format!("{slug}_version_latest"),
            installed: installed.into(),
            latest: latest.into(),
            supported_features: 27,
            install_fails: None,
            restarts: false,
        }
    }

    fn state(&self) -> Value {
        json!({"entity_id": self.entity_id, "state": if self.installed == self.latest { "off" } else { "on" },
            "attributes": {"auto_update": false, "display_precision": 0, "installed_version": self.installed,
                "in_progress": false, "latest_version": self.latest, "release_summary": null,
                "release_url": null, "skipped_version": null, "title": null, "update_percentage": null,
                "entity_picture": null, "friendly_name": self.name, "supported_features": self.supported_features},
            "last_changed": "2026-12-03T09:19:40.940220+00:00", "last_reported": "2026-12-03T09:19:40.940220+00:00",
            "last_updated": "2026-12-03T09:19:40.940220+00:00",
            "context": {"id": "01M8XK7KWCKJTHA28EMQKQ1KME", "parent_id": null, "user_id": null}})
    }

    fn registry(&self) -> Value {
        json!({"area_id": null, "categories": {}, "config_entry_id": "01M8XK7KRWH2K5PVJKN60TG1M9",
            "config_subentry_id": null, "created_at": 1796289580.939388, "device_id": "7df93df375f5177242e467363d7441d3",
            "disabled_by": null, "entity_category": null, "entity_id": self.entity_id, "has_entity_name": true,
            "hidden_by": null, "icon": null, "id": "879a6352c4ae0f3ce9e1b099ddea8df8", "labels": [],
            "modified_at": 1796289580.963048, "name": null, "options": {"conversation": {"should_expose": false}},
            "original_name": null, "platform": self.platform, "translation_key": "update",
            "unique_id": self.unique_id, "aliases": [], "capabilities": null, "device_class": null,
            "original_device_class": null, "original_icon": null})
    }
}

/// Not sent: tells the websocket loop to drop the connection there.
const DROP: &str = "__drop_the_connection__";

struct Job {
    uuid: String,
    slug: String,
    polls: u32,
    created: u64,
}

pub struct Inner {
    pub flavor: Flavor,
    pub token: String,
    pub fixture: Vec<u8>,
    /// `create_backup.password` in `backup/config/info`.
    pub ha_password: Option<String>,
    pub faults: Mutex<Faults>,
    backups: Mutex<Vec<(String, String)>>, // (slug, date)
    jobs: Mutex<Vec<Job>>,
    counter: AtomicU64,
    /// Every request, as "METHOD path" or "ws type".
    pub log: Mutex<Vec<String>>,
    /// Bodies of backup creation requests.
    pub create_requests: Mutex<Vec<Value>>,
    /// Backups uploaded through either upload API, by slug.
    pub uploaded: Mutex<HashMap<String, Vec<u8>>>,
    /// Core REST posts (`states/…`, `events/…`, `services/…`) with their bodies, in order.
    pub core_posts: Mutex<Vec<(String, Value)>>,
    /// Home Assistant's event bus: what `fire_event` (or a test) puts on it reaches every
    /// websocket subscribed to that event type.
    pub bus: tokio::sync::broadcast::Sender<(String, Value)>,
    /// Event types subscribed over websockets (one entry per subscription).
    pub subscriptions: Mutex<Vec<String>>,
    /// The add-ons `/supervisor/info` lists as installed: (slug, name).
    pub installed_addons: Mutex<Vec<(String, String)>>,
    /// The `update.*` entities.
    pub updates: Mutex<Vec<UpdateFixture>>,
    /// Entities `update.install` was called for, in order.
    pub installs: Mutex<Vec<String>>,
    /// The backup manager's events, for every connection subscribed to them: (the connection
    /// that caused it, or 0, and the event).
    backup_bus: tokio::sync::broadcast::Sender<(u64, Value)>,
    /// Closes every websocket subscribed to the backup manager's events.
    kick: tokio::sync::broadcast::Sender<()>,
    /// Connections subscribed to the backup manager's events now.
    pub backup_subscribers: AtomicU64,
    /// When the last backup Home Assistant made by itself was announced `completed`.
    pub announced: Mutex<Option<std::time::Instant>>,
    /// When the first download began after that.
    pub first_download: Mutex<Option<std::time::Instant>>,
    /// `/host/info`'s `disk_free`, in GiB as the Supervisor rounds it.
    pub disk_free_gib: Mutex<f64>,
    /// The add-on's options as saved (the Supervisor's `persist`), over the manifest's defaults.
    pub addon_options: Mutex<Value>,
    /// Home Assistant's `secrets.yaml`, for `!secret` references.
    pub ha_secrets: Mutex<HashMap<String, String>>,
}

/// A running double.
pub struct Double {
    pub url: String,
    pub inner: Arc<Inner>,
    _task: tokio::task::JoinHandle<()>,
}

impl Double {
    pub async fn start(flavor: Flavor, fixture: Vec<u8>, ha_password: Option<&str>) -> Self {
        Self::start_on("127.0.0.1:0", flavor, fixture, ha_password).await
    }

    /// The same, listening on `addr` (the image test runs it as `supervisor`, on port 80).
    pub async fn start_on(
        addr: &str,
        flavor: Flavor,
        fixture: Vec<u8>,
        ha_password: Option<&str>,
    ) -> Self {
        let inner = Arc::new(Inner {
            flavor,
            token: "double-token-0123456789".into(),
            fixture,
            ha_password: ha_password.map(str::to_owned),
            faults: Mutex::new(Faults::default()),
            backups: Mutex::new(Vec::new()),
            jobs: Mutex::new(Vec::new()),
            counter: AtomicU64::new(1),
            log: Mutex::new(Vec::new()),
            create_requests: Mutex::new(Vec::new()),
            uploaded: Mutex::new(HashMap::new()),
            core_posts: Mutex::new(Vec::new()),
            bus: tokio::sync::broadcast::channel(64).0,
            subscriptions: Mutex::new(Vec::new()),
            installed_addons: Mutex::new(Vec::new()),
            updates: Mutex::new(Vec::new()),
            installs: Mutex::new(Vec::new()),
            backup_bus: tokio::sync::broadcast::channel(64).0,
            kick: tokio::sync::broadcast::channel(4).0,
            backup_subscribers: AtomicU64::new(0),
            announced: Mutex::new(None),
            first_download: Mutex::new(None),
            disk_free_gib: Mutex::new(20.3),
            addon_options: Mutex::new(json!({})),
            ha_secrets: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/backups", get(list_backups))
            .route("/backups/new/full", post(new_full))
            .route("/backups/new/partial", post(new_full))
            .route("/backups/{slug}/info", get(backup_info))
            .route("/backups/{slug}/download", get(sup_download))
            .route("/backups/{slug}", axum::routing::delete(sup_delete))
            .route("/jobs/info", get(jobs_info))
            .route("/supervisor/info", get(supervisor_info))
            .route("/host/info", get(host_info))
            .route("/info", get(root_info))
            .route("/addons", get(|| async { StatusCode::FORBIDDEN }))
            .route("/jobs/{uuid}", get(|| async { StatusCode::FORBIDDEN }))
            .route("/api/backup/download/{id}", get(core_download))
            .route("/backups/new/upload", post(sup_upload))
            .route("/core/api/{*rest}", post(core_rest))
            .route("/api/states/{id}", post(core_rest_direct))
            .route("/api/events/{id}", post(core_rest_direct))
            .route("/api/services/{domain}/{service}", post(core_rest_direct))
            .route("/api/backup/upload", post(core_upload))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .route("/api/websocket", any(ws_route))
            .route("/core/websocket", any(ws_route))
            .merge(options::routes())
            .layer(axum::middleware::from_fn_with_state(
                inner.clone(),
                options::security,
            ))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            inner,
            _task: task,
        }
    }

    pub fn token(&self) -> &str {
        &self.inner.token
    }

    pub fn set_faults(&self, f: Faults) {
        *self.inner.faults.lock().unwrap() = f;
    }

    /// Fires an event on the bus, as an automation would.
    pub fn fire(&self, event_type: &str, data: Value) {
        let _ = self.inner.bus.send((event_type.to_owned(), data));
    }

    /// Websocket connections subscribed to `event_type` right now.
    pub fn subscribers(&self, event_type: &str) -> usize {
        self.inner
            .subscriptions
            .lock()
            .unwrap()
            .iter()
            .filter(|t| *t == event_type)
            .count()
    }

    pub fn log(&self) -> Vec<String> {
        self.inner.log.lock().unwrap().clone()
    }

    /// A backup Home Assistant made by itself (its automatic or before-update backups).
    pub fn add_existing_backup(&self, slug: &str, date: &str) {
        self.inner
            .backups
            .lock()
            .unwrap()
            .push((slug.to_owned(), date.to_owned()));
    }

    /// The backups Home Assistant holds now.
    pub fn backups(&self) -> Vec<String> {
        self.inner
            .backups
            .lock()
            .unwrap()
            .iter()
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Home Assistant makes a backup by itself (an automatic or pre-update one): it is listed,
    /// and every connection following the backup manager's events hears it end `completed`.
    pub fn ha_makes_backup(&self, slug: &str) {
        self.inner.add_backup(slug);
        for e in [
            json!({"manager_state": "create_backup", "reason": null, "stage": null, "state": "in_progress"}),
            json!({"manager_state": "create_backup", "reason": null, "stage": "home_assistant", "state": "in_progress"}),
            json!({"manager_state": "create_backup", "reason": null, "stage": "upload_to_agents", "state": "in_progress"}),
        ] {
            let _ = self.inner.backup_bus.send((0, e));
        }
        *self.inner.first_download.lock().unwrap() = None;
        *self.inner.announced.lock().unwrap() = Some(std::time::Instant::now());
        let _ = self.inner.backup_bus.send((
            0,
            json!({"manager_state": "create_backup", "reason": null, "stage": null, "state": "completed"}),
        ));
        let _ = self
            .inner
            .backup_bus
            .send((0, json!({"manager_state": "idle"})));
    }

    /// Closes every connection following the backup manager's events (Home Assistant restarts).
    pub fn drop_backup_subscribers(&self) {
        let _ = self.inner.kick.send(());
    }

    /// Connections following the backup manager's events now.
    pub fn backup_subscribers(&self) -> u64 {
        self.inner.backup_subscribers.load(Ordering::SeqCst)
    }

    /// The updates most tests wait on: the Mosquitto add-on 6.4.0 → 6.5.0 and Core 2026.2.3 →
    /// 2026.3.0.
    pub fn add_usual_updates(&self) {
        self.add_update(UpdateFixture::addon(
            "core_mosquitto",
            "Mosquitto broker",
            "6.4.0",
            "6.5.0",
        ));
        self.add_update(UpdateFixture::core("2026.2.3", "2026.3.0"));
    }

    /// Adds an update entity.
    pub fn add_update(&self, u: UpdateFixture) {
        self.inner.updates.lock().unwrap().push(u);
    }

    /// The update entity `entity_id` now.
    pub fn update(&self, entity_id: &str) -> Option<UpdateFixture> {
        self.inner
            .updates
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.entity_id == entity_id)
            .cloned()
    }

    /// Entities `update.install` was called for.
    pub fn installs(&self) -> Vec<String> {
        self.inner.installs.lock().unwrap().clone()
    }

    /// From the announcement of Home Assistant's last backup to the first download after it.
    pub fn announced_to_download(&self) -> Option<std::time::Duration> {
        let a = (*self.inner.announced.lock().unwrap())?;
        let d = (*self.inner.first_download.lock().unwrap())?;
        d.checked_duration_since(a)
    }

    /// How many backups were asked for (through either API).
    pub fn creations(&self) -> usize {
        self.inner.create_requests.lock().unwrap().len()
    }
}

impl Inner {
    fn next_hex(&self, len: usize) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let s = format!(
            "{:032x}",
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995
        );
        s[s.len() - len..].to_owned()
    }

    fn record(&self, what: String) {
        self.log.lock().unwrap().push(what);
    }

    fn add_backup(&self, slug: &str) {
        // Each backup a second after the last, as Home Assistant dates them.
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let date = format!(
            "2026-11-22T08:{:02}:{:02}.000000+00:00",
            (n / 60) % 60,
            n % 60
        );
        self.backups.lock().unwrap().push((slug.to_owned(), date));
    }

    fn has_backup(&self, slug: &str) -> bool {
        self.backups.lock().unwrap().iter().any(|(s, _)| s == slug)
    }

    fn manager_backup(&self, slug: &str, date: &str) -> Value {
        let agent = if self.flavor == Flavor::Supervisor {
            "hassio.local"
        } else {
            "backup.local"
        };
        json!({"addons": [], "backup_id": slug, "date": date, "database_included": true,
            "extra_metadata": {"instance_id": "e993c7a1a9ed459996cf25e79b211e46", "with_automatic_settings": false},
            "folders": [], "homeassistant_included": true, "homeassistant_version": "2026.2.3",
            "name": "Lifeboat", "agents": {agent: {"protected": self.ha_password.is_some(), "size": self.fixture.len()}},
            "failed_addons": [], "failed_agent_ids": [], "failed_folders": [], "with_automatic_settings": false})
    }

    fn download(&self, slug: &str, content_type: &str) -> Response {
        if !self.has_backup(slug) {
            return StatusCode::NOT_FOUND.into_response();
        }
        self.first_download
            .lock()
            .unwrap()
            .get_or_insert_with(std::time::Instant::now);
        let mut body = self.fixture.clone();
        if let Some(n) = self.faults.lock().unwrap().truncate_download {
            body.truncate(n);
        }
        (
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename={slug}.tar"),
                ),
            ],
            Body::from(body),
        )
            .into_response()
    }
}

/// The Supervisor's token check: X-Supervisor-Token, then X-Hassio-Key, then Bearer.
fn supervisor_authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let token = h("x-supervisor-token")
        .or_else(|| h("x-hassio-key"))
        .or_else(|| h("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned)));
    token.as_deref() == Some(inner.token.as_str())
}

fn ok(data: Value) -> Response {
    axum::Json(json!({"result": "ok", "data": data})).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"result": "error", "message": message})),
    )
        .into_response()
}

async fn list_backups(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let list: Vec<Value> = s
        .backups
        .lock()
        .unwrap()
        .iter()
        .map(|(slug, date)| {
            json!({"slug": slug, "name": format!("Automatic backup {date}"), "date": date,
                   "type": "full", "size": 0.03, "size_bytes": s.fixture.len(), "location": null,
                   "locations": [null], "protected": s.ha_password.is_some(),
                   "location_attributes": {".local": {"protected": s.ha_password.is_some(), "size_bytes": s.fixture.len()}},
                   "compressed": true, "content": {"homeassistant": true, "addons": [], "folders": []}})
        })
        .collect();
    ok(json!({"backups": list}))
}

async fn sup_delete(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    s.record(format!(
        "DELETE /backups/{slug} {}",
        String::from_utf8_lossy(&body)
    ));
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if !s.has_backup(&slug) {
        return error(StatusCode::NOT_FOUND, "Backup does not exist");
    }
    s.backups.lock().unwrap().retain(|(b, _)| *b != slug);
    ok(json!({}))
}

async fn backup_info(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if !s.has_backup(&slug) {
        return error(StatusCode::NOT_FOUND, "Backup does not exist");
    }
    ok(json!({"slug": slug, "size_bytes": s.fixture.len()}))
}

async fn new_full(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    s.record(format!("POST {}", uri.path()));
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    if body.get("name").is_some_and(|n| !n.is_string())
        || body.get("background").is_some_and(|b| !b.is_boolean())
    {
        return error(
            StatusCode::BAD_REQUEST,
            "expected str for dictionary value @ data['name']",
        );
    }
    s.create_requests.lock().unwrap().push(body.clone());
    {
        let mut f = s.faults.lock().unwrap();
        let running = s.jobs.lock().unwrap().iter().any(|j| j.polls < 2);
        if f.busy > 0 || running {
            f.busy = f.busy.saturating_sub(1);
            return error(
                StatusCode::BAD_REQUEST,
                "Another job is running for job group backup_manager",
            );
        }
    }
    let uuid = s.next_hex(32);
    let slug = s.next_hex(8);
    let created = s.counter.load(Ordering::SeqCst);
    s.jobs.lock().unwrap().push(Job {
        uuid: uuid.clone(),
        slug,
        polls: 0,
        created,
    });
    if body["background"] == true {
        ok(json!({"job_id": uuid}))
    } else {
        error(
            StatusCode::BAD_REQUEST,
            "the double serves background backups only",
        )
    }
}

/// `/supervisor/info` as role backup reads it (any `…/info` is open to it): the Supervisor's
/// version and the installed add-ons, in the fields the real one gives them.
async fn supervisor_info(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    s.record("GET /supervisor/info".into());
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let addons: Vec<Value> = s
        .installed_addons
        .lock()
        .unwrap()
        .iter()
        .map(|(slug, name)| {
            json!({"name": name, "slug": slug, "version": "1.0.0", "version_latest": "1.0.0",
                   "update_available": false, "state": "started", "repository": "core",
                   "icon": false})
        })
        .collect();
    ok(
        json!({"version": "2026.11.0", "version_latest": "2026.11.0", "update_available": false,
              "channel": "stable", "arch": "amd64", "supported": true, "healthy": true,
              "ip_address": "172.30.32.2", "timezone": "UTC", "logging": "info", "debug": false,
              "debug_block": false, "diagnostics": null, "auto_update": true,
              "detect_blocking_io": false, "country": null, "wait_boot": 5, "addons": addons,
              "addons_repositories": []}),
    )
}

/// `/host/info` (role backup reads any `…/info`), with the fields of Supervisor's `api/host.py`;
/// the disk figures are GiB rounded to one decimal.
async fn host_info(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    s.record("GET /host/info".into());
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let free = *s.disk_free_gib.lock().unwrap();
    ok(
        json!({"agent_version": "1.6.0", "apparmor_version": "3.1.2", "chassis": "embedded",
        "virtualization": "", "cpe": "cpe:2.3:o:home-assistant:haos:16.3:*:production:*:*:*:rpi4-64:*",
        "deployment": "production", "disk_free": free, "disk_total": 28.6, "disk_used": 28.6 - free,
        "disk_life_time": null, "features": ["reboot", "shutdown", "services", "network", "hostname",
        "timedate", "os_agent", "haos", "resolved", "journal", "disk", "mount"], "hostname": "homeassistant",
        "llmnr_hostname": "homeassistant", "kernel": "6.12.20-haos-raspi", "operating_system": "Home Assistant OS 16.3",
        "timezone": "UTC", "dt_utc": "2026-12-03T09:00:00.000000+00:00", "dt_synchronized": true,
        "use_ntp": true, "startup_time": 1.2, "boot_timestamp": 1796280000000000u64,
        "broadcast_llmnr": true, "broadcast_mdns": true}),
    )
}

/// `/info` (a path every add-on may read): the versions of what runs.
async fn root_info(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    s.record("GET /info".into());
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    ok(
        json!({"supervisor": "2026.11.0", "homeassistant": ha_version(&s), "hassos": "16.3",
        "docker": "28.0.4", "hostname": "homeassistant", "operating_system": "Home Assistant OS 16.3",
        "features": ["reboot", "shutdown", "services", "network", "hostname", "timedate", "os_agent",
        "haos", "resolved", "journal", "disk", "mount"], "machine": "raspberrypi4-64",
        "machine_id": "0123456789abcdef0123456789abcdef", "arch": "aarch64",
        "state": "running", "supported_arch": ["aarch64"], "supported": true, "channel": "stable",
        "logging": "info", "timezone": "UTC"}),
    )
}

async fn jobs_info(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    s.record("GET /jobs/info".into());
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let faults = s.faults.lock().unwrap().clone();
    let mut finished = Vec::new();
    let mut jobs: Vec<Value> = {
        let mut jobs = s.jobs.lock().unwrap();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.created));
        jobs.iter_mut()
            .map(|j| {
                j.polls += 1;
                let done = match j.polls {
                    0 | 1 => Value::Bool(false),
                    _ => Value::Bool(true),
                };
                let failed = done == true && faults.fail_job.is_some();
                if done == true && j.polls == 2 && !failed {
                    finished.push(j.slug.clone());
                }
                let errors: Vec<Value> = faults
                    .fail_job
                    .iter()
                    .filter(|_| failed)
                    .map(|m| json!({"type": "BackupError", "message": m, "stage": null, "error_key": null, "extra_fields": null}))
                    .collect();
                let child_errors: Vec<Value> = faults
                    .child_error
                    .iter()
                    .map(|m| json!({"type": "BackupError", "message": m, "stage": "addons", "error_key": null, "extra_fields": null}))
                    .collect();
                json!({"name": "backup_manager_full_backup", "reference": if done == true && !failed { json!(j.slug) } else { Value::Null },
                    "uuid": j.uuid, "progress": 0, "stage": if done == true { "finishing_file" } else { "addons" },
                    "done": done, "errors": errors, "created": "2026-11-22T08:51:34.810295+00:00", "extra": null,
                    "child_jobs": [{"name": "backup_store_apps", "reference": j.slug, "uuid": format!("{}c", &j.uuid[1..]),
                        "progress": 0, "stage": null, "done": done, "errors": child_errors, "child_jobs": [], "extra": null,
                        "created": "2026-11-22T08:51:34.810295+00:00"}]})
            })
            .collect()
    };
    for slug in finished {
        s.add_backup(&slug);
    }
    jobs.truncate(50);
    ok(json!({"ignore_conditions": [], "jobs": jobs}))
}

async fn sup_download(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    s.record(format!("GET /backups/{slug}/download"));
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let slow = s.faults.lock().unwrap().slow_download;
    if let Some(wait) = slow {
        tokio::time::sleep(wait).await;
    }
    s.download(&slug, "application/tar")
}

async fn core_download(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.record(format!(
        "GET /api/backup/download/{id}?agent_id={}",
        q.get("agent_id").map_or("", String::as_str)
    ));
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "));
    if bearer != Some(s.token.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if s.flavor != Flavor::LegacyCore
        && q.get("agent_id").map(String::as_str) != Some("backup.local")
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    s.download(&id, "application/x-tar")
}

async fn ws_route(State(s): State<Arc<Inner>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| websocket(s, socket))
}

fn ha_version(s: &Inner) -> &'static str {
    if s.flavor == Flavor::LegacyCore {
        "2024.3.3"
    } else {
        "2026.2.3"
    }
}

async fn send(socket: &mut WebSocket, v: Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

async fn recv(socket: &mut WebSocket) -> Option<Value> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(t)) => {
                return serde_json::from_str(t.as_str()).ok().or(Some(json!({})));
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

fn result(id: u64, r: Value) -> Value {
    json!({"id": id, "type": "result", "success": true, "result": r})
}

fn fail(id: u64, code: &str, message: &str) -> Value {
    json!({"id": id, "type": "result", "success": false, "error": {"code": code, "message": message}})
}

async fn websocket(s: Arc<Inner>, mut socket: WebSocket) {
    if !send(
        &mut socket,
        json!({"type": "auth_required", "ha_version": ha_version(&s)}),
    )
    .await
    {
        return;
    }
    let Some(auth) = recv(&mut socket).await else {
        return;
    };
    let obj = auth.as_object().cloned().unwrap_or_default();
    let well_formed = obj.get("type") == Some(&json!("auth"))
        && obj
            .keys()
            .all(|k| k == "type" || k == "access_token" || k == "api_password");
    if !well_formed {
        let _ = send(&mut socket, json!({"type": "auth_invalid", "message": "Auth message incorrectly formatted: extra keys not allowed"})).await;
        let _ = socket.send(Message::Close(None)).await;
        return;
    }
    if obj.get("access_token").and_then(Value::as_str) != Some(s.token.as_str()) {
        let _ = send(
            &mut socket,
            json!({"type": "auth_invalid", "message": "Invalid access token or password"}),
        )
        .await;
        let _ = socket.send(Message::Close(None)).await;
        return;
    }
    if !send(
        &mut socket,
        json!({"type": "auth_ok", "ha_version": ha_version(&s)}),
    )
    .await
    {
        return;
    }
    let mut last_id = 0u64;
    let mut sub: Option<u64> = None;
    let mut bus = s.bus.subscribe();
    let mut backup_bus = s.backup_bus.subscribe();
    let mut kick = s.kick.subscribe();
    let me = s.counter.fetch_add(1, Ordering::SeqCst);
    let mut subs: Vec<(u64, String)> = Vec::new();
    let _following = Following(s.clone(), std::cell::Cell::new(false));
    loop {
        let msg = tokio::select! {
            m = recv(&mut socket) => match m { Some(m) => m, None => break },
            _ = kick.recv(), if sub.is_some() => break,
            ev = backup_bus.recv() => {
                let Ok((from, event)) = ev else { continue };
                if let Some(sid) = sub.filter(|_| from != me)
                    && !send(&mut socket, json!({"id": sid, "type": "event", "event": event})).await
                {
                    break;
                }
                continue;
            }
            ev = bus.recv() => {
                let Ok((event_type, data)) = ev else { continue };
                for (sid, _) in subs.iter().filter(|(_, t)| *t == event_type) {
                    let event = json!({"id": sid, "type": "event", "event": {"event_type": event_type, "data": data,
                        "origin": "LOCAL", "time_fired": "2026-11-22T08:51:34.810295+00:00",
                        "context": {"id": "01M8178882DF8R0VE7NV7FQR0W", "parent_id": null, "user_id": null}}});
                    if !send(&mut socket, event).await {
                        break;
                    }
                }
                continue;
            }
        };
        let Some(id) = msg["id"].as_u64() else {
            let _ = send(&mut socket, json!({"id": null, "type": "result", "success": false, "error": {"code": "invalid_format", "message": "Message incorrectly formatted."}})).await;
            continue;
        };
        if id <= last_id {
            let _ = send(
                &mut socket,
                fail(id, "id_reuse", "Identifier values have to increase."),
            )
            .await;
            continue;
        }
        last_id = id;
        let kind = msg["type"].as_str().unwrap_or_default().to_owned();
        s.record(format!("ws {kind}"));
        let legacy = s.flavor == Flavor::LegacyCore;
        let answers: Vec<Value> = match kind.as_str() {
            "ping" => vec![json!({"id": id, "type": "pong"})],
            k if k.starts_with("supervisor/") || k.starts_with("hassio/") => {
                vec![fail(id, "unauthorized", "Unauthorized")]
            }
            "backup/agents/info" if legacy => vec![fail(id, "unknown_command", "Unknown command.")],
            "backup/agents/info" => {
                let agent = if s.flavor == Flavor::Supervisor {
                    "hassio.local"
                } else {
                    "backup.local"
                };
                vec![result(
                    id,
                    json!({"agents": [{"agent_id": agent, "name": "local"}]}),
                )]
            }
            "backup/config/info" => vec![result(
                id,
                json!({"config": {"agents": {}, "automatic_backups_configured": false,
                "create_backup": {"agent_ids": [], "include_addons": null, "include_all_addons": false, "include_database": true,
                "include_folders": null, "name": null, "password": s.ha_password}, "last_attempted_automatic_backup": null,
                "last_completed_automatic_backup": null, "retention": {"copies": null, "days": null},
                "schedule": {"recurrence": "never", "days": [], "time": null}, "next_automatic_backup": null,
                "next_automatic_backup_additional": false}}),
            )],
            "backup/subscribe_events" => {
                if sub.is_none() {
                    _following.1.set(true);
                    s.backup_subscribers.fetch_add(1, Ordering::SeqCst);
                }
                sub = Some(id);
                let state = if s.faults.lock().unwrap().blocked > 0 {
                    "blocked"
                } else {
                    "idle"
                };
                vec![
                    json!({"id": id, "type": "event", "event": {"manager_state": state}}),
                    result(id, Value::Null),
                ]
            }
            "backup/info" if legacy => {
                let list: Vec<Value> = s.backups.lock().unwrap().iter().map(|(slug, date)| json!({"slug": slug, "name": "Core 2024.3.3", "date": date, "path": format!("/config/backups/{slug}.tar"), "size": 0.03})).collect();
                vec![result(id, json!({"backups": list, "backing_up": false}))]
            }
            "backup/info" => {
                let list: Vec<Value> = s
                    .backups
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(slug, date)| s.manager_backup(slug, date))
                    .collect();
                let state = if s.faults.lock().unwrap().blocked > 0 {
                    "blocked"
                } else {
                    "idle"
                };
                vec![result(
                    id,
                    json!({"agent_errors": {}, "backups": list, "last_attempted_automatic_backup": null,
                    "last_completed_automatic_backup": null, "last_action_event": null, "next_automatic_backup": null,
                    "next_automatic_backup_additional": false, "state": state}),
                )]
            }
            "backup/details" => {
                let wanted = msg["backup_id"].as_str().unwrap_or_default().to_owned();
                let found = s
                    .backups
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(slug, _)| *slug == wanted)
                    .map(|(slug, date)| s.manager_backup(slug, date));
                vec![result(id, json!({"agent_errors": {}, "backup": found}))]
            }
            "subscribe_events" => {
                let t = msg["event_type"].as_str().unwrap_or("*").to_owned();
                s.subscriptions.lock().unwrap().push(t.clone());
                subs.push((id, t));
                vec![result(id, Value::Null)]
            }
            "fire_event" => {
                let t = msg["event_type"].as_str().unwrap_or_default().to_owned();
                let _ = s.bus.send((t, msg["event_data"].clone()));
                vec![result(
                    id,
                    json!({"context": {"id": "01M8178882DF8R0VE7NV7FQR0W", "parent_id": null, "user_id": null}}),
                )]
            }
            "backup/delete" => {
                let wanted = msg["backup_id"].as_str().unwrap_or_default().to_owned();
                s.backups
                    .lock()
                    .unwrap()
                    .retain(|(slug, _)| *slug != wanted);
                vec![result(id, json!({"agent_errors": {}}))]
            }
            "backup/generate" if legacy => {
                let slug = s.next_hex(8);
                s.add_backup(&slug);
                vec![result(
                    id,
                    json!({"slug": slug, "name": "Core 2024.3.3", "date": "2026-11-22T09:06:23.681874+00:00", "path": format!("/config/backups/{slug}.tar"), "size": 0.03}),
                )]
            }
            "backup/generate" => {
                let answers = generate(&s, id, &msg, sub);
                // The other connections following the backup manager hear it too.
                for a in answers.iter().filter(|a| a["type"] == "event") {
                    let _ = s.backup_bus.send((me, a["event"].clone()));
                }
                if sub.is_none() {
                    for e in generate_events(&answers) {
                        let _ = s.backup_bus.send((me, e));
                    }
                }
                answers
            }
            "get_states" => {
                let states: Vec<Value> = s
                    .updates
                    .lock()
                    .unwrap()
                    .iter()
                    .map(UpdateFixture::state)
                    .collect();
                vec![result(id, json!(states))]
            }
            "config/entity_registry/get" => {
                let wanted = msg["entity_id"].as_str().unwrap_or_default();
                match s
                    .updates
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|u| u.entity_id == wanted)
                {
                    Some(u) => vec![result(id, u.registry())],
                    None => vec![fail(id, "not_found", "Entity not found")],
                }
            }
            "call_service" => call_service(&s, id, &msg),
            _ => vec![fail(id, "unknown_command", "Unknown command.")],
        };
        for a in answers {
            if a.get(DROP).is_some() || !send(&mut socket, a).await {
                return;
            }
        }
    }
}

/// Counts a connection following the backup manager's events while it lives.
struct Following(Arc<Inner>, std::cell::Cell<bool>);

impl Drop for Following {
    fn drop(&mut self) {
        if self.1.get() {
            self.0.backup_subscribers.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The events a `backup/generate` without a subscription on its own connection still causes
/// (what [`generate`] would have sent had the connection been subscribed).
fn generate_events(answers: &[Value]) -> Vec<Value> {
    let ok = answers
        .iter()
        .any(|a| a["type"] == "result" && a["success"] == true);
    if !ok {
        return Vec::new();
    }
    vec![
        json!({"manager_state": "create_backup", "reason": null, "stage": null, "state": "in_progress"}),
        json!({"manager_state": "create_backup", "reason": null, "stage": null, "state": "completed"}),
        json!({"manager_state": "idle"}),
    ]
}

/// `update.install` as Home Assistant 2025.4.4 answers it: an unknown entity is not refused;
/// one without the install feature is a `service_validation_error`; one with nothing to install a
/// `home_assistant_error`; the answer comes when the install has ended — or never, when it
/// restarts Home Assistant (Core). Any other service call succeeds and does nothing.
fn call_service(s: &Inner, id: u64, msg: &Value) -> Vec<Value> {
    let context = || {
        result(
            id,
            json!({"context": {"id": "01M8XKAJ2ET4DNM577CF3SZJ2T", "parent_id": null, "user_id": "231e1d3afeed4a3fa6cf8b36edf10028"}}),
        )
    };
    if msg["domain"] != "update" || msg["service"] != "install" {
        return vec![context()];
    }
    let Some(entity) = msg["target"]["entity_id"].as_str().map(str::to_owned) else {
        return vec![context()];
    };
    s.installs.lock().unwrap().push(entity.clone());
    let mut updates = s.updates.lock().unwrap();
    let Some(u) = updates.iter_mut().find(|u| u.entity_id == entity) else {
        return vec![context()];
    };
    if u.supported_features & 1 == 0 {
        return vec![
            json!({"id": id, "type": "result", "success": false, "error": {"code": "service_validation_error",
            "message": format!("Validation error: Entity {entity} does not support action update.install"),
            "translation_key": "service_not_supported", "translation_placeholders": {"domain": "update", "service": "install", "entity_id": entity},
            "translation_domain": "homeassistant"}}),
        ];
    }
    if u.installed == u.latest {
        return vec![fail(
            id,
            "home_assistant_error",
            &format!("No update available for {entity}"),
        )];
    }
    if msg["service_data"].get("backup").is_some() {
        return vec![fail(
            id,
            "home_assistant_error",
            "the double: Lifeboat must not ask Home Assistant for a backup of its own",
        )];
    }
    if let Some(why) = &u.install_fails {
        return vec![fail(id, "home_assistant_error", why)];
    }
    u.installed = u.latest.clone();
    if u.restarts {
        return vec![json!({ DROP: true })];
    }
    vec![context()]
}

fn generate(s: &Inner, id: u64, msg: &Value, sub: Option<u64>) -> Vec<Value> {
    let Some(agents) = msg["agent_ids"].as_array() else {
        return vec![fail(
            id,
            "invalid_format",
            "required key not provided @ data['agent_ids']. Got None",
        )];
    };
    let agent = if s.flavor == Flavor::Supervisor {
        "hassio.local"
    } else {
        "backup.local"
    };
    if !agents.iter().any(|a| a == agent) {
        return vec![fail(
            id,
            "home_assistant_error",
            &format!("At least one available backup agent must be selected, got {agents:?}"),
        )];
    }
    if s.flavor == Flavor::Core
        && (msg.get("include_all_addons").is_some() || msg.get("include_folders").is_some())
    {
        return vec![fail(
            id,
            "home_assistant_error",
            "Addons and folders are not supported by core backup",
        )];
    }
    s.create_requests.lock().unwrap().push(msg.clone());
    let faults = {
        let mut f = s.faults.lock().unwrap();
        let snapshot = f.clone();
        f.blocked = f.blocked.saturating_sub(1);
        f.busy = f.busy.saturating_sub(1);
        snapshot
    };
    if faults.blocked > 0 {
        return vec![fail(
            id,
            "home_assistant_error",
            "Backup manager busy: blocked",
        )];
    }
    if faults.busy > 0 {
        return vec![fail(
            id,
            "home_assistant_error",
            "Backup manager busy: create_backup",
        )];
    }
    let slug = s.next_hex(8);
    let job_id = if faults.job_id_differs {
        s.next_hex(12)
    } else {
        slug.clone()
    };
    let ev = |e: Value| sub.map(|sid| json!({"id": sid, "type": "event", "event": e}));
    let mut out = Vec::new();
    out.extend(ev(json!({"manager_state": "create_backup", "reason": null, "stage": null, "state": "in_progress"})));
    out.push(result(id, json!({"backup_job_id": job_id})));
    out.extend(ev(json!({"manager_state": "create_backup", "reason": null, "stage": "home_assistant", "state": "in_progress"})));
    if faults.drop_mid_backup {
        s.faults.lock().unwrap().drop_mid_backup = false;
        if faults.fail_job.is_none() {
            s.add_backup(&slug);
        }
        out.push(json!({ DROP: true }));
        return out;
    }
    if let Some(reason) = &faults.fail_job {
        out.extend(ev(json!({"manager_state": "create_backup", "reason": reason, "stage": null, "state": "failed"})));
    } else {
        s.add_backup(&slug);
        out.extend(ev(json!({"manager_state": "create_backup", "reason": null, "stage": "upload_to_agents", "state": "in_progress"})));
        out.extend(ev(json!({"manager_state": "create_backup", "reason": null, "stage": null, "state": "completed"})));
    }
    out.extend(ev(json!({"manager_state": "idle"})));
    out
}

/// The slug in a backup tar's `backup.json`, as the Supervisor reads it on upload.
fn slug_of(tar_bytes: &[u8]) -> Option<String> {
    let mut t = tar::Archive::new(tar_bytes);
    for e in t.entries().ok()? {
        let mut e = e.ok()?;
        let name = e
            .path()
            .ok()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if name == "backup.json" {
            let mut raw = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut raw).ok()?;
            let v: Value = serde_json::from_slice(&raw).ok()?;
            return v["slug"].as_str().map(str::to_owned);
        }
    }
    None
}

/// The first multipart part, whatever its name (as the Supervisor reads it).
async fn first_part(mut form: axum::extract::Multipart) -> Option<(Option<String>, Vec<u8>)> {
    let field = form.next_field().await.ok()??;
    let name = field.name().map(str::to_owned);
    let bytes = field.bytes().await.ok()?;
    Some((name, bytes.to_vec()))
}

async fn sup_upload(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    form: axum::extract::Multipart,
) -> Response {
    s.record("POST /backups/new/upload".into());
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Some(f) = q.get("filename")
        && (f.contains('/') || f.contains('\\') || !f.ends_with(".tar"))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "does not match regular expression ^[^\\\\/]+\\.tar$",
        );
    }
    let Some((_, bytes)) = first_part(form).await else {
        return error(
            StatusCode::BAD_REQUEST,
            "Unknown error, see Supervisor logs",
        );
    };
    let Some(slug) = slug_of(&bytes) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Unknown error, see Supervisor logs",
        );
    };
    s.uploaded.lock().unwrap().insert(slug.clone(), bytes);
    s.add_backup(&slug);
    ok(json!({"slug": slug}))
}

async fn core_upload(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    form: axum::extract::Multipart,
) -> Response {
    s.record(format!(
        "POST /api/backup/upload?agent_id={}",
        q.get("agent_id").map_or("", String::as_str)
    ));
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "));
    if bearer != Some(s.token.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some((Some(name), bytes)) = first_part(form).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if name != "file" {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let Some(slug) = slug_of(&bytes) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "invalid backup").into_response();
    };
    s.uploaded.lock().unwrap().insert(slug.clone(), bytes);
    s.add_backup(&slug);
    (StatusCode::CREATED, axum::Json(json!({"backup_id": slug}))).into_response()
}

/// Core's REST API through the Supervisor's proxy (`/core/api/…`).
async fn core_rest(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(rest): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    core_rest_answer(&s, &headers, &rest, &body)
}

/// Core's REST API directly (`/api/…`).
async fn core_rest_direct(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    let rest = uri.path().trim_start_matches("/api/").to_owned();
    core_rest_answer(&s, &headers, &rest, &body)
}

fn core_rest_answer(s: &Inner, headers: &HeaderMap, rest: &str, body: &[u8]) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "));
    if bearer != Some(s.token.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if rest.starts_with("hassio") {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": "Invalid JSON specified."})),
        )
            .into_response();
    };
    s.core_posts
        .lock()
        .unwrap()
        .push((rest.to_owned(), json.clone()));
    if let Some(entity) = rest.strip_prefix("states/") {
        if json.get("state").is_none() {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"message": "No state specified."})),
            )
                .into_response();
        }
        return (StatusCode::CREATED, axum::Json(json!({"entity_id": entity, "state": json["state"], "attributes": json["attributes"]}))).into_response();
    }
    if let Some(event) = rest.strip_prefix("events/") {
        return axum::Json(json!({"message": format!("Event {event} fired.")})).into_response();
    }
    if rest.starts_with("services/") {
        return axum::Json(json!([])).into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}
