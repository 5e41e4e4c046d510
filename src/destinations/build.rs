//! Builds a [`Destination`] from its validated settings: an OpenDAL operator for the object
//! stores and folders (with retries for passing failures and time limits so a dead server cannot
//! hang a run), Lifeboat's own streaming clients for WebDAV and SFTP.

use super::opendal_store::{OpendalStore, classify};
use super::sftp::{SftpSettings, SftpStore, SharedSftpStore};
use super::webdav::{WebdavSettings, WebdavStore};
use super::{Destination, Store, StoreError, StoreErrorKind, pinned_tls, webdav};
use crate::config::{AzureCredential, DestinationKind, DestinationSpec};
use opendal::Operator;
use opendal::layers::{RetryLayer, TimeoutLayer};
use std::sync::Arc;
use std::time::Duration;

/// Where the local-folder store keeps uploads in progress (renamed into place on commit).
pub const LOCAL_PARTIAL_DIR: &str = ".lifeboat-partial";

fn root(prefix: &str) -> String {
    format!("/{prefix}")
}

/// Opens a destination. Nothing is contacted yet.
///
/// # Errors
/// A [`StoreError`] of kind `Config` when the settings cannot make a client.
pub fn open(spec: &DestinationSpec) -> Result<Destination, StoreError> {
    let store: Arc<dyn Store> = match &spec.kind {
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
            Arc::new(WebdavStore::new(WebdavSettings {
                url: url.clone(),
                username: username.clone(),
                password: password.clone(),
                segment: *segment,
                client: webdav::client(tls)?,
            }))
        }
        DestinationKind::Sftp {
            host,
            port,
            username,
            auth,
            path,
            host_key,
            known_hosts,
        } => Arc::new(SharedSftpStore(Arc::new(SftpStore::new(SftpSettings {
            host: host.clone(),
            port: *port,
            username: username.clone(),
            auth: auth.clone(),
            path: path.clone(),
            host_key: host_key.clone(),
            known_hosts: known_hosts.clone(),
        })))),
        _ => Arc::new(opendal(&spec.kind)?),
    };
    Ok(Destination {
        name: spec.name.clone(),
        kind: spec.kind.label(),
        location: spec.kind.location(),
        url: spec.kind.url(),
        retention: spec.retention,
        store,
    })
}

fn opendal(kind: &DestinationKind) -> Result<OpendalStore, StoreError> {
    let secrets = match kind {
        DestinationKind::Local { .. }
        | DestinationKind::Webdav { .. }
        | DestinationKind::Sftp { .. } => Vec::new(),
        DestinationKind::S3 {
            secret_access_key, ..
        } => vec![secret_access_key.clone()],
        DestinationKind::Azure { credential, .. } => match credential {
            AzureCredential::AccountKey(s) | AzureCredential::Sas(s) => vec![s.clone()],
        },
    };
    let op = match kind {
        DestinationKind::Local { path } => {
            let builder = opendal::services::Fs::default()
                .root(&path.to_string_lossy())
                .atomic_write_dir(&path.join(LOCAL_PARTIAL_DIR).to_string_lossy());
            Operator::new(builder)
        }
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
            Operator::new(builder)
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
            let builder = match credential {
                AzureCredential::AccountKey(k) => builder.account_key(k.expose()),
                AzureCredential::Sas(s) => builder.sas_token(s.expose()),
            };
            Operator::new(builder)
        }
        DestinationKind::Webdav { .. } | DestinationKind::Sftp { .. } => {
            return Err(StoreError::new(
                StoreErrorKind::Config,
                "WebDAV and SFTP are served by Lifeboat's own clients",
            ));
        }
    }
    .map_err(|e| classify(&e))?
    .layer(
        TimeoutLayer::new()
            .with_timeout(Duration::from_secs(120))
            .with_io_timeout(Duration::from_secs(120)),
    )
    .layer(
        RetryLayer::new()
            .with_max_times(4)
            .with_jitter()
            .with_min_delay(Duration::from_millis(200)),
    );
    let store = OpendalStore::new(op, secrets);
    Ok(match kind {
        DestinationKind::Local { path } => store.syncing(path.clone()),
        _ => store,
    })
}
