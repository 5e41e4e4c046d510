//! Carries retention out on one destination: list the copies (manifests), ask [`crate::retention::apply`],
//! and delete what it names — the manifest first, so the copy stops existing at once, then the
//! data. Every deletion is recorded in history with its reason. A dry run decides and deletes
//! nothing. A copy whose manifest cannot be read, is forged or altered, or that nobody vouches
//! for (unsigned and unknown to history, see [`super::vouch`]) is never deleted, and never
//! counted as a copy that lets older ones go.

use super::vouch::{Records, Vouch};
use crate::destinations::manifest::{self, delete_copy, made_at};
use crate::destinations::{Destination, layout};
use crate::history::upkeep::DeletionRow;
use crate::history::{History, HistoryError};
use crate::retention::{Candidate, Decision, Policy, apply};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// What pruning one destination did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub destination: String,
    /// Whose copies were weighed.
    pub source: String,
    pub policy: String,
    pub dry_run: bool,
    /// Why nothing was deleted, when pruning was held back (the newest run failed…).
    pub held: Option<String>,
    /// Every copy, newest first, with its fate and reasons.
    pub decisions: Vec<Decision>,
    /// Objects that could not be read as manifests (or were forged, altered, or contradict
    /// history): kept, and named here.
    pub unreadable: Vec<String>,
    /// Copies nobody vouches for (unsigned, unknown to history): neither weighed nor deleted.
    pub left_alone: Vec<String>,
    /// Copy ids actually deleted.
    pub deleted: Vec<String>,
    /// Deletions that failed, with why.
    pub errors: Vec<String>,
}

/// Why pruning could not start.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("cannot list {destination}: {source}")]
    List {
        destination: String,
        source: crate::destinations::StoreError,
    },
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Whose copies a prune weighs: one source's, as the manifests name it. Copies made before
/// manifests named their source belong to the first (the one source there was then).
#[derive(Debug, Clone)]
pub struct Owner {
    pub source: String,
    pub first: bool,
}

impl Owner {
    /// Whether `m` is one of this source's copies.
    pub fn owns(&self, m: &manifest::Manifest) -> bool {
        match &m.source {
            Some(s) => *s == self.source,
            None => self.first,
        }
    }
}

/// Applies `policy` to `owner`'s copies on `destination` (the other sources' copies there are
/// theirs to keep or let go).
///
/// # Errors
/// [`PruneError`] when the destination cannot be listed or history cannot be read; failed
/// deletions are reported in [`PruneReport::errors`] instead.
pub async fn prune(
    destination: &Destination,
    policy: &Policy,
    owner: &Owner,
    history: &History,
    now: DateTime<Utc>,
    tz: Tz,
    dry_run: bool,
) -> Result<PruneReport, PruneError> {
    let listed = manifest::list(destination)
        .await
        .map_err(|source| PruneError::List {
            destination: destination.name.clone(),
            source,
        })?;
    let pins = history.pins(&destination.name).await?;
    let records = Records::of(history, &destination.name).await?;
    let mut unreadable = Vec::new();
    let mut left_alone = Vec::new();
    let mut candidates = Vec::new();
    let mut objects = std::collections::HashMap::new();
    for l in listed {
        match l {
            manifest::Listed::Copy(m) if owner.owns(&m) => {
                match records.judge(&m) {
                    Ok(Vouch::Nobody(why)) => {
                        left_alone.push(format!("{}: {why}", m.copy_id));
                        continue;
                    }
                    Err(why) => {
                        unreadable.push(format!("{}: {why}", layout::manifest_object(&m.copy_id)));
                        continue;
                    }
                    Ok(_) => {}
                }
                candidates.push(Candidate {
                    pinned: pins.contains(&m.copy_id),
                    made: made_at(&m),
                    id: m.copy_id.clone(),
                });
                objects.insert(m.copy_id, m.object);
            }
            manifest::Listed::Copy(_) => {}
            manifest::Listed::Unreadable { object, reason } => {
                unreadable.push(format!("{object}: {reason}"));
            }
        }
    }
    let decisions = apply(policy, &candidates, now, tz);
    let mut report = PruneReport {
        destination: destination.name.clone(),
        source: owner.source.clone(),
        policy: policy.to_string(),
        dry_run,
        held: history.prune_hold(&destination.name).await?,
        decisions,
        unreadable,
        left_alone,
        deleted: Vec::new(),
        errors: Vec::new(),
    };
    if dry_run || report.held.is_some() {
        return Ok(report);
    }
    for d in report.decisions.iter().filter(|d| !d.keep) {
        let reason = d.reasons.join("; ");
        let object = objects.get(&d.id).map_or("", String::as_str);
        let error = delete_copy(destination, &d.id, object)
            .await
            .err()
            .map(|e| e.to_string());
        history
            .record_deletion(DeletionRow {
                at: now,
                destination: destination.name.clone(),
                copy_id: d.id.clone(),
                made: Some(d.made),
                trigger: "retention".into(),
                reason,
                error: error.clone(),
            })
            .await?;
        match error {
            None => report.deleted.push(d.id.clone()),
            Some(e) => report.errors.push(format!("{}: {e}", d.id)),
        }
    }
    Ok(report)
}

/// Applies to `owner`'s copies the source's own policy (`retention`) or else each destination's
/// (those that keep everything are skipped). Failures are logged and left out, never fatal:
/// retention must not stop anything else.
pub async fn prune_all(
    destinations: &[Destination],
    retention: Option<&Policy>,
    owner: &Owner,
    history: &History,
    now: DateTime<Utc>,
    tz: Tz,
    dry_run: bool,
) -> Vec<PruneReport> {
    let mut out = Vec::new();
    for d in destinations {
        let policy = retention.unwrap_or(&d.retention);
        if policy.keeps_everything() {
            continue;
        }
        match prune(d, policy, owner, history, now, tz, dry_run).await {
            Ok(r) => {
                for e in &r.errors {
                    tracing::warn!("retention on {}: {e}", d.name);
                }
                if let Some(h) = &r.held {
                    tracing::info!("retention on {} held back: {h}", d.name);
                }
                out.push(r);
            }
            Err(e) => tracing::warn!("retention on {}: {e}", d.name),
        }
    }
    out
}
