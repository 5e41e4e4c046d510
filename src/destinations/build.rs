//! Builds a [`Destination`] from its validated settings: the kind opens its store
//! ([`super::kinds::Settings::open`]: an OpenDAL operator for the object stores and folders, with
//! retries for passing failures and time limits so a dead server cannot hang a run; Lifeboat's
//! own streaming clients for WebDAV, SFTP and SMB; the rclone program for the rest), and every
//! kind's names go through the one check.

use super::kinds::DestinationSpec;
use super::{Destination, Patience, Store, StoreError};
use std::sync::Arc;

/// Opens a destination. Nothing is contacted yet.
///
/// # Errors
/// A [`StoreError`] of kind `Config` when the settings cannot make a client.
pub fn open(spec: &DestinationSpec) -> Result<Destination, StoreError> {
    open_with(spec, Patience::default())
}

/// Opens a destination that is given up after `patience.silence` without progress.
///
/// # Errors
/// A [`StoreError`] of kind `Config` when the settings cannot make a client.
pub fn open_with(spec: &DestinationSpec, patience: Patience) -> Result<Destination, StoreError> {
    let store = spec.kind.settings().open(patience)?;
    // Every kind takes its names through the one check (`..` never reaches a server).
    let store: Arc<dyn Store> = Arc::new(super::names::Checked(store));
    Ok(Destination {
        name: spec.name.clone(),
        kind: spec.kind.settings().kind(),
        location: spec.kind.location(),
        url: spec.kind.url(),
        retention: spec.retention,
        store,
        settings: spec.settings_digest(),
        trust: crate::signing::Trusted::default(),
    })
}
