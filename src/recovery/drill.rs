//! The restore drill: everything a real restore does short of handing the backup over. The copy
//! is read from its destination, decrypted with the kit's key, checked against both SHA-256s in
//! its manifest, and walked to its very end, every inner archive opened (SecureTar with the Home
//! Assistant keys at hand). Nothing is written anywhere; the time it takes (the caller's clock) is
//! how long getting this backup back would take from there.

use super::{RecoverError, check_digests, decrypt_copy, open_copy};
use crate::archive::HashingReader;
use crate::archive::content::{self, ContentReport};
use crate::archive::inspect::inspect;
use crate::archive::securetar::BackupKey;
use crate::destinations::{Destination, Manifest};

/// What a drill proved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Drilled {
    pub copy_id: String,
    /// Inner archives opened and walked to their end.
    pub archives: usize,
    /// What a person should know although the copy restores (an archive no key could open).
    pub warnings: Vec<String>,
}

/// Drills one copy.
///
/// # Errors
/// [`RecoverError`] saying what would stop a restore.
pub async fn drill(
    destination: &Destination,
    manifest: &Manifest,
    identities: Vec<age::x25519::Identity>,
    ha_keys: Vec<BackupKey>,
) -> Result<Drilled, RecoverError> {
    let reader = open_copy(destination, manifest).await?;
    let expected = manifest.clone();
    let walked = tokio::task::spawn_blocking(move || {
        let mut stored = HashingReader::new(tokio_util::io::SyncIoBridge::new(reader));
        let outcome = (|| {
            let mut plain = HashingReader::new(decrypt_copy(&mut stored, &identities)?);
            // A folder's tar or a dump is walked as what it is (its end, its closing line).
            let walked = match expected.content.as_ref().map(ContentReport::spec) {
                Some(spec) => content::walk(&mut plain, &spec)
                    .map(|r| crate::archive::Inspection::of_content(expected.backup.clone(), r, 0)),
                None => inspect(&mut plain, &ha_keys, false),
            };
            let inspection =
                walked.map_err(|e| RecoverError::Archive(format!("it would not restore: {e}")))?;
            // Past the end-of-archive marker there may be padding: it is part of the checksum.
            std::io::copy(&mut plain, &mut std::io::sink())
                .map_err(|e| RecoverError::Archive(format!("reading the copy failed: {e}")))?;
            Ok((plain.finish(), inspection))
        })();
        let _ = std::io::copy(&mut stored, &mut std::io::sink());
        let plain = outcome
            .as_ref()
            .map_or((0, String::new()), |(p, _)| p.clone());
        check_digests(&expected, stored.finish(), plain, outcome.map(|(_, i)| i))
    })
    .await
    .map_err(|e| RecoverError::Archive(e.to_string()))??;
    Ok(Drilled {
        copy_id: manifest.copy_id.clone(),
        archives: walked.inner.len(),
        warnings: walked.warnings(),
    })
}
