//! Lifeboat: off-site backups of a Home Assistant installation that provably restore.
//!
//! # Layout
//! Top to bottom; a module uses only modules below it (`tests/layers.rs` checks it, and that no
//! module is part of an import circle). The data path reads down: trigger → source → pipeline →
//! destinations → history.
//! - [`daemon`]: the long-running process and composition root: builds every part from the
//!   [`config::Config`], runs the single-flight worker on the one job queue, the schedules, the
//!   retry poll, Home Assistant republishing and automation commands, and joins them at shutdown.
//! - [`web`]: the dashboard Home Assistant shows through ingress, and a small JSON API.
//! - [`report`], [`alert`]: what Home Assistant and the outside world are told about runs.
//! - [`jobs`]: the one job queue, as its senders (web, commands, schedules) see it.
//! - [`schedule`]: cron schedules with catch-up and jitter.
//! - [`recovery`]: getting a backup back: recover, restore into Home Assistant, drills.
//! - [`pipeline`]: one run, by stage: plan, ship (one read, fan-out), commit, record; the retry
//!   queue, pruning and re-verification; progress as typed events.
//! - [`source`]: where a backup comes from (a folder of tars, Home Assistant Core, the Supervisor).
//! - [`crypto`]: age encryption of the stream, keys, the vault, the kit, key enrolment.
//! - [`destinations`]: where copies go: the `Store` contract, OpenDAL for S3/Azure/folders, one
//!   staged frame for WebDAV/SFTP/SMB, object layout and manifests; errors with one status each.
//! - [`ha`]: protocol clients for Home Assistant: Supervisor REST, Core websocket, Core REST.
//! - [`history`]: the SQLite record of runs, copies, checks, deletions and the retry queue.
//! - [`archive`]: understanding a backup tar while it streams past (`backup.json`, SecureTar).
//! - [`config`]: options (`options.json`, TOML, or command-line URLs) → a validated config.
//! - [`retention`]: which copies to keep, as a pure function with reasons.
//! - [`clock`], [`secret`], [`human`], [`disk`], [`pages`], [`child_env`], [`scratch`]: leaf
//!   helpers (time as an input, a string that never prints and the scan that hides secrets, words
//!   for sizes and times, free space, transfer buffers, a child program's environment, private
//!   temporary files).

pub mod alert;
pub mod archive;
pub mod child_env;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod daemon;
pub mod destinations;
pub mod disk;
#[doc(hidden)]
pub mod fuzzing;
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
pub mod scratch;
pub mod secret;
pub mod setup;
pub mod signing;
pub mod source;
pub mod web;

/// The version written into every manifest, so a copy says which Lifeboat made it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
