//! The options as a person writes them: the add-on's `/data/options.json` or a standalone
//! `lifeboat.toml`. Both deserialize into these structs; unknown keys are refused so a typo is an
//! error, not a silently ignored setting. Validation into a usable [`super::Config`] happens in
//! [`super::validate`].

/// A destination's options are its kind's ([`crate::destinations::kinds`]).
pub use crate::destinations::kinds::DestinationOptions;
use crate::secret::Secret;
use serde::Deserialize;
use std::path::PathBuf;

/// Everything a user can set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Where history and upload state live. The add-on always uses `/data`.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Where backups come from: the one-source shorthand for `sources`.
    #[serde(default)]
    pub source: Option<SourceOptions>,
    /// Several sources, each named, with its own schedule, retention and destinations (a
    /// database dump and a config folder beside Home Assistant).
    #[serde(default)]
    pub sources: Vec<SourceEntry>,
    /// Where copies go; at least one.
    #[serde(default)]
    pub destinations: Vec<DestinationOptions>,
    /// How copies are encrypted.
    #[serde(default)]
    pub encryption: EncryptionOptions,
    /// Home Assistant backup keys (from HA's emergency kit), to check protected backups to the end.
    #[serde(default)]
    pub ha_backup_keys: Vec<Secret>,
    /// A `notify` service to call when a backup fails (e.g. `mobile_app_pixel_7`), besides the
    /// persistent notification.
    #[serde(default)]
    pub notify_service: Option<String>,
    /// Address of the status server (`lifeboat serve`), e.g. `127.0.0.1:8099`.
    #[serde(default)]
    pub listen: Option<String>,
    /// Which copies to keep on every destination that names no policy of its own:
    /// `last=3 daily=7 weekly=4 monthly=12 yearly=2 within=2d` (empty: keep every copy).
    #[serde(default)]
    pub retention: Option<String>,
    /// When backups and re-verifications run.
    #[serde(default)]
    pub schedule: ScheduleOptions,
    /// Keep this many backups in Home Assistant and delete older ones once every destination
    /// holds a verified copy (unset: Home Assistant's backups are left alone).
    #[serde(default)]
    pub keep_local: Option<u32>,
    /// A destination with no verified copy for this many hours is a problem (default 26).
    #[serde(default)]
    pub stale_after_hours: Option<u32>,
    /// A safe update installs only when at least this many destinations hold a verified copy of
    /// the backup made for it (default 1).
    #[serde(default)]
    pub min_verified: Option<u32>,
    /// Also ship, within seconds, every backup Home Assistant makes by itself (its automatic and
    /// pre-update backups) while Lifeboat makes its own (source mode `create`; mode `ship` always
    /// does).
    #[serde(default)]
    pub ship_new_backups: Option<bool>,
    /// Ask "do you still have your emergency kit?" every this many days (default 180; 0: never).
    #[serde(default)]
    pub kit_check_days: Option<u32>,
    /// Somewhere outside Home Assistant to tell when a backup fails (Home Assistant may be what
    /// is down).
    #[serde(default)]
    pub alert: Option<AlertOptions>,
}

/// The schedule, in the home's time zone.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleOptions {
    /// Cron expression for backups, e.g. `30 3 * * *` (empty: only on request).
    #[serde(default)]
    pub backup: Option<String>,
    /// Cron expression for re-reading stored copies, e.g. `0 5 * * 0` (empty: never).
    #[serde(default)]
    pub verify: Option<String>,
    /// Start scheduled backups up to this many minutes late, at random (spreads load).
    #[serde(default)]
    pub jitter_minutes: Option<u32>,
    /// IANA time zone, e.g. `Europe/Berlin` (default: `TZ`, which the Supervisor sets to Home
    /// Assistant's, else UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Most MiB per second re-verification may read (default 20).
    #[serde(default)]
    pub verify_mib_per_second: Option<u32>,
}

/// An alert outside Home Assistant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertOptions {
    /// Where to send it (empty: no alert).
    #[serde(default)]
    pub url: Option<String>,
    /// `webhook` (JSON POST, default), `ntfy` (a topic URL) or `healthchecks` (a ping URL: pinged
    /// on success, `/fail` on failure).
    #[serde(default)]
    pub kind: Option<String>,
    /// Also send on success (healthchecks always does).
    #[serde(default)]
    pub on_success: Option<bool>,
}

/// The backup source, chosen by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceOptions {
    /// A directory of Home Assistant backup tars; each new one is shipped.
    Folder { path: PathBuf },
    /// A Home Assistant Container/Core install reached over its API.
    Core {
        url: String,
        /// Long-lived access token; falls back to `HA_TOKEN`.
        #[serde(default)]
        token: Option<Secret>,
        /// Backup agent to create and download from (default: found from `backup/agents/info`).
        #[serde(default)]
        agent_id: Option<String>,
        /// `create` (default: Lifeboat asks for a backup) or `ship` (Lifeboat ships the backups
        /// Home Assistant makes itself).
        #[serde(default)]
        mode: Option<String>,
    },
    /// Home Assistant OS / Supervised, from inside the add-on.
    Supervisor {
        /// `websocket` (default: Core's backup manager, with HA's own encryption key) or `rest`
        /// (the Supervisor's `/backups/new/full`).
        #[serde(default)]
        method: Option<String>,
        /// Supervisor base URL (default `http://supervisor`).
        #[serde(default)]
        url: Option<String>,
        /// Falls back to `SUPERVISOR_TOKEN`.
        #[serde(default)]
        token: Option<Secret>,
        /// `create` (default) or `ship`, as for `core`.
        #[serde(default)]
        mode: Option<String>,
    },
    /// Any folder, tarred on the fly (symbolic links kept as links, never followed).
    Dir {
        path: PathBuf,
        /// Globs of paths (relative to the folder) or names to leave out: `*.tmp`, `cache/*`; a
        /// list, or (in the add-on's options) globs separated by commas.
        #[serde(default, deserialize_with = "list_or_commas")]
        exclude: Vec<String>,
        /// `none` (default) or `gzip`.
        #[serde(default)]
        compression: Option<String>,
    },
    /// A command's standard output (a database dump), run without a shell.
    Command {
        command: CommandLine,
        /// Variables for the command (`PGPASSWORD`…); secrets, never logged.
        #[serde(default)]
        environment: std::collections::BTreeMap<String, Secret>,
        /// `gzip` (default) or `none`.
        #[serde(default)]
        compression: Option<String>,
        /// What it dumps: `postgres`, `mariadb` or `other` (default: from the program's name).
        #[serde(default)]
        dump: Option<String>,
    },
}

/// A command line: a list of words, or one line split the way a shell splits it (no shell is
/// run).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    Words(Vec<String>),
    Line(String),
}

/// A list of words, or one string of them separated by commas (the add-on's options have no
/// lists inside a list).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(l) => l,
        Either::Commas(s) => s
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// One of several sources: a name, the source itself, and what it does differently.
#[derive(Debug, Deserialize)]
pub struct SourceEntry {
    /// Names its runs, copies and alarms: `postgres`, `configs`.
    pub name: String,
    #[serde(flatten)]
    pub source: SourceOptions,
    /// Only these destinations (by name); every one when empty. A list, or (in the add-on's
    /// options) names separated by commas.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub destinations: Vec<String>,
    /// Its own backup schedule (cron); the main schedule when unset.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Its own retention, over the destinations'.
    #[serde(default)]
    pub retention: Option<String>,
    /// Hours without a verified copy of it before Lifeboat says so.
    #[serde(default)]
    pub stale_after_hours: Option<u32>,
}

/// Encryption: age X25519 recipients (the private key lives in the emergency kit), or a passphrase.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionOptions {
    #[serde(default)]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub passphrase: Option<Secret>,
}
