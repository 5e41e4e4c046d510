//! Retention as a pure function: (policy, the copies on one destination, pins, now, time zone) →
//! keep or delete for every copy, each with its reasons. Nothing here reads the clock, the network
//! or history; the pipeline's `prune` carries decisions out.
//!
//! # Rules
//! - A pinned copy is kept. The newest copy is kept. A copy dated after `now` (a clock that was
//!   wrong) is kept. A policy that keeps everything deletes nothing.
//! - `last=N` keeps the N newest copies. `hourly/daily/weekly/monthly/yearly=N` keep the newest copy
//!   of each of the N newest hours/days/ISO weeks/months/years that hold a copy (counted in the
//!   home's time zone, so a "daily" copy follows the wall clock through DST). `within=D` keeps every
//!   copy made in the D before `now`.
//! - Everything else is deleted, with the reason that it is outside the policy.
//!
//! Apart from `within` and copies dated in the future, the decisions do not depend on `now`.

pub mod local;
pub mod policy;

pub use policy::Policy;

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// A copy as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    /// When the backup was made.
    pub made: DateTime<Utc>,
    pub pinned: bool,
}

/// What to do with one copy, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: String,
    pub made: DateTime<Utc>,
    pub keep: bool,
    /// Why it is kept (every rule that keeps it), or why it is deleted (one reason).
    pub reasons: Vec<String>,
}

/// The kinds of calendar bucket, with how a bucket is named.
#[derive(Clone, Copy)]
enum Bucket {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Bucket {
    fn rule(self) -> &'static str {
        match self {
            Self::Hour => "hourly",
            Self::Day => "daily",
            Self::Week => "weekly",
            Self::Month => "monthly",
            Self::Year => "yearly",
        }
    }

    fn label(self, t: DateTime<Utc>, tz: Tz) -> String {
        let l = t.with_timezone(&tz);
        match self {
            Self::Hour => format!("{} {:02}h", l.format("%Y-%m-%d"), l.hour()),
            Self::Day => l.format("%Y-%m-%d").to_string(),
            Self::Week => {
                let w = l.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Self::Month => l.format("%Y-%m").to_string(),
            Self::Year => l.year().to_string(),
        }
    }
}

/// Decides every copy's fate. Returns the decisions newest first (ties broken by id).
pub fn apply(policy: &Policy, copies: &[Candidate], now: DateTime<Utc>, tz: Tz) -> Vec<Decision> {
    let mut sorted: Vec<&Candidate> = copies.iter().collect();
    sorted.sort_by(|a, b| b.made.cmp(&a.made).then_with(|| b.id.cmp(&a.id)));
    let mut decisions: Vec<Decision> = sorted
        .iter()
        .map(|c| Decision {
            id: c.id.clone(),
            made: c.made,
            keep: false,
            reasons: Vec::new(),
        })
        .collect();
    let keep = |d: &mut Decision, why: String| {
        d.keep = true;
        d.reasons.push(why);
    };
    for (i, (c, d)) in sorted.iter().zip(decisions.iter_mut()).enumerate() {
        if c.pinned {
            keep(d, "pinned".into());
        }
        if i == 0 {
            keep(d, "the newest copy".into());
        }
        if c.made > now {
            keep(d, "dated after now (was the clock wrong?)".into());
        }
        if policy.keeps_everything() {
            keep(d, "the policy keeps every copy".into());
        }
        if i < policy.last as usize {
            keep(
                d,
                format!("last {} ({} of {})", policy.last, i + 1, policy.last),
            );
        }
        if let Some(within) = policy.within {
            let age = now.signed_duration_since(c.made);
            if age >= chrono::TimeDelta::zero() && age.to_std().is_ok_and(|a| a <= within) {
                keep(
                    d,
                    format!("made within the last {}", policy::duration_text(within)),
                );
            }
        }
    }
    for (bucket, count) in [
        (Bucket::Hour, policy.hourly),
        (Bucket::Day, policy.daily),
        (Bucket::Week, policy.weekly),
        (Bucket::Month, policy.monthly),
        (Bucket::Year, policy.yearly),
    ] {
        // Newest first, so the first copy met in a bucket is that bucket's newest. A set, not the
        // previous label: local hours repeat when DST ends.
        let mut used = std::collections::HashSet::new();
        for (c, d) in sorted.iter().zip(decisions.iter_mut()) {
            if used.len() >= count as usize {
                break;
            }
            let label = bucket.label(c.made, tz);
            if used.insert(label.clone()) {
                keep(
                    d,
                    format!("{} {label} ({} of {count})", bucket.rule(), used.len()),
                );
            }
        }
    }
    for d in &mut decisions {
        if !d.keep {
            d.reasons.push(format!("outside the policy {policy}"));
        }
    }
    decisions
}

#[cfg(test)]
mod tests;
