//! Configuration: read once, validated once, then passed down as plain data.
//!
//! Three ways in, one [`Config`] out: the add-on's `options.json`, a standalone TOML file, or the
//! command line's URLs ([`urls`]). Every problem names the field it is about and what to change.
//! The environment is an input ([`Env`]) so validation is testable and never reads it behind our back.

pub mod edit;
pub mod options;
pub mod urls;
mod validate;

pub use validate::{NO_DESTINATION, SUPERVISOR_URL, cautions, validate, validate_destinations};

/// A destination's kinds live with their stores ([`crate::destinations::kinds`]): the options
/// name them, and validation hands each its own part.
pub use crate::destinations::kinds::{
    Caution, CautionKind, DestinationKind, DestinationSpec, Problem, fingerprint,
};

use crate::secret::Secret;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use url::Url;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// The first source: Home Assistant when it is one of them (what safe updates, `keep_local`
    /// and backup events are about).
    pub source: SourceSpec,
    /// Every source, the first one first.
    pub sources: Vec<NamedSource>,
    pub destinations: Vec<DestinationSpec>,
    pub encryption: EncryptionSpec,
    /// Home Assistant backup keys to open protected inner archives with.
    pub ha_backup_keys: Vec<Secret>,
    /// `notify` service to call on failure.
    pub notify_service: Option<String>,
    pub listen: Option<String>,
    pub schedule: ScheduleSpec,
    /// Home Assistant backups to keep locally once they are off-site (`None`: leave them alone).
    pub keep_local: Option<u32>,
    /// A destination without a verified copy for this long is a problem.
    pub stale_after: std::time::Duration,
    /// Verified copies a safe update waits for before it installs (at least 1).
    pub min_verified: usize,
    /// Ship Home Assistant's own new backups as its events announce them, in create mode too.
    pub ship_new_backups: bool,
    /// How often to ask whether the emergency kit is still at hand (`None`: never).
    pub kit_check_every: Option<std::time::Duration>,
    pub alert: Option<AlertSpec>,
}

/// When things run, in the home's time zone.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    pub backup: Option<croner::Cron>,
    pub verify: Option<croner::Cron>,
    /// Scheduled backups start up to this much late, at random.
    pub jitter: std::time::Duration,
    pub tz: chrono_tz::Tz,
    /// Most bytes per second re-verification reads.
    pub verify_rate: u64,
}

impl Default for ScheduleSpec {
    fn default() -> Self {
        Self {
            backup: None,
            verify: None,
            jitter: std::time::Duration::ZERO,
            tz: chrono_tz::UTC,
            verify_rate: DEFAULT_VERIFY_MIB * 1024 * 1024,
        }
    }
}

/// Re-verification's default read rate, MiB/s.
pub const DEFAULT_VERIFY_MIB: u64 = 20;
/// A destination without a verified copy for this many hours is stale, by default.
pub const DEFAULT_STALE_HOURS: u32 = 26;
/// How often the kit check is due, in days, when the options do not say.
pub const DEFAULT_KIT_CHECK_DAYS: u32 = 180;

/// An alert outside Home Assistant. Its URL often is the secret (a healthchecks ping id, an ntfy
/// topic), so `Debug` shows only the host.
#[derive(Clone)]
pub struct AlertSpec {
    pub url: Url,
    pub kind: AlertKind,
    pub on_success: bool,
}

impl fmt::Debug for AlertSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertSpec")
            .field("host", &self.url.host_str())
            .field("kind", &self.kind)
            .field("on_success", &self.on_success)
            .finish_non_exhaustive()
    }
}

/// How the alert is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A JSON POST.
    Webhook,
    /// A POST of plain text to an ntfy topic URL, with a title and priority.
    Ntfy,
    /// A healthchecks.io-style ping: the URL on success, `URL/fail` on failure.
    Healthchecks,
}

/// Where backups come from.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    Folder {
        path: PathBuf,
    },
    Core {
        url: Url,
        token: Secret,
        agent_id: Option<String>,
        mode: SourceMode,
    },
    Supervisor {
        url: Url,
        token: Secret,
        method: SupervisorMethod,
        mode: SourceMode,
    },
    Dir {
        path: PathBuf,
        exclude: Vec<String>,
        compression: crate::archive::content::Compression,
    },
    Command {
        argv: Vec<String>,
        environment: Vec<(String, Secret)>,
        compression: crate::archive::content::Compression,
        tool: crate::archive::content::DumpTool,
    },
}

impl SourceSpec {
    /// Whether it is Home Assistant itself (Core or the Supervisor).
    pub fn is_home_assistant(&self) -> bool {
        matches!(self, Self::Core { .. } | Self::Supervisor { .. })
    }

    /// The name a source gets when none is given: `home-assistant`, `backups`, the folder's own
    /// name, the dump program's.
    pub fn default_name(&self) -> String {
        match self {
            Self::Core { .. } | Self::Supervisor { .. } => "home-assistant".into(),
            Self::Folder { .. } => "backups".into(),
            Self::Dir { path, .. } => name_for_dir(path),
            Self::Command { argv, .. } => name_for_command(argv),
        }
    }
}

/// A `dir:` source's name when none is given: the folder's own, made a name.
pub fn name_for_dir(path: &Path) -> String {
    as_name(
        &path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )
}

/// A `command:` source's name when none is given: the dump program's (`docker exec db
/// pg_dumpall` is `pg_dumpall`), else the program's.
pub fn name_for_command(argv: &[String]) -> String {
    use crate::archive::content::DumpTool;
    let program = argv
        .iter()
        .find(|w| DumpTool::guess(std::slice::from_ref(*w)) != DumpTool::Other)
        .or(argv.first())
        .map_or("", |w| w.rsplit('/').next().unwrap_or(w));
    as_name(program)
}

fn as_name(raw: &str) -> String {
    let n: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let n = n.trim_matches('-');
    if n.is_empty() {
        "source".into()
    } else {
        n.to_owned()
    }
}

/// A source with its name and what it does differently from the rest.
#[derive(Debug, Clone)]
pub struct NamedSource {
    pub name: String,
    pub spec: SourceSpec,
    /// Only these destinations (by name); every one when empty.
    pub destinations: Vec<String>,
    /// Its own backup schedule; the main one when `None`.
    pub schedule: Option<croner::Cron>,
    /// Its own retention, over the destinations'.
    pub retention: Option<crate::retention::Policy>,
    /// How long without a verified copy of it is a problem; the main `stale_after` when `None`.
    pub stale_after: Option<std::time::Duration>,
}

/// Whether Lifeboat makes the backups or ships the ones Home Assistant makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceMode {
    /// Ask Home Assistant for a backup on every run.
    #[default]
    Create,
    /// Ship every backup Home Assistant made since the last one shipped (its automatic and
    /// before-update backups).
    Ship,
}

/// How a backup is created on a Supervisor system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupervisorMethod {
    /// Core's backup manager over the websocket proxy, encrypted with HA's own key.
    Websocket,
    /// The Supervisor's `POST /backups/new/full` with `background: true`.
    Rest,
}

/// Validated encryption settings.
#[derive(Clone)]
pub struct EncryptionSpec {
    pub recipients: Vec<age::x25519::Recipient>,
    pub passphrase: Option<Secret>,
}

impl EncryptionSpec {
    /// Neither a recipient nor a passphrase: nothing to encrypt a copy to.
    pub fn has_no_key(&self) -> bool {
        self.recipients.is_empty() && self.passphrase.is_none()
    }

    /// What copies are encrypted to, given the public keys Lifeboat made (the vault's): those
    /// join the options' recipients; a passphrase stands alone (age cannot mix the two).
    pub fn with_made(&self, made: Vec<age::x25519::Recipient>) -> Self {
        let mut spec = self.clone();
        if spec.passphrase.is_none() {
            for r in made {
                if !spec.recipients.contains(&r) {
                    spec.recipients.push(r);
                }
            }
        }
        spec
    }
}

impl fmt::Debug for EncryptionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionSpec")
            .field(
                "recipients",
                &self
                    .recipients
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .field("passphrase", &self.passphrase)
            .finish()
    }
}

/// A snapshot of the environment variables validation may consult.
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    /// The process environment, read once at the edge.
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    /// A chosen set of variables (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// A non-empty variable.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Why options could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {field}: {message}")]
    Syntax {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{}", format_problems(.0))]
    Invalid(Vec<Problem>),
}

fn format_problems(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
    format!(
        "the configuration has {} problem{}:\n{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        lines.join("\n")
    )
}

impl ConfigError {
    /// The problems found by validation (empty for read/syntax errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid(p) => p,
            _ => &[],
        }
    }
}

/// Reads options from a file: JSON when it ends in `.json` (the add-on's `options.json`), else TOML.
///
/// # Errors
/// [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Syntax`] with the field path
/// when it does not parse or has unknown/missing keys.
pub fn read_options(path: &Path) -> Result<options::Options, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_options(path, &text)
}

/// Parses options text; `path` decides the format and names the file in errors.
///
/// # Errors
/// [`ConfigError::Syntax`] naming the field.
pub fn parse_options(path: &Path, text: &str) -> Result<options::Options, ConfigError> {
    let syntax = |field: String, message: String| ConfigError::Syntax {
        path: path.to_owned(),
        field: if field.is_empty() || field == "." {
            "(top level)".into()
        } else {
            field
        },
        message,
    };
    if path.extension().is_some_and(|e| e == "json") {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            syntax(field, e.into_inner().to_string())
        })
    } else {
        let de =
            toml::Deserializer::parse(text).map_err(|e| syntax(String::new(), e.to_string()))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            syntax(field, e.into_inner().message().to_owned())
        })
    }
}
