//! Configuration: read once, validated once, then passed down as plain data.
//!
//! Three ways in, one [`Config`] out: the add-on's `options.json`, a standalone TOML file, or the
//! command line's URLs ([`urls`]). Every problem names the field it is about and what to change.
//! The environment is an input ([`Env`]) so validation is testable and never reads it behind our back.

pub mod host_key;
pub mod options;
pub mod urls;
mod validate;

pub use validate::{
    CLEARTEXT, SUPERVISOR_URL, cautions, fingerprint, validate, validate_destinations,
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

/// One destination.
#[derive(Debug, Clone)]
pub struct DestinationSpec {
    pub name: String,
    pub kind: DestinationKind,
    /// Which copies to keep there.
    pub retention: crate::retention::Policy,
}

/// Kind-specific settings of a destination.
#[derive(Debug, Clone)]
pub enum DestinationKind {
    Local {
        path: PathBuf,
    },
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        region: String,
        access_key_id: String,
        secret_access_key: Secret,
        path_style: bool,
    },
    Azure {
        account: String,
        container: String,
        prefix: String,
        endpoint: String,
        credential: AzureCredential,
    },
    Sftp(SftpSpec),
    Smb(SmbSpec),
    Rclone(RcloneSpec),
    Webdav {
        /// The folder copies go into.
        url: Url,
        username: String,
        password: Secret,
        /// Upload in pieces of this many bytes.
        segment: Option<u64>,
        /// The server certificate's SHA-256, when the user pinned it.
        certificate_sha256: Option<[u8; 32]>,
    },
}

/// A folder on an SSH server, reached over SFTP.
#[derive(Debug, Clone)]
pub struct SftpSpec {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub auth: SftpAuth,
    /// The folder on the server (relative paths start at the account's home).
    pub path: String,
    /// The `SHA256:` fingerprint the host key must have, when pinned.
    pub host_key: Option<String>,
    /// Where host keys trusted on first use are remembered (`None`: for this process only).
    pub known_hosts: Option<PathBuf>,
}

/// A folder on any storage rclone reaches (Google Drive, OneDrive, Dropbox and the rest), through
/// the `rclone` program.
#[derive(Debug, Clone)]
pub struct RcloneSpec {
    /// `name:folder` as rclone takes it, e.g. `gdrive:Home Assistant/lifeboat`.
    pub remote: String,
    /// The rclone.conf holding the remote (`None`: rclone's own default).
    pub config: Option<PathBuf>,
    /// The rclone program (a bare name is looked up on `PATH`).
    pub program: PathBuf,
}

/// The file the dashboard writes connected cloud drives to, in the data folder.
pub const RCLONE_CONF: &str = "rclone.conf";

/// A folder in an SMB2/3 share.
#[derive(Debug, Clone)]
pub struct SmbSpec {
    pub host: String,
    pub port: u16,
    pub share: String,
    /// The folder inside the share (`/`-separated, no leading slash; empty for its top).
    pub path: String,
    pub username: String,
    pub password: Secret,
    /// The account's domain or workgroup (empty for an account of the server itself).
    pub domain: String,
}

/// How Lifeboat signs in to an SFTP server.
#[derive(Debug, Clone)]
pub enum SftpAuth {
    Password(Secret),
    /// An OpenSSH private key file (ed25519 or ECDSA), and its passphrase if it has one.
    Key {
        path: PathBuf,
        passphrase: Option<Secret>,
    },
}

/// The file in the data folder that remembers SFTP host keys trusted on first use.
pub const SFTP_KNOWN_HOSTS: &str = "sftp_known_hosts";

/// How Lifeboat signs in to Azure.
#[derive(Debug, Clone)]
pub enum AzureCredential {
    AccountKey(Secret),
    Sas(Secret),
}

impl DestinationSpec {
    /// A digest of how the destination is reached, secrets included: it changes when any of
    /// those settings does (not with retention, which cannot cure a refusal), and shows none of
    /// them (SHA-256, first 16 hex digits).
    pub fn settings_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        // Debug prints every setting but the secrets (redacted): add those one by one.
        h.update(format!("{:?}", self.kind).as_bytes());
        for s in self.kind.secrets() {
            h.update([0]);
            h.update(s.expose().as_bytes());
        }
        hex::encode(&h.finalize()[..8])
    }
}

impl DestinationKind {
    /// Every secret in the settings.
    fn secrets(&self) -> Vec<&Secret> {
        match self {
            Self::Local { .. } => Vec::new(),
            Self::S3 {
                secret_access_key, ..
            } => vec![secret_access_key],
            Self::Azure { credential, .. } => match credential {
                AzureCredential::AccountKey(s) | AzureCredential::Sas(s) => vec![s],
            },
            Self::Sftp(s) => match &s.auth {
                SftpAuth::Password(p) => vec![p],
                SftpAuth::Key { passphrase, .. } => passphrase.iter().collect(),
            },
            Self::Smb(s) => vec![&s.password],
            // Its secrets stay in rclone.conf, which Lifeboat never reads aloud.
            Self::Rclone(_) => Vec::new(),
            Self::Webdav { password, .. } => vec![password],
        }
    }

    /// A short word for the kind, for messages and manifests.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Local { .. } => "local",
            Self::S3 { .. } => "s3",
            Self::Azure { .. } => "azure",
            Self::Webdav { .. } => "webdav",
            Self::Sftp { .. } => "sftp",
            Self::Smb { .. } => "smb",
            Self::Rclone(_) => "rclone",
        }
    }

    /// Where the copies are, for people (no secrets).
    pub fn location(&self) -> String {
        match self {
            Self::Local { path } => path.display().to_string(),
            Self::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            } => format!(
                "s3://{bucket}/{prefix}{}",
                endpoint
                    .as_deref()
                    .map(|e| format!(" at {e}"))
                    .unwrap_or_default()
            ),
            Self::Azure {
                account,
                container,
                prefix,
                ..
            } => format!("azure://{account}/{container}/{prefix}"),
            Self::Webdav { url, username, .. } => format!("{url} (as {username})"),
            Self::Sftp(SftpSpec {
                host,
                port,
                username,
                path,
                ..
            }) => format!(
                "sftp://{username}@{host}:{port}/{}",
                path.trim_start_matches('/')
            ),
            Self::Smb { .. } | Self::Rclone(_) => self.url(),
        }
    }

    /// The `--from`/`--to` URL that reaches this destination from the command line (credentials
    /// are never part of it).
    pub fn url(&self) -> String {
        match self {
            Self::Local { path } => format!("file://{}", path.display()),
            Self::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                path_style,
                ..
            } => {
                let mut q = vec![format!("region={region}")];
                if let Some(e) = endpoint {
                    q.push(format!("endpoint={e}"));
                }
                if !path_style {
                    q.push("path_style=false".into());
                }
                format!(
                    "s3://{bucket}/{}?{}",
                    prefix.trim_end_matches('/'),
                    q.join("&")
                )
            }
            Self::Azure {
                account,
                container,
                prefix,
                endpoint,
                ..
            } => format!(
                "azure://{account}/{container}/{}?endpoint={endpoint}",
                prefix.trim_end_matches('/')
            ),
            Self::Sftp(SftpSpec {
                host,
                port,
                username,
                path,
                host_key,
                ..
            }) => {
                // An absolute folder keeps its leading slash: sftp://u@h:22//srv/backups.
                let mut out = format!(
                    "sftp://{}@{host}:{port}/{}",
                    url_part(username),
                    url_path(path)
                );
                if let Some(k) = host_key {
                    out.push_str("?host_key=");
                    out.push_str(&query_value(k));
                }
                out
            }
            Self::Webdav {
                url,
                segment,
                certificate_sha256,
                ..
            } => {
                let mut q = Vec::new();
                if let Some(s) = segment {
                    q.push(format!("segment_mb={}", s >> 20));
                }
                if let Some(c) = certificate_sha256 {
                    q.push(format!("certificate_sha256={}", hex::encode(c)));
                }
                let mut out = format!("webdav+{url}");
                if !q.is_empty() {
                    out.push(if url.query().is_some() { '&' } else { '?' });
                    out.push_str(&q.join("&"));
                }
                out
            }
            Self::Rclone(RcloneSpec { remote, .. }) => format!("rclone:{remote}"),
            Self::Smb(SmbSpec {
                host,
                port,
                share,
                path,
                username,
                domain,
                ..
            }) => {
                let mut out = format!(
                    "smb://{}@{host}:{port}/{}",
                    url_part(username),
                    url_part(share)
                );
                if !path.is_empty() {
                    out.push('/');
                    out.push_str(&url_path(path));
                }
                if !domain.is_empty() {
                    out.push_str("?domain=");
                    out.push_str(&query_value(domain));
                }
                out
            }
        }
    }
}

/// Escapes what cannot stand as it is in a URL's user part or in one segment of its path.
fn url_part(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, URL_PART).to_string()
}

/// A `/`-separated path with each segment escaped (a leading `/` stays).
fn url_path(path: &str) -> String {
    path.split('/').map(url_part).collect::<Vec<_>>().join("/")
}

/// Escapes a query value (what `url`'s query parsing would misread: `+`, `&`, `=`, `#`…).
fn query_value(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'/')
    .add(b'=');

const URL_PART: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'@')
    .add(b':')
    .add(b'/')
    .add(b'?')
    .add(b'#')
    .add(b'%');

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

/// One thing wrong with the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a path: `destinations[1].bucket`.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_digest_follows_how_a_destination_is_reached() {
        let spec = |secret: &str, keep: &str| DestinationSpec {
            name: "b2".into(),
            retention: crate::retention::Policy::parse(keep).unwrap(),
            kind: DestinationKind::S3 {
                bucket: "backups".into(),
                prefix: "home/".into(),
                endpoint: None,
                region: "us-east-1".into(),
                access_key_id: "AK".into(),
                secret_access_key: Secret::new(secret),
                path_style: false,
            },
        };
        let d = spec("s3cret-one", "last=3").settings_digest();
        assert_eq!(d.len(), 16);
        assert!(!d.contains("s3cret"));
        assert_ne!(d, spec("s3cret-two", "last=3").settings_digest());
        assert_eq!(d, spec("s3cret-one", "daily=7").settings_digest());
    }
}
