//! Record: the one shape of a copy's outcome in a run ([`CopyOutcome`], what people, JSON and
//! history see), the run's report, and how a run's status follows from its copies.

use crate::archive::BackupJson;
use crate::destinations::{Destination, StoreErrorKind};
use crate::history::{CopyRecord, RunStatus};
use serde::Serialize;
use std::time::Duration;

/// One destination's copy in a run, at whatever stage it stopped.
#[derive(Debug, Clone, Serialize)]
pub struct CopyOutcome {
    pub destination: String,
    pub location: String,
    pub copy_id: String,
    pub object: String,
    /// Present only for a verified copy.
    pub manifest: Option<String>,
    pub verified: bool,
    pub error: Option<String>,
    /// Why it failed, as a status word (`denied`, `full`, `misconfigured`, `passing`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_sha256: Option<String>,
    /// How many parts the data is stored in (`<object>.part-00001`…); 0: the one object.
    #[serde(skip_serializing_if = "is_zero")]
    pub parts: usize,
    #[serde(skip)]
    pub upload: Option<Duration>,
    #[serde(skip)]
    pub verify: Option<Duration>,
    #[serde(skip)]
    pub verified_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Trying again with the same settings cannot help.
    #[serde(skip)]
    pub needs_new_settings: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl CopyOutcome {
    /// A copy of `object` on `d` that got no further than `error` (of status `kind`, when the
    /// destination said).
    pub fn failed(
        d: &Destination,
        copy_id: &str,
        object: &str,
        error: String,
        kind: Option<StoreErrorKind>,
    ) -> Self {
        Self {
            destination: d.name.clone(),
            location: d.location.clone(),
            copy_id: copy_id.to_owned(),
            object: object.to_owned(),
            manifest: None,
            verified: false,
            error: Some(error),
            failure: kind.map(StoreErrorKind::as_str),
            stored_size: None,
            stored_sha256: None,
            parts: 0,
            upload: None,
            verify: None,
            verified_at: None,
            needs_new_settings: kind.is_some_and(StoreErrorKind::needs_new_settings),
        }
    }

    /// The row history keeps.
    pub fn record(&self) -> CopyRecord {
        CopyRecord {
            destination: self.destination.clone(),
            copy_id: self.copy_id.clone(),
            object: self.object.clone(),
            verified: self.verified,
            stored_size: self.stored_size,
            stored_sha256: self.stored_sha256.clone(),
            error: self.error.clone(),
            upload_ms: self.upload.map(millis),
            verify_ms: self.verify.map(millis),
            verified_at: self.verified_at,
            failure: self.failure.map(str::to_owned),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What one run did, for people and for JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: i64,
    /// The name of the source the run backed up.
    pub source: String,
    pub status: RunStatus,
    pub backup: Option<BackupJson>,
    pub plain_size: Option<u64>,
    pub plain_sha256: Option<String>,
    pub copies: Vec<CopyOutcome>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// What changed since the last backup in what a restore will need (a new sign-in, a stick at
    /// a new path, the database now left out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub readiness_news: Vec<String>,
    /// What retention did after this run (on the last run of a request only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retention: Vec<super::prune::PruneReport>,
}

impl RunReport {
    /// A run that failed before any copy was made.
    pub fn failed(run_id: i64, source: &str, error: String) -> Self {
        Self {
            run_id,
            source: source.to_owned(),
            status: RunStatus::Failed,
            backup: None,
            plain_size: None,
            plain_sha256: None,
            copies: Vec::new(),
            error: Some(error),
            warnings: Vec::new(),
            readiness_news: Vec::new(),
            retention: Vec::new(),
        }
    }

    /// `destination: why` for every destination that did not get a verified copy.
    pub fn failed_destinations(&self) -> Vec<String> {
        self.copies
            .iter()
            .filter(|c| !c.verified)
            .map(|c| {
                format!(
                    "{}: {}",
                    c.destination,
                    c.error.as_deref().unwrap_or("failed")
                )
            })
            .collect()
    }
}

/// Success when every copy is verified, partial when some are, failed when none is.
pub fn status_of(copies: &[CopyOutcome]) -> RunStatus {
    match copies.iter().filter(|c| c.verified).count() {
        0 => RunStatus::Failed,
        n if n == copies.len() => RunStatus::Success,
        _ => RunStatus::Partial,
    }
}
