//! Destination tests (see [`crate::destinations::probe`]): each one's destination, time, outcome
//! (the step it stopped at and its cause), the store's words, how long it took and why it ran;
//! and the newest per destination, which the overview and the destination's card show.

use super::{History, HistoryError, parse_time, sql_to_u64, u64_to_sql};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

/// The most of a store's words kept with a probe (a quoted server answer can be long).
pub const DETAIL_CAP: usize = 500;

/// Why a probe ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeWhy {
    /// The daily probe between runs.
    Daily,
    /// Asked for on the destination's card.
    Asked,
    /// The setup form's Test.
    Setup,
}

impl ProbeWhy {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Asked => "asked",
            Self::Setup => "setup",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "asked" => Self::Asked,
            "setup" => Self::Setup,
            _ => Self::Daily,
        }
    }
}

/// One probe as recorded. `step` and `cause` are the words of
/// [`crate::destinations::probe`]'s step and cause (`None` when it passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRow {
    pub destination: String,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub step: Option<String>,
    pub cause: Option<String>,
    /// The store's own words (cut to [`DETAIL_CAP`] characters).
    pub detail: String,
    pub took_ms: u64,
    pub why: ProbeWhy,
}

/// The newest probe of one destination (its index gives it without reading the others).
pub(super) const LAST_PROBE: &str =
    "SELECT destination, at, ok, step, cause, detail, took_ms, why FROM probes
     WHERE destination = ?1 ORDER BY id DESC LIMIT 1";

/// `text` cut to at most `cap` characters, on a character boundary.
fn capped(text: &str, cap: usize) -> String {
    match text.char_indices().nth(cap) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

impl History {
    /// Records a probe (its detail cut to [`DETAIL_CAP`] characters).
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn record_probe(&self, row: ProbeRow) -> Result<(), HistoryError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO probes (destination, at, ok, step, cause, detail, took_ms, why)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    row.destination,
                    row.at.to_rfc3339(),
                    row.ok,
                    row.step,
                    row.cause,
                    capped(&row.detail, DETAIL_CAP),
                    u64_to_sql(Some(row.took_ms)),
                    row.why.as_str()
                ],
            )
            .map(drop)
        })
        .await
    }

    /// The newest probe of each of `destinations` that has one, in their order.
    ///
    /// # Errors
    /// [`HistoryError`] on database failure.
    pub async fn last_probes(
        &self,
        destinations: &[String],
    ) -> Result<Vec<ProbeRow>, HistoryError> {
        let names = destinations.to_vec();
        self.read(move |c| {
            let mut st = c.prepare_cached(LAST_PROBE)?;
            let mut out = Vec::new();
            for name in &names {
                let row = st
                    .query_row([name], |r| {
                        Ok(ProbeRow {
                            destination: r.get(0)?,
                            at: parse_time(&r.get::<_, String>(1)?),
                            ok: r.get(2)?,
                            step: r.get(3)?,
                            cause: r.get(4)?,
                            detail: r.get(5)?,
                            took_ms: sql_to_u64(r.get(6)?).unwrap_or(0),
                            why: ProbeWhy::parse(&r.get::<_, String>(7)?),
                        })
                    })
                    .optional()?;
                out.extend(row);
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(destination: &str, at: &str, ok: bool, detail: &str) -> ProbeRow {
        ProbeRow {
            destination: destination.into(),
            at: at.parse().unwrap(),
            ok,
            step: (!ok).then(|| "list".to_owned()),
            cause: (!ok).then(|| "credentials".to_owned()),
            detail: detail.into(),
            took_ms: 120,
            why: ProbeWhy::Daily,
        }
    }

    #[tokio::test]
    async fn the_newest_probe_of_each_destination_is_read_back_capped() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        h.record_probe(row("nas", "2026-12-01T03:00:00Z", true, ""))
            .await
            .unwrap();
        let long = "é".repeat(DETAIL_CAP * 3);
        h.record_probe(ProbeRow {
            why: ProbeWhy::Asked,
            ..row("nas", "2026-12-02T03:00:00Z", false, &long)
        })
        .await
        .unwrap();
        h.record_probe(row("s3", "2026-12-01T03:00:00Z", true, ""))
            .await
            .unwrap();
        let names = ["s3", "nas", "never"].map(String::from);
        let last = h.last_probes(&names).await.unwrap();
        assert_eq!(last.len(), 2, "a destination never probed has no row");
        assert_eq!(last[0].destination, "s3");
        let nas = &last[1];
        assert!(!nas.ok);
        assert_eq!(nas.why, ProbeWhy::Asked);
        assert_eq!(nas.cause.as_deref(), Some("credentials"));
        assert_eq!(
            nas.at,
            "2026-12-02T03:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            nas.detail.chars().count(),
            DETAIL_CAP + 1,
            "cut, with an ellipsis"
        );
    }
}
