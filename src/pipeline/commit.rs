//! Commit: every uploaded copy is read back (all at once) against what was sent; only a copy that
//! matches gets its manifest, written last, and from then on it exists. The data of a copy that
//! does not match, or whose manifest cannot be written, is removed, so nothing is left looking
//! like a copy.

use super::events::Event;
use super::fanout::LaneResult;
use super::progress::Teller;
use super::record::CopyOutcome;
use super::runner::Runner;
use super::ship::{ShipError, ShipFailure, Shipped};
use super::verify::read_back;
use crate::archive::securetar::BackupKey;
use crate::archive::{BackupJson, Inspection};
use crate::config::EncryptionSpec;
use crate::crypto::recipient_fingerprint;
use crate::destinations::manifest::Part;
use crate::destinations::{Manifest, layout, manifest};
use crate::history::{KeyLedger, RunEnd, RunReadiness};
use crate::signing::SigningKey;
use crate::source::Pending;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// What a copy is, beyond the pass: its id and object, and what it is locked with.
pub struct CopyPlan<'a> {
    pub copy_id: &'a str,
    pub object: &'a str,
    pub lock: &'a manifest::Encryption,
    /// The fingerprint of the Home Assistant key the backup is protected with, if any.
    pub ha_key: Option<&'a str>,
    /// The name of the source the backup came from.
    pub source: &'a str,
    /// The box's signing key, which signs the manifest (none without a key vault: the copy is
    /// then unsigned, and said to be).
    pub signer: Option<&'a SigningKey>,
}

/// What a copy encrypted with `spec` says it is locked with: fingerprints, never keys.
pub fn lock_of(spec: &EncryptionSpec) -> manifest::Encryption {
    manifest::Encryption {
        scheme: "age".into(),
        recipients: spec.recipients.iter().map(recipient_fingerprint).collect(),
        passphrase: spec.passphrase.is_some(),
    }
}

/// The outcome of a lane whose upload did not commit.
pub fn lane_failed(lane: &LaneResult, plan: &CopyPlan<'_>, fallback: &str) -> CopyOutcome {
    let (error, kind) = match &lane.result {
        Err(e) => (e.to_string(), Some(e.kind)),
        Ok(_) => (fallback.to_owned(), None),
    };
    CopyOutcome::failed(&lane.destination, plan.copy_id, plan.object, error, kind)
}

/// Reads back every committed copy of the pass and writes the manifests of the good ones.
pub async fn commit_all(
    teller: Teller<'_>,
    shipped: &Shipped,
    plan: &CopyPlan<'_>,
) -> Vec<CopyOutcome> {
    let checks = shipped
        .lanes
        .iter()
        .map(|lane| commit(teller, shipped, lane, plan));
    futures::future::join_all(checks).await
}

/// Reads one copy back and, when it matches, writes its manifest.
async fn commit(
    teller: Teller<'_>,
    shipped: &Shipped,
    lane: &LaneResult,
    plan: &CopyPlan<'_>,
) -> CopyOutcome {
    let Ok(uploaded) = &lane.result else {
        return lane_failed(lane, plan, "");
    };
    let (bytes, upload, parts) = (uploaded.bytes, uploaded.took, &uploaded.parts);
    let d = &lane.destination;
    let destination = d.name.as_str();
    let started = Instant::now();
    teller.tell(&Event::ReadingBack { destination });
    let read = read_back(
        d,
        plan.object,
        parts,
        shipped.stored_size,
        &shipped.stored_sha256,
    )
    .await;
    let took = started.elapsed();
    let timed = |mut c: CopyOutcome| {
        c.upload = Some(upload);
        c.verify = Some(took);
        c
    };
    let failed =
        |error: String, kind| CopyOutcome::failed(d, plan.copy_id, plan.object, error, kind);
    if let Err(e) = read {
        // The stored bytes are not the verified ones: never leave them looking like a copy.
        remove_data(d, plan.object, parts).await;
        teller.tell(&Event::ReadBackFailed {
            destination,
            error: e.to_string(),
        });
        let mut out = timed(failed(e.to_string(), None));
        out.stored_size = Some(bytes);
        return out;
    }
    let verified_at = teller.now();
    let name = layout::manifest_object(plan.copy_id);
    let m = manifest_of(shipped, plan, parts, verified_at);
    if let Err(e) = d.store.write_small(&name, m.to_json()).await {
        remove_data(d, plan.object, parts).await;
        teller.tell(&Event::ManifestFailed {
            destination,
            error: e.to_string(),
        });
        return timed(failed(
            format!("writing the manifest failed: {e}"),
            Some(e.kind),
        ));
    }
    teller.tell(&Event::Verified { destination, took });
    let mut out = timed(failed(String::new(), None));
    out.error = None;
    out.manifest = Some(name);
    out.verified = true;
    out.stored_size = Some(shipped.stored_size);
    out.stored_sha256 = Some(shipped.stored_sha256.clone());
    out.verified_at = Some(verified_at);
    out
}

/// Removes the data of a copy that is not to be (its object, or its parts), best effort.
async fn remove_data(d: &crate::destinations::Destination, object: &str, parts: &[Part]) {
    let _ = d.store.delete(object).await;
    for part in parts {
        let _ = d.store.delete(&part.object).await;
    }
}

/// The manifest of a verified copy stored as `parts` (none: as the one object).
fn manifest_of(
    shipped: &Shipped,
    plan: &CopyPlan<'_>,
    parts: &[Part],
    verified: DateTime<Utc>,
) -> Manifest {
    let m = Manifest {
        format: manifest::format_for(parts),
        copy_id: plan.copy_id.to_owned(),
        object: plan.object.to_owned(),
        created: verified,
        lifeboat_version: crate::VERSION.to_owned(),
        backup: shipped.inspection.backup.clone(),
        plain: manifest::Digest {
            size: shipped.inspection.size,
            sha256: shipped.plain_sha256.clone(),
        },
        stored: manifest::Digest {
            size: shipped.stored_size,
            sha256: shipped.stored_sha256.clone(),
        },
        encryption: plan.lock.clone(),
        ha_key_fingerprint: plan.ha_key.map(str::to_owned),
        verified,
        readiness: shipped
            .inspection
            .content
            .is_none()
            .then(|| shipped.inspection.readiness.digest()),
        source: Some(plan.source.to_owned()),
        content: shipped.inspection.content.clone(),
        parts: parts.to_vec(),
        signature: None,
        provenance: manifest::Provenance::Unsigned,
    };
    match plan.signer {
        Some(key) => m.signed(key),
        None => m,
    }
}

/// How one run ended, before it is recorded.
pub(super) struct Outcome {
    pub(super) end: RunEnd,
    pub(super) copies: Vec<CopyOutcome>,
    pub(super) backup: Option<BackupJson>,
    /// The source delivered the backup whole: destinations without a copy are owed it.
    pub(super) delivered: bool,
}

impl Runner {
    /// Reads back and commits the copies of a pass that succeeded; a failed pass leaves failed
    /// copies only.
    pub(super) async fn commit(
        &self,
        pending: &Pending,
        shipped: Result<Shipped, ShipFailure>,
        plan: &CopyPlan<'_>,
        keys: &[BackupKey],
    ) -> Outcome {
        let mut end = RunEnd {
            source_key: Some(pending.key.clone()),
            warnings: pending.warnings.clone(),
            ..RunEnd::default()
        };
        let mut shipped = match shipped {
            Ok(s) => s,
            Err(failure) => {
                end.error = Some(failure.error.to_string());
                let copies = failure
                    .lanes
                    .iter()
                    .map(|l| lane_failed(l, plan, "not stored: the run failed"))
                    .collect();
                return Outcome {
                    end,
                    copies,
                    backup: None,
                    delivered: matches!(failure.error, ShipError::AllDestinationsFailed),
                };
            }
        };
        // Only the source knows which add-ons are installed but left out of a partial backup.
        if !shipped.inspection.backup.kind.is_full()
            && let Some(installed) = self.source.installed_addons().await
        {
            let Inspection {
                readiness, backup, ..
            } = &mut shipped.inspection;
            readiness.add_left_out_addons(&installed, backup);
        }
        let ha_key = describe_pass(&mut end, &shipped, keys, plan);
        let plan = CopyPlan {
            ha_key: ha_key.as_deref(),
            ..*plan
        };
        let copies = commit_all(self.teller(), &shipped, &plan).await;
        if !copies.iter().any(|c| c.verified) {
            end.error = Some("no destination holds a verified copy".into());
        }
        Outcome {
            end,
            copies,
            backup: Some(shipped.inspection.backup),
            delivered: true,
        }
    }
}

/// Fills the run's record with what the pass learned (the backup, sizes, digests, the keys its
/// copies need); returns the fingerprint of the Home Assistant key that opened it, if any.
fn describe_pass(
    end: &mut RunEnd,
    shipped: &Shipped,
    keys: &[BackupKey],
    plan: &CopyPlan<'_>,
) -> Option<String> {
    let backup = &shipped.inspection.backup;
    end.backup_slug = Some(backup.slug.clone());
    end.backup_name = Some(backup.name.clone());
    end.backup_date = Some(backup.date.clone());
    end.plain_size = Some(shipped.inspection.size);
    end.plain_sha256 = Some(shipped.plain_sha256.clone());
    end.stored_size = Some(shipped.stored_size);
    end.stored_sha256 = Some(shipped.stored_sha256.clone());
    end.warnings.extend(shipped.inspection.warnings());
    // A folder's tar or a dump has no restore-readiness report: it must not stand in for the
    // newest Home Assistant backup's on the kit and the moving page.
    end.readiness = shipped.inspection.content.is_none().then(|| RunReadiness {
        report: shipped.inspection.readiness.clone(),
        news: Vec::new(),
    });
    let ha_key = shipped
        .inspection
        .key_index()
        .and_then(|i| keys.get(i))
        .map(BackupKey::fingerprint);
    end.keys = Some(KeyLedger {
        protected: backup.protected,
        ha_key: ha_key.clone(),
        recipients: plan.lock.recipients.clone(),
        passphrase: plan.lock.passphrase,
    });
    ha_key
}
