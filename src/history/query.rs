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
use std::collections::HashMap;

/// What history recorded of a copy when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDigests {
    pub stored_sha256: Option<String>,
    pub plain_sha256: Option<String>,
}

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
    /// What the matching runs' ids are read from, with its parameters, and the id column:
    /// `runs` alone, or a destination's copies joined to their runs (read along the copies'
    /// `(destination, run_id)` index, newest first, rather than testing every run).
    fn source(&self) -> (String, &'static str, Vec<Value>) {
        let mut parts = Vec::new();
        let mut params = Vec::new();
        let (from, id) = match &self.destination {
            Some(d) => {
                parts.push("c.destination = ?".to_owned());
                params.push(Value::Text(d.clone()));
                if self.statuses.is_empty() && self.trigger.is_none() {
                    ("copies c", "c.run_id")
                } else {
                    ("copies c JOIN runs ON runs.id = c.run_id", "c.run_id")
                }
            }
            None => ("runs", "runs.id"),
        };
        if !self.statuses.is_empty() {
            let marks = vec!["?"; self.statuses.len()].join(", ");
            parts.push(format!("runs.status IN ({marks})"));
            params.extend(
                self.statuses
                    .iter()
                    .map(|s| Value::Text(s.as_str().to_owned())),
            );
        }
        if let Some(t) = &self.trigger {
            parts.push("runs.trigger = ?".to_owned());
            params.push(Value::Text(t.clone()));
        }
        let source = if parts.is_empty() {
            from.to_owned()
        } else {
            format!("{from} WHERE {}", parts.join(" AND "))
        };
        (source, id, params)
    }

    /// The queries of a page of matching runs: how many match, and one page of their ids
    /// (parameters: the filter's, then limit and offset).
    fn page_queries(&self) -> PageQueries {
        let (source, id, params) = self.source();
        // The count is the running totals' (a row per outcome and trigger, and per destination
        // when one is asked for), with the same parameters in the same order.
        let count = {
            let mut parts = Vec::new();
            if self.destination.is_some() {
                parts.push("destination = ?".to_owned());
            }
            if !self.statuses.is_empty() {
                parts.push(format!(
                    "status IN ({})",
                    vec!["?"; self.statuses.len()].join(", ")
                ));
            }
            if self.trigger.is_some() {
                parts.push("trigger = ?".to_owned());
            }
            let clause = if parts.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", parts.join(" AND "))
            };
            if self.destination.is_some() {
                format!("SELECT COALESCE(SUM(copies), 0) FROM destination_counts{clause}")
            } else {
                format!("SELECT COALESCE(SUM(runs), 0) FROM run_counts{clause}")
            }
        };
        PageQueries {
            count,
            ids: format!("SELECT {id} FROM {source} ORDER BY {id} DESC LIMIT ? OFFSET ?"),
            from_oldest: format!("SELECT {id} FROM {source} ORDER BY {id} LIMIT ? OFFSET ?"),
            params,
        }
    }
}

/// See [`RunFilter::page_queries`].
struct PageQueries {
    count: String,
    /// A page of ids, newest first.
    ids: String,
    /// The same, oldest first: a page in the older half is found from that end.
    from_oldest: String,
    params: Vec<Value>,
}

/// When a run started and ended, and how: a bar of the durations chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpan {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
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

/// The query of the newest copy row (of any outcome, or only the status `?1`) on each
/// destination.
fn newest_copy_sql(of_a_status: bool) -> String {
    let only = if of_a_status { "AND status = ?1" } else { "" };
    format!(
        "{DESTINATIONS_SEEN} SELECT c.destination, COALESCE(r.finished_at, r.started_at), c.error
         FROM copies c JOIN runs r ON r.id = c.run_id
         WHERE c.id IN (SELECT (SELECT MAX(id) FROM copies WHERE destination = seen.name {only})
           FROM seen WHERE seen.name IS NOT NULL)"
    )
}

/// The newest copy row (of any outcome, or only `status`) on each destination.
fn newest_copy_rows(c: &Connection, status: Option<&str>) -> rusqlite::Result<Vec<Attempt>> {
    let mut st = c.prepare_cached(&newest_copy_sql(status.is_some()))?;
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

/// Every trigger that started a run, in order, found by hopping along the trigger index from
/// one value to the next rather than reading every run.
const TRIGGERS: &str = "WITH RECURSIVE seen(t) AS (
    SELECT (SELECT MIN(trigger) FROM runs)
    UNION ALL
    SELECT (SELECT MIN(trigger) FROM runs WHERE trigger > seen.t) FROM seen WHERE seen.t IS NOT NULL)
  SELECT t FROM seen WHERE t IS NOT NULL";

/// The newest run that has ended (read newest first along the runs, stopping at the first).
pub(super) const LAST_ENDED: &str =
    "SELECT id FROM runs WHERE status != 'running' ORDER BY id DESC LIMIT 1";
/// The newest run with a verified copy (`+status`: along the runs newest first, not through the
/// status index, which would gather every good run to sort them).
pub(super) const LAST_GOOD: &str =
    "SELECT id FROM runs WHERE +status IN ('success', 'partial') ORDER BY id DESC LIMIT 1";

/// The readiness report of the newest verified copy `?2` on destination `?1` (found by its name:
/// `+status` keeps SQLite off the index of the destination's verified copies).
const READINESS_OF_COPY: &str =
    "SELECT r.id, r.readiness FROM copies c JOIN runs r ON r.id = c.run_id
    WHERE c.destination = ?1 AND c.copy_id = ?2 AND +c.status = 'verified'
    ORDER BY c.id DESC LIMIT 1";

/// One run by its id.
const ONE_RUN: &str = "SELECT id, started_at, finished_at, trigger, source, status, backup_slug,
    backup_name, backup_date, plain_size, plain_sha256, stored_size, stored_sha256, error, warnings,
    timeline, keys, versions, source_name FROM runs WHERE id = ?1";

/// A run's copies.
const COPIES_OF_RUN: &str = "SELECT destination, copy_id, object, status, stored_size,
    stored_sha256, error, upload_ms, verify_ms, verified_at, failure FROM copies WHERE run_id = ?1
    ORDER BY id";

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
    let mut st = c.prepare_cached(COPIES_OF_RUN)?;
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
        self.read(move |c| {
            let PageQueries {
                count,
                ids,
                from_oldest,
                mut params,
            } = filter.page_queries();
            let total: i64 = if counted {
                c.prepare_cached(&count)?
                    .query_row(params_from_iter(params.iter()), |r| r.get(0))?
            } else {
                0
            };
            // The page's ids first, from an index alone (a page far back steps over ids, not
            // over whole runs), then those runs. A page in the older half is counted from the
            // oldest run, so no page steps over more than half of them.
            let end = offset.saturating_add(limit).min(total);
            let (query, newest_first) = if counted && offset > total / 2 && offset < total {
                params.push(Value::Integer(end - offset));
                params.push(Value::Integer(total - end));
                (from_oldest, false)
            } else {
                params.push(Value::Integer(limit));
                params.push(Value::Integer(offset));
                (ids, true)
            };
            let mut ids: Vec<i64> = c
                .prepare_cached(&query)?
                .query_map(params_from_iter(params.iter()), |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if !newest_first {
                ids.reverse();
            }
            let mut one = c.prepare_cached(ONE_RUN)?;
            let mut runs = Vec::with_capacity(ids.len());
            for id in ids {
                runs.extend(one.query_row([id], run_row).optional()?);
            }
            copies_of(c, &mut runs)?;
            Ok((runs, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    /// The newest run that has ended, and the newest that left a verified copy (success or
    /// partial), each with its copies: what the summary judges by.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn last_ended_and_good(
        &self,
    ) -> Result<(Option<RunRow>, Option<RunRow>), HistoryError> {
        self.read(|c| {
            let newest = |sql: &str| -> rusqlite::Result<Option<RunRow>> {
                let Some(id) = c
                    .prepare_cached(sql)?
                    .query_row([], |r| r.get::<_, i64>(0))
                    .optional()?
                else {
                    return Ok(None);
                };
                let mut runs: Vec<RunRow> = c
                    .prepare_cached(ONE_RUN)?
                    .query_row([id], run_row)
                    .optional()?
                    .into_iter()
                    .collect();
                copies_of(c, &mut runs)?;
                Ok(runs.pop())
            };
            Ok((newest(LAST_ENDED)?, newest(LAST_GOOD)?))
        })
        .await
    }

    /// The newest `limit` runs' start, end and outcome, newest first (nothing else read).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn run_spans(&self, limit: usize) -> Result<Vec<RunSpan>, HistoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            c.prepare_cached(
                "SELECT id, started_at, finished_at, status FROM runs ORDER BY id DESC LIMIT ?1",
            )?
            .query_map([limit], |r| {
                Ok(RunSpan {
                    id: r.get(0)?,
                    started_at: parse_time(&r.get::<_, String>(1)?),
                    finished_at: r.get::<_, Option<String>>(2)?.map(|t| parse_time(&t)),
                    status: RunStatus::parse(&r.get::<_, String>(3)?),
                })
            })?
            .collect()
        })
        .await
    }

    /// One run, whole.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn run(&self, id: i64) -> Result<Option<RunRow>, HistoryError> {
        self.read(move |c| {
            let run = c.query_row(ONE_RUN, [id], run_row).optional()?;
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
        self.read(move |c| {
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
        self.read(move |c| {
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
        self.read(move |c| {
            let row: Option<(i64, Option<String>)> = c
                .query_row(READINESS_OF_COPY, [&destination, &copy_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
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
        self.read(move |c| {
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
        self.read(move |c| {
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
        self.read(|c| {
            let mut st = c.prepare_cached(TRIGGERS)?;
            st.query_map([], |r| r.get(0))?.collect()
        })
        .await
    }

    /// When the newest attempt to store a copy on each destination ended, and its error if it
    /// failed (cheap: the overview asks on every load).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn last_attempts(&self) -> Result<Vec<Attempt>, HistoryError> {
        self.read(|c| newest_copy_rows(c, None)).await
    }

    /// The digests history recorded of each verified copy on `destination`, by copy id: what a
    /// manifest read back from there must agree with.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn recorded_digests(
        &self,
        destination: &str,
    ) -> Result<HashMap<String, RecordedDigests>, HistoryError> {
        let destination = destination.to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT c.copy_id, c.stored_sha256, r.plain_sha256 FROM copies c
                 JOIN runs r ON r.id = c.run_id
                 WHERE c.destination = ?1 AND c.status = 'verified'",
            )?;
            st.query_map([destination], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    RecordedDigests {
                        stored_sha256: r.get(1)?,
                        plain_sha256: r.get(2)?,
                    },
                ))
            })?
            .collect()
        })
        .await
    }

    /// Whether a verified copy was ever stored on `destination` (one index lookup).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn held_a_copy(&self, destination: &str) -> Result<bool, HistoryError> {
        let destination = destination.to_owned();
        self.read(move |c| {
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

    /// What history says of each destination it has seen, with copy counts (from the running
    /// totals).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn destination_records(&self) -> Result<Vec<DestinationRecord>, HistoryError> {
        self.read(|c| {
            let mut out: Vec<DestinationRecord> = Vec::new();
            let counts = c
                .prepare_cached(super::totals::HELD)?
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

    pub(super) fn copy(dest: &str, id: &str, ok: bool, t: DateTime<Utc>) -> CopyRecord {
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
        let events = h
            .storage_events(t0 - chrono::TimeDelta::days(1))
            .await
            .unwrap();
        assert_eq!(events.iter().map(|e| e.delta).sum::<i64>(), 300);
        assert_eq!(events.last().unwrap().delta, -100);
        let recs = h.destination_records().await.unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].copies, 3);
        assert_eq!(recs[0].last_error.as_ref().unwrap().1, "refused");
        assert_eq!(recs[0].last_attempt.as_ref().unwrap().1, None);
    }
}

#[cfg(test)]
mod paging {
    use super::*;
    use crate::history::RunEnd;

    /// Every page of every filter, counted from the running totals and read from either end,
    /// is the slice of the whole history a filter over all of it gives.
    #[tokio::test]
    async fn every_page_of_every_filter_is_what_filtering_everything_gives() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let t = DateTime::parse_from_rfc3339("2026-01-01T03:00:00Z")
            .unwrap()
            .to_utc();
        let mut made: Vec<(i64, RunStatus, &str, Vec<&str>)> = Vec::new();
        for i in 0..53i64 {
            let trigger = ["schedule", "dashboard", "cli"][usize::try_from(i % 3).unwrap()];
            let id = h.start_run(t, trigger, "s").await.unwrap();
            if i == 52 {
                // Still running: counted as running, then cut off.
                made.push((id, RunStatus::Running, trigger, vec![]));
                continue;
            }
            let status = match i % 7 {
                0 => RunStatus::Failed,
                3 => RunStatus::Partial,
                _ => RunStatus::Success,
            };
            let dests: Vec<&str> = if i % 5 == 0 {
                vec!["nas"]
            } else {
                vec!["nas", "b2"]
            };
            let copies = dests
                .iter()
                .map(|d| super::tests::copy(d, &format!("c{i}"), status != RunStatus::Failed, t))
                .collect();
            h.finish_run(id, t, status, RunEnd::default(), copies)
                .await
                .unwrap();
            made.push((id, status, trigger, dests));
        }
        let check = |made: Vec<(i64, RunStatus, &'static str, Vec<&'static str>)>| {
            let h = h.clone();
            async move {
                let filters = [
                    RunFilter::default(),
                    RunFilter {
                        statuses: vec![RunStatus::Failed],
                        ..RunFilter::default()
                    },
                    RunFilter {
                        statuses: vec![
                            RunStatus::Partial,
                            RunStatus::Failed,
                            RunStatus::Interrupted,
                        ],
                        ..RunFilter::default()
                    },
                    RunFilter {
                        trigger: Some("dashboard".into()),
                        ..RunFilter::default()
                    },
                    RunFilter {
                        destination: Some("b2".into()),
                        ..RunFilter::default()
                    },
                    RunFilter {
                        statuses: vec![RunStatus::Success],
                        trigger: Some("cli".into()),
                        destination: Some("b2".into()),
                    },
                    RunFilter {
                        trigger: Some("nobody".into()),
                        ..RunFilter::default()
                    },
                ];
                for f in filters {
                    let want: Vec<i64> = made
                        .iter()
                        .rev()
                        .filter(|(_, s, t, d)| {
                            (f.statuses.is_empty() || f.statuses.contains(s))
                                && f.trigger.as_deref().is_none_or(|w| w == *t)
                                && f.destination.as_deref().is_none_or(|w| d.contains(&w))
                        })
                        .map(|r| r.0)
                        .collect();
                    for per in [1, 7, 25] {
                        for page in 0..=want.len().div_ceil(per) {
                            let (runs, total) = h.runs(f.clone(), per, page * per).await.unwrap();
                            assert_eq!(total, want.len() as u64, "{f:?}");
                            let got: Vec<i64> = runs.iter().map(|r| r.id).collect();
                            let from = (page * per).min(want.len());
                            let to = (from + per).min(want.len());
                            assert_eq!(got, want[from..to], "{f:?}, {per} a page, page {page}");
                        }
                    }
                }
            }
        };
        check(made.clone()).await;
        // A run cut off by a stop moves from running to interrupted in the counts too.
        h.mark_interrupted(t).await.unwrap();
        if let Some(last) = made.last_mut() {
            last.1 = RunStatus::Interrupted;
        }
        check(made).await;
    }
}

#[cfg(test)]
mod plans {
    //! The query plans of what the pages ask on every load (and of what a deletion asks, once a
    //! day for every destination), looked at and pinned: a change that makes one read a whole
    //! table (or sort every run) fails here, not on a home with years of history.
    use super::*;
    use crate::history::{keys::LEDGER, totals};

    /// SQLite's plan for `sql`, a line a step, `parameters` bound to NULL.
    fn plan(c: &Connection, sql: &str) -> Vec<String> {
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let n = st.parameter_count();
        let nulls = vec![Value::Null; n];
        st.query_map(params_from_iter(nulls.iter()), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn hot() -> Vec<(String, String)> {
        let filter = |statuses: &[RunStatus], trigger: bool, destination: bool| RunFilter {
            statuses: statuses.to_vec(),
            trigger: trigger.then(|| "schedule".to_owned()),
            destination: destination.then(|| "nas".to_owned()),
        };
        let mut out = Vec::new();
        for (name, f) in [
            ("every run", filter(&[], false, false)),
            ("one outcome", filter(&[RunStatus::Failed], false, false)),
            (
                "problems",
                filter(&[RunStatus::Partial, RunStatus::Failed], false, false),
            ),
            ("a trigger", filter(&[], true, false)),
            ("a destination", filter(&[], false, true)),
            (
                "a destination's failures",
                filter(&[RunStatus::Failed], false, true),
            ),
        ] {
            let q = f.page_queries();
            out.push((format!("{name}, counted"), q.count));
            out.push((format!("{name}, a page"), q.ids));
            out.push((format!("{name}, a page from the oldest"), q.from_oldest));
        }
        out.extend(
            [
                ("one run", ONE_RUN.to_owned()),
                ("a run's copies", COPIES_OF_RUN.to_owned()),
                ("last ended", LAST_ENDED.to_owned()),
                ("last good", LAST_GOOD.to_owned()),
                ("triggers", TRIGGERS.to_owned()),
                ("newest attempts", newest_copy_sql(false)),
                ("newest failures", newest_copy_sql(true)),
                ("held", totals::HELD.to_owned()),
                ("space", totals::SPACE_WINDOW.to_owned()),
                ("ledger", LEDGER.to_owned()),
                ("a copy's readiness (restore)", READINESS_OF_COPY.to_owned()),
                (
                    "a destination's newest probe",
                    crate::history::probes::LAST_PROBE.to_owned(),
                ),
                (
                    "a deletion marks its copy gone",
                    totals::MARK_GONE.to_owned(),
                ),
                (
                    "a key group's oldest, after a deletion",
                    totals::GROUP_OLDEST.to_owned(),
                ),
                (
                    "a key group's newest, after a deletion",
                    totals::GROUP_NEWEST.to_owned(),
                ),
            ]
            .map(|(name, sql)| (name.to_owned(), sql)),
        );
        out
    }

    /// Whole-table reads the pages may make: the runs read newest first until the first match
    /// (the newest run ended, the newest good one).
    const SCANS_ALLOWED: [&str; 2] = ["last ended", "last good"];
    /// Sorts the pages may make: the "problems" filter gathers its few runs of three outcomes;
    /// the space chart sorts its 90 days; the ledger, its sets of keys.
    const SORTS_ALLOWED: [&str; 4] = [
        "problems, a page",
        "problems, a page from the oldest",
        "space",
        "ledger",
    ];

    #[test]
    fn every_query_a_page_makes_reads_an_index_not_the_whole_history() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let c = h.conn.lock().unwrap();
        let mut all = String::new();
        for (name, sql) in hot() {
            let steps = plan(&c, &sql);
            for step in &steps {
                let bare_scan = [
                    "SCAN runs",
                    "SCAN copies",
                    "SCAN deletions",
                    "SCAN c",
                    "SCAN r",
                    "SCAN probes",
                ]
                .contains(&step.as_str());
                assert!(
                    !bare_scan || SCANS_ALLOWED.contains(&name.as_str()),
                    "{name} reads a whole table ({step}): {sql}"
                );
                assert!(
                    !step.starts_with("USE TEMP B-TREE") || SORTS_ALLOWED.contains(&name.as_str()),
                    "{name} sorts what it reads ({step}): {sql}"
                );
            }
            all.push_str(&format!("{name}:\n  {}\n", steps.join("\n  ")));
        }
        // Every plan pinned, so a change to one is seen in review.
        insta::assert_snapshot!(all);
    }
}
