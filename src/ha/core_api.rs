//! Home Assistant Core's REST API, for what the websocket does not carry: uploading a backup.

use crate::secret::Secret;
use serde_json::Value;
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
