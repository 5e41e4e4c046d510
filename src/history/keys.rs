//! The key ledger and the kit checks. Every run records which keys lock its copies (fingerprints
//! only: the Home Assistant key that protects the backup inside, and the age keys the copy is
//! encrypted to), so the dashboard can say of every copy still stored whether the keys that open
//! it are at hand. Every "do you still have your kit?" answer is recorded with its date.

use super::{History, HistoryError, parse_time};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// The keys one run's copies need, as fingerprints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLedger {
    /// Home Assistant encrypted the backup inside (backup.json `protected`).
    pub protected: bool,
    /// Fingerprint of the Home Assistant key that opened it, when one did.
    pub ha_key: Option<String>,
    /// Fingerprints of the age keys the copies are encrypted to.
    pub recipients: Vec<String>,
    /// The copies are encrypted with the options' passphrase instead.
    pub passphrase: bool,
}

impl KeyLedger {
    /// A protected backup that no known Home Assistant key opened: restoring it needs a key
    /// Lifeboat has never seen.
    pub fn ha_key_missing(&self) -> bool {
        self.protected && self.ha_key.is_none()
    }
}

/// The copies still stored that one set of keys opens.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    /// `None` for runs made before the ledger existed (their keys are in their manifests).
    pub keys: Option<KeyLedger>,
    /// Verified copies, on any destination, that Lifeboat has not deleted.
    pub copies: u64,
    pub oldest: DateTime<Utc>,
    pub newest: DateTime<Utc>,
}

/// One answer to "do you still have your kit?".
#[derive(Debug, Clone, Serialize)]
pub struct KitCheck {
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// What was asked and how it went, in plain words (never the answer typed).
    pub detail: String,
}

/// Where the kit check stands.
#[derive(Debug, Clone, Serialize)]
pub struct KitDue {
    /// When the kit last passed its check.
    pub checked: Option<DateTime<Utc>>,
    /// When the next check is due: `every` after the last check, or after the first verified
    /// copy when there was none (nothing to lose before that). `None` when nothing is due yet.
    pub due: Option<DateTime<Utc>>,
}

impl KitDue {
    /// Whether the check is overdue at `now`.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.due.is_some_and(|d| d <= now)
    }
}

/// The key ledger, from the running totals (one row per set of keys, see `totals.rs`).
pub(super) const LEDGER: &str = "SELECT NULLIF(k.keys, ''), k.copies, o.started_at, n.started_at
    FROM key_totals k JOIN runs o ON o.id = k.oldest_run JOIN runs n ON n.id = k.newest_run
    ORDER BY k.newest_run DESC";

impl History {
    /// When the kit check is due, asking every `every`.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn kit_due(&self, every: std::time::Duration) -> Result<KitDue, HistoryError> {
        let every = chrono::TimeDelta::from_std(every).unwrap_or(chrono::TimeDelta::MAX);
        let checked = self.last_kit_check().await?;
        let since = match checked {
            Some(t) => Some(t),
            None => self
                .read(|c| {
                    // Copies are recorded in time order: the first verified row is the oldest,
                    // found without reading the rest.
                    c.query_row(
                        "SELECT verified_at FROM copies WHERE status = 'verified' ORDER BY id LIMIT 1",
                        [],
                        |r| r.get::<_, Option<String>>(0),
                    )
                    .optional()
                    .map(Option::flatten)
                })
                .await?
                .map(|t| parse_time(&t)),
        };
        Ok(KitDue {
            checked,
            due: since.and_then(|t| t.checked_add_signed(every)),
        })
    }

    /// Every set of keys that some stored copy needs, the most recently used first. Runs made
    /// before the ledger existed are grouped together, with no ledger.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn key_ledger(&self) -> Result<Vec<LedgerEntry>, HistoryError> {
        self.read(|c| {
            let mut st = c.prepare_cached(LEDGER)?;
            st.query_map([], |r| {
                let keys: Option<String> = r.get(0)?;
                Ok(LedgerEntry {
                    keys: keys.and_then(|k| serde_json::from_str(&k).ok()),
                    copies: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    oldest: parse_time(&r.get::<_, String>(2)?),
                    newest: parse_time(&r.get::<_, String>(3)?),
                })
            })?
            .collect()
        })
        .await
    }

    /// Records an answer to the kit check.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn record_kit_check(
        &self,
        at: DateTime<Utc>,
        ok: bool,
        detail: &str,
    ) -> Result<(), HistoryError> {
        let detail = detail.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT INTO kit_checks (at, ok, detail) VALUES (?1, ?2, ?3)",
                params![at.to_rfc3339(), ok, detail],
            )
            .map(|_| ())
        })
        .await
    }

    /// The newest `limit` kit checks, newest first.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn kit_checks(&self, limit: usize) -> Result<Vec<KitCheck>, HistoryError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT at, ok, detail FROM kit_checks ORDER BY id DESC LIMIT ?1",
            )?;
            st.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(KitCheck {
                    at: parse_time(&r.get::<_, String>(0)?),
                    ok: r.get(1)?,
                    detail: r.get(2)?,
                })
            })?
            .collect()
        })
        .await
    }

    /// When the kit last passed its check.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn last_kit_check(&self) -> Result<Option<DateTime<Utc>>, HistoryError> {
        self.read(|c| {
            c.query_row("SELECT MAX(at) FROM kit_checks WHERE ok", [], |r| {
                r.get::<_, Option<String>>(0)
            })
            .map(|t| t.map(|t| parse_time(&t)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{CopyRecord, RunEnd, RunStatus};

    fn copy(dest: &str, id: &str) -> CopyRecord {
        CopyRecord {
            destination: dest.into(),
            copy_id: id.into(),
            object: format!("{id}.tar.age"),
            verified: true,
            stored_size: Some(10),
            stored_sha256: None,
            error: None,
            upload_ms: None,
            verify_ms: None,
            verified_at: Some(Utc::now()),
            failure: None,
        }
    }

    #[tokio::test]
    async fn the_ledger_counts_stored_copies_per_set_of_keys() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let old = KeyLedger {
            protected: true,
            ha_key: Some("aaaa".into()),
            recipients: vec!["r1".into()],
            passphrase: false,
        };
        let new = KeyLedger {
            protected: true,
            ha_key: None,
            recipients: vec!["r1".into(), "r2".into()],
            passphrase: false,
        };
        // A run from before the ledger (no keys recorded), then three with their ledgers.
        for (i, keys) in [None, Some(&old), Some(&old), Some(&new)]
            .into_iter()
            .enumerate()
        {
            let t = Utc::now() + chrono::TimeDelta::seconds(i64::try_from(i).unwrap());
            let id = h.start_run(t, "test", "folder").await.unwrap();
            let end = RunEnd {
                keys: keys.cloned(),
                ..RunEnd::default()
            };
            let copies = vec![copy("a", &format!("c{i}")), copy("b", &format!("c{i}"))];
            h.finish_run(id, t, RunStatus::Success, end, copies)
                .await
                .unwrap();
        }
        h.record_deletion(crate::history::upkeep::DeletionRow {
            at: Utc::now(),
            destination: "a".into(),
            copy_id: "c1".into(),
            made: None,
            trigger: "test".into(),
            reason: "gone".into(),
            error: None,
        })
        .await
        .unwrap();
        let ledger = h.key_ledger().await.unwrap();
        assert_eq!(ledger.len(), 3);
        assert_eq!(ledger[0].keys.as_ref(), Some(&new), "most recent first");
        assert!(ledger[0].keys.as_ref().unwrap().ha_key_missing());
        assert_eq!(ledger[0].copies, 2);
        assert_eq!(ledger[1].copies, 3, "the deleted copy no longer counts");
        assert!(ledger[2].keys.is_none(), "no ledger is not an empty ledger");
        assert_eq!(ledger[2].copies, 2);
        let run = h.recent_runs(1).await.unwrap();
        assert_eq!(run[0].keys.as_ref(), Some(&new));
    }

    #[tokio::test]
    async fn kit_checks_are_recorded_and_the_last_good_one_found() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        assert!(h.last_kit_check().await.unwrap().is_none());
        let t = Utc::now();
        h.record_kit_check(t, true, "age key: right").await.unwrap();
        h.record_kit_check(t + chrono::TimeDelta::days(1), false, "age key: wrong")
            .await
            .unwrap();
        let last = h.last_kit_check().await.unwrap().unwrap();
        assert_eq!(last.timestamp(), t.timestamp());
        let all = h.kit_checks(10).await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(!all[0].ok);
        let due = h
            .kit_due(std::time::Duration::from_secs(90 * 86_400))
            .await
            .unwrap();
        assert_eq!(
            due.due.unwrap().timestamp(),
            (t + chrono::TimeDelta::days(90)).timestamp(),
            "a failed answer does not move the date"
        );
        assert!(!due.overdue(t + chrono::TimeDelta::days(89)));
        assert!(due.overdue(t + chrono::TimeDelta::days(90)));
    }

    #[tokio::test]
    async fn a_kit_never_checked_is_due_after_the_first_verified_copy() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let every = std::time::Duration::from_secs(86_400);
        assert!(
            h.kit_due(every).await.unwrap().due.is_none(),
            "nothing to lose yet"
        );
        let t = Utc::now();
        let id = h.start_run(t, "test", "folder").await.unwrap();
        h.finish_run(
            id,
            t,
            RunStatus::Success,
            RunEnd::default(),
            vec![copy("a", "c")],
        )
        .await
        .unwrap();
        let due = h.kit_due(every).await.unwrap();
        assert!(due.checked.is_none());
        assert!(due.overdue(Utc::now() + chrono::TimeDelta::days(2)));
    }
}
