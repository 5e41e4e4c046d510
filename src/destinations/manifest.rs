//! The manifest: a small JSON object written beside a copy's data only after the data is complete
//! and read back. A copy without a manifest does not exist (a crash leaves at most an orphan).

use crate::archive::BackupJson;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The current manifest format.
pub const FORMAT: u32 = 1;
/// A manifest larger than this is refused when read.
pub const MAX_SIZE: u64 = 1 << 20;

/// Everything needed to find, check and restore a copy without Lifeboat's database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub copy_id: String,
    /// The data object's name, beside this manifest.
    pub object: String,
    pub created: DateTime<Utc>,
    pub lifeboat_version: String,
    /// The backup's own description.
    pub backup: BackupJson,
    /// The Home Assistant backup tar as it came from the source.
    pub plain: Digest,
    /// The object as stored (the age file).
    pub stored: Digest,
    pub encryption: Encryption,
    /// Fingerprint of the Home Assistant backup key the inner archives are protected with, when known.
    pub ha_key_fingerprint: Option<String>,
    /// When the stored object was read back and its SHA-256 matched.
    pub verified: DateTime<Utc>,
    /// What a restore of it will need, counted (the report itself stays in the history): lets a
    /// listing say "3 to sign in again" without a download. Absent in copies made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<crate::archive::readiness::Digest>,
    /// The name of the source it came from (absent in copies made before sources had names:
    /// those are the first source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// For a copy of a `dir:` or `command:` source, what it holds and how it opens (absent for a
    /// Home Assistant backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<crate::archive::content::ContentReport>,
}

/// Size and SHA-256 of a byte stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub size: u64,
    pub sha256: String,
}

/// How the stored object is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// Always `age`.
    pub scheme: String,
    /// Fingerprints of the X25519 recipients.
    pub recipients: Vec<String>,
    /// Whether a passphrase (scrypt) was used instead.
    pub passphrase: bool,
}

impl Manifest {
    /// Parses a manifest.
    ///
    /// # Errors
    /// A message when it is not a manifest this version understands.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let m: Self =
            serde_json::from_slice(bytes).map_err(|e| format!("not a Lifeboat manifest: {e}"))?;
        if m.format > FORMAT {
            return Err(format!(
                "manifest format {} is newer than this Lifeboat understands ({FORMAT}); upgrade Lifeboat",
                m.format
            ));
        }
        Ok(m)
    }

    /// The manifest as pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// A manifest found on a destination, or why it could not be read.
#[derive(Debug, Clone)]
pub enum Listed {
    Copy(Box<Manifest>),
    Unreadable { object: String, reason: String },
}

/// Why a copy's manifest could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The destination would not give it (missing, refused, unreachable).
    #[error("{0}")]
    Store(super::StoreError),
    /// It was read but is not a manifest this version understands.
    #[error("{0}")]
    Unreadable(String),
}

/// Reads and parses the manifest of copy `copy_id`.
///
/// # Errors
/// [`FetchError`] saying whether the destination or the manifest was at fault.
pub async fn fetch(
    destination: &super::Destination,
    copy_id: &str,
) -> Result<Manifest, FetchError> {
    if !super::layout::is_copy_id(copy_id) {
        return Err(FetchError::Unreadable(format!(
            "refused: {copy_id:?} is not a copy id Lifeboat makes; nothing was read"
        )));
    }
    let name = super::layout::manifest_object(copy_id);
    let bytes = destination
        .store
        .read_small(&name, MAX_SIZE)
        .await
        .map_err(FetchError::Store)?;
    let m = Manifest::parse(&bytes).map_err(FetchError::Unreadable)?;
    super::names::copy(&name, &m).map_err(FetchError::Unreadable)?;
    Ok(m)
}

/// Lists the copies on a destination: every manifest, newest first. Data objects without a
/// manifest are not copies and are not listed. A manifest whose copy id or data object is not
/// exactly what Lifeboat writes beside it is listed as unreadable, saying so, and never acted on.
///
/// # Errors
/// A [`super::StoreError`] when the destination cannot be listed.
pub async fn list(destination: &super::Destination) -> Result<Vec<Listed>, super::StoreError> {
    let mut names: Vec<String> = destination
        .store
        .list()
        .await?
        .into_iter()
        .filter(|n| super::layout::copy_id_of_manifest(n).is_some())
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let item = match destination.store.read_small(&name, MAX_SIZE).await {
            Ok(bytes) => match Manifest::parse(&bytes)
                .and_then(|m| super::names::copy(&name, &m).map(|()| m))
            {
                Ok(m) => Listed::Copy(Box::new(m)),
                Err(reason) => Listed::Unreadable {
                    object: name,
                    reason,
                },
            },
            Err(e) => Listed::Unreadable {
                object: name,
                reason: e.to_string(),
            },
        };
        out.push(item);
    }
    Ok(out)
}
/// When a manifest says the backup was made: its `backup.json` date, else when the copy was made.
pub fn made_at(m: &Manifest) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&m.backup.date).map_or(m.created, |t| t.with_timezone(&Utc))
}

/// Why a copy was not (wholly) deleted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeleteError {
    /// Its names are not ones Lifeboat writes: nothing was deleted.
    #[error("{0}")]
    Refused(String),
    #[error("deleting {object}: {source}")]
    Manifest {
        object: String,
        source: super::StoreError,
    },
    #[error("deleted the manifest, but not {object} (an orphan to remove by hand): {source}")]
    Data {
        object: String,
        source: super::StoreError,
    },
}

/// Deletes one copy: its manifest (the copy is gone from then on), then its data. A failure after
/// the manifest leaves only an orphan data object, never a copy that looks whole but is not.
///
/// # Errors
/// [`DeleteError`] naming the object that could not be deleted, or refusing names that are not
/// one copy's as Lifeboat writes them (before anything is deleted).
pub async fn delete_copy(
    destination: &super::Destination,
    copy_id: &str,
    data: &str,
) -> Result<(), DeleteError> {
    super::names::deletion(copy_id, data).map_err(DeleteError::Refused)?;
    let object = super::layout::manifest_object(copy_id);
    if let Err(source) = destination.store.delete(&object).await {
        return Err(DeleteError::Manifest { object, source });
    }
    // The data object as the manifest names it (copies of `dir:` and `command:` sources end in
    // `.tar.gz.age`, `.sql.gz.age`…).
    let object = if data.is_empty() {
        super::layout::data_object(copy_id)
    } else {
        data.to_owned()
    };
    match destination.store.delete(&object).await {
        Ok(()) => Ok(()),
        Err(source) => Err(DeleteError::Data { object, source }),
    }
}
