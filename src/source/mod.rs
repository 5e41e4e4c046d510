//! Where backups come from, behind one trait: a folder of tars ([`folder`]), a Home Assistant
//! Container/Core install ([`core`]), or the Supervisor on HAOS/Supervised ([`supervisor`]).
//!
//! A source first says which backups are waiting ([`Source::pending`]: for a folder, the tars not
//! shipped yet; for Home Assistant, a backup it has just created), then opens each as one stream.

pub mod core;
pub mod folder;
pub mod supervisor;

use crate::config::SourceSpec;
use crate::ha::supervisor::SupervisorError;
use crate::ha::websocket::WsError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncRead;

/// A backup ready to be streamed.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Identifies this backup across runs (what history remembers as shipped).
    pub key: String,
    /// A short name for object names (the slug or file stem).
    pub hint: String,
    /// Where exactly to read it (a path, a backup id).
    pub locator: String,
    /// Non-fatal problems met while creating it (an add-on that could not be backed up…).
    pub warnings: Vec<String>,
    /// The Home Assistant backup key it was made with, when the source knows it.
    pub ha_key: Option<crate::secret::Secret>,
}

/// An open backup stream.
pub struct Opened {
    pub stream: Box<dyn AsyncRead + Send + Unpin>,
    /// Its size when the source knows it in advance.
    pub size: Option<u64>,
}

/// Why a source could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {reason}")]
    Folder { path: String, reason: String },
    #[error(transparent)]
    Websocket(#[from] WsError),
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    #[error("Home Assistant reported that the backup failed: {0}")]
    BackupFailed(String),
    #[error("downloading the backup failed: {0}")]
    Download(String),
    #[error("the backup did not finish within {0:?}")]
    TooSlow(Duration),
}

impl SourceError {
    /// Whether trying again later may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Websocket(e) => e.is_retryable(),
            Self::Supervisor(e) => e.is_retryable(),
            Self::Download(_) | Self::TooSlow(_) => true,
            Self::Folder { .. } | Self::BackupFailed(_) => false,
        }
    }
}

/// What a request asks of a backup the source creates.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    pub name: Option<&'a str>,
    /// Only these parts; a full backup when `None`.
    pub partial: Option<&'a Partial>,
}

/// The parts of a partial backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    /// Home Assistant's own configuration and database.
    #[serde(default = "yes")]
    pub homeassistant: bool,
    /// Add-on slugs (as in the add-on's URL, e.g. `core_mosquitto`).
    #[serde(default)]
    pub addons: Vec<String>,
    /// Of `share`, `addons/local`, `ssl`, `media`.
    #[serde(default)]
    pub folders: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The folders a Supervisor backup can hold.
pub const FOLDERS: [&str; 4] = ["share", "addons/local", "ssl", "media"];

impl Partial {
    /// Checks the parts make sense.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if let Some(f) = self.folders.iter().find(|f| !FOLDERS.contains(&f.as_str())) {
            return Err(format!(
                "{f:?} is not a folder Home Assistant backs up; use {}",
                FOLDERS.join(", ")
            ));
        }
        if !self.homeassistant && self.addons.is_empty() && self.folders.is_empty() {
            return Err(
                "a partial backup needs at least one part: homeassistant, addons or folders".into(),
            );
        }
        Ok(())
    }
}

/// How long to wait for things, an input so tests need not wait for real.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// Any single answer from Home Assistant or the Supervisor.
    pub answer: Duration,
    /// Between polls of a running job.
    pub poll: Duration,
    /// Before trying again when another backup is running.
    pub busy_retry: Duration,
    /// How often to try when another backup is running.
    pub busy_attempts: u32,
    /// The longest a backup may take to be created.
    pub backup: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            answer: Duration::from_secs(60),
            poll: Duration::from_secs(2),
            busy_retry: Duration::from_secs(60),
            busy_attempts: 30,
            backup: Duration::from_secs(6 * 3600),
        }
    }
}

/// A source of backups.
#[async_trait]
pub trait Source: Send + Sync {
    /// A description for history and messages, e.g. `folder:/backup`.
    fn describe(&self) -> String;

    /// Backups to ship now. `shipped` holds keys already shipped; a backup the source creates is
    /// made as `asked` (named after `now` unless a name is asked for).
    async fn pending(
        &self,
        shipped: &HashSet<String>,
        now: DateTime<Utc>,
        asked: &Asked<'_>,
    ) -> Result<Vec<Pending>, SourceError>;

    /// Opens one pending backup as a stream.
    async fn open(&self, pending: &Pending) -> Result<Opened, SourceError>;
}

/// Builds the configured source.
pub fn build(spec: &SourceSpec, http: reqwest::Client, patience: Patience) -> Arc<dyn Source> {
    match spec {
        SourceSpec::Folder { path } => Arc::new(folder::FolderSource::new(path.clone())),
        SourceSpec::Core {
            url,
            token,
            agent_id,
        } => Arc::new(core::CoreSource::new(
            http,
            url.clone(),
            token.clone(),
            agent_id.clone(),
            patience,
        )),
        SourceSpec::Supervisor { url, token, method } => Arc::new(
            supervisor::SupervisorSource::new(http, url.clone(), token.clone(), *method, patience),
        ),
    }
}

/// The name Lifeboat gives the backups it asks Home Assistant to make: the one asked for, or one
/// after the time.
pub fn backup_name(now: DateTime<Utc>, asked: Option<&str>) -> String {
    asked.map(str::trim).filter(|n| !n.is_empty()).map_or_else(
        || format!("Lifeboat {}", now.format("%Y-%m-%d %H:%M")),
        str::to_owned,
    )
}

/// Turns an HTTP download into a stream.
pub(crate) fn stream_response(resp: reqwest::Response) -> Opened {
    use futures::TryStreamExt;
    let size = resp.content_length();
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    Opened {
        stream: Box::new(tokio_util::io::StreamReader::new(stream)),
        size,
    }
}
