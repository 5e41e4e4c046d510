//! Live progress of the job in hand, for the dashboard: the step it is at, the bytes read from the
//! source and written to each destination (atomic counters the pipeline bumps per chunk), and the
//! timeline of what happened when, which goes into history with the run. Readers take snapshots,
//! with rates and estimates worked out against the `now` they pass in.

use super::events::Event;
pub use super::events::LaneState;
use crate::clock::Clock;
use crate::history::{Moment, RunStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// The board and the clock, for stages that tell what happens as it happens.
#[derive(Clone, Copy)]
pub struct Teller<'a> {
    pub progress: &'a Progress,
    pub clock: &'a dyn Clock,
}

impl Teller<'_> {
    /// Tells `event`, now.
    pub fn tell(&self, event: &Event<'_>) {
        self.progress.tell(self.clock.now(), event);
    }

    /// Now, by the run's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// The counters one pass bumps.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Plain bytes read from the source.
    pub read: Arc<AtomicU64>,
    /// Stored bytes each destination took, in the order the pass was given them.
    pub written: Vec<(String, Arc<AtomicU64>)>,
}

impl Counters {
    /// The counter for `destination` (a fresh one if the pass was not told of it).
    pub fn written_to(&self, destination: &str) -> Arc<AtomicU64> {
        self.written
            .iter()
            .find(|(n, _)| n == destination)
            .map_or_else(Arc::default, |(_, c)| c.clone())
    }
}

#[derive(Debug)]
struct Lane {
    name: String,
    state: LaneState,
    written: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Live {
    trigger: String,
    started: DateTime<Utc>,
    step: String,
    run_id: Option<i64>,
    backup: Option<String>,
    expected: Option<u64>,
    pass_started: Option<DateTime<Utc>>,
    read: Arc<AtomicU64>,
    lanes: Vec<Lane>,
}

#[derive(Debug, Default)]
struct Board {
    live: Option<Live>,
    /// Moments not yet handed to a run's record.
    timeline: Vec<Moment>,
    /// The newest moments of the job in hand, for people watching (kept after a run is recorded,
    /// until the next job begins).
    shown: Vec<Moment>,
    /// How the last job ended, until the next begins.
    last: Option<Ended>,
}

/// How a job ended, as the board keeps it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum JobOutcome {
    /// Every destination holds a verified copy (or a restore, drill or check went through).
    Success,
    /// Some destinations hold a verified copy, some do not.
    Partial,
    /// Nothing was done that was asked for.
    Failed,
    /// There was nothing new to back up.
    Nothing,
    /// A safe update installed the update, after its backup was verified.
    Updated,
    /// A safe update backed up but did not install.
    NotInstalled,
}

impl JobOutcome {
    /// How a job whose last run ended with `status` ended.
    pub fn of_run(status: RunStatus) -> Self {
        match status {
            RunStatus::Success => Self::Success,
            RunStatus::Partial => Self::Partial,
            RunStatus::Failed | RunStatus::Running | RunStatus::Interrupted => Self::Failed,
        }
    }

    /// The word for it (`success`, `not-installed`…), as the progress API has always said it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Nothing => "nothing",
            Self::Updated => "updated",
            Self::NotInstalled => "not-installed",
        }
    }
}

/// How the last job ended.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Ended {
    pub at: DateTime<Utc>,
    pub run_id: Option<i64>,
    pub outcome: JobOutcome,
}

/// One destination in a snapshot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LaneSnapshot {
    pub name: String,
    pub state: LaneState,
    pub bytes: u64,
    /// Bytes per second since the pass began.
    pub rate: Option<f64>,
    /// Seconds left at that rate, when the size is known.
    pub eta_seconds: Option<u64>,
}

/// Progress as the dashboard shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Snapshot {
    pub running: bool,
    pub trigger: Option<String>,
    pub started: Option<DateTime<Utc>>,
    pub step: Option<String>,
    pub run_id: Option<i64>,
    pub backup: Option<String>,
    /// The backup's size, when the source said.
    pub size: Option<u64>,
    pub read: u64,
    pub destinations: Vec<LaneSnapshot>,
    pub timeline: Vec<Moment>,
    pub last: Option<Ended>,
}

/// The board the pipeline writes and the dashboard reads.
#[derive(Debug)]
pub struct Progress {
    board: Mutex<Board>,
    changed: watch::Sender<u64>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            board: Mutex::new(Board::default()),
            changed: watch::channel(0).0,
        }
    }
}

/// The newest moments a snapshot carries.
const SHOWN: usize = 40;

impl Progress {
    fn edit<T>(&self, f: impl FnOnce(&mut Board) -> T) -> T {
        let out = f(&mut self.board.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        out
    }

    /// Wakes on every change of step or timeline (byte counters do not wake it).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// A job begins: forget the last one.
    pub fn begin(&self, trigger: &str, now: DateTime<Utc>, step: &str) {
        self.edit(|b| {
            b.timeline.clear();
            b.shown.clear();
            b.last = None;
            b.live = Some(Live {
                trigger: trigger.to_owned(),
                started: now,
                step: step.to_owned(),
                run_id: None,
                backup: None,
                expected: None,
                pass_started: None,
                read: Arc::default(),
                lanes: Vec::new(),
            });
        });
    }

    /// Whether a job is under way.
    pub fn running(&self) -> bool {
        self.board
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .live
            .is_some()
    }

    fn moment(&self, m: Moment) {
        self.edit(|b| {
            b.shown.push(m.clone());
            if b.shown.len() > SHOWN {
                b.shown.remove(0);
            }
            b.timeline.push(m);
        });
    }

    /// Puts what `event` says on the board, at `at`.
    pub fn tell(&self, at: DateTime<Utc>, event: &Event<'_>) {
        let said = event.said();
        if let Some(step) = said.step {
            self.step(step);
        }
        if let (Some(d), Some(state)) = (&said.destination, said.lane) {
            self.lane(d, state);
        }
        if let Some((what, failed)) = said.line {
            self.moment(Moment {
                at,
                what,
                destination: said.destination,
                failed,
            });
        }
    }

    /// The job moves to another step (a short phrase: "Home Assistant is making the backup").
    pub fn step(&self, step: &str) {
        self.edit(|b| {
            if let Some(l) = &mut b.live {
                step.clone_into(&mut l.step);
            }
        });
    }

    /// A run of the job has its id and backup.
    pub fn run(&self, run_id: i64, backup: Option<&str>, expected: Option<u64>) {
        self.edit(|b| {
            if let Some(l) = &mut b.live {
                l.run_id = Some(run_id);
                l.backup = backup.map(str::to_owned);
                l.expected = expected;
                l.pass_started = None;
                l.lanes.clear();
                l.read = Arc::default();
            }
        });
    }

    /// The single pass begins; returns the counters it bumps.
    pub fn pass(&self, now: DateTime<Utc>, destinations: &[String]) -> Counters {
        let counters = Counters {
            read: Arc::default(),
            written: destinations
                .iter()
                .map(|d| (d.clone(), Arc::default()))
                .collect(),
        };
        self.edit(|b| {
            if let Some(l) = &mut b.live {
                l.pass_started = Some(now);
                l.read = counters.read.clone();
                l.lanes = counters
                    .written
                    .iter()
                    .map(|(name, written)| Lane {
                        name: name.clone(),
                        state: LaneState::Uploading,
                        written: written.clone(),
                    })
                    .collect();
            }
        });
        counters
    }

    /// A destination's copy moved on.
    pub fn lane(&self, destination: &str, state: LaneState) {
        self.edit(|b| {
            if let Some(lane) = b
                .live
                .as_mut()
                .and_then(|l| l.lanes.iter_mut().find(|x| x.name == destination))
            {
                lane.state = state;
            }
        });
    }

    /// Hands over the moments since the last call, for a run's record,
    /// in the order they happened.
    pub fn take_timeline(&self) -> Vec<Moment> {
        let mut t = self.edit(|b| std::mem::take(&mut b.timeline));
        t.sort_by_key(|m| m.at);
        t
    }

    /// A job announced with [`Progress::begin`] was never queued: forget it, claiming no outcome.
    pub fn abandon(&self) {
        self.edit(|b| {
            b.live = None;
            b.timeline.clear();
        });
    }

    /// The job is over.
    pub fn end(&self, at: DateTime<Utc>, run_id: Option<i64>, outcome: JobOutcome) {
        self.edit(|b| {
            b.live = None;
            b.timeline.clear();
            b.last = Some(Ended {
                at,
                run_id,
                outcome,
            });
        });
    }

    /// Progress as of `now`.
    pub fn snapshot(&self, now: DateTime<Utc>) -> Snapshot {
        let b = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        let mut timeline = b.shown.clone();
        timeline.sort_by_key(|m| m.at);
        let last = b.last.clone();
        let Some(l) = &b.live else {
            return Snapshot {
                running: false,
                trigger: None,
                started: None,
                step: None,
                run_id: None,
                backup: None,
                size: None,
                read: 0,
                destinations: Vec::new(),
                timeline,
                last,
            };
        };
        let elapsed = l
            .pass_started
            .map(|t| (now - t).as_seconds_f64())
            .filter(|s| *s > 0.0);
        let rate = |bytes: u64| elapsed.map(|s| bytes as f64 / s).filter(|r| *r > 0.0);
        let eta = |bytes: u64, rate: Option<f64>| match (l.expected, rate) {
            (Some(total), Some(r)) => Some((total.saturating_sub(bytes) as f64 / r).ceil() as u64),
            _ => None,
        };
        let destinations = l
            .lanes
            .iter()
            .map(|lane| {
                let bytes = lane.written.load(Ordering::Relaxed);
                let r = rate(bytes).filter(|_| lane.state == LaneState::Uploading);
                LaneSnapshot {
                    name: lane.name.clone(),
                    state: lane.state,
                    bytes,
                    rate: r,
                    eta_seconds: eta(bytes, r),
                }
            })
            .collect();
        Snapshot {
            running: true,
            trigger: Some(l.trigger.clone()),
            started: Some(l.started),
            step: Some(l.step.clone()),
            run_id: l.run_id,
            backup: l.backup.clone(),
            size: l.expected,
            read: l.read.load(Ordering::Relaxed),
            destinations,
            timeline,
            last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_job_from_start_to_end() {
        let p = Progress::default();
        let rx = p.subscribe();
        assert!(!p.snapshot(at(0)).running);
        p.begin("manual", at(0), "Checking destinations");
        p.tell(at(1), &Event::HomeAssistantFinished);
        assert!(rx.has_changed().unwrap());
        p.run(7, Some("Nightly"), Some(1000));
        let c = p.pass(at(10), &["nas".into(), "b2".into()]);
        c.read.store(500, Ordering::Relaxed);
        c.written_to("nas").store(400, Ordering::Relaxed);
        c.written_to("b2").store(100, Ordering::Relaxed);
        let s = p.snapshot(at(20));
        assert!(s.running);
        assert_eq!((s.run_id, s.read, s.size), (Some(7), 500, Some(1000)));
        assert_eq!(s.destinations[0].rate, Some(40.0));
        assert_eq!(s.destinations[0].eta_seconds, Some(15));
        assert_eq!(s.destinations[1].eta_seconds, Some(90));
        p.lane("nas", LaneState::Verified);
        p.tell(
            at(21),
            &Event::UploadFailed {
                destination: "b2",
                error: "refused".into(),
            },
        );
        let s = p.snapshot(at(22));
        assert_eq!(s.destinations[0].state, LaneState::Verified);
        assert_eq!(s.destinations[0].rate, None);
        let t = p.take_timeline();
        assert_eq!(t.len(), 2);
        assert!(t[1].failed);
        assert!(p.take_timeline().is_empty());
        p.end(at(30), Some(7), JobOutcome::Partial);
        let s = p.snapshot(at(31));
        assert!(!s.running);
        assert_eq!(s.timeline.len(), 2, "people still see what happened");
        assert_eq!(s.last.unwrap().outcome, JobOutcome::Partial);
        p.begin("dashboard", at(40), "Waiting to start");
        p.abandon();
        let s = p.snapshot(at(41));
        assert!(
            !s.running && s.last.is_none(),
            "an abandoned job claims no outcome"
        );
    }
}
