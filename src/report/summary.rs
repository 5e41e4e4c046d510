//! Lifeboat's state as people and automations see it, read from history: the run state, the last
//! runs, the newest copy on each destination, the kit check, and every problem that needs a person
//! (each step below adds its kind of problem, in the order they are shown).

use super::{Problem, ProblemKind, Watch};
use crate::destinations::probe::Cause;
use crate::history::probes::ProbeRow;
use crate::history::{CopyRecord, History, HistoryError, KeyLedger, KitDue, RunRow, RunStatus};
use chrono::{DateTime, TimeDelta, Utc};

/// Lifeboat's state as people and automations see it, from history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// `idle`, `running` or `failed` (the last run failed).
    pub state: &'static str,
    pub last: Option<RunRow>,
    pub last_good: Option<RunRow>,
    /// What needs a person's attention, in plain words (empty when all is well).
    pub problems: Vec<Problem>,
    /// The newest verified copy on each destination.
    pub copies: Vec<CopyRecord>,
    /// Where the kit check stands (`None` when it is never asked).
    pub kit: Option<KitDue>,
}

impl Summary {
    /// Reads the summary from history, judging staleness against `watch`.
    ///
    /// # Errors
    /// [`HistoryError`] when history cannot be read.
    pub async fn load(
        history: &History,
        running: bool,
        watch: &Watch,
    ) -> Result<Self, HistoryError> {
        let now = watch.clock.now();
        let (last, last_good) = history.last_ended_and_good().await?;
        let mut problems = last_runs(last.as_ref(), last_good.as_ref());
        problems.extend(unknown_key(last_good.as_ref()));
        let copies = history.latest_verified_copies().await?;
        if last_good.is_some() {
            problems.extend(stale_destinations(&copies, watch, now));
        }
        problems.extend(stale_sources(history, watch, now).await?);
        problems.extend(damaged(history, watch, now).await?);
        problems.extend(settings_to_fix(history, watch).await?);
        problems.extend(failed_probes(history, &copies, watch, now).await?);
        problems.extend(watch.cautions.iter().map(caution));
        let kit = match watch.kit_every {
            Some(every) => Some(history.kit_due(every).await?),
            None => None,
        };
        problems.extend(kit.as_ref().and_then(|k| kit_overdue(k, now)));
        Ok(Self {
            state: state(running, last.as_ref()),
            last,
            last_good,
            problems,
            copies,
            kit,
        })
    }
}

/// `running`, `failed` (the last run failed) or `idle`.
fn state(running: bool, last: Option<&RunRow>) -> &'static str {
    if running {
        "running"
    } else if last.is_some_and(|r| r.status == RunStatus::Failed) {
        "failed"
    } else {
        "idle"
    }
}

/// No verified copy yet, or the last run failed or did not reach every destination.
fn last_runs(last: Option<&RunRow>, last_good: Option<&RunRow>) -> Vec<Problem> {
    let problem = match (last, last_good) {
        (_, None) => Problem::new(
            ProblemKind::NothingYet,
            "no backup has a verified off-site copy yet",
        ),
        (Some(r), _) if r.status == RunStatus::Failed => Problem::new(
            ProblemKind::LastFailed,
            format!(
                "the last backup failed: {}",
                r.error.as_deref().unwrap_or("see Lifeboat")
            ),
        ),
        (Some(r), _) if r.status == RunStatus::Partial => {
            let failed: Vec<&str> = r
                .copies
                .iter()
                .filter(|c| !c.verified)
                .map(|c| c.destination.as_str())
                .collect();
            Problem::new(
                ProblemKind::Incomplete,
                format!("the last backup did not reach {}", failed.join(", ")),
            )
        }
        _ => return Vec::new(),
    };
    vec![problem]
}

/// A copy that opens only with a key nobody has is no copy: say so while it is the newest.
fn unknown_key(last_good: Option<&RunRow>) -> Option<Problem> {
    last_good
        .filter(|good| good.keys.as_ref().is_some_and(KeyLedger::ha_key_missing))
        .map(|_| {
            Problem::new(
                ProblemKind::Keys,
                "the newest backup is protected with a Home Assistant key Lifeboat has never \
                 seen; import it (lifeboat keys import) from Home Assistant's emergency kit",
            )
        })
}

/// Each watched destination without a verified copy newer than `watch.stale_after`.
fn stale_destinations(copies: &[CopyRecord], watch: &Watch, now: DateTime<Utc>) -> Vec<Problem> {
    let limit = TimeDelta::from_std(watch.stale_after).unwrap_or(TimeDelta::MAX);
    let mut out = Vec::new();
    for name in &watch.destinations {
        let newest = copies
            .iter()
            .find(|c| &c.destination == name)
            .and_then(|c| c.verified_at);
        match newest {
            None => out.push(Problem::new(
                ProblemKind::Stale,
                format!("{name} holds no verified copy"),
            )),
            Some(t) if now.signed_duration_since(t) > limit => {
                out.push(Problem::new(
                    ProblemKind::Stale,
                    format!(
                        "the newest verified copy on {name} is {} hours old",
                        now.signed_duration_since(t).num_hours()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    out
}

/// Each watched source without a verified copy newer than its own `stale_after`.
async fn stale_sources(
    history: &History,
    watch: &Watch,
    now: DateTime<Utc>,
) -> Result<Vec<Problem>, HistoryError> {
    let mut out = Vec::new();
    for source in &watch.sources {
        let limit = TimeDelta::from_std(source.stale_after).unwrap_or(TimeDelta::MAX);
        match history
            .newest_verified_of(&source.name, source.first)
            .await?
        {
            None => out.push(Problem::new(
                ProblemKind::Stale,
                format!("{} has no verified copy yet", source.name),
            )),
            Some(t) if now.signed_duration_since(t) > limit => out.push(Problem::new(
                ProblemKind::Stale,
                format!(
                    "no verified copy of {} for {} hours",
                    source.name,
                    now.signed_duration_since(t).num_hours()
                ),
            )),
            Some(_) => {}
        }
    }
    Ok(out)
}

/// Failed re-verifications of the last week (older ones have been re-checked or pruned since).
async fn damaged(
    history: &History,
    watch: &Watch,
    now: DateTime<Utc>,
) -> Result<Vec<Problem>, HistoryError> {
    let mut damaged: Vec<String> = history
        .last_checks()
        .await?
        .into_iter()
        .filter(|(_, c)| !c.ok && now.signed_duration_since(c.at) <= TimeDelta::days(7))
        .filter(|((d, _), _)| watch.destinations.contains(d))
        .map(|((d, id), c)| format!("copy {id} on {d}: {}", c.error.unwrap_or_default()))
        .collect();
    damaged.sort();
    Ok(damaged
        .into_iter()
        .map(|text| Problem::new(ProblemKind::Damaged, text))
        .collect())
}

/// The kit check, when it is overdue.
fn kit_overdue(kit: &KitDue, now: DateTime<Utc>) -> Option<Problem> {
    if !kit.overdue(now) {
        return None;
    }
    let text = match kit.checked {
        Some(t) => format!(
            "the emergency kit was last checked {} days ago; check it on the Emergency kit page",
            now.signed_duration_since(t).num_days()
        ),
        None => "the emergency kit has never been checked; print it and check it on the \
                 Emergency kit page"
            .to_owned(),
    };
    Some(Problem::new(ProblemKind::Kit, text))
}

/// Destinations that refused their settings: retrying cannot help until a person fixes them, so
/// each is a problem that says so (one line per destination, the newest reason).
async fn settings_to_fix(history: &History, watch: &Watch) -> Result<Vec<Problem>, HistoryError> {
    let mut seen = std::collections::BTreeMap::new();
    for r in history.retries().await? {
        if r.waits_for.is_some() && watch.destinations.contains(&r.destination) {
            seen.insert(r.destination.clone(), r);
        }
    }
    Ok(seen
        .into_values()
        .map(|r| {
            let why = match r.failure.as_deref() {
                Some("denied") => "refused the credentials",
                _ => "cannot work with its settings",
            };
            let text = format!(
                "{} {why} ({}); correct them in Lifeboat's options — it is not retried until they \
                 change, then at once",
                r.destination,
                r.last_error.as_deref().unwrap_or("no reason given")
            );
            Problem::new(ProblemKind::FixSettings, text)
        })
        .collect())
}

/// Each watched destination whose newest test failed after its newest verified copy: a copy made
/// since says the destination works, whatever an older test said.
async fn failed_probes(
    history: &History,
    copies: &[CopyRecord],
    watch: &Watch,
    now: DateTime<Utc>,
) -> Result<Vec<Problem>, HistoryError> {
    let probes = history.last_probes(&watch.destinations).await?;
    Ok(probes
        .iter()
        .filter(|p| !p.ok)
        .filter(|p| {
            let verified = copies
                .iter()
                .find(|c| c.destination == p.destination)
                .and_then(|c| c.verified_at);
            verified.is_none_or(|v| p.at > v)
        })
        .map(|p| Problem::new(ProblemKind::ProbeFailed, probe_failed_text(p, now)))
        .collect())
}

/// "nas failed its test 3 hours ago: the server refused the credentials: check …".
pub fn probe_failed_text(p: &ProbeRow, now: DateTime<Utc>) -> String {
    let words = p
        .cause
        .as_deref()
        .and_then(Cause::from_word)
        .unwrap_or(Cause::Other)
        .words();
    format!(
        "{} failed its destination test {}: {words}",
        p.destination,
        crate::human::ago(p.at, now)
    )
}

/// A caution about the settings ([`crate::config::cautions`]) as a problem of its kind, with its
/// words.
fn caution(c: &crate::config::Caution) -> Problem {
    let kind = match c.kind {
        crate::config::CautionKind::Cleartext => ProblemKind::Cleartext,
    };
    Problem::new(kind, c.text.clone())
}
