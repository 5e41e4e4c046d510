//! Where backups come from, behind one trait: a folder of tars ([`folder`]), a Home Assistant
//! Container/Core install ([`core`]), the Supervisor on HAOS/Supervised ([`supervisor`]), or a
//! home server's own data: any folder ([`dir`]) or any command's output ([`command`]).
//!
//! A source first says which backups are waiting ([`Source::pending`]: for a folder, the tars not
//! shipped yet; for Home Assistant, a backup it has just created), then opens each as one stream.

pub mod command;
pub mod core;
pub mod dir;
pub mod folder;
mod pipe;
pub mod supervisor;

use crate::archive::content::ContentSpec;
use crate::config::SourceSpec;
pub use crate::ha::partial::{FOLDERS, Partial};
use crate::ha::supervisor::SupervisorError;
use crate::ha::websocket::WsError;
pub use crate::retention::local::Listed;
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
    /// For a `dir:` or `command:` source: what it streams, and how the copy describes it.
    pub content: Option<(ContentSpec, Box<crate::archive::BackupJson>)>,
}

/// An open backup stream.
pub struct Opened {
    pub stream: Box<dyn AsyncRead + Send + Unpin>,
    /// Its size when the source knows it in advance.
    pub size: Option<u64>,
    /// What the source has to say once the stream has ended (a command's standard error), for
    /// the run's warnings.
    pub notes: Option<Notes>,
}

/// What a source learns while its stream is read, taken once the stream has ended.
pub type Notes = Arc<std::sync::Mutex<Vec<String>>>;

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
    /// The source no longer has the backup (deleted in Home Assistant or from the folder).
    #[error("the backup is gone from the source: {0}")]
    Gone(String),
}

impl SourceError {
    /// Whether trying again later may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Websocket(e) => e.is_retryable(),
            Self::Supervisor(e) => e.is_retryable(),
            Self::Download(_) | Self::TooSlow(_) => true,
            Self::Folder { .. } | Self::BackupFailed(_) | Self::Gone(_) => false,
        }
    }
}

/// What runs where the backups are made, as far as the source can tell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Host {
    pub versions: crate::history::Versions,
    /// Free bytes on Home Assistant's disk (the Supervisor's data disk), when known.
    pub disk_free: Option<u64>,
}

/// What a request asks of a backup the source creates.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    pub name: Option<&'a str>,
    /// Only these parts; a full backup when `None`.
    pub partial: Option<&'a Partial>,
    /// Ship what Home Assistant made since the last one shipped, as ship mode does.
    pub ship_new: bool,
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

    /// The add-ons installed now, as (slug, name), when the source can tell (the Supervisor):
    /// what a partial backup leaves out. `None` when it cannot.
    async fn installed_addons(&self) -> Option<Vec<(String, String)>> {
        None
    }

    /// The versions running and the room on Home Assistant's disk, when the source can tell;
    /// `None` when it cannot (a folder), or could not ask (logged).
    async fn host(&self) -> Option<Host> {
        None
    }

    /// For a `dir:` or `command:` source, what it streams and how a copy made at `now` is
    /// described; `None` for Home Assistant backups.
    fn content(
        &self,
        now: DateTime<Utc>,
    ) -> Option<(ContentSpec, Box<crate::archive::BackupJson>)> {
        let _ = now;
        None
    }

    /// Whether a backup's key (see [`Pending::key`]) is one of this source's: a folder's or Home
    /// Assistant's keys are any but a `dir:` or `command:` source's.
    fn owns_key(&self, key: &str) -> bool {
        !key.starts_with("dir:") && !key.starts_with("command:")
    }

    /// Whether asking for pending backups makes Home Assistant create one (it then takes a
    /// while, and the run is announced before); `false` for sources that ship what exists.
    fn creates_backups(&self) -> bool {
        true
    }

    /// The backups kept on Home Assistant's own disk, for `keep_local` cleanup; `None` when this
    /// source cannot delete backups.
    async fn local_backups(&self) -> Result<Option<Vec<Listed>>, SourceError> {
        Ok(None)
    }

    /// Deletes one local backup (by its slug or id, as listed).
    async fn delete_local(&self, id: &str) -> Result<(), SourceError> {
        Err(SourceError::BackupFailed(format!(
            "this source cannot delete backup {id}"
        )))
    }
}

/// The one backup a `dir:` or `command:` source named `name` makes at `now`: its key is
/// `KIND:NAME:<time>` (what [`named_key_of`] reads), described as `content` says.
pub(crate) fn made_now(
    source: &dyn Source,
    kind: &str,
    name: &str,
    locator: String,
    now: DateTime<Utc>,
) -> Vec<Pending> {
    vec![Pending {
        key: format!("{kind}:{name}:{}", now.to_rfc3339()),
        hint: name.to_owned(),
        locator,
        warnings: Vec::new(),
        ha_key: None,
        content: source.content(now),
    }]
}

/// The emergency kit's line for `source` named `name`: how its copies are named and opened
/// without Lifeboat; `None` for Home Assistant backups (the kit's own steps cover those).
pub fn kit_line(
    name: &str,
    source: &dyn Source,
    now: DateTime<Utc>,
) -> Option<crate::crypto::kit::KitSource> {
    let (spec, _) = source.content(now)?;
    Some(crate::crypto::kit::KitSource::new(
        name,
        &source.describe(),
        &spec,
    ))
}

/// Whether `key` is a backup key of the `kind` source named `name` (`dir:configs:<time>`).
pub(crate) fn named_key_of(key: &str, kind: &str, name: &str) -> bool {
    key.strip_prefix(kind)
        .and_then(|k| k.strip_prefix(':'))
        .and_then(|k| k.strip_prefix(name))
        .is_some_and(|k| k.starts_with(':'))
}

/// Builds the configured source; `name` names a `dir:` or `command:` source's copies.
pub fn build(
    spec: &SourceSpec,
    name: &str,
    http: reqwest::Client,
    patience: Patience,
) -> Arc<dyn Source> {
    match spec {
        SourceSpec::Dir {
            path,
            exclude,
            compression,
        } => Arc::new(dir::DirSource::new(
            name,
            path.clone(),
            exclude,
            *compression,
        )),
        SourceSpec::Command {
            argv,
            environment,
            compression,
            tool,
        } => Arc::new(command::CommandSource::new(
            name,
            argv.clone(),
            environment.clone(),
            *compression,
            *tool,
        )),
        SourceSpec::Folder { path } => Arc::new(folder::FolderSource::new(path.clone())),
        SourceSpec::Core {
            url,
            token,
            agent_id,
            mode,
        } => Arc::new(core::CoreSource::new(
            http,
            url.clone(),
            token.clone(),
            agent_id.clone(),
            patience,
            *mode,
        )),
        SourceSpec::Supervisor {
            url,
            token,
            method,
            mode,
        } => Arc::new(supervisor::SupervisorSource::new(
            http,
            url.clone(),
            token.clone(),
            *method,
            patience,
            *mode,
        )),
    }
}

/// Which listed backups ship mode sends now: every one made after the newest already shipped,
/// oldest first; when none was shipped yet, only the newest (turning ship mode on does not send
/// the whole local history off-site at once).
pub fn new_since_shipped(mut listed: Vec<Listed>, shipped: &HashSet<String>) -> Vec<Listed> {
    listed.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.id.cmp(&b.id)));
    let newest_shipped = listed
        .iter()
        .filter(|l| shipped.contains(&l.key))
        .map(|l| l.date)
        .max();
    match newest_shipped {
        Some(t) => listed
            .into_iter()
            .filter(|l| l.date > t && !shipped.contains(&l.key))
            .collect(),
        None => listed.pop().into_iter().collect(),
    }
}

/// Ship mode ships what Home Assistant made: it takes no name and no parts.
///
/// # Errors
/// [`SourceError::BackupFailed`] saying so, when a name or parts were asked for.
pub(crate) fn ship_takes_nothing(asked: &Asked<'_>) -> Result<(), SourceError> {
    if asked.name.is_some() || asked.partial.is_some() {
        return Err(SourceError::BackupFailed(
            "the source is in ship mode: it ships the backups Home Assistant makes and creates none, \
             so a name or partial backup cannot be asked for"
                .into(),
        ));
    }
    Ok(())
}

/// A date as Home Assistant writes it; unreadable dates sort first.
pub(crate) fn ha_date(raw: Option<&str>) -> DateTime<Utc> {
    raw.and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc))
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
        notes: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, date: &str) -> Listed {
        Listed {
            key: format!("supervisor:{id}"),
            id: id.to_owned(),
            date: ha_date(Some(date)),
        }
    }

    #[test]
    fn a_named_source_owns_only_its_own_keys() {
        assert!(named_key_of(
            "dir:configs:2026-12-03T03:00:00+00:00",
            "dir",
            "configs"
        ));
        assert!(!named_key_of(
            "dir:configs-2:2026-12-03T03:00:00+00:00",
            "dir",
            "configs"
        ));
        assert!(!named_key_of("command:configs:2026", "dir", "configs"));
        assert!(!named_key_of("supervisor:abc", "dir", "configs"));
    }

    #[test]
    fn ship_mode_sends_the_newest_first_then_everything_newer_than_the_last_shipped() {
        let all = vec![
            listed("c", "2026-11-03T04:00:00+00:00"),
            listed("a", "2026-11-01T04:00:00+00:00"),
            listed("b", "2026-11-02T04:00:00+00:00"),
        ];
        let ids = |v: Vec<Listed>| v.into_iter().map(|l| l.id).collect::<Vec<_>>();
        assert_eq!(ids(new_since_shipped(all.clone(), &HashSet::new())), ["c"]);
        let shipped = HashSet::from(["supervisor:a".to_owned()]);
        assert_eq!(ids(new_since_shipped(all.clone(), &shipped)), ["b", "c"]);
        let shipped = HashSet::from(["supervisor:c".to_owned()]);
        assert!(new_since_shipped(all, &shipped).is_empty());
        assert!(new_since_shipped(Vec::new(), &HashSet::new()).is_empty());
    }
}
