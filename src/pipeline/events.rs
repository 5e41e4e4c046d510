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
    /// A safe update stopped: it could not go ahead, or Home Assistant could not install it.
    UpdateStopped { why: String },
    /// The backup made before an update holds a verified copy on enough destinations.
    BackedUpFirst { run_id: i64, verified: &'a [String] },
    /// Home Assistant installed the update.
    Installed { what: &'a str },
    /// A copy read back on request matches its manifest.
    CopyIntact {
        destination: &'a str,
        copy_id: &'a str,
    },
    /// A copy read back on request does not match its manifest, or could not be read.
    CopyDamaged {
        destination: &'a str,
        copy_id: &'a str,
        error: String,
    },
    /// A copy was streamed into Home Assistant's backup list.
    Restored {
        destination: &'a str,
        copy_id: &'a str,
        backup_id: &'a str,
    },
    /// A restore drill went through: the copy decrypted, matched and opened to its end.
    Drilled {
        destination: &'a str,
        copy_id: &'a str,
        archives: usize,
        took: Duration,
        warnings: &'a [String],
    },
    /// Restoring a copy into Home Assistant (or drilling it, `drill`) failed.
    RestoreFailed {
        destination: &'a str,
        copy_id: &'a str,
        drill: bool,
        error: String,
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
            | Self::Remark { destination, .. }
            | Self::CopyIntact { destination, .. }
            | Self::CopyDamaged { destination, .. }
            | Self::Restored { destination, .. }
            | Self::Drilled { destination, .. }
            | Self::RestoreFailed { destination, .. } => Some(destination),
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
            Self::UpdateStopped { .. }
            | Self::BackedUpFirst { .. }
            | Self::Installed { .. }
            | Self::CopyIntact { .. }
            | Self::CopyDamaged { .. }
            | Self::Restored { .. }
            | Self::Drilled { .. }
            | Self::RestoreFailed { .. } => self.job_line(),
            Self::Reading
            | Self::Discarded { .. }
            | Self::ReadingBack { .. }
            | Self::ApplyingRetention => None,
        }
    }

    /// The timeline's line of the jobs besides runs: safe updates, checks, restores and drills.
    fn job_line(&self) -> Option<(String, bool)> {
        let ok = |s: String| Some((s, false));
        let failed = |s: String| Some((s, true));
        match self {
            Self::UpdateStopped { why } => failed(why.clone()),
            Self::BackedUpFirst { run_id, verified } => ok(format!(
                "Backed up off-site first (run {run_id}): verified on {}",
                verified.join(", ")
            )),
            Self::Installed { what } => ok(format!("Home Assistant installed {what}")),
            Self::CopyIntact { copy_id, .. } => {
                ok(format!("Copy {copy_id} read back: it matches its manifest"))
            }
            Self::CopyDamaged { copy_id, error, .. } => failed(format!("Copy {copy_id}: {error}")),
            Self::Restored {
                copy_id, backup_id, ..
            } => ok(format!(
                "Copy {copy_id} is in Home Assistant as backup {backup_id}: Settings → System → \
                 Backups, ready to restore"
            )),
            Self::Drilled {
                copy_id,
                archives,
                took,
                warnings,
                ..
            } => ok(drill_verdict(copy_id, *archives, *took, warnings)),
            Self::RestoreFailed {
                copy_id,
                drill,
                error,
                ..
            } => failed(format!(
                "{} copy {copy_id} failed: {error}",
                if *drill {
                    "The restore drill of"
                } else {
                    "Restoring"
                }
            )),
            _ => None,
        }
    }
}

/// A restore drill's verdict, with what a person should know although the copy restores.
fn drill_verdict(copy_id: &str, archives: usize, took: Duration, warnings: &[String]) -> String {
    let mut said = format!(
        "Restore drill passed: copy {copy_id} decrypted, both checksums match, {archives} \
         archives inside opened, in {} (about how long a restore from here takes)",
        human::duration(took)
    );
    for w in warnings {
        said.push_str(&format!("; {w}"));
    }
    said
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
