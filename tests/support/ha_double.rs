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
//!
//! Every backup it "creates" is a real archive from the fixtures.

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
        let n = self.counter.load(Ordering::SeqCst);
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
    let mut subs: Vec<(u64, String)> = Vec::new();
    loop {
        let msg = tokio::select! {
            m = recv(&mut socket) => match m { Some(m) => m, None => break },
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
            "backup/generate" => generate(&s, id, &msg, sub),
            _ => vec![fail(id, "unknown_command", "Unknown command.")],
        };
        for a in answers {
            if a.get(DROP).is_some() || !send(&mut socket, a).await {
                return;
            }
        }
    }
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
