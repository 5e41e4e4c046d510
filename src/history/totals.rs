//! Running totals: what the pages would otherwise add up from the whole past on every load — the
//! copies and bytes Lifeboat holds on each destination, the space it took there day by day, and
//! how many stored copies each set of keys opens. They are written in the same transaction that
//! records a copy ([`add_copy`]) or a deletion ([`remove_copy`]), and migration 10 builds them for
//! a history that existed before them, so reading them is a handful of rows however long the
//! history grows.
//!
//! A verified copy counts until Lifeboat records a successful deletion of it; the deletion marks
//! the copy `gone` (once, however often it is recorded) and takes it off every total.

use super::{History, HistoryError, StorageEvent, parse_time};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

/// The day an RFC 3339 UTC time falls on (`2026-12-03`), as the `space_days` table keys it.
fn day_of(at: &str) -> &str {
    at.get(..10).unwrap_or(at)
}

/// The totals a newly recorded verified copy adds to.
pub(super) struct NewCopy<'a> {
    pub run_id: i64,
    /// The run's key ledger as stored (`None` for runs without one).
    pub keys: Option<&'a str>,
    pub destination: &'a str,
    pub stored_size: Option<i64>,
    /// When it was verified, as stored.
    pub verified_at: Option<&'a str>,
}

/// Adds a verified copy to the totals (inside the transaction that inserts it).
pub(super) fn add_copy(c: &Connection, copy: &NewCopy<'_>) -> rusqlite::Result<()> {
    let counted = match (copy.stored_size, copy.verified_at) {
        (Some(size), Some(at)) => {
            c.prepare_cached(
                "INSERT INTO space_days (destination, day, delta, last_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (destination, day) DO UPDATE SET delta = delta + excluded.delta,
                   last_at = MAX(last_at, excluded.last_at)",
            )?
            .execute(params![copy.destination, day_of(at), size, at])?;
            size
        }
        _ => 0,
    };
    c.prepare_cached(
        "INSERT INTO destination_totals (destination, copies, bytes) VALUES (?1, 1, ?2)
         ON CONFLICT (destination) DO UPDATE SET copies = copies + 1, bytes = bytes + excluded.bytes",
    )?
    .execute(params![copy.destination, counted])?;
    c.prepare_cached(
        "INSERT INTO key_totals (keys, copies, oldest_run, newest_run) VALUES (?1, 1, ?2, ?2)
         ON CONFLICT (keys) DO UPDATE SET copies = copies + 1,
           oldest_run = MIN(oldest_run, excluded.oldest_run),
           newest_run = MAX(newest_run, excluded.newest_run)",
    )?
    .execute(params![copy.keys.unwrap_or(""), copy.run_id])?;
    Ok(())
}

/// Marks the verified copies `copy_id` on `destination` gone, deleted at `at`, and takes them off
/// the totals (inside the transaction that records the deletion). A copy already gone is left.
pub(super) fn remove_copy(
    c: &Connection,
    destination: &str,
    copy_id: &str,
    at: &str,
) -> rusqlite::Result<()> {
    let gone: Vec<(i64, Option<i64>, bool, String)> = c
        .prepare_cached(MARK_GONE)?
        .query_map(params![destination, copy_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (run_id, size, verified, keys) in gone {
        let counted = match size {
            Some(size) if verified => {
                c.prepare_cached(
                    "INSERT INTO space_days (destination, day, delta, last_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (destination, day) DO UPDATE SET delta = delta + excluded.delta,
                       last_at = MAX(last_at, excluded.last_at)",
                )?
                .execute(params![destination, day_of(at), -size, at])?;
                size
            }
            _ => 0,
        };
        c.prepare_cached(
            "UPDATE destination_totals SET copies = copies - 1, bytes = bytes - ?2
             WHERE destination = ?1",
        )?
        .execute(params![destination, counted])?;
        forget_keyed_copy(c, &keys, run_id)?;
    }
    Ok(())
}

/// Marks the verified copies `?2` on destination `?1` gone, returning what the totals take off.
/// Found by the copy's name (`+status`: not along the index of a destination's verified copies,
/// which SQLite would otherwise take and walk every one of).
pub(super) const MARK_GONE: &str = "UPDATE copies SET gone = 1
    WHERE destination = ?1 AND copy_id = ?2 AND +status = 'verified' AND gone = 0
    RETURNING run_id, stored_size, verified_at IS NOT NULL,
      (SELECT COALESCE(keys, '') FROM runs WHERE runs.id = copies.run_id)";

/// The oldest stored copy's run of the keys `?1`, from run `?2` on.
pub(super) const GROUP_OLDEST: &str = "SELECT c.run_id FROM copies c JOIN runs r ON r.id = c.run_id
    WHERE c.status = 'verified' AND c.gone = 0 AND c.run_id >= ?2 AND COALESCE(r.keys, '') = ?1
    ORDER BY c.run_id LIMIT 1";
/// The newest stored copy's run of the keys `?1`, from run `?2` back.
pub(super) const GROUP_NEWEST: &str = "SELECT c.run_id FROM copies c JOIN runs r ON r.id = c.run_id
    WHERE c.status = 'verified' AND c.gone = 0 AND c.run_id <= ?2 AND COALESCE(r.keys, '') = ?1
    ORDER BY c.run_id DESC LIMIT 1";

/// Takes one copy of run `run_id` off the count of the keys `keys`, finding the group's oldest
/// and newest stored copy again when it was one of them.
fn forget_keyed_copy(c: &Connection, keys: &str, run_id: i64) -> rusqlite::Result<()> {
    let row: Option<(i64, i64, i64)> = c
        .query_row(
            "SELECT copies, oldest_run, newest_run FROM key_totals WHERE keys = ?1",
            [keys],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((copies, oldest, newest)) = row else {
        return Ok(());
    };
    if copies <= 1 {
        c.execute("DELETE FROM key_totals WHERE keys = ?1", [keys])?;
        return Ok(());
    }
    // The group's copies are found along the index of live copies, from the old end's side, and
    // the first one of the group found is the answer: a deletion (retention takes the oldest
    // copies, day after day) costs the few live copies walked, not a read of every run.
    let next = |sql: &str, from: i64| -> rusqlite::Result<Option<i64>> {
        c.prepare_cached(sql)?
            .query_row(params![keys, from], |r| r.get(0))
            .optional()
    };
    let oldest = if run_id == oldest {
        next(GROUP_OLDEST, oldest)?.unwrap_or(oldest)
    } else {
        oldest
    };
    let newest = if run_id == newest {
        next(GROUP_NEWEST, newest)?.unwrap_or(newest)
    } else {
        newest
    };
    c.execute(
        "UPDATE key_totals SET copies = copies - 1, oldest_run = ?2, newest_run = ?3
         WHERE keys = ?1",
        params![keys, oldest, newest],
    )?;
    Ok(())
}

/// What Lifeboat holds on one destination, by the running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Verified copies not deleted since.
    pub copies: u64,
    /// Their stored bytes.
    pub bytes: u64,
}

/// The day-by-day space rows of the window, and each destination's total.
pub(super) const SPACE_WINDOW: &str = "SELECT destination, last_at, delta FROM space_days
    WHERE day >= ?1 ORDER BY last_at";
pub(super) const HELD: &str = "SELECT destination, copies, bytes FROM destination_totals";

impl History {
    /// What Lifeboat holds on each destination it has stored copies on, by name.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn held(&self) -> Result<Vec<(String, Held)>, HistoryError> {
        self.read(|c| {
            c.prepare_cached(HELD)?
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        Held {
                            copies: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                            bytes: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        },
                    ))
                })?
                .collect()
        })
        .await
    }

    /// The changes in the space Lifeboat's copies take on each destination from `since` on (a
    /// day's changes as one, at the day's last change), oldest first, each destination's led by
    /// one change just before `since` that brings it from nothing to what it held then.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn storage_events(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<StorageEvent>, HistoryError> {
        let from_day = since.format("%Y-%m-%d").to_string();
        self.read(move |c| {
            let window: Vec<StorageEvent> = c
                .prepare_cached(SPACE_WINDOW)?
                .query_map([&from_day], |r| {
                    Ok(StorageEvent {
                        destination: r.get(0)?,
                        at: parse_time(&r.get::<_, String>(1)?),
                        delta: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let held: Vec<(String, i64)> = c
                .prepare_cached(HELD)?
                .query_map([], |r| Ok((r.get(0)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let before = since - chrono::TimeDelta::seconds(1);
            let mut out: Vec<StorageEvent> = held
                .into_iter()
                .map(|(destination, bytes)| {
                    let later: i64 = window
                        .iter()
                        .filter(|e| e.destination == destination)
                        .map(|e| e.delta)
                        .sum();
                    StorageEvent {
                        destination,
                        at: before,
                        delta: bytes - later,
                    }
                })
                .collect();
            out.extend(window);
            out.sort_by_key(|e| e.at);
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::upkeep::DeletionRow;
    use crate::history::{CopyRecord, KeyLedger, RunEnd, RunStatus};

    fn copy(dest: &str, id: &str, size: u64, t: DateTime<Utc>) -> CopyRecord {
        CopyRecord {
            destination: dest.into(),
            copy_id: id.into(),
            object: format!("{id}.tar.age"),
            verified: true,
            stored_size: Some(size),
            stored_sha256: None,
            error: None,
            upload_ms: None,
            verify_ms: None,
            verified_at: Some(t),
            failure: None,
        }
    }

    fn keys(recipient: &str) -> KeyLedger {
        KeyLedger {
            protected: false,
            ha_key: None,
            recipients: vec![recipient.into()],
            passphrase: false,
        }
    }

    async fn delete(h: &History, dest: &str, id: &str, at: DateTime<Utc>, error: Option<&str>) {
        h.record_deletion(DeletionRow {
            at,
            destination: dest.into(),
            copy_id: id.into(),
            made: None,
            trigger: "retention".into(),
            reason: "r".into(),
            error: error.map(str::to_owned),
        })
        .await
        .unwrap();
    }

    /// Everything the totals say, in a comparable form.
    async fn snapshot(
        h: &History,
    ) -> (
        Vec<(String, Held)>,
        Vec<String>,
        Vec<(String, i64)>,
        Vec<(String, i64)>,
    ) {
        let mut held = h.held().await.unwrap();
        held.sort_by(|a, b| a.0.cmp(&b.0));
        let ledger = h
            .key_ledger()
            .await
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{:?} {} {} {}",
                    e.keys.as_ref().map(|k| k.recipients.clone()),
                    e.copies,
                    e.oldest.format("%d"),
                    e.newest.format("%d")
                )
            })
            .collect();
        let days = h
            .with(|c| {
                c.prepare("SELECT destination || ' ' || day, delta FROM space_days ORDER BY 1")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .await
            .unwrap();
        let counted = h
            .with(|c| {
                c.prepare(
                    "SELECT destination || ' ' || status || ' ' || trigger, copies
                     FROM destination_counts WHERE copies != 0 ORDER BY 1",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
            })
            .await
            .unwrap();
        (held, ledger, days, counted)
    }

    /// Day `d` of the tests' history, at 03:00.
    fn day(d: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T03:00:00Z")
            .unwrap()
            .to_utc()
            + chrono::TimeDelta::days(d)
    }

    #[tokio::test]
    async fn totals_follow_copies_and_deletions_and_the_migration_builds_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        // Runs on days 0..5: the first two without a key ledger, then key A, then key B.
        for d in 0..5i64 {
            let id = h.start_run(day(d), "schedule", "s").await.unwrap();
            let ledger = match d {
                0 | 1 => None,
                2 | 3 => Some(keys("A")),
                _ => Some(keys("B")),
            };
            let mut copies = vec![copy("nas", &format!("c{d}"), 100, day(d))];
            if d != 1 {
                copies.push(copy("b2", &format!("c{d}"), 10, day(d)));
            }
            // A failed copy counts nowhere.
            copies.push(CopyRecord {
                verified: false,
                verified_at: None,
                ..copy("sftp", &format!("c{d}"), 7, day(d))
            });
            h.finish_run(
                id,
                day(d),
                RunStatus::Partial,
                RunEnd {
                    keys: ledger,
                    ..RunEnd::default()
                },
                copies,
            )
            .await
            .unwrap();
        }
        // Retention takes day 2's copy off the NAS (the oldest of key A there), twice recorded;
        // a failed deletion takes nothing; day 4's copy goes from both (all of key B).
        delete(&h, "nas", "c2", day(6), None).await;
        delete(&h, "nas", "c2", day(7), None).await;
        delete(&h, "nas", "c3", day(7), Some("refused")).await;
        delete(&h, "nas", "c4", day(8), None).await;
        delete(&h, "b2", "c4", day(8), None).await;
        delete(&h, "b2", "c2", day(8), None).await;

        let (held, ledger, _, counted) = snapshot(&h).await;
        // Copy rows, failed ones too, by destination and their run's outcome and trigger.
        assert_eq!(
            counted,
            [
                ("b2 partial schedule".to_owned(), 4),
                ("nas partial schedule".to_owned(), 5),
                ("sftp partial schedule".to_owned(), 5),
            ]
        );
        assert_eq!(
            held,
            [
                (
                    "b2".to_owned(),
                    Held {
                        copies: 2,
                        bytes: 20
                    }
                ),
                (
                    "nas".to_owned(),
                    Held {
                        copies: 3,
                        bytes: 300
                    }
                ),
            ]
        );
        // Key A keeps day 3 on both; the old runs keep days 0 and 1; key B is gone.
        assert_eq!(
            ledger,
            [
                r#"Some(["A"]) 2 04 04"#.to_owned(),
                "None 3 01 02".to_owned(),
            ]
        );
        assert_eq!(h.expected_copies("nas").await.unwrap(), ["c0", "c1", "c3"]);
        let events = h.storage_events(day(3)).await.unwrap();
        let nas: Vec<i64> = events
            .iter()
            .filter(|e| e.destination == "nas")
            .map(|e| e.delta)
            .collect();
        // Held before day 3 (days 0-2 stored: 300), then days 3 and 4 +100 each, day 6 −100
        // (c2), day 8 −100 (c4): what it holds now.
        assert_eq!(nas, [300, 100, 100, -100, -100]);
        assert_eq!(nas.iter().sum::<i64>(), 300);

        // A run whose outcome and trigger change takes its copies' counts along (no code path
        // does this after copies are recorded today; the trigger keeps the counts true if one
        // ever does).
        h.with(|c| {
            c.execute(
                "UPDATE runs SET status = 'success', trigger = 'dashboard' WHERE id = 1",
                [],
            )
        })
        .await
        .unwrap();
        let (held, ledger, days, counted) = snapshot(&h).await;
        assert_eq!(
            counted,
            [
                ("b2 partial schedule".to_owned(), 3),
                ("b2 success dashboard".to_owned(), 1),
                ("nas partial schedule".to_owned(), 4),
                ("nas success dashboard".to_owned(), 1),
                ("sftp partial schedule".to_owned(), 4),
                ("sftp success dashboard".to_owned(), 1),
            ]
        );

        // A history from before the totals: the migration builds the very same ones.
        h.with(|c| {
            c.execute_batch(
                "DROP TABLE destination_totals; DROP TABLE space_days; DROP TABLE key_totals;
                 DROP TABLE run_counts; DROP TRIGGER run_counted; DROP TRIGGER run_recounted;
                 DROP TRIGGER run_uncounted; DROP TABLE destination_counts;
                 DROP TRIGGER copy_counted; DROP TRIGGER copy_uncounted;
                 DROP TRIGGER run_copies_recounted; DROP TABLE probes;
                 DROP INDEX copies_live; DROP INDEX runs_newest; DROP INDEX copies_destination_run;
                 ALTER TABLE copies DROP COLUMN gone; PRAGMA user_version = 9;",
            )
        })
        .await
        .unwrap();
        drop(h);
        let again = History::open(dir.path()).unwrap();
        assert_eq!(snapshot(&again).await, (held, ledger, days, counted));
    }

    #[tokio::test]
    async fn a_key_group_losing_its_oldest_or_newest_copy_names_the_next_one_stored() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        // Five runs of one key, one copy each.
        for d in 0..5i64 {
            let id = h.start_run(day(d), "schedule", "s").await.unwrap();
            let end = RunEnd {
                keys: Some(keys("A")),
                ..RunEnd::default()
            };
            let copies = vec![copy("nas", &format!("c{d}"), 100, day(d))];
            h.finish_run(id, day(d), RunStatus::Success, end, copies)
                .await
                .unwrap();
        }
        let ends = |h: History| async move {
            let ledger = h.key_ledger().await.unwrap();
            let e = &ledger[0];
            (
                e.copies,
                e.oldest.format("%d").to_string(),
                e.newest.format("%d").to_string(),
            )
        };
        assert_eq!(ends(h.clone()).await, (5, "01".into(), "05".into()));
        // Retention takes the oldest, then the newest goes (a copy deleted by hand).
        delete(&h, "nas", "c0", day(6), None).await;
        assert_eq!(ends(h.clone()).await, (4, "02".into(), "05".into()));
        delete(&h, "nas", "c4", day(6), None).await;
        assert_eq!(ends(h.clone()).await, (3, "02".into(), "04".into()));
        // A copy in the middle moves neither end.
        delete(&h, "nas", "c2", day(7), None).await;
        assert_eq!(ends(h.clone()).await, (2, "02".into(), "04".into()));
    }
}
