//! Restore into Home Assistant: pull a copy from a destination, decrypt it with the kit's identity,
//! and stream it straight into Home Assistant's backup list (the Supervisor's upload API, or Core's
//! `/api/backup/upload`), where it is ready to restore. Nothing is written to local disk; the
//! checksums are checked as the bytes pass, and an upload whose bytes turn out not to be the
//! verified ones is deleted again where Home Assistant allows it.

use super::{RecoverError, check_digests, decrypt_copy, open_copy};
use crate::archive::HashingReader;
use crate::destinations::{Destination, Manifest};
use crate::ha::core_api;
use crate::ha::supervisor::SupervisorClient;
use crate::secret::Secret;
use bytes::Bytes;
use std::io::Read;
use tokio::sync::mpsc;
use url::Url;

/// Which Home Assistant to restore into.
#[derive(Clone)]
pub enum HaTarget {
    /// HAOS / Supervised: the Supervisor's `/backups/new/upload`.
    Supervisor(SupervisorClient),
    /// A Container/Core install: `/api/backup/upload` to the `backup.local` agent.
    Core {
        http: reqwest::Client,
        base: Url,
        token: Secret,
    },
}

impl HaTarget {
    /// The Home Assistant a configured source backs up, to restore into (`None` for a folder).
    pub fn for_source(source: &crate::config::SourceSpec, http: reqwest::Client) -> Option<Self> {
        use crate::config::SourceSpec;
        match source {
            SourceSpec::Supervisor { url, token, .. } => Some(Self::Supervisor(
                SupervisorClient::new(http, url.clone(), token.clone()),
            )),
            SourceSpec::Core { url, token, .. } => Some(Self::Core {
                http,
                base: url.clone(),
                token: token.clone(),
            }),
            SourceSpec::Folder { .. } | SourceSpec::Dir { .. } | SourceSpec::Command { .. } => None,
        }
    }
}

/// What was restored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    pub copy_id: String,
    /// The id Home Assistant lists the backup under.
    pub backup_id: String,
    pub size: u64,
}

const PIECE: usize = 1 << 20;

/// Streams one copy into Home Assistant.
///
/// # Errors
/// [`RecoverError`] saying what failed.
pub async fn restore_into_ha(
    destination: &Destination,
    manifest: &Manifest,
    identities: Vec<age::x25519::Identity>,
    target: &HaTarget,
) -> Result<Restored, RecoverError> {
    let reader = open_copy(destination, manifest).await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let expected = manifest.clone();
    let decrypting = tokio::task::spawn_blocking(move || -> Result<(), RecoverError> {
        let mut stored = HashingReader::new(tokio_util::io::SyncIoBridge::new(reader));
        let sent = (|| {
            let mut plain = HashingReader::new(decrypt_copy(&mut stored, &identities)?);
            let mut buf = vec![0u8; PIECE];
            loop {
                let n = match plain.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                        return Err(RecoverError::Archive(format!(
                            "reading the copy failed: {e}"
                        )));
                    }
                };
                if n == 0 {
                    break;
                }
                if tx
                    .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
                {
                    return Err(RecoverError::Archive(
                        "Home Assistant stopped taking the upload".into(),
                    ));
                }
            }
            Ok(plain.finish())
        })();
        let _ = std::io::copy(&mut stored, &mut std::io::sink());
        let plain = sent.as_ref().map_or((0, String::new()), Clone::clone);
        check_digests(&expected, stored.finish(), plain, sent.map(drop))
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let filename = format!("{}.tar", manifest.backup.slug);
    let part = reqwest::multipart::Part::stream_with_length(
        reqwest::Body::wrap_stream(stream),
        manifest.plain.size,
    )
    .file_name(filename.clone())
    .mime_str("application/x-tar")
    .map_err(|e| RecoverError::Archive(e.to_string()))?;
    let form = reqwest::multipart::Form::new().part("file", part);
    let uploaded = match target {
        HaTarget::Supervisor(client) => client
            .upload(form, &filename)
            .await
            .map_err(|e| e.to_string()),
        HaTarget::Core { http, base, token } => {
            core_api::upload_backup(http, base, token, "backup.local", form)
                .await
                .map_err(|e| e.to_string())
        }
    };
    let checked = decrypting
        .await
        .map_err(|e| RecoverError::Archive(e.to_string()))?;
    match (uploaded, checked) {
        (Ok(backup_id), Ok(())) => Ok(Restored {
            copy_id: manifest.copy_id.clone(),
            backup_id,
            size: manifest.plain.size,
        }),
        (Ok(backup_id), Err(e)) => {
            // The bytes Home Assistant received are not the verified ones: take them back out.
            if let HaTarget::Supervisor(client) = target {
                let _ = client.delete(&backup_id).await;
            }
            Err(e)
        }
        // A failed upload stops the decryption too; only a fault of the copy itself outranks it.
        (Err(upload), Err(RecoverError::Archive(_))) => Err(RecoverError::Archive(format!(
            "Home Assistant did not take the backup: {upload}"
        ))),
        (Err(_), Err(e)) => Err(e),
        (Err(upload), Ok(())) => Err(RecoverError::Archive(format!(
            "Home Assistant did not take the backup: {upload}"
        ))),
    }
}
