//! Lifeboat: off-site backups of a Home Assistant installation that provably restore.
//!
//! # Layout
//! - [`config`]: options (add-on `options.json`, standalone TOML, or command-line URLs) → a validated
//!   [`config::Config`]; nothing downstream reads the environment or files for settings again.
//! - [`source`]: where a backup comes from (a folder of tars, Home Assistant Core, the Supervisor),
//!   behind one trait that yields a byte stream.
//! - [`ha`]: the protocol clients for Home Assistant: the Core websocket and the Supervisor REST API.
//! - [`archive`]: understanding a backup tar while it streams past (`backup.json`, members, end).
//! - [`crypto`]: age encryption of the stream.
//! - [`destinations`]: where copies go (local folder, S3-compatible, Azure Blob), object layout and
//!   the manifest that makes a copy exist.
//! - [`pipeline`]: one run: read once, hash, inspect, encrypt, fan out, read back, record.
//! - [`history`]: the SQLite record of runs and copies.
//! - [`retention`]: which copies to keep, as a pure function, and pruning that carries it out.
//! - [`schedule`]: cron schedules with catch-up and jitter, feeding the single-flight worker.
//! - [`web`]: the long-running server's status page and API.
//! - [`alert`]: alerts outside Home Assistant (webhook, ntfy, healthchecks-style pings).
//! - [`secret`]: a string type that never prints.
//! - [`human`]: sizes, durations and ages as people read them.
//! - [`disk`]: free space on a local disk.
//! - [`pages`]: transfer buffers on pages of their own, returned to the system when let go.

pub mod alert;
pub mod archive;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod daemon;
pub mod destinations;
pub mod disk;
pub mod ha;
pub mod history;
pub mod human;
pub mod jobs;
pub mod pages;
pub mod pipeline;
pub mod recovery;
pub mod report;
pub mod retention;
pub mod schedule;
pub mod secret;
pub mod source;
pub mod web;

/// The version written into every manifest, so a copy says which Lifeboat made it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
