//! What history keeps besides runs and copies: pins, every deletion with its reason, every
//! re-verification check, the retry queue (so a destination that missed a backup gets it after a
//! restart too), and small named values such as the scheduler's last fire time.

use super::{History, HistoryError, parse_time, sql_to_u64, u64_to_sql};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// A deletion as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct DeletionRow {
    pub at: DateTime<Utc>,
    pub destination: String,
    pub copy_id: String,
    pub made: Option<DateTime<Utc>>,
    /// What asked for it: `retention` (after a run, a command, the CLI), `dashboard` (a person,
    /// one copy), or `keep_local` for Home Assistant's own backups (destination `home-assistant`).
    pub trigger: String,
    pub reason: String,
    /// Set when the deletion did not (fully) happen.
    pub error: Option<String>,
}

/// A copy history holds on a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCopy {
    pub copy_id: String,
    /// The source whose copy it is (`None` for runs from before sources had names: the first
    /// source's).
    pub source: Option<String>,
    /// When its backup was made: the backup's own date, else when its run began.
    pub made: DateTime<Utc>,
}

/// The newest re-verification of a copy.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub error: Option<String>,
    pub ms: Option<u64>,
}

/// A destination still owed a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryRow {
    pub source_key: String,
    pub destination: String,
    /// The source's short name for the backup (copy ids are made from it).
    pub hint: String,
    /// Where the source finds the backup again.
    pub locator: String,
    pub attempts: u32,
    pub next_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub queued_at: DateTime<Utc>,
    /// Why the last attempt failed, as a status word (`denied`, `misconfigured`, `passing`…).
    pub failure: Option<String>,
    /// Set when trying again cannot help until the destination's settings change: the digest of
    /// the settings that were refused. The entry waits (and is a problem to fix) until they differ.
    pub waits_for: Option<String>,
}

/// How a retry failed, as [`History::retry_failed`] records it.
#[derive(Debug, Clone, Copy)]
pub struct Failed<'a> {
    pub error: &'a str,
    /// The status word of the failure, when the destination gave one.
    pub failure: Option<&'a str>,
    /// The settings digest to wait for a change of (see [`RetryRow::waits_for`]).
    pub waits_for: Option<&'a str>,
}

impl History {
    /// Pins a copy: retention never deletes it.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn pin(
        &self,
        destination: &str,
        copy_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), HistoryError> {
        let (d, c) = (destination.to_owned(), copy_id.to_owned());
        self.with(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO pins (destination, copy_id, pinned_at) VALUES (?1, ?2, ?3)",
                params![d, c, at.to_rfc3339()],
            )
            .map(drop)
        })
        .await
    }

    /// Unpins a copy; returns whether it was pinned.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn unpin(&self, destination: &str, copy_id: &str) -> Result<bool, HistoryError> {
        let (d, c) = (destination.to_owned(), copy_id.to_owned());
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM pins WHERE destination = ?1 AND copy_id = ?2",
                params![d, c],
            )
            .map(|n| n > 0)
        })
        .await
    }

    /// The pinned copy ids of a destination.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn pins(&self, destination: &str) -> Result<HashSet<String>, HistoryError> {
        let d = destination.to_owned();
        self.read(move |conn| {
            let mut st = conn.prepare_cached("SELECT copy_id FROM pins WHERE destination = ?1")?;
            st.query_map([d], |r| r.get(0))?.collect()
        })
        .await
    }

    /// Records a deletion (or a failed attempt at one) with its reason.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn record_deletion(&self, row: DeletionRow) -> Result<(), HistoryError> {
        // Counted before the write: a listing made from here on sees the destination after
        // the change (it is made there before it is recorded), so none is kept past it.
        self.changed();
        self.with(move |conn| {
            let tx = conn.transaction()?;
            let at = row.at.to_rfc3339();
            tx.execute(
                "INSERT INTO deletions (at, destination, copy_id, made, trigger, reason, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    at,
                    row.destination,
                    row.copy_id,
                    row.made.map(|t| t.to_rfc3339()),
                    row.trigger,
                    row.reason,
                    row.error
                ],
            )?;
            if row.error.is_none() {
                super::totals::remove_copy(&tx, &row.destination, &row.copy_id, &at)?;
            }
            tx.commit()
        })
        .await?;
        Ok(())
    }

    /// The newest deletions, newest first.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn deletions(&self, limit: usize) -> Result<Vec<DeletionRow>, HistoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut st = conn.prepare_cached(
                "SELECT at, destination, copy_id, made, trigger, reason, error FROM deletions
                 ORDER BY id DESC LIMIT ?1",
            )?;
            st.query_map([limit], |r| {
                Ok(DeletionRow {
                    at: parse_time(&r.get::<_, String>(0)?),
                    destination: r.get(1)?,
                    copy_id: r.get(2)?,
                    made: r.get::<_, Option<String>>(3)?.map(|t| parse_time(&t)),
                    trigger: r.get(4)?,
                    reason: r.get(5)?,
                    error: r.get(6)?,
                })
            })?
            .collect()
        })
        .await
    }

    /// Why retention must not delete on `destination` now, if it must not: the newest run failed,
    /// or the destination did not get a verified copy from the newest run that tried it.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn prune_hold(&self, destination: &str) -> Result<Option<String>, HistoryError> {
        let d = destination.to_owned();
        self.with(move |conn| {
            let last_run: Option<(i64, String)> = conn
                .query_row(
                    "SELECT id, status FROM runs WHERE status != 'running' ORDER BY id DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((id, status)) = last_run
                && matches!(status.as_str(), "failed" | "interrupted")
            {
                return Ok(Some(format!(
                    "the newest run (#{id}) did not succeed: nothing is deleted until a backup succeeds"
                )));
            }
            let last_copy: Option<(i64, String)> = conn
                .query_row(
                    "SELECT run_id, status FROM copies WHERE destination = ?1 ORDER BY id DESC LIMIT 1",
                    [&d],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(match last_copy {
                Some((run, status)) if status != "verified" => Some(format!(
                    "run #{run} did not leave a verified copy here: nothing is deleted until one lands"
                )),
                _ => None,
            })
        })
        .await
    }

    /// Copies history says were verified on `destination` and not deleted since: what its
    /// listing should show.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn expected_copies(&self, destination: &str) -> Result<Vec<String>, HistoryError> {
        let d = destination.to_owned();
        self.with(move |conn| {
            let mut st = conn.prepare_cached(
                "SELECT DISTINCT copy_id FROM copies WHERE destination = ?1 AND status = 'verified'
                 AND gone = 0 ORDER BY copy_id",
            )?;
            st.query_map([d], |r| r.get(0))?.collect()
        })
        .await
    }

    /// The newest `limit` copies history holds on `destination` (verified, not deleted since),
    /// newest recorded first, with whose they are and when their backups were made: what
    /// retention would weigh there, read without listing the destination.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn held_copies(
        &self,
        destination: &str,
        limit: usize,
    ) -> Result<Vec<HeldCopy>, HistoryError> {
        let d = destination.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut st = conn.prepare_cached(
                "SELECT c.copy_id, MAX(r.source_name), MIN(r.backup_date), MIN(r.started_at)
                 FROM copies c JOIN runs r ON r.id = c.run_id
                 WHERE c.destination = ?1 AND c.status = 'verified' AND c.gone = 0
                 GROUP BY c.copy_id ORDER BY MAX(c.id) DESC LIMIT ?2",
            )?;
            st.query_map(params![d, limit], |r| {
                let date: Option<String> = r.get(2)?;
                let started: String = r.get(3)?;
                Ok(HeldCopy {
                    copy_id: r.get(0)?,
                    source: r.get(1)?,
                    made: date
                        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                        .map_or_else(|| parse_time(&started), |t| t.with_timezone(&Utc)),
                })
            })?
            .collect()
        })
        .await
    }

    /// Source keys of the backups that have a verified copy on every one of `destinations`.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn verified_everywhere(
        &self,
        destinations: &[String],
    ) -> Result<HashSet<String>, HistoryError> {
        let wanted: HashSet<String> = destinations.iter().cloned().collect();
        let pairs: Vec<(String, String)> = self
            .with(|conn| {
                let mut st = conn.prepare_cached(
                    "SELECT DISTINCT r.source_key, c.destination FROM runs r JOIN copies c ON c.run_id = r.id
                     WHERE c.status = 'verified' AND r.source_key IS NOT NULL",
                )?;
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
            })
            .await?;
        let mut by_key: HashMap<String, HashSet<String>> = HashMap::new();
        for (k, d) in pairs {
            by_key.entry(k).or_default().insert(d);
        }
        Ok(by_key
            .into_iter()
            .filter(|(_, ds)| !wanted.is_empty() && wanted.is_subset(ds))
            .map(|(k, _)| k)
            .collect())
    }

    /// Records one re-verification of a copy.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn record_check(
        &self,
        destination: &str,
        copy_id: &str,
        check: CheckRow,
    ) -> Result<(), HistoryError> {
        let (d, c) = (destination.to_owned(), copy_id.to_owned());
        // Counted before the write: a listing made from here on sees the destination after
        // the change (it is made there before it is recorded), so none is kept past it.
        self.changed();
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO checks (at, destination, copy_id, ok, error, ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![check.at.to_rfc3339(), d, c, check.ok, check.error, u64_to_sql(check.ms)],
            )
            .map(drop)
        })
        .await?;
        Ok(())
    }

    /// The newest check of every copy that has one, by (destination, copy id).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn last_checks(&self) -> Result<HashMap<(String, String), CheckRow>, HistoryError> {
        self.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT destination, copy_id, at, ok, error, ms FROM checks
                 WHERE id IN (SELECT MAX(id) FROM checks GROUP BY destination, copy_id)",
            )?;
            st.query_map([], |r| {
                Ok((
                    (r.get(0)?, r.get(1)?),
                    CheckRow {
                        at: parse_time(&r.get::<_, String>(2)?),
                        ok: r.get(3)?,
                        error: r.get(4)?,
                        ms: sql_to_u64(r.get(5)?),
                    },
                ))
            })?
            .collect()
        })
        .await
    }

    /// Puts a destination in the retry queue for a backup (or leaves an existing entry as it is).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn queue_retry(&self, row: RetryRow) -> Result<(), HistoryError> {
        self.with(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO retries
                 (source_key, destination, hint, locator, attempts, next_at, last_error, queued_at,
                  failure, waits_for)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    row.source_key,
                    row.destination,
                    row.hint,
                    row.locator,
                    row.attempts,
                    row.next_at.to_rfc3339(),
                    row.last_error,
                    row.queued_at.to_rfc3339(),
                    row.failure,
                    row.waits_for
                ],
            )
            .map(drop)
        })
        .await
    }

    /// Every queued retry, soonest first.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn retries(&self) -> Result<Vec<RetryRow>, HistoryError> {
        self.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT source_key, destination, hint, locator, attempts, next_at, last_error, queued_at,
                 failure, waits_for
                 FROM retries ORDER BY next_at, source_key, destination",
            )?;
            st.query_map([], |r| {
                Ok(RetryRow {
                    source_key: r.get(0)?,
                    destination: r.get(1)?,
                    hint: r.get(2)?,
                    locator: r.get(3)?,
                    attempts: r.get(4)?,
                    next_at: parse_time(&r.get::<_, String>(5)?),
                    last_error: r.get(6)?,
                    queued_at: parse_time(&r.get::<_, String>(7)?),
                    failure: r.get(8)?,
                    waits_for: r.get(9)?,
                })
            })?
            .collect()
        })
        .await
    }

    /// Records a failed retry: one more attempt, the next one at `next_at`.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn retry_failed(
        &self,
        source_key: &str,
        destination: &str,
        next_at: DateTime<Utc>,
        failed: Failed<'_>,
    ) -> Result<(), HistoryError> {
        let (k, d, e, f, w) = (
            source_key.to_owned(),
            destination.to_owned(),
            failed.error.to_owned(),
            failed.failure.map(str::to_owned),
            failed.waits_for.map(str::to_owned),
        );
        self.with(move |conn| {
            conn.execute(
                "UPDATE retries SET attempts = attempts + 1, next_at = ?3, last_error = ?4,
                 failure = ?5, waits_for = ?6
                 WHERE source_key = ?1 AND destination = ?2",
                params![k, d, next_at.to_rfc3339(), e, f, w],
            )
            .map(drop)
        })
        .await
    }

    /// Takes a destination out of the retry queue (it has the copy, or the backup is gone).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn retry_done(
        &self,
        source_key: &str,
        destination: &str,
    ) -> Result<(), HistoryError> {
        let (k, d) = (source_key.to_owned(), destination.to_owned());
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM retries WHERE source_key = ?1 AND destination = ?2",
                params![k, d],
            )
            .map(drop)
        })
        .await
    }

    /// A named value (the scheduler's last fire time…).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn get_value(&self, key: &str) -> Result<Option<String>, HistoryError> {
        let k = key.to_owned();
        self.with(move |conn| {
            conn.query_row("SELECT value FROM state WHERE key = ?1", [k], |r| r.get(0))
                .optional()
        })
        .await
    }

    /// Sets a named value.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn set_value(&self, key: &str, value: &str) -> Result<(), HistoryError> {
        let (k, v) = (key.to_owned(), value.to_owned());
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )
            .map(drop)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pins_checks_retries_and_values_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 1, 3, 0, 0).unwrap();
        {
            let h = History::open(dir.path()).unwrap();
            h.pin("nas", "c1", t).await.unwrap();
            h.pin("nas", "c1", t).await.unwrap();
            h.record_check(
                "nas",
                "c1",
                CheckRow {
                    at: t,
                    ok: false,
                    error: Some("changed".into()),
                    ms: Some(3),
                },
            )
            .await
            .unwrap();
            h.queue_retry(RetryRow {
                source_key: "k".into(),
                destination: "b2".into(),
                hint: "h".into(),
                locator: "/backup/h.tar".into(),
                attempts: 1,
                next_at: t,
                last_error: Some("503".into()),
                queued_at: t,
                failure: Some("passing".into()),
                waits_for: None,
            })
            .await
            .unwrap();
            let failed = Failed {
                error: "HTTP 403",
                failure: Some("denied"),
                waits_for: Some("settings-1"),
            };
            h.retry_failed("k", "b2", t + chrono::TimeDelta::hours(1), failed)
                .await
                .unwrap();
            h.set_value("schedule.backup", "x").await.unwrap();
            h.set_value("schedule.backup", "y").await.unwrap();
        }
        let h = History::open(dir.path()).unwrap();
        assert_eq!(
            h.pins("nas").await.unwrap(),
            HashSet::from(["c1".to_owned()])
        );
        assert!(h.pins("b2").await.unwrap().is_empty());
        let checks = h.last_checks().await.unwrap();
        assert!(!checks[&("nas".to_owned(), "c1".to_owned())].ok);
        let r = h.retries().await.unwrap();
        assert_eq!(
            (r[0].attempts, r[0].last_error.as_deref()),
            (2, Some("HTTP 403"))
        );
        assert_eq!(
            (r[0].failure.as_deref(), r[0].waits_for.as_deref()),
            (Some("denied"), Some("settings-1"))
        );
        assert_eq!(
            h.get_value("schedule.backup").await.unwrap().as_deref(),
            Some("y")
        );
        h.retry_done("k", "b2").await.unwrap();
        assert!(h.retries().await.unwrap().is_empty());
        assert!(h.unpin("nas", "c1").await.unwrap());
        assert!(!h.unpin("nas", "c1").await.unwrap());
    }
}
