//! Cron schedules in the home's time zone. [`drive`] waits for each occurrence (plus an optional
//! random delay), then asks for the job through the same single-flight path as every other
//! trigger; a request refused because a job is already waiting is logged, never doubled.
//!
//! Missed runs: the last occurrence handled is kept in history. When Lifeboat starts and an
//! occurrence fell while it was down, exactly one catch-up job runs at once, however many were
//! missed. The clock and the random delay are inputs, so tests drive this with paused tokio time.

use crate::clock::Clock;
use crate::history::History;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a schedule runs; its name in logs and the history key is `backup`, `verify`, or
/// `backup:NAME` for a source with a schedule of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleName {
    /// The backup of the sources that follow the main schedule.
    Backup,
    /// The backup of one source on its own schedule.
    SourceBackup(String),
    /// The re-verification of the newest copies.
    Verify,
}

impl ScheduleName {
    /// Whether it runs a backup.
    pub fn is_backup(&self) -> bool {
        !matches!(self, Self::Verify)
    }
}

impl std::fmt::Display for ScheduleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Backup => f.write_str("backup"),
            Self::SourceBackup(source) => write!(f, "backup:{source}"),
            Self::Verify => f.write_str("verify"),
        }
    }
}

/// One schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// What it runs.
    pub name: ScheduleName,
    /// The sources a `backup` schedule backs up (empty: the first).
    pub sources: Vec<String>,
    pub cron: Cron,
    pub tz: Tz,
    /// Each occurrence starts up to this much late, at random.
    pub jitter: Duration,
}

/// The next occurrence strictly after `after`.
pub fn next_after(cron: &Cron, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether an occurrence fell after `last` and up to `now`.
pub fn missed(cron: &Cron, tz: Tz, last: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    next_after(cron, tz, last).is_some_and(|t| t <= now)
}

/// Where the random delay comes from.
pub trait Jitter: Send + Sync {
    /// A delay from zero up to `max`.
    fn pick(&self, max: Duration) -> Duration;
}

/// Randomness from the standard library's per-process seeded hasher.
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn pick(&self, max: Duration) -> Duration {
        use std::hash::{BuildHasher, Hasher};
        let secs = max.as_secs();
        if secs == 0 {
            return Duration::ZERO;
        }
        let r = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Duration::from_secs(r % (secs + 1))
    }
}

/// Asks for a job, named by its trigger (`schedule`, `catch-up`); `Err` says why it was not taken
/// (another is waiting, shutting down), in the asker's own error type.
pub type Fire<E> = Arc<dyn Fn(&str) -> Result<(), E> + Send + Sync>;

fn key(name: &str) -> String {
    format!("schedule.{name}.last")
}

/// Runs one schedule until `shutdown`.
pub async fn drive<E: std::fmt::Display>(
    schedule: Schedule,
    history: History,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
    fire: Fire<E>,
    shutdown: CancellationToken,
) {
    let Schedule {
        name,
        cron,
        tz,
        jitter: max_jitter,
        ..
    } = schedule;
    let name = name.to_string();
    let name = name.as_str();
    let record = |at: DateTime<Utc>| {
        let history = history.clone();
        async move {
            if let Err(e) = history.set_value(&key(name), &at.to_rfc3339()).await {
                tracing::warn!("remembering the {name} schedule: {e}");
            }
        }
    };
    let now = clock.now();
    let last = match history.get_value(&key(name)).await {
        Ok(v) => v
            .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
            .map(|t| t.with_timezone(&Utc)),
        Err(e) => {
            tracing::warn!("reading the {name} schedule's last run: {e}");
            None
        }
    };
    match last {
        Some(last) if missed(&cron, tz, last, now) => {
            tracing::info!("a scheduled {name} was missed while Lifeboat was down: running it now");
            ask(&fire, name, "catch-up");
            record(now).await;
        }
        Some(_) => {}
        None => record(now).await,
    }
    let mut after = now;
    loop {
        let Some(next) = next_after(&cron, tz, after) else {
            tracing::warn!("the {name} schedule has no further occurrence");
            return;
        };
        let at = next + jitter.pick(max_jitter);
        tracing::info!("next scheduled {name}: {at}");
        // Sleep in short steps against the clock, so a clock that jumps (suspend, NTP) is followed.
        loop {
            let left = at.signed_duration_since(clock.now());
            let Ok(left) = left.to_std() else { break };
            if left.is_zero() {
                break;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(left.min(Duration::from_secs(60))) => {}
            }
        }
        ask(&fire, name, "schedule");
        record(next).await;
        after = next.max(clock.now());
    }
}

fn ask<E: std::fmt::Display>(fire: &Fire<E>, name: &str, trigger: &str) {
    if let Err(why) = fire(trigger) {
        tracing::warn!("the scheduled {name} did not start: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cron(s: &str) -> Cron {
        s.parse().unwrap()
    }

    #[test]
    fn occurrences_follow_the_home_time_zone_through_dst() {
        let c = cron("30 3 * * *");
        let berlin = chrono_tz::Europe::Berlin;
        // 03:30 in Berlin is 02:30 UTC in winter and 01:30 UTC in summer.
        assert_eq!(
            next_after(&c, berlin, at("2026-03-28T12:00:00Z")),
            Some(at("2026-03-29T01:30:00Z"))
        );
        assert_eq!(
            next_after(&c, berlin, at("2026-03-27T12:00:00Z")),
            Some(at("2026-03-28T02:30:00Z"))
        );
        assert!(missed(
            &c,
            berlin,
            at("2026-03-27T12:00:00Z"),
            at("2026-03-28T02:30:00Z")
        ));
        assert!(!missed(
            &c,
            berlin,
            at("2026-03-28T02:30:00Z"),
            at("2026-03-29T01:29:00Z")
        ));
    }

    /// Wall time that moves with tokio's (paused) clock.
    struct TokioClock {
        base: DateTime<Utc>,
        start: tokio::time::Instant,
    }

    impl Clock for TokioClock {
        fn now(&self) -> DateTime<Utc> {
            self.base + chrono::TimeDelta::from_std(self.start.elapsed()).unwrap_or_default()
        }
    }

    struct Fixed(Duration);
    impl Jitter for Fixed {
        fn pick(&self, max: Duration) -> Duration {
            self.0.min(max)
        }
    }

    type Log = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

    fn recorder(clock: Arc<dyn Clock>, refuse: bool) -> (Fire<&'static str>, Log) {
        let log: Log = Arc::default();
        let l = log.clone();
        let fire: Fire<&'static str> = Arc::new(move |trigger: &str| {
            l.lock().unwrap().push((trigger.to_owned(), clock.now()));
            if refuse {
                Err("a backup is already waiting")
            } else {
                Ok(())
            }
        });
        (fire, log)
    }

    async fn run_for(
        history: &History,
        base: &str,
        hours: u64,
        jitter: Duration,
        refuse: bool,
    ) -> Vec<(String, DateTime<Utc>)> {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock {
            base: at(base),
            start: tokio::time::Instant::now(),
        });
        let (fire, log) = recorder(clock.clone(), refuse);
        let stop = CancellationToken::new();
        let task = tokio::spawn(drive(
            Schedule {
                name: ScheduleName::Backup,
                sources: Vec::new(),
                cron: cron("30 3 * * *"),
                tz: chrono_tz::UTC,
                jitter,
            },
            history.clone(),
            clock,
            Arc::new(Fixed(Duration::from_secs(600))),
            fire,
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(hours * 3600)).await;
        stop.cancel();
        task.await.unwrap();
        log.lock().unwrap().clone()
    }

    #[test]
    fn a_schedule_is_named_as_before_in_logs_and_history() {
        let names = [
            ScheduleName::Backup,
            ScheduleName::SourceBackup("postgres".into()),
            ScheduleName::Verify,
        ];
        let words: Vec<String> = names.iter().map(ToString::to_string).collect();
        assert_eq!(words, ["backup", "backup:postgres", "verify"]);
        assert_eq!(key(&words[1]), "schedule.backup:postgres.last");
        let backups: Vec<bool> = names.iter().map(ScheduleName::is_backup).collect();
        assert_eq!(backups, [true, true, false]);
    }

    #[tokio::test(start_paused = true)]
    async fn fires_on_time_catches_up_once_and_never_doubles() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        // First start: no catch-up, then one run a day at 03:30 (+10 min jitter).
        let log = run_for(
            &h,
            "2026-01-01T12:00:00Z",
            72,
            Duration::from_secs(900),
            false,
        )
        .await;
        let times: Vec<_> = log
            .iter()
            .map(|(t, at)| (t.as_str(), at.to_rfc3339()))
            .collect();
        assert_eq!(
            times,
            [
                ("schedule", "2026-01-02T03:40:00+00:00".to_owned()),
                ("schedule", "2026-01-03T03:40:00+00:00".to_owned()),
                ("schedule", "2026-01-04T03:40:00+00:00".to_owned()),
            ]
        );
        // Down from 4 Jan 12:00 to 8 Jan 12:00: four runs missed, one catch-up at start.
        let log = run_for(&h, "2026-01-08T12:00:00Z", 1, Duration::ZERO, false).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].0, "catch-up");
        assert_eq!(log[0].1, at("2026-01-08T12:00:00Z"));
        // Restarted the same morning, before 03:30 came round again: nothing to catch up.
        let log = run_for(&h, "2026-01-08T13:00:00Z", 1, Duration::ZERO, false).await;
        assert!(log.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_fire_is_reported_and_the_schedule_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        // What the schedule logs, caught on this (the test runtime's only) thread.
        let said = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = said.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Caught(sink.clone()))
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        let log = run_for(&h, "2026-01-01T00:00:00Z", 49, Duration::ZERO, true).await;
        drop(guard);
        // Refused (a job already waiting) both days: asked once per occurrence, never again.
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].1, at("2026-01-02T03:30:00Z"));
        // And each refusal is said, with the reason.
        let said = String::from_utf8(said.lock().unwrap().clone()).unwrap();
        let reports: Vec<&str> = said
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("the scheduled backup did not start"))
            .collect();
        assert_eq!(reports.len(), 2, "{said}");
        assert!(reports[0].contains("a backup is already waiting"), "{said}");
    }

    /// A log writer into a shared buffer.
    struct Caught(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Caught {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
