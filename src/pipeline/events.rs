//! What a run says as it goes, as typed events: the stages report what happened, and
//! [`Event::said`] turns each into what the dashboard's live view and a run's timeline show (see
//! [`super::progress::Progress::tell`]). No stage writes the words itself.

use crate::history::RunStatus;
use crate::human;
use serde::Serialize;
use std::time::Duration;

/// Where a destination's copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneState {
    Uploading,
    Uploaded,
    ReadingBack,
    Verified,
    Failed,
}

/// Something that happened in a run.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// Home Assistant was asked to make the backup.
    AskedHomeAssistant,
    /// Home Assistant finished making it.
    HomeAssistantFinished,
    /// A destination failed its pre-flight check and is left out of the run.
    LeftOut { destination: &'a str, why: String },
    /// The single pass starts.
    Reading,
    /// The pass read the whole backup and encrypted it.
    PassDone { read: u64, stored: u64 },
    /// The pass failed as a whole.
    PassFailed { error: String },
    /// A destination committed its upload.
    Uploaded {
        destination: &'a str,
        bytes: u64,
        took: Duration,
    },
    /// A destination's upload was thrown away with the failed pass.
    Discarded { destination: &'a str },
    /// A destination's upload failed.
    UploadFailed { destination: &'a str, error: String },
    /// A copy is being read back.
    ReadingBack { destination: &'a str },
    /// The copy read back matches; its manifest is written.
    Verified {
        destination: &'a str,
        took: Duration,
    },
    /// The copy read back does not match, or cannot be read: its data was removed.
    ReadBackFailed { destination: &'a str, error: String },
    /// The manifest could not be written: the data was removed.
    ManifestFailed { destination: &'a str, error: String },
    /// The run is recorded.
    Recorded { status: RunStatus },
    /// Retention runs after the backups.
    ApplyingRetention,
    /// The run could not start, or failed before any backup was read.
    Refused { why: String },
    /// A destination's store mentions something that happened on the way (rclone's own retries).
    Remark {
        destination: &'a str,
        remark: &'a str,
    },
}

/// What an event changes on the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// The job's current step, when it moves on.
    pub step: Option<&'static str>,
    /// A line on the timeline, and whether it is a failure.
    pub line: Option<(String, bool)>,
    /// The destination concerned.
    pub destination: Option<String>,
    /// That destination's new state.
    pub lane: Option<LaneState>,
}

impl Event<'_> {
    /// The destination the event concerns, if one.
    fn destination(&self) -> Option<&str> {
        match self {
            Self::LeftOut { destination, .. }
            | Self::Uploaded { destination, .. }
            | Self::Discarded { destination }
            | Self::UploadFailed { destination, .. }
            | Self::ReadingBack { destination }
            | Self::Verified { destination, .. }
            | Self::ReadBackFailed { destination, .. }
            | Self::ManifestFailed { destination, .. }
            | Self::Remark { destination, .. } => Some(destination),
            _ => None,
        }
    }

    /// What it says, in words for people.
    pub fn said(&self) -> Said {
        Said {
            step: self.step(),
            line: self.line(),
            destination: self.destination().map(str::to_owned),
            lane: self.lane(),
        }
    }

    /// The step the job moves to, when it moves on.
    fn step(&self) -> Option<&'static str> {
        match self {
            Self::AskedHomeAssistant => Some("Home Assistant is making the backup"),
            Self::Reading => Some("Reading, checking, encrypting and uploading the backup"),
            Self::ApplyingRetention => Some("Applying retention"),
            _ => None,
        }
    }

    /// The destination's new state.
    fn lane(&self) -> Option<LaneState> {
        match self {
            Self::Uploaded { .. } => Some(LaneState::Uploaded),
            Self::ReadingBack { .. } => Some(LaneState::ReadingBack),
            Self::Verified { .. } => Some(LaneState::Verified),
            Self::Discarded { .. }
            | Self::UploadFailed { .. }
            | Self::ReadBackFailed { .. }
            | Self::ManifestFailed { .. } => Some(LaneState::Failed),
            _ => None,
        }
    }

    /// The timeline's line, and whether it is a failure.
    fn line(&self) -> Option<(String, bool)> {
        let ok = |s: String| Some((s, false));
        let failed = |s: String| Some((s, true));
        match self {
            Self::AskedHomeAssistant => ok("Asked Home Assistant for a backup".into()),
            Self::HomeAssistantFinished => ok("Home Assistant finished the backup".into()),
            Self::LeftOut { why, .. } => failed(format!("Left out: {why}")),
            Self::PassDone { read, stored } => ok(format!(
                "Read {} once: every archive inside checked, encrypted to {}",
                human::size(*read),
                human::size(*stored)
            )),
            Self::PassFailed { error } | Self::Refused { why: error } => failed(error.clone()),
            Self::Uploaded { bytes, took, .. } => ok(format!(
                "Uploaded {} in {}",
                human::size(*bytes),
                human::duration(*took)
            )),
            Self::UploadFailed { error, .. } => failed(format!("Upload failed: {error}")),
            Self::Verified { took, .. } => ok(format!(
                "Read back in {}: matches what was sent; manifest written",
                human::duration(*took)
            )),
            Self::ReadBackFailed { error, .. } => {
                failed(format!("Reading the copy back failed: {error}"))
            }
            Self::ManifestFailed { error, .. } => {
                failed(format!("Writing the manifest failed: {error}"))
            }
            Self::Recorded { status } => ok(format!(
                "Recorded: {}",
                match status {
                    RunStatus::Success => "every destination holds a verified copy",
                    RunStatus::Partial => "some destinations hold a verified copy",
                    _ => "no verified copy",
                }
            )),
            Self::Remark { remark, .. } => ok((*remark).to_owned()),
            Self::Reading
            | Self::Discarded { .. }
            | Self::ReadingBack { .. }
            | Self::ApplyingRetention => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_say_what_the_timeline_showed() {
        let s = Event::Verified {
            destination: "nas",
            took: Duration::from_millis(1500),
        }
        .said();
        assert_eq!(s.destination.as_deref(), Some("nas"));
        assert_eq!(s.lane, Some(LaneState::Verified));
        let (line, failed) = s.line.unwrap();
        assert!(line.starts_with("Read back in 1 s:"), "{line}");
        assert!(!failed);
        let s = Event::UploadFailed {
            destination: "b2",
            error: "HTTP 403".into(),
        }
        .said();
        assert_eq!(s.line, Some(("Upload failed: HTTP 403".into(), true)));
        assert_eq!(
            Event::ApplyingRetention.said().step,
            Some("Applying retention")
        );
    }
}
