//! Home Assistant Core's REST API, for what the websocket does not carry: entity states, events
//! and service calls (what Lifeboat reports), and uploading a backup.

use crate::secret::Secret;
use serde_json::{Value, json};
use url::Url;

/// A Core REST failure.
#[derive(Debug, thiserror::Error)]
pub enum CoreApiError {
    #[error("cannot reach Home Assistant at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Home Assistant refused the access token (HTTP {0}); create a new long-lived token")]
    Denied(u16),
    #[error("Home Assistant answered HTTP {status}: {message}")]
    Api { status: u16, message: String },
}

/// A failed call to Home Assistant.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("cannot reach Home Assistant: {0}")]
    Unreachable(String),
    #[error("Home Assistant answered HTTP {status} to {path}")]
    Refused { status: u16, path: String },
}

/// Core's REST API.
#[derive(Clone)]
pub struct HaApi {
    http: reqwest::Client,
    /// Ends in `/api/`.
    api: Url,
    token: Secret,
}

impl HaApi {
    /// Through the Supervisor's proxy (`http://supervisor/core/api/`), with the add-on's token.
    pub fn via_supervisor(http: reqwest::Client, supervisor: &Url, token: Secret) -> Self {
        let mut api = supervisor.clone();
        api.set_path("/core/api/");
        Self { http, api, token }
    }

    /// Directly (`http://host:8123/api/`), with a long-lived token.
    pub fn direct(http: reqwest::Client, base: &Url, token: Secret) -> Self {
        let mut api = base.clone();
        api.set_path("/api/");
        Self { http, api, token }
    }

    async fn post(&self, path: &str, body: &Value) -> Result<(), RestError> {
        let url = self
            .api
            .join(path)
            .map_err(|e| RestError::Unreachable(e.to_string()))?;
        let resp = self
            .http
            .post(url)
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| RestError::Unreachable(e.to_string()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(RestError::Refused {
                status: resp.status().as_u16(),
                path: path.to_owned(),
            })
        }
    }

    /// Sets an entity's state.
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn set_state(
        &self,
        entity_id: &str,
        state: &str,
        attributes: Value,
    ) -> Result<(), RestError> {
        self.post(
            &format!("states/{entity_id}"),
            &json!({"state": state, "attributes": attributes}),
        )
        .await
    }

    /// Fires an event on Home Assistant's bus.
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn fire_event(&self, event_type: &str, data: &Value) -> Result<(), RestError> {
        self.post(&format!("events/{event_type}"), data).await
    }

    /// Calls a service.
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn call_service(
        &self,
        domain: &str,
        service: &str,
        data: &Value,
    ) -> Result<(), RestError> {
        self.post(&format!("services/{domain}/{service}"), data)
            .await
    }

    /// Shows a notification in Home Assistant's sidebar; a later one with the same `id` replaces
    /// it.
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn notify_persistent(
        &self,
        id: &str,
        title: &str,
        message: &str,
    ) -> Result<(), RestError> {
        self.call_service(
            "persistent_notification",
            "create",
            &json!({"title": title, "message": message, "notification_id": id}),
        )
        .await
    }
}

/// Uploads a backup tar to a backup agent (`backup.local` on Container/Core installs) so it
/// appears in Home Assistant's backup list; returns its backup id.
///
/// # Errors
/// [`CoreApiError`] classified from the answer.
pub async fn upload_backup(
    http: &reqwest::Client,
    base: &Url,
    token: &Secret,
    agent_id: &str,
    form: reqwest::multipart::Form,
) -> Result<String, CoreApiError> {
    let mut url = base.clone();
    url.set_path("/api/backup/upload");
    url.query_pairs_mut().append_pair("agent_id", agent_id);
    let unreachable = |e: reqwest::Error| CoreApiError::Unreachable {
        url: base.to_string(),
        reason: e.to_string(),
    };
    let resp = http
        .post(url.clone())
        .bearer_auth(token.expose())
        .multipart(form)
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(CoreApiError::Denied(status));
    }
    let text = resp.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match body["backup_id"].as_str() {
        Some(id) if (200..300).contains(&status) => Ok(id.to_owned()),
        _ => Err(CoreApiError::Api {
            status,
            message: text.chars().take(200).collect(),
        }),
    }
}
