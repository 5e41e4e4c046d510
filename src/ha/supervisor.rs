//! A client for the Supervisor REST API, as an add-on with `hassio_role: backup` sees it.
//!
//! Facts it keeps: answers come in `{"result":"ok","data":…}` / `{"result":"error","message":…}`
//! envelopes, but the security middleware answers 401/403 with no JSON body; `background: true`
//! returns a job id once validation passed; role `backup` may read `/jobs/info` but not
//! `/jobs/{uuid}`; a second backup while one runs is refused with "Another job is running…".

use crate::secret::Secret;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

/// A Supervisor failure.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("cannot reach the Supervisor at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the Supervisor refused the token (HTTP {0}); is hassio_api enabled with role backup?")]
    Denied(u16),
    #[error("the Supervisor is busy with another backup or restore: {0}")]
    Busy(String),
    #[error("the Supervisor answered HTTP {status}: {message}")]
    Api { status: u16, message: String },
    #[error("the Supervisor sent something unexpected: {0}")]
    Protocol(String),
}

impl SupervisorError {
    /// Whether trying again later may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Busy(_) => true,
            Self::Api { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// One job of `/jobs/info`.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    pub name: String,
    #[serde(default)]
    pub reference: Option<String>,
    pub uuid: String,
    #[serde(default)]
    pub done: Option<bool>,
    #[serde(default)]
    pub errors: Vec<JobError>,
    #[serde(default)]
    pub child_jobs: Vec<Job>,
}

/// An error recorded on a job.
#[derive(Debug, Clone, Deserialize)]
pub struct JobError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub stage: Option<String>,
}

impl Job {
    /// Finds a job by uuid in this tree.
    pub fn find(&self, uuid: &str) -> Option<&Job> {
        if self.uuid == uuid {
            return Some(self);
        }
        self.child_jobs.iter().find_map(|c| c.find(uuid))
    }

    /// Errors of child jobs (per add-on or folder failures that do not fail the backup).
    pub fn child_errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.child_jobs {
            for e in &c.errors {
                let stage = e
                    .stage
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                out.push(format!("{}{stage}: {}", c.name, e.message));
            }
            out.extend(c.child_errors());
        }
        out
    }
}

/// The Supervisor client.
#[derive(Clone)]
pub struct SupervisorClient {
    http: reqwest::Client,
    base: Url,
    token: Secret,
}

impl SupervisorClient {
    /// A client for `base` (normally `http://supervisor`).
    pub fn new(http: reqwest::Client, base: Url, token: Secret) -> Self {
        Self { http, base, token }
    }

    fn url(&self, path: &str) -> Url {
        let mut u = self.base.clone();
        u.set_path(path);
        u
    }

    fn unreachable(&self, e: &reqwest::Error) -> SupervisorError {
        SupervisorError::Unreachable {
            url: self.base.to_string(),
            reason: e.to_string(),
        }
    }

    /// Sends a request and unwraps the envelope's `data`.
    ///
    /// # Errors
    /// [`SupervisorError`] classified from the status and envelope.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, SupervisorError> {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(SupervisorError::Denied(status));
        }
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        let envelope: Value = serde_json::from_str(&text).map_err(|_| SupervisorError::Api {
            status,
            message: if text.is_empty() {
                "(no body)".into()
            } else {
                text.chars().take(200).collect()
            },
        })?;
        if envelope["result"] == "ok" && (200..300).contains(&status) {
            return Ok(envelope["data"].clone());
        }
        let message = envelope["message"]
            .as_str()
            .unwrap_or("unknown error")
            .to_owned();
        if message.contains("Another job is running") {
            return Err(SupervisorError::Busy(message));
        }
        Err(SupervisorError::Api { status, message })
    }

    /// Starts a backup in the background — full, or of the parts in `partial` — and returns its
    /// job id.
    ///
    /// # Errors
    /// [`SupervisorError::Busy`] when another backup runs, or others.
    pub async fn start_backup(
        &self,
        name: &str,
        partial: Option<&crate::ha::partial::Partial>,
    ) -> Result<String, SupervisorError> {
        let mut body = json!({"name": name, "background": true, "compressed": true});
        let path = match partial {
            None => "/backups/new/full",
            Some(p) => {
                body["homeassistant"] = json!(p.homeassistant);
                body["addons"] = json!(p.addons);
                body["folders"] = json!(p.folders);
                "/backups/new/partial"
            }
        };
        let data = self.call(reqwest::Method::POST, path, Some(body)).await?;
        data["job_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SupervisorError::Protocol(format!("no job_id in {data}")))
    }

    /// The add-ons installed now, from `/supervisor/info` (role backup may read any `…/info`;
    /// `/addons` it may not).
    ///
    /// # Errors
    /// As [`Self::call`].
    pub async fn installed_addons(&self) -> Result<Vec<InstalledAddon>, SupervisorError> {
        let data = self
            .call(reqwest::Method::GET, "/supervisor/info", None)
            .await?;
        serde_json::from_value(data["addons"].clone())
            .map_err(|e| SupervisorError::Protocol(format!("supervisor/info: {e}")))
    }

    /// The versions running (`/info`, open to every add-on) and the free space on the
    /// Supervisor's data disk (`/host/info`, which role backup may read like any `…/info`; the
    /// Supervisor gives GiB with one decimal): (supervisor, core, os, free bytes).
    ///
    /// # Errors
    /// As [`Self::call`].
    pub async fn host(&self) -> Result<HostFacts, SupervisorError> {
        let info = self.call(reqwest::Method::GET, "/info", None).await?;
        let host = self.call(reqwest::Method::GET, "/host/info", None).await?;
        let text = |v: &Value| v.as_str().map(str::to_owned);
        Ok(HostFacts {
            supervisor: text(&info["supervisor"]),
            core: text(&info["homeassistant"]),
            os: text(&info["hassos"]),
            disk_free: host["disk_free"]
                .as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|gib| (gib * f64::from(1u32 << 30)) as u64),
        })
    }

    /// The job tree for `uuid`, from `/jobs/info` (role backup cannot read `/jobs/{uuid}`).
    ///
    /// # Errors
    /// As [`Self::call`].
    pub async fn job(&self, uuid: &str) -> Result<Option<Job>, SupervisorError> {
        let data = self.call(reqwest::Method::GET, "/jobs/info", None).await?;
        let jobs: Vec<Job> = serde_json::from_value(data["jobs"].clone())
            .map_err(|e| SupervisorError::Protocol(format!("jobs/info: {e}")))?;
        Ok(jobs.iter().find_map(|j| j.find(uuid)).cloned())
    }

    /// Uploads a backup tar (streamed as multipart) so it appears in Home Assistant's backup list;
    /// returns its slug.
    ///
    /// # Errors
    /// As [`Self::call`].
    pub async fn upload(
        &self,
        form: reqwest::multipart::Form,
        filename: &str,
    ) -> Result<String, SupervisorError> {
        let mut url = self.url("/backups/new/upload");
        url.query_pairs_mut().append_pair("filename", filename);
        let resp = self
            .http
            .post(url)
            .bearer_auth(self.token.expose())
            .multipart(form)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(SupervisorError::Denied(status));
        }
        let body: Value = resp.json().await.map_err(|e| self.unreachable(&e))?;
        match body["data"]["slug"].as_str() {
            Some(slug) if body["result"] == "ok" => Ok(slug.to_owned()),
            _ => Err(SupervisorError::Api {
                status,
                message: body["message"]
                    .as_str()
                    .unwrap_or("the upload was refused")
                    .to_owned(),
            }),
        }
    }

    /// Deletes a backup from every location.
    ///
    /// # Errors
    /// As [`Self::call`].
    pub async fn delete(&self, slug: &str) -> Result<(), SupervisorError> {
        self.call(reqwest::Method::DELETE, &format!("/backups/{slug}"), None)
            .await
            .map(drop)
    }

    /// Starts downloading a backup; the caller streams the body.
    ///
    /// # Errors
    /// [`SupervisorError::Api`] with 404 when the backup is gone, or others.
    pub async fn download(&self, slug: &str) -> Result<reqwest::Response, SupervisorError> {
        let resp = self
            .http
            .get(self.url(&format!("/backups/{slug}/download")))
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        match resp.status().as_u16() {
            200 => Ok(resp),
            s @ (401 | 403) => Err(SupervisorError::Denied(s)),
            404 => Err(SupervisorError::Api {
                status: 404,
                message: format!("backup {slug} is not there (deleted, or still being written)"),
            }),
            status => Err(SupervisorError::Api {
                status,
                message: resp
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect(),
            }),
        }
    }
}

/// What `/info` and `/host/info` say of the machine.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFacts {
    pub supervisor: Option<String>,
    pub core: Option<String>,
    /// Home Assistant OS's version (`None` on a Supervised install).
    pub os: Option<String>,
    pub disk_free: Option<u64>,
}

/// An add-on installed on this machine, as `/supervisor/info` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct InstalledAddon {
    pub slug: String,
    #[serde(default)]
    pub name: String,
}
