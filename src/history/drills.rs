//! Database restore drills: when a dump was last loaded back into a scratch database, how long
//! the load took (the source's measured recovery time), and whether every table came back with
//! the rows it was dumped with.

use super::{History, HistoryError, parse_time, sql_to_u64, u64_to_sql};
use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

/// One drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillRow {
    pub at: DateTime<Utc>,
    pub source: String,
    pub destination: String,
    pub copy_id: String,
    /// How long loading the dump took, download and decryption included.
    pub ms: u64,
    pub ok: bool,
    /// What was compared, or what went wrong.
    pub detail: String,
}

impl History {
    /// Records a drill.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn record_drill(&self, row: DrillRow) -> Result<(), HistoryError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO drills (at, source, destination, copy_id, ms, ok, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.at.to_rfc3339(),
                    row.source,
                    row.destination,
                    row.copy_id,
                    u64_to_sql(Some(row.ms)),
                    row.ok,
                    row.detail
                ],
            )
            .map(drop)
        })
        .await
    }

    /// The newest drill of each source, by source name.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn last_drills(&self) -> Result<Vec<DrillRow>, HistoryError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT at, source, destination, copy_id, ms, ok, detail FROM drills d
                 WHERE id = (SELECT MAX(id) FROM drills WHERE source = d.source)
                 ORDER BY source",
            )?;
            st.query_map([], |r| {
                Ok(DrillRow {
                    at: parse_time(&r.get::<_, String>(0)?),
                    source: r.get(1)?,
                    destination: r.get(2)?,
                    copy_id: r.get(3)?,
                    ms: sql_to_u64(r.get(4)?).unwrap_or(0),
                    ok: r.get(5)?,
                    detail: r.get(6)?,
                })
            })?
            .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_newest_drill_of_each_source_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let row = |source: &str, ms: u64, ok: bool| DrillRow {
            at: Utc::now(),
            source: source.into(),
            destination: "usb".into(),
            copy_id: "c".into(),
            ms,
            ok,
            detail: String::new(),
        };
        h.record_drill(row("postgres", 5000, false)).await.unwrap();
        h.record_drill(row("postgres", 4000, true)).await.unwrap();
        h.record_drill(row("mariadb", 100, true)).await.unwrap();
        let last = h.last_drills().await.unwrap();
        let got: Vec<(&str, u64, bool)> = last
            .iter()
            .map(|d| (d.source.as_str(), d.ms, d.ok))
            .collect();
        assert_eq!(got, [("mariadb", 100, true), ("postgres", 4000, true)]);
    }
}
