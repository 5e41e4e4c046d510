//! The run's single pass, as the runner drives it: the opened backup is read once and shipped to
//! every destination ([`super::ship`]), with the progress board's counters, and what happened put
//! on the timeline.

use super::events::Event;
use super::runner::Runner;
use super::ship::{ShipError, ShipFailure, Shipped, Walk, ship};
use crate::archive::securetar::BackupKey;
use crate::config::EncryptionSpec;
use crate::destinations::Destination;
use crate::source::{Opened, Pending, SourceError};
use std::sync::Arc;

/// Where the single pass sends a backup, and how it locks and opens it.
pub(super) struct PassTo<'a> {
    pub(super) destinations: &'a [Destination],
    pub(super) object: &'a str,
    pub(super) encryption: &'a EncryptionSpec,
    /// Home Assistant keys that open a protected backup's inner archives.
    pub(super) keys: Arc<Vec<BackupKey>>,
}

impl Runner {
    /// Runs the single pass over the opened backup (see [`ship`]).
    pub(super) async fn pass(
        &self,
        run_id: i64,
        pending: &Pending,
        opened: Result<Opened, SourceError>,
        to: PassTo<'_>,
    ) -> Result<Shipped, ShipFailure> {
        let opened = opened.map_err(|e| ShipFailure {
            error: ShipError::Source(std::io::Error::other(e.to_string())),
            lanes: Vec::new(),
        })?;
        self.progress.run(run_id, Some(&pending.hint), opened.size);
        self.teller().tell(&Event::Reading);
        let names: Vec<String> = to.destinations.iter().map(|d| d.name.clone()).collect();
        let pass_started = self.clock.now();
        let counters = self.progress.pass(pass_started, &names);
        let walk = match &pending.content {
            Some((spec, backup)) => Walk::Content(*spec, backup.clone()),
            None => Walk::Backup(to.keys),
        };
        let outcome = ship(
            opened.stream,
            opened.size,
            to.destinations,
            to.object,
            to.encryption,
            walk,
            &counters,
        )
        .await;
        self.tell_pass(pass_started, &outcome);
        outcome
    }

    /// Puts the single pass on the timeline: what was read, and each destination's upload.
    fn tell_pass(
        &self,
        pass_started: chrono::DateTime<chrono::Utc>,
        outcome: &Result<Shipped, ShipFailure>,
    ) {
        let t = self.teller();
        let lanes = match outcome {
            Ok(shipped) => {
                t.tell(&Event::PassDone {
                    read: shipped.inspection.size,
                    stored: shipped.stored_size,
                });
                &shipped.lanes
            }
            Err(failure) => {
                t.tell(&Event::PassFailed {
                    error: failure.error.to_string(),
                });
                &failure.lanes
            }
        };
        for lane in lanes {
            let destination = lane.destination.name.as_str();
            match &lane.result {
                // Thrown away with the pass.
                Ok(_) if outcome.is_err() => t.tell(&Event::Discarded { destination }),
                Ok(up) => {
                    let at = pass_started
                        + chrono::TimeDelta::from_std(up.took).unwrap_or(chrono::TimeDelta::zero());
                    let event = Event::Uploaded {
                        destination,
                        bytes: up.bytes,
                        took: up.took,
                    };
                    self.progress.tell(at, &event);
                }
                Err(e) => t.tell(&Event::UploadFailed {
                    destination,
                    error: e.to_string(),
                }),
            }
        }
    }
}
