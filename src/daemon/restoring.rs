//! The restore and drill jobs the daemon's worker runs for the dashboard: a copy streamed back into Home
//! Assistant's backup list, or drilled (read, decrypted, checked and opened to the end without
//! being handed over), with what happened told to the progress board and a drill's verdict
//! recorded as a check of the copy.

use crate::destinations::manifest::{self, FetchError};
use crate::jobs::RestoreJob;
use crate::pipeline::run::Runner;

/// Streams a copy into Home Assistant (or drills it), telling the progress board how it goes; a
/// drill's verdict is recorded as a check of the copy.
pub(super) async fn run(runner: &Runner, job: RestoreJob) {
    let p = &runner.progress;
    let drill = job.into.is_none();
    p.begin(
        "dashboard",
        runner.clock.now(),
        if drill {
            "Restore drill: reading, decrypting and opening a copy"
        } else {
            "Restoring a copy into Home Assistant"
        },
    );
    let outcome = async {
        let d = runner
            .destinations
            .iter()
            .find(|d| d.name == job.destination)
            .ok_or_else(|| format!("no destination is named {}", job.destination))?;
        let m = manifest::fetch(d, &job.copy_id).await.map_err(|e| match e {
            FetchError::Store(e) => format!("cannot read the copy's manifest: {e}"),
            FetchError::Unreadable(why) => why,
        })?;
        crate::pipeline::vouch::Records::of(&runner.history, &d.name)
            .await
            .map_err(|e| format!("reading history: {e}"))?
            .judge(&m)?;
        match &job.into {
            Some(target) => {
                crate::recovery::restore::restore_into_ha(d, &m, job.identities, target)
                    .await
                    .map(|r| {
                        format!(
                            "Copy {} is in Home Assistant as backup {}: Settings → System → Backups, ready to restore",
                            r.copy_id, r.backup_id
                        )
                    })
                    .map_err(|e| e.to_string())
            }
            None => {
                let ha_keys = runner
                    .keys
                    .ha_keys()
                    .into_iter()
                    .map(crate::archive::securetar::BackupKey::new)
                    .collect();
                let started = runner.clock.now();
                let drilled =
                    crate::recovery::drill::drill(d, &m, job.identities, ha_keys).await;
                let ended = runner.clock.now();
                let took = (ended - started).to_std().unwrap_or_default();
                let row = crate::history::upkeep::CheckRow {
                    at: ended,
                    ok: drilled.is_ok(),
                    error: drilled.as_ref().err().map(|e| format!("restore drill: {e}")),
                    ms: u64::try_from(took.as_millis()).ok(),
                };
                if let Err(e) = runner.history.record_check(&d.name, &m.copy_id, row).await {
                    tracing::error!("recording the drill: {e}");
                }
                drilled
                    .map(|r| {
                        let mut said = format!(
                            "Restore drill passed: copy {} decrypted, both checksums match, {} archives inside opened, in {} (about how long a restore from here takes)",
                            r.copy_id,
                            r.archives,
                            crate::human::duration(took)
                        );
                        for w in r.warnings {
                            said.push_str(&format!("; {w}"));
                        }
                        said
                    })
                    .map_err(|e| e.to_string())
            }
        }
    }
    .await;
    let now = runner.clock.now();
    match outcome {
        Ok(said) => {
            tracing::info!(copy = %job.copy_id, "{said}");
            p.note(now, said, Some(&job.destination));
            p.end(now, None, "success");
        }
        Err(e) => {
            tracing::warn!(
                "{} {}: {e}",
                if drill { "drilling" } else { "restoring" },
                job.copy_id
            );
            p.failed(
                now,
                format!(
                    "{} copy {} failed: {e}",
                    if drill {
                        "The restore drill of"
                    } else {
                        "Restoring"
                    },
                    job.copy_id
                ),
                Some(&job.destination),
            );
            p.end(now, None, "failed");
        }
    }
    runner.observer.refresh().await;
}
