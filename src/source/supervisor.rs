//! Home Assistant OS / Supervised, from inside the add-on. Two ways to create a backup:
//! - `websocket` (default): Core's backup manager through the Supervisor's websocket proxy, with
//!   Home Assistant's own encryption key, so the backup restores with HA's emergency kit too;
//! - `rest`: the Supervisor's `POST /backups/new/full` with `background: true`, followed on
//!   `/jobs/info` (child-job errors become warnings).
//!
//! Either way the tar is then streamed from `GET /backups/{slug}/download`.

use super::core::{Endpoint, create_with_websocket, current_key};
use super::{
    Asked, Listed, Opened, Partial, Patience, Pending, Source, SourceError, backup_name, ha_date,
    new_since_shipped, ship_takes_nothing, stream_response,
};
use crate::config::{SourceMode, SupervisorMethod};
use crate::ha::supervisor::{SupervisorClient, SupervisorError};
use crate::ha::websocket::{WsClient, websocket_url};
use crate::secret::Secret;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use url::Url;

/// The Supervisor source.
pub struct SupervisorSource {
    client: SupervisorClient,
    base: Url,
    token: Secret,
    method: SupervisorMethod,
    patience: Patience,
    mode: SourceMode,
}

impl SupervisorSource {
    /// A source for the Supervisor at `base`.
    pub fn new(
        http: reqwest::Client,
        base: Url,
        token: Secret,
        method: SupervisorMethod,
        patience: Patience,
        mode: SourceMode,
    ) -> Self {
        Self {
            client: SupervisorClient::new(http, base.clone(), token.clone()),
            base,
            token,
            method,
            patience,
            mode,
        }
    }

    /// Ship mode: the Supervisor's own list (`GET /backups`, every location), new since the last
    /// one shipped; with the websocket method, Home Assistant's current key is captured too.
    async fn list_to_ship(&self, shipped: &HashSet<String>) -> Result<Vec<Pending>, SourceError> {
        let chosen = new_since_shipped(self.list(false).await?, shipped);
        let ha_key = if chosen.is_empty() || self.method == SupervisorMethod::Rest {
            None
        } else {
            self.current_key().await
        };
        Ok(chosen
            .into_iter()
            .map(|l| Pending {
                key: l.key,
                hint: l.id.clone(),
                locator: l.id,
                warnings: Vec::new(),
                ha_key: ha_key.clone(),
                content: None,
            })
            .collect())
    }

    /// The Supervisor's list of backups (`GET /backups`); with `only_local`, those with a copy on
    /// Home Assistant's own disk.
    async fn list(&self, only_local: bool) -> Result<Vec<Listed>, SourceError> {
        let data = self
            .client
            .call(reqwest::Method::GET, "/backups", None)
            .await?;
        Ok(data["backups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| {
                // Local storage is written null, "" or ".local"; older Supervisors list no locations.
                !only_local
                    || b["locations"]
                        .as_array()
                        .is_none_or(|l| l.iter().any(|x| x.is_null() || x == "" || x == ".local"))
            })
            .filter_map(|b| {
                let slug = b["slug"].as_str()?;
                Some(Listed {
                    key: format!("supervisor:{slug}"),
                    id: slug.to_owned(),
                    date: ha_date(b["date"].as_str()),
                })
            })
            .collect())
    }

    /// Home Assistant's backup key, from `backup/config/info` through the websocket proxy (best
    /// effort: without it the vault's keys are still tried).
    async fn current_key(&self) -> Option<Secret> {
        let url = websocket_url(&self.base, "/core/websocket").ok()?;
        let mut ws = WsClient::connect(&url, &self.token, self.patience.answer)
            .await
            .ok()?;
        current_key(&mut ws).await.ok().flatten()
    }

    async fn create_rest(
        &self,
        name: &str,
        partial: Option<&Partial>,
    ) -> Result<(String, Vec<String>), SourceError> {
        let mut attempt = 0;
        let job_id = loop {
            match self.client.start_backup(name, partial).await {
                Ok(id) => break id,
                Err(SupervisorError::Busy(m)) if attempt + 1 < self.patience.busy_attempts => {
                    attempt += 1;
                    tracing::info!(
                        "the Supervisor is busy ({m}); trying again in {:?}",
                        self.patience.busy_retry
                    );
                    tokio::time::sleep(self.patience.busy_retry).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let deadline = tokio::time::Instant::now() + self.patience.backup;
        loop {
            if let Some(job) = self.client.job(&job_id).await?
                && job.done == Some(true)
            {
                {
                    let slug = job.reference.clone().filter(|r| !r.is_empty());
                    if !job.errors.is_empty() || slug.is_none() {
                        let why: Vec<String> =
                            job.errors.iter().map(|e| e.message.clone()).collect();
                        return Err(SourceError::BackupFailed(if why.is_empty() {
                            "the job finished without a backup".into()
                        } else {
                            why.join("; ")
                        }));
                    }
                    return Ok((slug.unwrap_or_default(), job.child_errors()));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SourceError::TooSlow(self.patience.backup));
            }
            tokio::time::sleep(self.patience.poll).await;
        }
    }
}

#[async_trait]
impl Source for SupervisorSource {
    fn describe(&self) -> String {
        match (self.mode, self.method) {
            (SourceMode::Ship, _) => "supervisor (ship)".into(),
            (_, SupervisorMethod::Websocket) => "supervisor (websocket)".into(),
            (_, SupervisorMethod::Rest) => "supervisor (rest)".into(),
        }
    }

    fn creates_backups(&self) -> bool {
        self.mode == SourceMode::Create
    }

    async fn installed_addons(&self) -> Option<Vec<(String, String)>> {
        match self.client.installed_addons().await {
            Ok(addons) => Some(addons.into_iter().map(|a| (a.slug, a.name)).collect()),
            Err(e) => {
                tracing::warn!("reading the installed add-ons from the Supervisor: {e}");
                None
            }
        }
    }

    async fn host(&self) -> Option<super::Host> {
        match self.client.host().await {
            Ok(h) => Some(super::Host {
                versions: crate::history::Versions {
                    core: h.core,
                    supervisor: h.supervisor,
                    os: h.os,
                },
                disk_free: h.disk_free,
            }),
            Err(e) => {
                tracing::warn!("reading the versions and free space from the Supervisor: {e}");
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
            ship_takes_nothing(asked)?;
            return self.list_to_ship(shipped).await;
        }
        let name = backup_name(now, asked.name);
        let (slug, warnings, ha_key) = match self.method {
            SupervisorMethod::Websocket => {
                let url = websocket_url(&self.base, "/core/websocket")?;
                let at = Endpoint {
                    url: &url,
                    token: &self.token,
                };
                let created =
                    create_with_websocket(&at, None, true, asked.partial, &name, self.patience)
                        .await?;
                (created.backup_id, created.warnings, created.ha_key)
            }
            SupervisorMethod::Rest => {
                let (slug, warnings) = self.create_rest(&name, asked.partial).await?;
                (slug, warnings, None)
            }
        };
        Ok(vec![Pending {
            key: format!("supervisor:{slug}"),
            hint: slug.clone(),
            locator: slug,
            warnings,
            ha_key,
            content: None,
        }])
    }

    async fn open(&self, pending: &Pending) -> Result<Opened, SourceError> {
        Ok(stream_response(
            self.client.download(&pending.locator).await?,
        ))
    }

    async fn local_backups(&self) -> Result<Option<Vec<Listed>>, SourceError> {
        self.list(true).await.map(Some)
    }

    async fn delete_local(&self, id: &str) -> Result<(), SourceError> {
        // Only the copy on Home Assistant's disk: copies on network storage stay.
        self.client
            .call(
                reqwest::Method::DELETE,
                &format!("/backups/{id}"),
                Some(serde_json::json!({"location": [".local"]})),
            )
            .await
            .map(drop)
            .map_err(Into::into)
    }
}
