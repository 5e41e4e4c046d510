//! The add-on's own options, as the Supervisor keeps them (SUP: `api/addons.py` `options`,
//! `options_config`, `info`; `apps/app.py` `options`; `api/middleware/security.py`):
//!
//! - `POST /addons/self/options` judges `{"options": …}` by the option rules of
//!   `supervisor_rules` against the real `config.yaml` schema, secrets looked
//!   up; refused, it answers 400 `{"result":"error","message":…}` and stores nothing; taken, it
//!   stores the options as they were sent (`api_validate(…, origin=["options"])`: `!secret`
//!   references and all) and answers `{"result":"ok","data":{}}`; `"options": null` resets them.
//! - The add-on's options are the manifest's defaults overlaid one level deep by the saved ones
//!   (`{**defaults, **saved}`): `GET /addons/self/info` shows them as they are;
//!   `GET /addons/self/options/config` shows them validated (unknown keys dropped, `!secret`
//!   resolved), or refuses with "Invalid configuration data for the add-on".
//! - The security middleware, for an add-on with `hassio_api: true` and role `backup`: the bypass
//!   (`/addons/self/<one segment>` but `security` and `update`, `/addons/self/options/config`,
//!   `/info`, `/services…`, `/discovery…`, `/auth`) and the role's `/.+/info` and `/backups…`;
//!   anything else is a bare 403 with no body. Core's proxy paths check themselves.

use super::{Inner, error, ok, supervisor_authorized};
// The rules sit beside the double (in `support`, or at the root of the example that runs it).
use super::super::supervisor_rules::{AppOptions, effective_options};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

/// The add-on's full slug as a local install has it.
pub const SLUG: &str = "local_lifeboat";

/// The real manifest, as the Supervisor reads it.
pub fn manifest() -> &'static Value {
    static M: OnceLock<Value> = OnceLock::new();
    M.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.yaml");
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

pub fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/addons/self/info", get(info))
        .route("/addons/self/options", post(set_options))
        .route("/addons/self/options/config", get(options_config))
}

impl Inner {
    fn validator(&self) -> AppOptions<'static> {
        let m = manifest();
        AppOptions {
            schema: m["schema"].as_object().unwrap(),
            name: m["name"].as_str().unwrap(),
            slug: SLUG,
            secrets: self.ha_secrets.lock().unwrap().clone(),
        }
    }

    /// The options the add-on has now: defaults overlaid by the saved ones.
    pub fn effective_addon_options(&self) -> Value {
        effective_options(&manifest()["options"], &self.addon_options.lock().unwrap())
    }
}

impl super::Double {
    /// Puts a secret in Home Assistant's `secrets.yaml`.
    pub fn set_ha_secret(&self, name: &str, value: &str) {
        self.inner
            .ha_secrets
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    /// The add-on's options as saved (not overlaid by the defaults).
    pub fn saved_addon_options(&self) -> Value {
        self.inner.addon_options.lock().unwrap().clone()
    }

    /// Saves options as the Supervisor's own UI would, unjudged.
    pub fn save_addon_options(&self, options: Value) {
        *self.inner.addon_options.lock().unwrap() = options;
    }
}

async fn info(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    s.record("GET /addons/self/info".into());
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let m = manifest();
    ok(
        json!({"name": m["name"], "slug": SLUG, "hostname": "local-lifeboat",
        "version": m["version"], "version_latest": m["version"], "update_available": false,
        "state": "started", "boot": "auto", "protected": true, "options": s.effective_addon_options(),
        "hassio_api": true, "hassio_role": "backup", "homeassistant_api": true, "stdin": true,
        "ingress": true, "ingress_port": 8099, "ip_address": "172.30.33.4"}),
    )
}

async fn set_options(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    s.record("POST /addons/self/options".into());
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "expected a dictionary");
    };
    match body.get("options") {
        None => {}
        Some(Value::Null) => *s.addon_options.lock().unwrap() = json!({}),
        Some(options) => {
            if let Err(message) = s.validator().validate(options) {
                return error(StatusCode::BAD_REQUEST, &message);
            }
            *s.addon_options.lock().unwrap() = options.clone();
        }
    }
    ok(json!({}))
}

async fn options_config(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    s.record("GET /addons/self/options/config".into());
    if !supervisor_authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match s.validator().validate(&s.effective_addon_options()) {
        Ok(v) => ok(v),
        Err(_) => error(
            StatusCode::BAD_REQUEST,
            "Invalid configuration data for the add-on",
        ),
    }
}

/// Whether the security middleware lets an add-on with role `backup` call `path`.
pub fn backup_role_may_call(path: &str) -> bool {
    let bypass = match path.strip_prefix("/addons/self/") {
        Some(rest) => {
            (!rest.is_empty()
                && !rest.contains('/')
                && !rest.starts_with("security")
                && !rest.starts_with("update"))
                || rest == "options/config"
        }
        None => {
            matches!(path, "/info" | "/auth")
                || path.starts_with("/services")
                || path.starts_with("/discovery")
        }
    };
    let role =
        (path.len() > "/info".len() + 1 && path.ends_with("/info")) || path.starts_with("/backups");
    bypass || role
}

/// Paths the Supervisor's middleware does not judge: Core's proxy (it checks
/// `homeassistant_api` itself), and Core's own API when the double plays Core.
fn unjudged(path: &str) -> bool {
    path.starts_with("/core/api/") || path == "/core/websocket" || path.starts_with("/api/")
}

/// The security middleware: an add-on's token on a path its role does not reach is a bare 403.
pub async fn security(State(s): State<Arc<Inner>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if unjudged(&path) || !supervisor_authorized(&s, req.headers()) || backup_role_may_call(&path) {
        return next.run(req).await;
    }
    if path.starts_with("/addons/") {
        s.record(format!("{} {path}", req.method()));
    }
    StatusCode::FORBIDDEN.into_response()
}
