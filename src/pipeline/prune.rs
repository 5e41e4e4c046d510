//! Carries retention out on one destination: list the copies (manifests), ask [`crate::retention::apply`],
//! and delete what it names — the manifest first, so the copy stops existing at once, then the
//! data. Every deletion is recorded in history with its reason. A dry run decides and deletes
//! nothing. A copy whose manifest cannot be read, is forged or altered, or that nobody vouches
//! for (unsigned and unknown to history, see [`super::vouch`]) is never deleted, and never
//! counted as a copy that lets older ones go.

use super::delete::{Deletion, Doomed, delete_and_record};
use super::vouch::{Records, Vouch};
use crate::destinations::manifest::{self, made_at};
use crate::destinations::{Destination, layout};
use crate::history::{History, HistoryError};
use crate::retention::{Candidate, Decision, Policy, apply};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

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
    let Weighed {
        candidates,
        objects,
        unreadable,
        left_alone,
    } = weigh(listed, owner, &records, &pins);
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
    delete_doomed(destination, history, &objects, &mut report, now).await?;
    Ok(report)
}

/// What a destination's listing holds for one owner: the copies to weigh, and those kept out.
struct Weighed {
    candidates: Vec<Candidate>,
    /// Each candidate's data object, by copy id.
    objects: HashMap<String, String>,
    unreadable: Vec<String>,
    left_alone: Vec<String>,
}

/// Sorts `owner`'s listed copies into candidates, copies nobody vouches for, and unreadable ones.
fn weigh(
    listed: Vec<manifest::Listed>,
    owner: &Owner,
    records: &Records,
    pins: &HashSet<String>,
) -> Weighed {
    let mut w = Weighed {
        candidates: Vec::new(),
        objects: HashMap::new(),
        unreadable: Vec::new(),
        left_alone: Vec::new(),
    };
    for l in listed {
        match l {
            manifest::Listed::Copy(m) if owner.owns(&m) => {
                match records.judge(&m) {
                    Ok(Vouch::Nobody(why)) => {
                        w.left_alone.push(format!("{}: {why}", m.copy_id));
                        continue;
                    }
                    Err(why) => {
                        let object = layout::manifest_object(&m.copy_id);
                        w.unreadable.push(format!("{object}: {why}"));
                        continue;
                    }
                    Ok(_) => {}
                }
                w.candidates.push(Candidate {
                    pinned: pins.contains(&m.copy_id),
                    made: made_at(&m),
                    id: m.copy_id.clone(),
                });
                w.objects.insert(m.copy_id, m.object);
            }
            manifest::Listed::Copy(_) => {}
            manifest::Listed::Unreadable { object, reason } => {
                w.unreadable.push(format!("{object}: {reason}"));
            }
        }
    }
    w
}

/// Deletes, and records, every copy the report's decisions let go.
async fn delete_doomed(
    destination: &Destination,
    history: &History,
    objects: &HashMap<String, String>,
    report: &mut PruneReport,
    now: DateTime<Utc>,
) -> Result<(), HistoryError> {
    for d in report.decisions.iter().filter(|d| !d.keep) {
        let doomed = Doomed::Copy {
            destination,
            object: objects.get(&d.id).map_or("", String::as_str),
        };
        let deletion = Deletion {
            copy_id: d.id.clone(),
            made: Some(d.made),
            trigger: "retention".into(),
            reason: d.reasons.join("; "),
        };
        let done = delete_and_record(history, doomed, deletion, now).await;
        done.recorded?;
        match done.deleted {
            Ok(()) => report.deleted.push(d.id.clone()),
            Err(e) => report.errors.push(format!("{}: {e}", d.id)),
        }
    }
    Ok(())
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
