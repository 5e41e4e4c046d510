//! Home Assistant Core's backup manager over the websocket: create a backup, wait for it, find it,
//! download it. Used directly for Container/Core installs, and through the Supervisor's proxy by
//! [`super::supervisor`]. Also speaks the legacy (before 2025.1) API, where `backup/generate`
//! answers with the finished backup.

use super::{
    Asked, FOLDERS, Listed, Opened, Partial, Patience, Pending, Source, SourceError, backup_name,
    stream_response,
};
use crate::config::SourceMode;
use crate::ha::websocket::{WsClient, WsError, websocket_url};
use crate::secret::Secret;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashSet;
use url::Url;

/// Agents that store on Home Assistant's own disk: Core installs, then Supervisor installs.
const LOCAL_AGENTS: [&str; 2] = ["backup.local", "hassio.local"];

/// A backup Home Assistant has just made.
#[derive(Debug, Clone)]
pub(crate) struct Created {
    pub backup_id: String,
    /// `None` with the legacy API.
    pub agent_id: Option<String>,
    pub warnings: Vec<String>,
    /// The key Home Assistant encrypted it with (its `create_backup.password`).
    pub ha_key: Option<Secret>,
}

fn is_busy(e: &WsError) -> bool {
    matches!(e, WsError::Command { message, .. }
        if message.contains("busy") || message.contains("in progress") || message.contains("already"))
}

/// Where a websocket connection is made again when it drops.
pub(crate) struct Endpoint<'a> {
    pub url: &'a Url,
    pub token: &'a Secret,
}

/// Connects again after the connection dropped while Home Assistant was making a backup (it goes
/// on without us) and subscribes to the backup manager's events again; tries until `deadline`.
async fn rejoin(
    ws: &mut WsClient,
    at: &Endpoint<'_>,
    patience: Patience,
    deadline: tokio::time::Instant,
) -> Result<u64, SourceError> {
    loop {
        let tried = async {
            let mut fresh = WsClient::connect(at.url, at.token, patience.answer).await?;
            let sub = fresh
                .subscribe(json!({"type": "backup/subscribe_events"}))
                .await?;
            Ok::<_, WsError>((fresh, sub))
        }
        .await;
        match tried {
            Ok((fresh, sub)) => {
                *ws = fresh;
                return Ok(sub);
            }
            Err(e) if e.is_retryable() && tokio::time::Instant::now() < deadline => {
                tracing::info!("reconnecting to Home Assistant: {e}");
                tokio::time::sleep(patience.poll).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Connects at `at`, creates a backup through the backup manager and waits until it is complete.
/// A connection that drops meanwhile is made again, and the backup followed to its end.
///
/// `supervised` adds every add-on and folder (only a Supervisor system has them), or the parts of
/// `partial`.
pub(crate) async fn create_with_websocket(
    at: &Endpoint<'_>,
    preferred_agent: Option<&str>,
    supervised: bool,
    partial: Option<&Partial>,
    name: &str,
    patience: Patience,
) -> Result<Created, SourceError> {
    let mut ws = WsClient::connect(at.url, at.token, patience.answer).await?;
    let ws = &mut ws;
    let agents = match ws.call(json!({"type": "backup/agents/info"})).await {
        Ok(a) => a,
        Err(e) if e.code() == Some("unknown_command") => return create_legacy(ws).await,
        Err(e) => return Err(e.into()),
    };
    let ids: Vec<&str> = agents["agents"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["agent_id"].as_str()).collect())
        .unwrap_or_default();
    let agent = match preferred_agent {
        Some(p) if ids.contains(&p) => p.to_owned(),
        Some(p) => {
            return Err(SourceError::BackupFailed(format!(
                "Home Assistant has no backup agent {p:?}; it has {}",
                ids.join(", ")
            )));
        }
        None => LOCAL_AGENTS
            .iter()
            .find(|a| ids.contains(a))
            .map(|a| (*a).to_owned())
            .ok_or_else(|| {
                SourceError::BackupFailed(format!(
                    "Home Assistant has no local backup agent (it has {})",
                    ids.join(", ")
                ))
            })?,
    };
    // Encrypt with Home Assistant's own key, so its emergency kit restores the backup too.
    let ha_key = current_key(ws).await?;

    let mut sub = ws
        .subscribe(json!({"type": "backup/subscribe_events"}))
        .await?;
    let before = backup_ids(&ws.call(json!({"type": "backup/info"})).await?);

    let mut request = json!({
        "type": "backup/generate",
        "agent_ids": [agent],
        "include_homeassistant": true,
        "include_database": true,
        "name": name,
    });
    if let Some(key) = &ha_key {
        request["password"] = json!(key.expose());
    }
    match (supervised, partial) {
        (true, None) => {
            request["include_all_addons"] = json!(true);
            request["include_folders"] = json!(FOLDERS);
        }
        (true, Some(p)) => {
            request["include_homeassistant"] = json!(p.homeassistant);
            request["include_addons"] = json!(p.addons);
            request["include_folders"] = json!(p.folders);
        }
        (false, _) => {}
    }
    let mut attempt = 0;
    let job = loop {
        match ws.call(request.clone()).await {
            Ok(r) => break r,
            Err(e) if is_busy(&e) && attempt + 1 < patience.busy_attempts => {
                attempt += 1;
                tracing::info!(
                    "Home Assistant is busy ({e}); trying again in {:?}",
                    patience.busy_retry
                );
                tokio::time::sleep(patience.busy_retry).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let job_id = job["backup_job_id"].as_str().unwrap_or_default().to_owned();

    let deadline = tokio::time::Instant::now() + patience.backup;
    let mut rejoined = false;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = match ws.next_event(sub, left).await {
            Ok(e) => e,
            Err(WsError::Timeout(_)) => return Err(SourceError::TooSlow(patience.backup)),
            Err(WsError::Closed) => {
                tracing::warn!(
                    "the connection to Home Assistant dropped while it was making the backup; \
                     connecting again to follow it"
                );
                sub = rejoin(ws, at, patience, deadline).await?;
                rejoined = true;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if rejoined && event["manager_state"] == "idle" {
            // It ended while we were away; whether it made a backup is looked up below.
            break;
        }
        if event["manager_state"] != "create_backup" {
            continue;
        }
        match event["state"].as_str() {
            Some("completed") => break,
            Some("failed") => {
                return Err(SourceError::BackupFailed(
                    event["reason"]
                        .as_str()
                        .unwrap_or("no reason given")
                        .to_owned(),
                ));
            }
            _ => {}
        }
    }

    let details = ws
        .call(json!({"type": "backup/details", "backup_id": job_id}))
        .await?;
    let backup = if details["backup"].is_object() {
        details["backup"].clone()
    } else {
        // The job id is not always the backup id: find the backup that is new since we asked.
        let info = ws.call(json!({"type": "backup/info"})).await?;
        newest_new(&info, &before).ok_or_else(|| {
            SourceError::BackupFailed(if rejoined {
                "the connection to Home Assistant dropped while it was making the backup, and \
                 no new backup appeared after: it failed (Home Assistant's log says why)"
                    .into()
            } else {
                "the backup completed but does not appear in Home Assistant's list".into()
            })
        })?
    };
    let backup_id = backup["backup_id"].as_str().unwrap_or_default().to_owned();
    let mut warnings = Vec::new();
    for (field, what) in [
        ("failed_addons", "add-on"),
        ("failed_folders", "folder"),
        ("failed_agent_ids", "agent"),
    ] {
        for f in backup[field].as_array().into_iter().flatten() {
            warnings.push(format!(
                "Home Assistant could not back up the {what} {}",
                f.as_str().unwrap_or(&f.to_string())
            ));
        }
    }
    Ok(Created {
        backup_id,
        agent_id: Some(agent),
        warnings,
        ha_key,
    })
}

async fn create_legacy(ws: &mut WsClient) -> Result<Created, SourceError> {
    let made = ws.call(json!({"type": "backup/generate"})).await?;
    let slug = made["slug"].as_str().ok_or_else(|| {
        SourceError::BackupFailed(format!("backup/generate answered without a slug: {made}"))
    })?;
    Ok(Created {
        backup_id: slug.to_owned(),
        agent_id: None,
        warnings: Vec::new(),
        ha_key: None,
    })
}

/// Home Assistant's current backup key (`create_backup.password` of `backup/config/info`), when
/// it has one.
pub(crate) async fn current_key(ws: &mut WsClient) -> Result<Option<Secret>, WsError> {
    let config = ws.call(json!({"type": "backup/config/info"})).await?;
    Ok(config["config"]["create_backup"]["password"]
        .as_str()
        .map(Secret::new))
}

/// The backups of a `backup/info` answer, each with the agents that store it.
fn listed_with_agents(info: &Value) -> Vec<(Listed, Vec<String>)> {
    info["backups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            let id = b["backup_id"].as_str()?;
            let agents = b["agents"]
                .as_object()
                .map(|a| a.keys().cloned().collect())
                .unwrap_or_default();
            Some((
                Listed {
                    key: format!("core:{id}"),
                    id: id.to_owned(),
                    date: super::ha_date(b["date"].as_str()),
                },
                agents,
            ))
        })
        .collect()
}

fn backup_ids(info: &Value) -> HashSet<String> {
    info["backups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            b["backup_id"]
                .as_str()
                .or(b["slug"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

fn newest_new(info: &Value, before: &HashSet<String>) -> Option<Value> {
    info["backups"]
        .as_array()?
        .iter()
        .filter(|b| {
            b["backup_id"]
                .as_str()
                .is_some_and(|id| !before.contains(id))
        })
        .max_by(|a, b| a["date"].as_str().cmp(&b["date"].as_str()))
        .cloned()
}

/// A Container/Core install.
pub struct CoreSource {
    http: reqwest::Client,
    base: Url,
    token: Secret,
    agent_id: Option<String>,
    patience: Patience,
    mode: SourceMode,
}

impl CoreSource {
    /// A source for the Home Assistant at `base`.
    pub fn new(
        http: reqwest::Client,
        base: Url,
        token: Secret,
        agent_id: Option<String>,
        patience: Patience,
        mode: SourceMode,
    ) -> Self {
        Self {
            http,
            base,
            token,
            agent_id,
            patience,
            mode,
        }
    }
}

/// Ship mode over the websocket: the backups Home Assistant lists that are stored by a local
/// agent (or `agent`), new since the last one shipped, with Home Assistant's current key.
async fn list_to_ship(
    ws: &mut WsClient,
    agent: Option<&str>,
    shipped: &HashSet<String>,
) -> Result<Vec<Pending>, SourceError> {
    let info = ws.call(json!({"type": "backup/info"})).await?;
    // The agent each backup is downloaded from, by key.
    let mut from = std::collections::HashMap::new();
    let mut listed = Vec::new();
    for (l, agents) in listed_with_agents(&info) {
        let pick = agents.into_iter().find(|a| match agent {
            Some(wanted) => a == wanted,
            None => LOCAL_AGENTS.contains(&a.as_str()),
        });
        if let Some(a) = pick {
            from.insert(l.key.clone(), a);
            listed.push(l);
        }
    }
    // Home Assistant's automatic backups are made with its current key.
    let ha_key = current_key(ws).await.ok().flatten();
    Ok(super::new_since_shipped(listed, shipped)
        .into_iter()
        .filter_map(|l| {
            let agent = from.remove(&l.key)?;
            Some(Pending {
                locator: format!("/api/backup/download/{}?agent_id={agent}", l.id),
                key: l.key,
                hint: l.id,
                warnings: Vec::new(),
                ha_key: ha_key.clone(),
                content: None,
            })
        })
        .collect())
}

#[async_trait]
impl Source for CoreSource {
    fn describe(&self) -> String {
        match self.mode {
            SourceMode::Create => format!("core:{}", self.base),
            SourceMode::Ship => format!("core:{} (ship)", self.base),
        }
    }

    fn creates_backups(&self) -> bool {
        self.mode == SourceMode::Create
    }

    /// Home Assistant Core says its version at every websocket handshake; a Container/Core
    /// install tells nothing of its disk.
    async fn host(&self) -> Option<super::Host> {
        let url = websocket_url(&self.base, "/api/websocket").ok()?;
        match WsClient::connect(&url, &self.token, self.patience.answer).await {
            Ok(ws) => Some(super::Host {
                versions: crate::history::Versions {
                    core: Some(ws.ha_version.clone()).filter(|v| !v.is_empty()),
                    ..Default::default()
                },
                disk_free: None,
            }),
            Err(e) => {
                tracing::warn!("reading Home Assistant's version: {e}");
                None
            }
        }
    }

    async fn pending(
        &self,
        shipped: &HashSet<String>,
        now: DateTime<Utc>,
        asked: &Asked<'_>,
    ) -> Result<Vec<Pending>, SourceError> {
        if self.mode == SourceMode::Ship || asked.ship_new {
            super::ship_takes_nothing(asked)?;
            let url = websocket_url(&self.base, "/api/websocket")?;
            let mut ws = WsClient::connect(&url, &self.token, self.patience.answer).await?;
            return list_to_ship(&mut ws, self.agent_id.as_deref(), shipped).await;
        }
        if let Some(p) = asked.partial
            && (!p.addons.is_empty() || !p.folders.is_empty() || !p.homeassistant)
        {
            return Err(SourceError::BackupFailed(
                "a Container/Core install has no add-ons or folders to choose from: ask for a full backup".into(),
            ));
        }
        let url = websocket_url(&self.base, "/api/websocket")?;
        let at = Endpoint {
            url: &url,
            token: &self.token,
        };
        let created = create_with_websocket(
            &at,
            self.agent_id.as_deref(),
            false,
            None,
            &backup_name(now, asked.name),
            self.patience,
        )
        .await?;
        let locator = match &created.agent_id {
            Some(agent) => format!(
                "/api/backup/download/{}?agent_id={agent}",
                created.backup_id
            ),
            None => format!("/api/backup/download/{}", created.backup_id),
        };
        Ok(vec![Pending {
            key: format!("core:{}", created.backup_id),
            hint: created.backup_id,
            locator,
            warnings: created.warnings,
            ha_key: created.ha_key,
            content: None,
        }])
    }

    async fn open(&self, pending: &Pending) -> Result<Opened, SourceError> {
        let url = self
            .base
            .join(&pending.locator)
            .map_err(|e| SourceError::Download(e.to_string()))?;
        let resp = self
            .http
            .get(url)
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| SourceError::Download(e.to_string()))?;
        match resp.status().as_u16() {
            200 => Ok(stream_response(resp)),
            401 | 403 => Err(WsError::AuthInvalid("the download was refused".into()).into()),
            404 => Err(SourceError::Gone(format!(
                "Home Assistant has no backup {} any more",
                pending.hint
            ))),
            s => Err(SourceError::Download(format!("HTTP {s}"))),
        }
    }

    async fn local_backups(&self) -> Result<Option<Vec<Listed>>, SourceError> {
        let url = websocket_url(&self.base, "/api/websocket")?;
        let mut ws = WsClient::connect(&url, &self.token, self.patience.answer).await?;
        let info = ws.call(json!({"type": "backup/info"})).await?;
        // Only backups stored nowhere but on Home Assistant's disk: backup/delete removes a
        // backup from every agent, and copies elsewhere are not Lifeboat's to remove.
        let local = listed_with_agents(&info)
            .into_iter()
            .filter(|(_, agents)| {
                !agents.is_empty() && agents.iter().all(|a| LOCAL_AGENTS.contains(&a.as_str()))
            })
            .map(|(l, _)| l)
            .collect();
        Ok(Some(local))
    }

    async fn delete_local(&self, id: &str) -> Result<(), SourceError> {
        let url = websocket_url(&self.base, "/api/websocket")?;
        let mut ws = WsClient::connect(&url, &self.token, self.patience.answer).await?;
        ws.call(json!({"type": "backup/delete", "backup_id": id}))
            .await
            .map(drop)
            .map_err(Into::into)
    }
}
