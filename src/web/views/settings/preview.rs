//! "Which of today's copies each destination would keep": the pure retention function
//! ([`crate::retention::apply`]) over each destination's copies as history records them (verified,
//! not deleted since), with its pins, under the settings being edited. Nothing is listed on the
//! destination and nothing is deleted.

use crate::config::Config;
use crate::history::{History, HistoryError};
use crate::retention::{Candidate, Policy, apply};
use chrono::{DateTime, Utc};

/// The most copies weighed per destination: the newest ones. A copy's fate depends only on the
/// copies newer than it, so the ones shown are decided as retention would decide them.
const MAX_COPIES: usize = 500;

/// One copy's fate.
pub struct PreviewCopy {
    pub id: String,
    /// When its backup was made, in the home's zone.
    pub made: String,
    /// The rules that keep it, or why it would go.
    pub why: String,
}

/// One destination's copies (one source's, when there are several), kept and not.
pub struct PreviewBlock {
    pub destination: String,
    /// Whose copies, when there are several sources.
    pub source: Option<String>,
    /// The policy that decides, as written (`all` keeps every copy).
    pub policy: String,
    pub kept: Vec<PreviewCopy>,
    pub deleted: Vec<PreviewCopy>,
}

/// What `config`'s retention would keep on each of its destinations, at `now`.
///
/// # Errors
/// [`HistoryError`] when history cannot be read.
pub async fn preview(
    config: &Config,
    history: &History,
    now: DateTime<Utc>,
) -> Result<Vec<PreviewBlock>, HistoryError> {
    let mut out = Vec::new();
    let several = config.sources.len() > 1;
    for d in &config.destinations {
        let held = history.held_copies(&d.name, MAX_COPIES).await?;
        let pins = history.pins(&d.name).await?;
        for (i, source) in config.sources.iter().enumerate() {
            if !source.destinations.is_empty() && !source.destinations.contains(&d.name) {
                continue;
            }
            let candidates: Vec<Candidate> = held
                .iter()
                .filter(|c| match &c.source {
                    Some(s) => *s == source.name,
                    None => i == 0,
                })
                .map(|c| Candidate {
                    id: c.copy_id.clone(),
                    made: c.made,
                    pinned: pins.contains(&c.copy_id),
                })
                .collect();
            let policy: &Policy = source.retention.as_ref().unwrap_or(&d.retention);
            out.push(block(
                &d.name,
                several.then(|| source.name.clone()),
                policy,
                &candidates,
                now,
                config.schedule.tz,
            ));
        }
    }
    Ok(out)
}

fn block(
    destination: &str,
    source: Option<String>,
    policy: &Policy,
    candidates: &[Candidate],
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> PreviewBlock {
    let mut b = PreviewBlock {
        destination: destination.to_owned(),
        source,
        policy: policy.to_string(),
        kept: Vec::new(),
        deleted: Vec::new(),
    };
    for d in apply(policy, candidates, now, tz) {
        let copy = PreviewCopy {
            made: super::super::local(d.made, tz),
            why: d.reasons.join("; "),
            id: d.id,
        };
        if d.keep {
            b.kept.push(copy);
        } else {
            b.deleted.push(copy);
        }
    }
    b
}
