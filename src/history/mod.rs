//! History: every run and every copy, in one SQLite file in the data folder (WAL, created 0600).
//! Writes go through one connection on tokio's blocking pool; the pages read through their own
//! read-only connections, one per core, so two pages load side by side and never wait behind a
//! write (WAL gives each read a snapshot of what was committed). Every connection sits behind a
//! std mutex that is never held across an `.await`.

pub mod drills;
mod keys;
pub mod probes;
mod query;
mod schema;
mod totals;
pub mod upkeep;

pub use keys::{KeyLedger, KitCheck, KitDue, LedgerEntry};
pub use query::{Attempt, DestinationRecord, RecordedDigests, RunFilter, RunSpan, StorageEvent};
pub use totals::Held;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The database file's name inside the data folder.
pub const FILE_NAME: &str = "lifeboat.db";

/// Why history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot create the data folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("history database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("history database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(
        "the data folder {} is full ({} KiB free), so Lifeboat cannot write its history: free \
         space on that disk",
        .path.display(),
        .free >> 10
    )]
    Full { path: PathBuf, free: u64 },
    #[error("history database task failed: {0}")]
    Task(String),
}

/// Outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    /// Every destination holds a verified copy.
    Success,
    /// Some destinations hold a verified copy, some failed.
    Partial,
    Failed,
    /// The process stopped mid-run.
    Interrupted,
}

impl RunStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Success => "success",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "success" => Self::Success,
            "partial" => Self::Partial,
            "interrupted" => Self::Interrupted,
            _ => Self::Failed,
        }
    }
}

/// How a run ended, as recorded.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    pub source_key: Option<String>,
    pub backup_slug: Option<String>,
    pub backup_name: Option<String>,
    pub backup_date: Option<String>,
    pub plain_size: Option<u64>,
    pub plain_sha256: Option<String>,
    pub stored_size: Option<u64>,
    pub stored_sha256: Option<String>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// What happened when, step by step.
    pub timeline: Vec<Moment>,
    /// The keys its copies need.
    pub keys: Option<KeyLedger>,
    /// What a restore of its backup will need.
    pub readiness: Option<RunReadiness>,
}

/// A run's restore-readiness report, with what changed since the run before it of the same source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RunReadiness {
    pub report: crate::archive::readiness::Readiness,
    #[serde(default)]
    pub news: Vec<String>,
}

/// Versions of Home Assistant's parts (any may be unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Versions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
}

impl Versions {
    /// What changed from `before` to `self`, part by part ("Core 2025.3.4 → 2025.4.4"); only
    /// parts both know.
    pub fn changes_since(&self, before: &Self) -> Vec<String> {
        [
            ("Core", &before.core, &self.core),
            ("Supervisor", &before.supervisor, &self.supervisor),
            ("OS", &before.os, &self.os),
        ]
        .iter()
        .filter_map(|(n, a, b)| match (a, b) {
            (Some(a), Some(b)) if a != b => Some(format!("{n} {a} → {b}")),
            _ => None,
        })
        .collect()
    }
}

/// The versions a run's backup restores to (from its `backup.json`), and the ones that were
/// running when it was made (from the Supervisor, or Home Assistant's websocket).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RunVersions {
    #[serde(default)]
    pub backup: Versions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Versions>,
}

impl RunVersions {
    /// What a run is compared by: the running versions, else the backup's.
    pub fn running(&self) -> &Versions {
        self.host.as_ref().unwrap_or(&self.backup)
    }
}

/// One step of a run, as its timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Moment {
    pub at: DateTime<Utc>,
    /// What happened, in plain words.
    pub what: String,
    /// The destination it concerns, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Set when this step failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
}

/// One copy's record.
#[derive(Debug, Clone, Serialize)]
pub struct CopyRecord {
    pub destination: String,
    pub copy_id: String,
    pub object: String,
    pub verified: bool,
    pub stored_size: Option<u64>,
    pub stored_sha256: Option<String>,
    pub error: Option<String>,
    pub upload_ms: Option<u64>,
    pub verify_ms: Option<u64>,
    pub verified_at: Option<DateTime<Utc>>,
    /// Why it failed, as a status word (`denied`, `full`, `misconfigured`, `passing`…).
    pub failure: Option<String>,
}

/// A run as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub trigger: String,
    pub source: String,
    pub status: RunStatus,
    pub backup_slug: Option<String>,
    pub backup_name: Option<String>,
    /// The date in the backup's own backup.json.
    pub backup_date: Option<String>,
    pub plain_size: Option<u64>,
    pub plain_sha256: Option<String>,
    pub stored_size: Option<u64>,
    pub stored_sha256: Option<String>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub timeline: Vec<Moment>,
    /// The keys its copies need (runs before the ledger existed have none).
    pub keys: Option<KeyLedger>,
    /// What its backup restores to and what ran when it was made (older runs have none).
    pub versions: Option<RunVersions>,
    /// The name of the source it backed up (`None` for runs from before sources had names: the
    /// first source's).
    pub source_name: Option<String>,
    pub copies: Vec<CopyRecord>,
}

impl RunRow {
    /// How long the run took, once it has finished (`None` before, or if the clock went back).
    pub fn took(&self) -> Option<std::time::Duration> {
        self.finished_at
            .and_then(|f| (f - self.started_at).to_std().ok())
    }
}

/// A run's source: its name and what it is (`dir:/opt/halo/configs`).
#[derive(Debug, Clone)]
pub struct Described {
    pub name: Option<String>,
    pub describe: String,
}

impl From<&str> for Described {
    /// A source with no name (as runs were recorded before sources had names).
    fn from(describe: &str) -> Self {
        Self {
            name: None,
            describe: describe.to_owned(),
        }
    }
}

/// At most this many connections read for the pages, however many cores the machine has: each
/// keeps its own page cache and compiled statements.
const MAX_READERS: usize = 4;

/// Less free than this, a failed write is taken for a full disk.
const NEARLY_FULL: u64 = 1 << 20;

/// A write that failed because the data folder's disk is full, said so.
fn full(dir: &Path, e: &rusqlite::Error) -> Option<HistoryError> {
    let rusqlite::Error::SqliteFailure(f, _) = e else {
        return None;
    };
    if !matches!(
        f.code,
        rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::SystemIoFailure
    ) {
        return None;
    }
    let free = crate::disk::free_space(dir)?;
    (free < NEARLY_FULL).then(|| HistoryError::Full {
        path: dir.to_owned(),
        free,
    })
}

/// The history store.
#[derive(Clone)]
pub struct History {
    /// The one connection that writes (and the reads that belong to a write).
    conn: Arc<Mutex<Connection>>,
    /// Connections that only read (`query_only`), for the pages: one per core.
    readers: Arc<[Mutex<Connection>]>,
    /// Which reader a read that found them all busy waits for, in turn.
    next_reader: Arc<std::sync::atomic::AtomicUsize>,
    /// Changes to what is stored recorded through this history (copies, deletions, checks): what
    /// kept listings of the copies are compared with.
    changes: Arc<std::sync::atomic::AtomicU64>,
    /// The data folder, to tell a full disk from other failures.
    dir: Arc<PathBuf>,
}

fn u64_to_sql(v: Option<u64>) -> Option<i64> {
    v.and_then(|v| i64::try_from(v).ok())
}

fn sql_to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

impl History {
    /// Opens (creating if needed) the history in `data_dir`.
    ///
    /// # Errors
    /// [`HistoryError`] when the folder or database cannot be created or migrated.
    pub fn open(data_dir: &Path) -> Result<Self, HistoryError> {
        std::fs::create_dir_all(data_dir).map_err(|source| HistoryError::Folder {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(FILE_NAME);
        let open_err = |source| match full(data_dir, &source) {
            Some(e) => e,
            None => HistoryError::Open {
                path: path.clone(),
                source,
            },
        };
        if !path.exists() {
            create_private(&path).map_err(|source| HistoryError::Folder {
                path: path.clone(),
                source,
            })?;
        }
        let conn = Connection::open(&path).map_err(open_err)?;
        // Room for every statement the pages and the runs prepare, kept compiled.
        conn.set_prepared_statement_cache_capacity(96);
        schema::migrate(&conn).map_err(open_err)?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let readers = (0..cores.clamp(1, MAX_READERS))
            .map(|_| {
                let c = Connection::open(&path)?;
                c.set_prepared_statement_cache_capacity(96);
                c.pragma_update(None, "query_only", true)?;
                // A read meets a lock only in WAL's rare moments (the log being reset): wait.
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                Ok(Mutex::new(c))
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(open_err)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            readers: readers.into(),
            next_reader: Arc::default(),
            changes: Arc::default(),
            dir: Arc::new(data_dir.to_owned()),
        })
    }

    /// How many changes to what is stored (copies recorded, deletions, checks) this history
    /// has recorded since it was opened: a listing made at one count is out of date at another.
    pub fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Counts one change to what is stored, before it is recorded: counted after the commit, a page
    /// loaded between the two would keep a listing from before the change under the new count.
    pub(super) fn changed(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// A read the dashboard makes on every load: bounded by an index (the plans test pins them),
    /// so it runs on the calling thread on the first reader that is free, sparing the two thread
    /// switches a trip to the blocking pool costs (most of a page's time once its queries were
    /// indexed); when every reader is busy, it waits for one on the blocking pool instead.
    async fn read<T: Send + 'static>(
        &self,
        mut f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, HistoryError> {
        for reader in self.readers.iter() {
            f = match reader.try_lock() {
                Ok(mut guard) => return snapshot(&mut guard, f).map_err(|e| self.failed(e)),
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    return snapshot(&mut p.into_inner(), f).map_err(|e| self.failed(e));
                }
                Err(std::sync::TryLockError::WouldBlock) => f,
            };
        }
        let readers = self.readers.clone();
        let turn = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.on_pool(move || {
            let reader = &readers[turn % readers.len()];
            let mut guard = reader.lock().unwrap_or_else(PoisonError::into_inner);
            snapshot(&mut guard, f)
        })
        .await
    }

    /// Runs `f` on tokio's blocking pool, its failure said as [`History::failed`] says it.
    async fn on_pool<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, HistoryError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| HistoryError::Task(e.to_string()))?
            .map_err(|e| self.failed(e))
    }

    /// What a failed statement means: a full disk said so, anything else as SQLite says it.
    fn failed(&self, e: rusqlite::Error) -> HistoryError {
        full(&self.dir, &e).unwrap_or(HistoryError::Sql(e))
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, HistoryError> {
        let conn = self.conn.clone();
        self.on_pool(move || {
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
    }

    /// Records the start of a run and returns its id.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn start_run(
        &self,
        started_at: DateTime<Utc>,
        trigger: &str,
        source: impl Into<Described>,
    ) -> Result<i64, HistoryError> {
        let source = source.into();
        let trigger = trigger.to_owned();
        let Described {
            name,
            describe: source,
        } = source;
        self.with(move |c| {
            c.execute(
                "INSERT INTO runs (started_at, trigger, source, source_name, status)
                 VALUES (?1, ?2, ?3, ?4, 'running')",
                params![started_at.to_rfc3339(), trigger, source, name],
            )?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    /// Records how a run ended, with its copies, in one transaction.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn finish_run(
        &self,
        run_id: i64,
        finished_at: DateTime<Utc>,
        status: RunStatus,
        end: RunEnd,
        copies: Vec<CopyRecord>,
    ) -> Result<(), HistoryError> {
        // Counted before the write: a listing made from here on sees the destination after
        // the change (it is made there before it is recorded), so none is kept past it.
        self.changed();
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE runs SET finished_at = ?2, status = ?3, source_key = ?4, backup_slug = ?5,
                 backup_name = ?6, backup_date = ?7, plain_size = ?8, plain_sha256 = ?9,
                 stored_size = ?10, stored_sha256 = ?11, error = ?12, warnings = ?13, timeline = ?14,
                 keys = ?15, readiness = ?16 WHERE id = ?1",
                params![
                    run_id,
                    finished_at.to_rfc3339(),
                    status.as_str(),
                    end.source_key,
                    end.backup_slug,
                    end.backup_name,
                    end.backup_date,
                    u64_to_sql(end.plain_size),
                    end.plain_sha256,
                    u64_to_sql(end.stored_size),
                    end.stored_sha256,
                    end.error,
                    serde_json::to_string(&end.warnings).unwrap_or_else(|_| "[]".into()),
                    serde_json::to_string(&end.timeline).unwrap_or_else(|_| "[]".into()),
                    end.keys.as_ref().and_then(|k| serde_json::to_string(k).ok()),
                    end.readiness.as_ref().and_then(|r| serde_json::to_string(r).ok()),
                ],
            )?;
            let keys: Option<String> =
                tx.query_row("SELECT keys FROM runs WHERE id = ?1", [run_id], |r| r.get(0))?;
            for cp in copies {
                let verified_at = cp.verified_at.map(|t| t.to_rfc3339());
                let stored_size = u64_to_sql(cp.stored_size);
                tx.execute(
                    "INSERT INTO copies (run_id, destination, copy_id, object, status, stored_size,
                     stored_sha256, error, upload_ms, verify_ms, verified_at, failure)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        run_id,
                        cp.destination,
                        cp.copy_id,
                        cp.object,
                        if cp.verified { "verified" } else { "failed" },
                        stored_size,
                        cp.stored_sha256,
                        cp.error,
                        u64_to_sql(cp.upload_ms),
                        u64_to_sql(cp.verify_ms),
                        verified_at,
                        cp.failure,
                    ],
                )?;
                if cp.verified {
                    totals::add_copy(
                        &tx,
                        &totals::NewCopy {
                            run_id,
                            keys: keys.as_deref(),
                            destination: &cp.destination,
                            stored_size,
                            verified_at: verified_at.as_deref(),
                        },
                    )?;
                }
            }
            tx.commit()
        })
        .await?;
        Ok(())
    }

    /// Marks runs left `running` by a process that stopped as `interrupted`; returns how many.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn mark_interrupted(&self, now: DateTime<Utc>) -> Result<usize, HistoryError> {
        self.with(move |c| {
            c.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?1,
                 error = 'Lifeboat stopped before this run finished' WHERE status = 'running'",
                params![now.to_rfc3339()],
            )
        })
        .await
    }

    /// Source keys of backups that already have at least one verified copy.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn shipped_source_keys(&self) -> Result<HashSet<String>, HistoryError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT DISTINCT source_key FROM runs WHERE source_key IS NOT NULL AND status IN ('success', 'partial')",
            )?;
            st.query_map([], |r| r.get::<_, String>(0))?.collect()
        })
        .await
    }

    /// The newest runs, newest first, with their copies.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRow>, HistoryError> {
        Ok(self
            .runs_page(RunFilter::default(), limit, 0, false)
            .await?
            .0)
    }

    /// The newest verified copy on each destination, by destination name.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn latest_verified_copies(&self) -> Result<Vec<CopyRecord>, HistoryError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                &format!(
                    "{} SELECT destination, copy_id, object, stored_size, stored_sha256, upload_ms,
                     verify_ms, verified_at FROM copies WHERE id IN (SELECT (SELECT MAX(id) FROM copies
                       WHERE destination = seen.name AND status = 'verified') FROM seen)
                     ORDER BY destination",
                    query::DESTINATIONS_SEEN
                ),
            )?;
            st.query_map([], |r| {
                Ok(CopyRecord {
                    destination: r.get(0)?,
                    copy_id: r.get(1)?,
                    object: r.get(2)?,
                    verified: true,
                    stored_size: sql_to_u64(r.get(3)?),
                    stored_sha256: r.get(4)?,
                    error: None,
                    upload_ms: sql_to_u64(r.get(5)?),
                    verify_ms: sql_to_u64(r.get(6)?),
                    verified_at: r.get::<_, Option<String>>(7)?.map(|t| parse_time(&t)),
                    failure: None,
                })
            })?
            .collect()
        })
        .await
    }

    /// The stored size of the newest backup that was shipped (to size the next one).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn last_stored_size(&self) -> Result<Option<u64>, HistoryError> {
        self.newest_size(
            "SELECT stored_size FROM runs WHERE stored_size IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .await
    }

    /// The size of the newest backup read whole (its plain tar, as Home Assistant stored it).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn last_plain_size(&self) -> Result<Option<u64>, HistoryError> {
        self.newest_size(
            "SELECT plain_size FROM runs WHERE plain_size IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .await
    }

    /// The one size `query` selects, if any.
    async fn newest_size(&self, query: &'static str) -> Result<Option<u64>, HistoryError> {
        self.read(move |c| {
            c.query_row(query, [], |r| r.get::<_, Option<i64>>(0))
                .optional()
                .map(|v| sql_to_u64(v.flatten()))
        })
        .await
    }

    /// The newest run with this id, if any (tests and the status page).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn run_status(&self, run_id: i64) -> Result<Option<RunStatus>, HistoryError> {
        self.read(move |c| {
            c.query_row("SELECT status FROM runs WHERE id = ?1", [run_id], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map(|s| s.map(|s| RunStatus::parse(&s)))
        })
        .await
    }
}

fn parse_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc))
}

/// Runs the reads of `f` in one read transaction: one snapshot, and SQLite's locks taken once
/// rather than for every statement (a page of runs reads some fifty rows one by one).
fn snapshot<T>(
    c: &mut Connection,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    if !c.is_autocommit() {
        return f(c);
    }
    c.execute_batch("BEGIN DEFERRED")?;
    let out = f(c);
    // A read has nothing to keep: ending it either way lets go of the snapshot.
    let end = c.execute_batch(if out.is_ok() { "COMMIT" } else { "ROLLBACK" });
    let out = out?;
    end.map(|()| out)
}

/// Creates an empty file readable by its owner only.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_runs_versions_are_kept_and_an_update_between_runs_is_named() {
        let v = |core: &str, os: Option<&str>| Versions {
            core: Some(core.into()),
            supervisor: Some("2026.11.0".into()),
            os: os.map(str::to_owned),
        };
        let before = v("2026.2.3", Some("16.2"));
        assert!(before.changes_since(&before).is_empty());
        assert_eq!(
            v("2026.3.0", Some("16.3")).changes_since(&before),
            ["Core 2026.2.3 → 2026.3.0", "OS 16.2 → 16.3"]
        );
        // A part one side does not know is no change.
        assert!(v("2026.2.3", None).changes_since(&before).is_empty());
        // What ran is compared when known, the backup's own versions otherwise.
        let run = RunVersions {
            backup: v("2026.2.3", None),
            host: Some(v("2026.3.0", Some("16.3"))),
        };
        assert_eq!(run.running().core.as_deref(), Some("2026.3.0"));
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let id = h.start_run(Utc::now(), "cli", "supervisor").await.unwrap();
        h.set_versions(id, &run).await.unwrap();
        assert_eq!(h.run(id).await.unwrap().unwrap().versions, Some(run));
    }

    #[tokio::test]
    async fn records_runs_and_copies() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let t = Utc::now();
        let id = h.start_run(t, "cli", "folder:/b").await.unwrap();
        assert_eq!(h.run_status(id).await.unwrap(), Some(RunStatus::Running));
        h.finish_run(
            id,
            t,
            RunStatus::Partial,
            RunEnd {
                source_key: Some("k1".into()),
                warnings: vec!["w".into()],
                ..RunEnd::default()
            },
            vec![CopyRecord {
                destination: "a".into(),
                copy_id: "c".into(),
                object: "c.tar.age".into(),
                verified: true,
                stored_size: Some(5),
                stored_sha256: Some("ab".into()),
                error: None,
                upload_ms: Some(1),
                verify_ms: Some(1),
                verified_at: Some(t),
                failure: None,
            }],
        )
        .await
        .unwrap();
        let runs = h.recent_runs(10).await.unwrap();
        assert_eq!(runs[0].status, RunStatus::Partial);
        assert_eq!(runs[0].warnings, ["w"]);
        assert_eq!(runs[0].copies[0].stored_size, Some(5));
        assert!(h.shipped_source_keys().await.unwrap().contains("k1"));

        let id2 = h.start_run(t, "cli", "x").await.unwrap();
        assert_eq!(h.mark_interrupted(t).await.unwrap(), 1);
        assert_eq!(
            h.run_status(id2).await.unwrap(),
            Some(RunStatus::Interrupted)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_read_while_a_write_holds_the_writer_and_readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let id = h.start_run(Utc::now(), "cli", "s").await.unwrap();
        // A long write in progress: the writer's connection is taken, inside a transaction.
        let writer = h.conn.clone();
        let (held, release) = (
            std::sync::Arc::new(std::sync::Barrier::new(2)),
            std::sync::Arc::new(std::sync::Barrier::new(2)),
        );
        let (h2, r2) = (held.clone(), release.clone());
        let write = std::thread::spawn(move || {
            let mut c = writer.lock().unwrap();
            let tx = c.transaction().unwrap();
            tx.execute("UPDATE runs SET status = 'failed'", []).unwrap();
            h2.wait();
            r2.wait();
            tx.commit().unwrap();
        });
        held.wait();
        // The page still reads, and sees what was committed before the write began.
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), h.run_status(id)).await;
        release.wait();
        write.join().unwrap();
        assert_eq!(
            read.expect("a read waited for the write").unwrap(),
            Some(RunStatus::Running)
        );
        assert_eq!(h.run_status(id).await.unwrap(), Some(RunStatus::Failed));
        // A reader refuses to write, whatever a read is given.
        let refused = h
            .read(|c| c.execute("UPDATE runs SET status = 'success'", []))
            .await;
        assert!(refused.is_err(), "{refused:?}");
    }

    #[cfg(unix)]
    #[test]
    fn database_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        History::open(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
