//! Reading runs back for people: pages of runs with filters, one run whole, and the rows behind the
//! dashboard's charts and destination cards. Every query is bounded (a page, one run, or one row per
//! destination), except the storage series, which reads one small row per stored copy.

use super::{
    CopyRecord, History, HistoryError, Moment, RunReadiness, RunRow, RunStatus, RunVersions,
    parse_time, sql_to_u64,
};
use crate::archive::readiness::Readiness;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter, types::Value};
use serde::Serialize;

/// Which runs to list. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Any of these outcomes.
    pub statuses: Vec<RunStatus>,
    /// What started it (`schedule`, `manual`, `cli`, `stdin`, …).
    pub trigger: Option<String>,
    /// Runs that tried this destination.
    pub destination: Option<String>,
}

impl RunFilter {
    /// The WHERE clause and its parameters.
    fn clause(&self) -> (String, Vec<Value>) {
        let mut parts = Vec::new();
        let mut params = Vec::new();
        if !self.statuses.is_empty() {
            let marks = vec!["?"; self.statuses.len()].join(", ");
            parts.push(format!("status IN ({marks})"));
            params.extend(
                self.statuses
                    .iter()
                    .map(|s| Value::Text(s.as_str().to_owned())),
            );
        }
        if let Some(t) = &self.trigger {
            parts.push("trigger = ?".to_owned());
            params.push(Value::Text(t.clone()));
        }
        if let Some(d) = &self.destination {
            parts.push(
                "EXISTS (SELECT 1 FROM copies WHERE copies.run_id = runs.id AND copies.destination = ?)"
                    .to_owned(),
            );
            params.push(Value::Text(d.clone()));
        }
        let clause = if parts.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", parts.join(" AND "))
        };
        (clause, params)
    }
}

/// A change in the space Lifeboat's copies take on a destination: a verified copy (+) or a copy
/// deleted by Lifeboat (−).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageEvent {
    pub destination: String,
    pub at: DateTime<Utc>,
    pub delta: i64,
}

/// What history says of one destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DestinationRecord {
    pub name: String,
    /// Verified copies Lifeboat made there and has not deleted.
    pub copies: u64,
    /// When the newest attempt to store a copy there ended, and its error if it failed.
    pub last_attempt: Option<(DateTime<Utc>, Option<String>)>,
    /// The newest failure there, with when it happened.
    pub last_error: Option<(DateTime<Utc>, String)>,
}

/// A `seen(name)` table of every destination in `copies`, found by hopping along the
/// `(destination, …)` index rather than reading every copy, so per-destination lookups stay fast
/// with many thousands of runs.
pub(super) const DESTINATIONS_SEEN: &str = "WITH RECURSIVE seen(name) AS (
    SELECT (SELECT MIN(destination) FROM copies)
    UNION ALL
    SELECT (SELECT MIN(destination) FROM copies WHERE destination > seen.name) FROM seen
    WHERE seen.name IS NOT NULL)";

/// The newest attempt to store a copy on a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub destination: String,
    /// When its run ended.
    pub at: DateTime<Utc>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// The newest copy row (of any outcome, or only `status`) on each destination.
fn newest_copy_rows(c: &Connection, status: Option<&str>) -> rusqlite::Result<Vec<Attempt>> {
    let only = if status.is_some() {
        "AND status = ?1"
    } else {
        ""
    };
    let mut st = c.prepare_cached(&format!(
        "{DESTINATIONS_SEEN} SELECT c.destination, COALESCE(r.finished_at, r.started_at), c.error
         FROM copies c JOIN runs r ON r.id = c.run_id
         WHERE c.id IN (SELECT (SELECT MAX(id) FROM copies WHERE destination = seen.name {only})
           FROM seen WHERE seen.name IS NOT NULL)"
    ))?;
    let map = |r: &Row<'_>| {
        Ok(Attempt {
            destination: r.get(0)?,
            at: parse_time(&r.get::<_, String>(1)?),
            error: r.get(2)?,
        })
    };
    match status {
        Some(s) => st.query_map([s], map)?.collect(),
        None => st.query_map([], map)?.collect(),
    }
}

const RUN_COLUMNS: &str = "id, started_at, finished_at, trigger, source, status, backup_slug,
    backup_name, backup_date, plain_size, plain_sha256, stored_size, stored_sha256, error, warnings,
    timeline, keys, versions, source_name";

fn json_list<T: serde::de::DeserializeOwned>(text: Option<String>) -> Vec<T> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn run_row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        started_at: parse_time(&r.get::<_, String>(1)?),
        finished_at: r.get::<_, Option<String>>(2)?.map(|t| parse_time(&t)),
        trigger: r.get(3)?,
        source: r.get(4)?,
        status: RunStatus::parse(&r.get::<_, String>(5)?),
        backup_slug: r.get(6)?,
        backup_name: r.get(7)?,
        backup_date: r.get(8)?,
        plain_size: sql_to_u64(r.get(9)?),
        plain_sha256: r.get(10)?,
        stored_size: sql_to_u64(r.get(11)?),
        stored_sha256: r.get(12)?,
        error: r.get(13)?,
        warnings: json_list(r.get(14)?),
        timeline: json_list::<Moment>(r.get(15)?),
        keys: r
            .get::<_, Option<String>>(16)?
            .and_then(|k| serde_json::from_str(&k).ok()),
        versions: r
            .get::<_, Option<String>>(17)?
            .and_then(|v| serde_json::from_str(&v).ok()),
        source_name: r.get(18)?,
        copies: Vec::new(),
    })
}

fn copies_of(c: &Connection, runs: &mut [RunRow]) -> rusqlite::Result<()> {
    let mut st = c.prepare_cached(
        "SELECT destination, copy_id, object, status, stored_size, stored_sha256, error,
         upload_ms, verify_ms, verified_at, failure FROM copies WHERE run_id = ?1 ORDER BY id",
    )?;
    for run in runs {
        run.copies = st
            .query_map([run.id], |r| {
                Ok(CopyRecord {
                    destination: r.get(0)?,
                    copy_id: r.get(1)?,
                    object: r.get(2)?,
                    verified: r.get::<_, String>(3)? == "verified",
                    stored_size: sql_to_u64(r.get(4)?),
                    stored_sha256: r.get(5)?,
                    error: r.get(6)?,
                    upload_ms: sql_to_u64(r.get(7)?),
                    verify_ms: sql_to_u64(r.get(8)?),
                    verified_at: r.get::<_, Option<String>>(9)?.map(|t| parse_time(&t)),
                    failure: r.get(10)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(())
}

impl History {
    /// A page of runs matching `filter`, newest first, with their copies; and how many match.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn runs(
        &self,
        filter: RunFilter,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<RunRow>, u64), HistoryError> {
        self.runs_page(filter, limit, offset, true).await
    }

    /// As [`History::runs`]; the count is left at 0 unless `counted`.
    pub(super) async fn runs_page(
        &self,
        filter: RunFilter,
        limit: usize,
        offset: usize,
        counted: bool,
    ) -> Result<(Vec<RunRow>, u64), HistoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        self.with(move |c| {
            let (clause, mut params) = filter.clause();
            let total: i64 = if counted {
                c.query_row(
                    &format!("SELECT COUNT(*) FROM runs {clause}"),
                    params_from_iter(params.iter()),
                    |r| r.get(0),
                )?
            } else {
                0
            };
            params.push(Value::Integer(limit));
            params.push(Value::Integer(offset));
            let mut st = c.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs {clause} ORDER BY id DESC LIMIT ? OFFSET ?"
            ))?;
            let mut runs: Vec<RunRow> = st
                .query_map(params_from_iter(params.iter()), run_row)?
                .collect::<rusqlite::Result<_>>()?;
            copies_of(c, &mut runs)?;
            Ok((runs, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    /// One run, whole.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn run(&self, id: i64) -> Result<Option<RunRow>, HistoryError> {
        self.with(move |c| {
            let run = c
                .query_row(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                    [id],
                    run_row,
                )
                .optional()?;
            let mut runs: Vec<RunRow> = run.into_iter().collect();
            copies_of(c, &mut runs)?;
            Ok(runs.pop())
        })
        .await
    }

    /// Records the versions of a run (see [`RunVersions`]).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn set_versions(
        &self,
        run_id: i64,
        versions: &RunVersions,
    ) -> Result<(), HistoryError> {
        let text = serde_json::to_string(versions).unwrap_or_default();
        self.with(move |c| {
            c.execute(
                "UPDATE runs SET versions = ?2 WHERE id = ?1",
                rusqlite::params![run_id, text],
            )
            .map(drop)
        })
        .await
    }

    /// The restore-readiness report of a run's backup, if it was made.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn readiness(&self, run_id: i64) -> Result<Option<RunReadiness>, HistoryError> {
        self.with(move |c| {
            let text: Option<Option<String>> = c
                .query_row("SELECT readiness FROM runs WHERE id = ?1", [run_id], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(text.flatten().and_then(|t| serde_json::from_str(&t).ok()))
        })
        .await
    }

    /// The report of the newest run before `run_id` of the same source that has one: what a new
    /// report is compared with.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn readiness_before(&self, run_id: i64) -> Result<Option<Readiness>, HistoryError> {
        self.with(move |c| {
            let text: Option<String> = c
                .query_row(
                    "SELECT readiness FROM runs WHERE id < ?1 AND readiness IS NOT NULL
                     AND source = (SELECT source FROM runs WHERE id = ?1)
                     ORDER BY id DESC LIMIT 1",
                    [run_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(text
                .and_then(|t| serde_json::from_str::<RunReadiness>(&t).ok())
                .map(|r| r.report))
        })
        .await
    }

    /// The run that made a copy, and its report: the copy's "Before you restore" panel.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn readiness_of_copy(
        &self,
        destination: &str,
        copy_id: &str,
    ) -> Result<Option<(i64, RunReadiness)>, HistoryError> {
        let (destination, copy_id) = (destination.to_owned(), copy_id.to_owned());
        self.with(move |c| {
            let row: Option<(i64, Option<String>)> = c
                .query_row(
                    "SELECT r.id, r.readiness FROM copies c JOIN runs r ON r.id = c.run_id
                     WHERE c.destination = ?1 AND c.copy_id = ?2 AND c.status = 'verified'
                     ORDER BY c.id DESC LIMIT 1",
                    [&destination, &copy_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(row.and_then(|(id, text)| {
                let report = serde_json::from_str(&text?).ok()?;
                Some((id, report))
            }))
        })
        .await
    }

    /// The newest verified run's report, with the run's id and its backup's date: what a move to
    /// new hardware and the kit work from.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    /// When the newest verified copy of the source named `source` was verified (`first`: the
    /// source that owns runs from before sources had names).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn newest_verified_of(
        &self,
        source: &str,
        first: bool,
    ) -> Result<Option<DateTime<Utc>>, HistoryError> {
        let source = source.to_owned();
        self.with(move |c| {
            let newest = |sql: &str| -> rusqlite::Result<Option<String>> {
                c.query_row(sql, [&source], |r| r.get(0))
                    .optional()
                    .map(Option::flatten)
            };
            let named = newest(
                "SELECT (SELECT MAX(c.verified_at) FROM copies c
                         WHERE c.run_id = r.id AND c.status = 'verified')
                 FROM runs r WHERE r.source_name = ?1 AND r.status IN ('success', 'partial')
                 ORDER BY r.id DESC LIMIT 1",
            )?;
            let unnamed = if first {
                newest(
                    "SELECT (SELECT MAX(c.verified_at) FROM copies c
                             WHERE c.run_id = r.id AND c.status = 'verified')
                     FROM runs r WHERE r.source_name IS NULL AND ?1 = ?1
                       AND r.status IN ('success', 'partial')
                     ORDER BY r.id DESC LIMIT 1",
                )?
            } else {
                None
            };
            Ok(named
                .into_iter()
                .chain(unnamed)
                .map(|t| parse_time(&t))
                .max())
        })
        .await
    }

    pub async fn newest_readiness(
        &self,
    ) -> Result<Option<(i64, String, RunReadiness)>, HistoryError> {
        self.with(move |c| {
            let row: Option<(i64, String, String)> = c
                .query_row(
                    "SELECT r.id, COALESCE(r.backup_date, r.started_at), r.readiness FROM runs r
                     WHERE r.readiness IS NOT NULL AND EXISTS
                       (SELECT 1 FROM copies c WHERE c.run_id = r.id AND c.status = 'verified')
                     ORDER BY r.id DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            Ok(
                row.and_then(|(id, date, text)| {
                    Some((id, date, serde_json::from_str(&text).ok()?))
                }),
            )
        })
        .await
    }

    /// Every trigger that started a run, for the runs page's filter.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn triggers(&self) -> Result<Vec<String>, HistoryError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT DISTINCT trigger FROM runs ORDER BY trigger")?;
            st.query_map([], |r| r.get(0))?.collect()
        })
        .await
    }

    /// Every change in the space Lifeboat's copies take, oldest first.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn storage_events(&self) -> Result<Vec<StorageEvent>, HistoryError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT destination, verified_at, stored_size FROM copies
                 WHERE status = 'verified' AND verified_at IS NOT NULL AND stored_size IS NOT NULL
                 UNION ALL
                 SELECT d.destination, d.at, -c.stored_size FROM deletions d
                 JOIN copies c ON c.destination = d.destination AND c.copy_id = d.copy_id
                   AND c.status = 'verified' AND c.stored_size IS NOT NULL
                 WHERE d.error IS NULL",
            )?;
            let mut out: Vec<StorageEvent> = st
                .query_map([], |r| {
                    Ok(StorageEvent {
                        destination: r.get(0)?,
                        at: parse_time(&r.get::<_, String>(1)?),
                        delta: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            out.sort_by_key(|e| e.at);
            Ok(out)
        })
        .await
    }

    /// When the newest attempt to store a copy on each destination ended, and its error if it
    /// failed (cheap: the overview asks on every load).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn last_attempts(&self) -> Result<Vec<Attempt>, HistoryError> {
        self.with(|c| newest_copy_rows(c, None)).await
    }

    /// Whether a verified copy was ever stored on `destination` (one index lookup).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn held_a_copy(&self, destination: &str) -> Result<bool, HistoryError> {
        let destination = destination.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM copies WHERE destination = ?1 AND status = 'verified')",
                [destination],
                |r| r.get(0),
            )
        })
        .await
    }

    /// Whether a run that started within the second `second` has ended (or was cut off): an
    /// upload named for it is no longer being written by this Lifeboat.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn run_started_then_is_over(
        &self,
        second: DateTime<Utc>,
    ) -> Result<bool, HistoryError> {
        use chrono::SecondsFormat::Secs;
        let from = second.to_rfc3339_opts(Secs, false);
        let to = (second + chrono::TimeDelta::seconds(1)).to_rfc3339_opts(Secs, false);
        self.with(move |c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE started_at >= ?1 AND started_at < ?2
                 AND status != 'running')",
                [from, to],
                |r| r.get(0),
            )
        })
        .await
    }

    /// What history says of each destination it has seen, with copy counts (reads every copy).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn destination_records(&self) -> Result<Vec<DestinationRecord>, HistoryError> {
        self.with(|c| {
            let mut out: Vec<DestinationRecord> = Vec::new();
            let mut st = c.prepare(
                "SELECT c.destination, COUNT(*) FROM copies c
                 WHERE c.status = 'verified' AND NOT EXISTS (SELECT 1 FROM deletions d
                   WHERE d.destination = c.destination AND d.copy_id = c.copy_id AND d.error IS NULL)
                 GROUP BY c.destination",
            )?;
            let counts = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let record = |out: &mut Vec<DestinationRecord>, name: &str| -> usize {
                if let Some(i) = out.iter().position(|d| d.name == name) {
                    return i;
                }
                out.push(DestinationRecord {
                    name: name.to_owned(),
                    ..DestinationRecord::default()
                });
                out.len() - 1
            };
            for (name, n) in counts {
                let i = record(&mut out, &name);
                out[i].copies = u64::try_from(n).unwrap_or(0);
            }
            for a in newest_copy_rows(c, None)? {
                let i = record(&mut out, &a.destination);
                out[i].last_attempt = Some((a.at, a.error));
            }
            let failed = newest_copy_rows(c, Some("failed"))?;
            for a in failed {
                let i = record(&mut out, &a.destination);
                out[i].last_error = Some((a.at, a.error.unwrap_or_default()));
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::RunEnd;

    fn copy(dest: &str, id: &str, ok: bool, t: DateTime<Utc>) -> CopyRecord {
        CopyRecord {
            destination: dest.into(),
            copy_id: id.into(),
            object: format!("{id}.tar.age"),
            verified: ok,
            stored_size: Some(100),
            stored_sha256: None,
            error: (!ok).then(|| "refused".into()),
            upload_ms: None,
            verify_ms: None,
            verified_at: ok.then_some(t),
            failure: None,
        }
    }

    #[tokio::test]
    async fn pages_filters_and_storage() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T03:00:00Z")
            .unwrap()
            .to_utc();
        for i in 0..5i64 {
            let t = t0 + chrono::TimeDelta::days(i);
            let id = h
                .start_run(t, if i % 2 == 0 { "schedule" } else { "manual" }, "s")
                .await
                .unwrap();
            let ok = i != 3;
            let status = if ok {
                RunStatus::Success
            } else {
                RunStatus::Failed
            };
            h.finish_run(
                id,
                t,
                status,
                RunEnd {
                    timeline: vec![Moment {
                        at: t,
                        what: "step".into(),
                        destination: None,
                        failed: false,
                    }],
                    ..RunEnd::default()
                },
                vec![copy("nas", &format!("c{i}"), ok, t)],
            )
            .await
            .unwrap();
        }
        let (page, total) = h.runs(RunFilter::default(), 2, 1).await.unwrap();
        assert_eq!(total, 5);
        assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [4, 3]);
        assert_eq!(page[0].timeline[0].what, "step");
        let failed = RunFilter {
            statuses: vec![RunStatus::Failed],
            ..RunFilter::default()
        };
        let (page, total) = h.runs(failed, 10, 0).await.unwrap();
        assert_eq!((total, page[0].id), (1, 4));
        let sched = RunFilter {
            trigger: Some("schedule".into()),
            destination: Some("nas".into()),
            ..RunFilter::default()
        };
        assert_eq!(h.runs(sched, 10, 0).await.unwrap().1, 3);
        let elsewhere = RunFilter {
            destination: Some("b2".into()),
            ..RunFilter::default()
        };
        assert_eq!(h.runs(elsewhere, 10, 0).await.unwrap().1, 0);
        assert_eq!(h.triggers().await.unwrap(), ["manual", "schedule"]);
        assert!(h.run(99).await.unwrap().is_none());
        assert_eq!(h.run(2).await.unwrap().unwrap().copies[0].copy_id, "c1");

        h.record_deletion(crate::history::upkeep::DeletionRow {
            at: t0 + chrono::TimeDelta::days(9),
            destination: "nas".into(),
            copy_id: "c0".into(),
            made: None,
            trigger: "retention".into(),
            reason: "r".into(),
            error: None,
        })
        .await
        .unwrap();
        let events = h.storage_events().await.unwrap();
        assert_eq!(events.iter().map(|e| e.delta).sum::<i64>(), 300);
        assert_eq!(events.last().unwrap().delta, -100);
        let recs = h.destination_records().await.unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].copies, 3);
        assert_eq!(recs[0].last_error.as_ref().unwrap().1, "refused");
        assert_eq!(recs[0].last_attempt.as_ref().unwrap().1, None);
    }
}
