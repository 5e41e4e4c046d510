//! The restore and drill jobs the daemon's worker runs for the dashboard: a copy streamed back into
//! Home Assistant's backup list, or drilled (read, decrypted, checked and opened to the end without
//! being handed over) — both carried out by [`crate::recovery::drills`] — with what happened told
//! to the progress board as typed events.

use crate::jobs::RestoreJob;
use crate::pipeline::events::Event;
use crate::pipeline::progress::JobOutcome;
use crate::pipeline::run::Runner;
use crate::recovery::drills::{CopyError, restore_copy, restore_drill};

/// Streams a copy into Home Assistant (or drills it), telling the progress board how it goes; a
/// drill's verdict is recorded as a check of the copy.
pub(super) async fn run(runner: &Runner, job: RestoreJob) {
    let drill = job.into.is_none();
    runner.progress.begin(
        "dashboard",
        runner.clock.now(),
        if drill {
            "Restore drill: reading, decrypting and opening a copy"
        } else {
            "Restoring a copy into Home Assistant"
        },
    );
    let (destination, copy_id) = (job.destination.as_str(), job.copy_id.as_str());
    let done = match &job.into {
        Some(target) => restore_copy(runner, destination, copy_id, job.identities, target)
            .await
            .map(|r| {
                passed(
                    runner,
                    copy_id,
                    &Event::Restored {
                        destination,
                        copy_id: &r.copy_id,
                        backup_id: &r.backup_id,
                    },
                );
            }),
        None => restore_drill(runner, destination, copy_id, job.identities)
            .await
            .map(|r| {
                passed(
                    runner,
                    copy_id,
                    &Event::Drilled {
                        destination,
                        copy_id: &r.drilled.copy_id,
                        archives: r.drilled.archives,
                        took: r.took,
                        warnings: &r.drilled.warnings,
                    },
                );
            }),
    };
    if let Err(e) = done {
        fail(runner, destination, copy_id, drill, &e);
    }
    runner.observer.refresh().await;
}

/// Tells the board, and the log, that the job went through.
fn passed(runner: &Runner, copy_id: &str, event: &Event<'_>) {
    let now = runner.clock.now();
    if let Some((said, _)) = event.said().line {
        tracing::info!(copy = %copy_id, "{said}");
    }
    runner.progress.tell(now, event);
    runner.progress.end(now, None, JobOutcome::Success);
}

/// Tells the board, and the log, why the job failed.
fn fail(runner: &Runner, destination: &str, copy_id: &str, drill: bool, error: &CopyError) {
    tracing::warn!(
        "{} {copy_id}: {error}",
        if drill { "drilling" } else { "restoring" },
    );
    let now = runner.clock.now();
    let event = Event::RestoreFailed {
        destination,
        copy_id,
        drill,
        error: error.to_string(),
    };
    runner.progress.tell(now, &event);
    runner.progress.end(now, None, JobOutcome::Failed);
}
