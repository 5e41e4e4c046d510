//! Re-verification: read stored copies back on a schedule — the longest-unchecked first, at a
//! bounded rate — and compare them with their manifests. A copy whose bytes changed, that cannot
//! be read, or that vanished (history knows it, retention did not delete it, the destination no
//! longer lists it) is recorded as failed and becomes a problem Home Assistant is told about.

use super::verify::{VerifyError, read_back_at};
use crate::clock::Clock;
use crate::destinations::{Destination, manifest};
use crate::history::upkeep::CheckRow;
use crate::history::{History, HistoryError};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Each copy's last check, by destination and copy id.
type LastChecks = HashMap<(String, String), CheckRow>;

/// One copy's check.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub destination: String,
    pub copy_id: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// Which copies a re-verification reads on each destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Up to this many (every one when 0), longest since their last good read first.
    LongestUnchecked(usize),
    /// The newest copy (a destination holding none fails the check).
    Newest,
}

/// Re-reads the copies `pick` names on every destination, at most `rate`
/// bytes per second, and records every verdict.
///
/// # Errors
/// Only when history cannot be read or written; unreachable destinations are verdicts.
pub async fn reverify(
    destinations: &[Destination],
    history: &History,
    clock: &dyn Clock,
    rate: u64,
    pick: Pick,
) -> Result<Vec<Checked>, HistoryError> {
    let last = history.last_checks().await?;
    let mut out = Vec::new();
    for d in destinations {
        let listed = match manifest::list(d).await {
            Ok(l) => l,
            Err(e) => {
                out.push(failed_on(d, format!("cannot list the copies: {e}")));
                continue;
            }
        };
        let copies: Vec<manifest::Manifest> = listed
            .into_iter()
            .filter_map(|l| match l {
                manifest::Listed::Copy(m) => Some(*m),
                manifest::Listed::Unreadable { .. } => None,
            })
            .collect();
        out.extend(vanished(d, &copies, history, clock).await?);
        let mut order = longest_unchecked_first(d, &copies, &last);
        let take = match pick {
            Pick::LongestUnchecked(0) => order.len(),
            Pick::LongestUnchecked(n) => n,
            Pick::Newest => {
                order.sort_by_key(|m| std::cmp::Reverse(m.verified));
                if order.is_empty() {
                    out.push(failed_on(d, "no copy is stored there".into()));
                }
                1
            }
        };
        for m in order.into_iter().take(take) {
            out.push(check_copy(d, m, history, clock, rate).await?);
        }
    }
    Ok(out)
}

/// A failed check of destination `d` as a whole (no copy named).
fn failed_on(d: &Destination, why: String) -> Checked {
    Checked {
        destination: d.name.clone(),
        copy_id: String::new(),
        ok: false,
        error: Some(why),
    }
}

/// `copies` in the order re-verification reads them: longest since its last good read first (a
/// copy never re-read counts from its upload), then by id.
fn longest_unchecked_first<'a>(
    d: &Destination,
    copies: &'a [manifest::Manifest],
    last: &LastChecks,
) -> Vec<&'a manifest::Manifest> {
    let mut order: Vec<(chrono::DateTime<chrono::Utc>, &manifest::Manifest)> = copies
        .iter()
        .map(|m| {
            let key = (d.name.clone(), m.copy_id.clone());
            let seen = last
                .get(&key)
                .filter(|c| c.ok)
                .map_or(m.verified, |c| c.at.max(m.verified));
            (seen, m)
        })
        .collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.copy_id.cmp(&b.1.copy_id)));
    order.into_iter().map(|(_, m)| m).collect()
}

/// Copies history says are on `d` that its listing no longer shows: each a failed check.
async fn vanished(
    d: &Destination,
    copies: &[manifest::Manifest],
    history: &History,
    clock: &dyn Clock,
) -> Result<Vec<Checked>, HistoryError> {
    let mut out = Vec::new();
    let present: HashSet<&str> = copies.iter().map(|m| m.copy_id.as_str()).collect();
    for gone in history.expected_copies(&d.name).await? {
        if present.contains(gone.as_str()) {
            continue;
        }
        let error = "vanished: the destination no longer lists it, and Lifeboat did not delete it";
        history
            .record_check(
                &d.name,
                &gone,
                check(clock, false, Some(error.into()), None),
            )
            .await?;
        out.push(Checked {
            destination: d.name.clone(),
            copy_id: gone,
            ok: false,
            error: Some(error.into()),
        });
    }
    Ok(out)
}

/// Reads one copy back against its manifest, at most `rate` bytes per second, and records the
/// verdict.
///
/// # Errors
/// Only when history cannot be written.
pub async fn check_copy(
    d: &Destination,
    m: &manifest::Manifest,
    history: &History,
    clock: &dyn Clock,
    rate: u64,
) -> Result<Checked, HistoryError> {
    let started = tokio::time::Instant::now();
    let read = read_back_at(
        d,
        &m.object,
        &m.parts,
        m.stored.size,
        &m.stored.sha256,
        Some(rate),
    );
    let verdict = match read.await {
        Ok(()) => None,
        Err(e @ VerifyError::Mismatch { .. }) => Some(format!("changed: {e}")),
        Err(e) => Some(e.to_string()),
    };
    let ms = u64::try_from(started.elapsed().as_millis()).ok();
    let ok = verdict.is_none();
    history
        .record_check(&d.name, &m.copy_id, check(clock, ok, verdict.clone(), ms))
        .await?;
    if !ok {
        tracing::warn!("copy {} on {} failed re-verification", m.copy_id, d.name);
    }
    Ok(Checked {
        destination: d.name.clone(),
        copy_id: m.copy_id.clone(),
        ok,
        error: verdict,
    })
}

/// Re-reads the copy `copy_id` on `d` (a person asked, from the dashboard): its manifest, then its
/// data against it. A manifest that cannot be read is a failed check too.
///
/// # Errors
/// Only when history cannot be written.
pub async fn verify_copy(
    d: &Destination,
    copy_id: &str,
    history: &History,
    clock: &dyn Clock,
    rate: u64,
) -> Result<Checked, HistoryError> {
    let parsed = manifest::fetch(d, copy_id).await.map_err(|e| match e {
        manifest::FetchError::Store(e) => format!("cannot read its manifest: {e}"),
        manifest::FetchError::Unreadable(why) => why,
    });
    match parsed {
        Ok(m) => check_copy(d, &m, history, clock, rate).await,
        Err(why) => {
            history
                .record_check(
                    &d.name,
                    copy_id,
                    check(clock, false, Some(why.clone()), None),
                )
                .await?;
            Ok(Checked {
                destination: d.name.clone(),
                copy_id: copy_id.to_owned(),
                ok: false,
                error: Some(why),
            })
        }
    }
}

fn check(clock: &dyn Clock, ok: bool, error: Option<String>, ms: Option<u64>) -> CheckRow {
    CheckRow {
        at: clock.now(),
        ok,
        error,
        ms,
    }
}
