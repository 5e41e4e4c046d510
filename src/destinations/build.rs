//! Builds a [`Destination`] from its validated settings: an OpenDAL operator for the object
//! stores and (through [`super::folder`]) folders, with retries for passing failures and time
//! limits so a dead server cannot hang a run; Lifeboat's own streaming clients for WebDAV, SFTP
//! and SMB; the rclone program for the rest.

use super::folder::FolderStore;
use super::kind::Kind;
use super::opendal_store::layered;
use super::webdav::WebdavSettings;
use super::{Destination, Patience, Store, StoreError, StoreErrorKind, pinned_tls, webdav};
use crate::config::{AzureCredential, DestinationKind, DestinationSpec};
use opendal::Operator;
use std::sync::Arc;

fn root(prefix: &str) -> String {
    format!("/{prefix}")
}

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
    let store: Arc<dyn Store> = match &spec.kind {
        DestinationKind::Local { path } => Arc::new(FolderStore::new(path.clone(), patience)),
        DestinationKind::S3 {
            bucket,
            prefix,
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            path_style,
        } => {
            let mut builder = opendal::services::S3::default()
                .bucket(bucket)
                .root(&root(prefix))
                .region(region)
                .access_key_id(access_key_id)
                .secret_access_key(secret_access_key.expose())
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(endpoint) = endpoint {
                builder = builder.endpoint(endpoint);
            }
            if !path_style {
                builder = builder.enable_virtual_host_style();
            }
            Arc::new(layered(
                Operator::new(builder),
                vec![secret_access_key.clone()],
                patience,
            )?)
        }
        DestinationKind::Azure {
            account,
            container,
            prefix,
            endpoint,
            credential,
        } => {
            let builder = opendal::services::Azblob::default()
                .container(container)
                .root(&root(prefix))
                .endpoint(endpoint)
                .account_name(account);
            let (builder, secret) = match credential {
                AzureCredential::AccountKey(k) => (builder.account_key(k.expose()), k),
                AzureCredential::Sas(s) => (builder.sas_token(s.expose()), s),
            };
            Arc::new(layered(
                Operator::new(builder),
                vec![secret.clone()],
                patience,
            )?)
        }
        DestinationKind::Webdav {
            url,
            username,
            password,
            segment,
            certificate_sha256,
        } => {
            let tls = certificate_sha256
                .map(pinned_tls::config)
                .transpose()
                .map_err(|e| StoreError::new(StoreErrorKind::Config, e.to_string()))?;
            Arc::new(webdav::store(WebdavSettings {
                url: url.clone(),
                username: username.clone(),
                password: password.clone(),
                segment: *segment,
                clients: webdav::clients(tls.as_ref(), patience.silence)?,
                silence: patience.silence,
            }))
        }
        DestinationKind::Sftp(sftp) => Arc::new(super::sftp::store(sftp.clone(), patience.silence)),
        DestinationKind::Smb(smb) => Arc::new(super::smb::store(smb.clone(), patience.silence)),
        DestinationKind::Rclone(rclone) => {
            Arc::new(super::rclone::store(rclone.clone(), patience.silence))
        }
    };
    // Every kind takes its names through the one check (`..` never reaches a server).
    let store: Arc<dyn Store> = Arc::new(super::names::Checked(store));
    Ok(Destination {
        name: spec.name.clone(),
        kind: Kind::of(&spec.kind),
        location: spec.kind.location(),
        url: spec.kind.url(),
        retention: spec.retention,
        store,
        settings: spec.settings_digest(),
        trust: crate::signing::Trusted::default(),
    })
}
