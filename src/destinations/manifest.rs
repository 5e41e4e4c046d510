//! The manifest: a small JSON object written beside a copy's data only after the data is complete
//! and read back. A copy without a manifest does not exist (a crash leaves at most an orphan).

use crate::archive::BackupJson;
use crate::signing::{PublicKey, SigningKey, Trusted};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The newest manifest format this Lifeboat reads and writes: 2 for a copy stored in parts
/// ([`Manifest::parts`]), so that a Lifeboat from before parts refuses it plainly ("newer than
/// this Lifeboat understands") instead of looking for a data object that is not there.
pub const FORMAT: u32 = 2;
/// The format of a copy stored as one object, which every Lifeboat reads.
pub const SINGLE_OBJECT_FORMAT: u32 = 1;
/// A manifest larger than this is refused when read (one listing the most parts a copy has,
/// [`super::layout::MAX_PARTS`], is under 1 MiB).
pub const MAX_SIZE: u64 = 1 << 20;

/// The format a manifest listing `parts` is written in.
pub fn format_for(parts: &[Part]) -> u32 {
    if parts.is_empty() {
        SINGLE_OBJECT_FORMAT
    } else {
        FORMAT
    }
}

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
    /// The parts the data is stored in, in order, when it was sent in parts (a stream of unknown
    /// length to a store that must know each object's size first: see
    /// [`super::parts`]); empty, and left out, for a copy stored as the one object `object`.
    /// The parts put end to end are the stored object [`Manifest::stored`] describes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// Who made it: the box's signing key over everything above (absent in copies made before
    /// Lifeboat signed its manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// What the reader made of the signature (never stored: worked out on reading).
    #[serde(skip)]
    pub provenance: Provenance,
}

/// A manifest's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signing key's public half (`lifeboat-sign:…`).
    pub key: String,
    /// The Ed25519 signature, base64, over [`SIGNED_AS`] and the manifest's canonical JSON (keys
    /// sorted, no spaces) without this field.
    pub ed25519: String,
}

/// What a manifest's signature proves, as read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Provenance {
    /// No signature: made before Lifeboat signed its manifests, or its signature was taken off.
    /// Its contents cannot be vouched for.
    #[default]
    Unsigned,
    /// Signed by a key this home uses (its fingerprint).
    Signed(String),
    /// Intact, signed by this key, but the reader was not told which keys the home uses.
    Unchecked(String),
}

impl Provenance {
    /// The word listings show.
    pub fn word(&self) -> String {
        match self {
            Self::Unsigned => "unsigned".into(),
            Self::Signed(key) => format!("signed ({key})"),
            Self::Unchecked(key) => format!("signed by {key}, not checked against a kit"),
        }
    }
}

/// What a signature's message starts with, so it can never be taken for another kind of message.
pub const SIGNED_AS: &[u8] = b"lifeboat manifest v1\n";

/// The bytes a signature covers: [`SIGNED_AS`], then the manifest's JSON without its signature,
/// in serde_json's canonical form (object keys sorted, no whitespace). Reading and writing both
/// go through a JSON value, so fields a newer Lifeboat adds are covered too.
fn signed_message(mut value: serde_json::Value) -> Vec<u8> {
    if let Some(o) = value.as_object_mut() {
        o.remove("signature");
    }
    let mut out = SIGNED_AS.to_vec();
    // Writing a JSON value to memory cannot fail.
    out.extend(serde_json::to_vec(&value).unwrap_or_default());
    out
}

/// Size and SHA-256 of a byte stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub size: u64,
    pub sha256: String,
}

/// One part of a copy stored in parts: its name beside the manifest, its size and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub object: String,
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

/// Why a manifest read is not taken.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not a Lifeboat manifest: {0}")]
    NotAManifest(#[source] serde_json::Error),
    #[error(
        "manifest format {0} is newer than this Lifeboat understands ({FORMAT}); upgrade Lifeboat"
    )]
    Newer(u32),
    #[error("refused: its signature names no key Lifeboat can read; nothing in it is trusted")]
    UnreadableKey,
    #[error(
        "refused: altered after it was signed (its signature by {0} does not match what it says); nothing in it is trusted"
    )]
    Altered(String),
    /// Signed by a key that [`Manifest::trusted_by`] could not read.
    #[error("{0}")]
    Key(#[from] crate::signing::SigningError),
    #[error(
        "refused as forged: signed by {0}, a key this home never used (its emergency kit lists the ones it did); left alone. If an earlier box of yours made it, trust that box's key from its kit (Emergency kit page, or `lifeboat keys import`)"
    )]
    Forged(String),
}

impl Manifest {
    /// Parses a manifest. A signed one comes back [`Provenance::Unchecked`] (see
    /// [`Manifest::trusted_by`]).
    ///
    /// # Errors
    /// [`ManifestError`] when it is not a manifest this version understands, or its signature
    /// does not match its contents.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(ManifestError::NotAManifest)?;
        let mut m: Self =
            serde_json::from_value(value.clone()).map_err(ManifestError::NotAManifest)?;
        if m.format > FORMAT {
            return Err(ManifestError::Newer(m.format));
        }
        if let Some(sig) = &m.signature {
            let key = PublicKey::parse(&sig.key).map_err(|_| ManifestError::UnreadableKey)?;
            let intact = BASE64
                .decode(&sig.ed25519)
                .is_ok_and(|s| key.verifies(&signed_message(value), &s));
            if !intact {
                return Err(ManifestError::Altered(key.fingerprint()));
            }
            m.provenance = Provenance::Unchecked(key.fingerprint());
        }
        Ok(m)
    }

    /// The manifest judged against the keys `trusted` says this home uses: signed by one of
    /// them, it is [`Provenance::Signed`]; by any other key, it is refused as forged.
    ///
    /// # Errors
    /// [`ManifestError::Forged`] (or the key that could not be read), saying the refusal in
    /// plain words.
    pub fn trusted_by(mut self, trusted: &Trusted) -> Result<Self, ManifestError> {
        let Some(sig) = &self.signature else {
            return Ok(self);
        };
        let key = PublicKey::parse(&sig.key)?;
        match trusted.trusts(&key) {
            Some(true) => self.provenance = Provenance::Signed(key.fingerprint()),
            Some(false) => return Err(ManifestError::Forged(key.fingerprint())),
            None => self.provenance = Provenance::Unchecked(key.fingerprint()),
        }
        Ok(self)
    }

    /// The manifest signed with `key`.
    pub fn signed(mut self, key: &SigningKey) -> Self {
        self.signature = None;
        // Plain data with string keys always makes a JSON value.
        let value = serde_json::to_value(&self).unwrap_or_default();
        self.signature = Some(Signature {
            key: key.public().to_string(),
            ed25519: BASE64.encode(key.sign(&signed_message(value))),
        });
        self.provenance = Provenance::Signed(key.public().fingerprint());
        self
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
    readable(&name, &bytes, &destination.trust).map_err(|e| FetchError::Unreadable(e.to_string()))
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
            Ok(bytes) => match readable(&name, &bytes, &destination.trust) {
                Ok(m) => Listed::Copy(Box::new(m)),
                Err(reason) => Listed::Unreadable {
                    object: name,
                    reason: reason.to_string(),
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
/// Why a manifest read from a destination is not taken: it is not one, or not trusted, or it
/// names what Lifeboat would not write beside it.
#[derive(Debug, thiserror::Error)]
enum NotTaken {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Names(#[from] super::names::ManifestNameError),
}

/// The manifest read from the object `name`, when it is intact, trusted and names exactly what
/// Lifeboat writes beside it.
fn readable(name: &str, bytes: &[u8], trust: &Trusted) -> Result<Manifest, NotTaken> {
    let m = Manifest::parse(bytes)?.trusted_by(trust)?;
    super::names::copy(name, &m)?;
    Ok(m)
}

/// The copy named `id` among `listed`, or else the newest signed one (the newest of all when none
/// is signed: copies made before Lifeboat signed them). An unsigned copy is never picked over a
/// signed one unless asked for by its id: anyone who can write to a destination can plant one.
/// `listed` is newest first, as [`list`] gives it.
pub fn choose<'a>(listed: &'a [Listed], id: Option<&str>) -> Option<&'a Manifest> {
    let mut copies = listed.iter().filter_map(|l| match l {
        Listed::Copy(m) => Some(m.as_ref()),
        Listed::Unreadable { .. } => None,
    });
    match id {
        Some(id) => copies.find(|m| m.copy_id == id),
        None => {
            let all: Vec<&Manifest> = copies.collect();
            all.iter()
                .find(|m| m.provenance != Provenance::Unsigned)
                .or_else(|| all.first())
                .copied()
        }
    }
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
    Refused(#[from] super::names::DeletionError),
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
    #[error(
        "deleted the manifest, but not every part of {object} ({source}); the parts left are \
         removed with the next run's sweep of unfinished uploads"
    )]
    Parts {
        object: String,
        source: super::StoreError,
    },
}

/// Deletes one copy: its manifest (the copy is gone from then on), then its data: the data
/// object, and every part of it the destination lists (a copy stored in parts,
/// [`super::parts`]; only names of exactly that object's parts). A failure after the manifest
/// leaves only orphan data, never a copy that looks whole but is not.
///
/// # Errors
/// [`DeleteError`] naming the object that could not be deleted, or refusing names that are not
/// one copy's as Lifeboat writes them (before anything is deleted).
pub async fn delete_copy(
    destination: &super::Destination,
    copy_id: &str,
    data: &str,
) -> Result<(), DeleteError> {
    super::names::deletion(copy_id, data)?;
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
    if let Err(source) = destination.store.delete(&object).await {
        return Err(DeleteError::Data { object, source });
    }
    delete_parts(destination, &object)
        .await
        .map_err(|source| DeleteError::Parts { object, source })
}

/// Deletes every part of the data object `object` the destination lists; a store that never
/// writes parts is not listed for them.
async fn delete_parts(
    destination: &super::Destination,
    object: &str,
) -> Result<(), super::StoreError> {
    if !destination.store.holds_parts() {
        return Ok(());
    }
    let names = destination.store.list().await?;
    for name in names {
        if super::layout::part_of(&name).is_some_and(|(of, _)| of == object) {
            destination.store.delete(&name).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let t = "2026-11-23T10:15:00Z";
        serde_json::from_value(serde_json::json!({
            "format": 1, "copy_id": "20261123T101500Z-02dc63e3",
            "object": "20261123T101500Z-02dc63e3.tar.age", "created": t,
            "lifeboat_version": "0", "verified": t, "ha_key_fingerprint": null,
            "backup": {"slug": "s", "name": "Ünïcode \"quoted\"", "date": t, "type": "full"},
            "plain": {"size": 18446744073709551615u64, "sha256": "00"},
            "stored": {"size": 1, "sha256": "11"},
            "encryption": {"scheme": "age", "recipients": [], "passphrase": false},
            "content": {"kind": "dump", "compression": "gzip", "tool": "postgres", "bytes": 1},
        }))
        .unwrap()
    }

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed(&[n; 32]).unwrap()
    }

    #[test]
    fn a_signed_manifest_reads_back_as_signed_by_its_key() {
        let k = key(1);
        let bytes = manifest().signed(&k).to_json();
        let m = Manifest::parse(&bytes).unwrap();
        assert_eq!(
            m.provenance,
            Provenance::Unchecked(k.public().fingerprint())
        );
        let trusted = Trusted::keys(vec![k.public()]);
        let m = m.trusted_by(&trusted).unwrap();
        assert_eq!(m.provenance, Provenance::Signed(k.public().fingerprint()));
        let unsigned = Manifest::parse(&manifest().to_json()).unwrap();
        assert_eq!(
            unsigned.trusted_by(&trusted).unwrap().provenance,
            Provenance::Unsigned
        );
    }

    #[test]
    fn an_altered_manifest_is_refused_whatever_was_changed() {
        let signed = manifest().signed(&key(1));
        let json: serde_json::Value = serde_json::from_slice(&signed.to_json()).unwrap();
        let alterations: [(&str, serde_json::Value); 5] = [
            ("/stored/sha256", "22".into()),
            ("/plain/size", 5.into()),
            ("/created", "2030-01-01T00:00:00Z".into()),
            ("/object", "..".into()),
            ("/backup/name", "other".into()),
        ];
        for (at, to) in alterations {
            let mut v = json.clone();
            *v.pointer_mut(at).unwrap() = to;
            let e = Manifest::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
            assert!(e.to_string().contains("altered"), "{at}: {e}");
        }
        // A field added beside the signed ones is covered too.
        let mut v = json.clone();
        v["planted"] = "x".into();
        assert!(Manifest::parse(&serde_json::to_vec(&v).unwrap()).is_err());
        // Another key's signature over the same contents, under this key's name.
        let mut v = json.clone();
        v["signature"]["ed25519"] = manifest().signed(&key(2)).signature.unwrap().ed25519.into();
        assert!(Manifest::parse(&serde_json::to_vec(&v).unwrap()).is_err());
        // Layout does not matter: the same manifest written compactly is still intact.
        assert!(Manifest::parse(&serde_json::to_vec(&json).unwrap()).is_ok());
    }

    /// Issue 37: a copy stored as one object is written as before (format 1, no `parts`), so
    /// every Lifeboat reads it; one in parts says format 2 (an older Lifeboat refuses it
    /// plainly), and its parts are signed with the rest.
    #[test]
    fn parts_are_left_out_of_a_one_object_copy_and_signed_in_one_in_parts() {
        let one = manifest();
        assert_eq!(format_for(&one.parts), SINGLE_OBJECT_FORMAT);
        let json: serde_json::Value = serde_json::from_slice(&one.to_json()).unwrap();
        assert!(json.get("parts").is_none(), "{json}");
        let parts = vec![Part {
            object: format!("{}.part-00001", one.object),
            size: 1,
            sha256: "11".into(),
        }];
        let parted = Manifest {
            format: format_for(&parts),
            parts,
            ..manifest()
        };
        assert_eq!(parted.format, FORMAT);
        let signed = parted.clone().signed(&key(1));
        let back = Manifest::parse(&signed.to_json()).unwrap();
        assert_eq!(back.parts, parted.parts);
        let mut v: serde_json::Value = serde_json::from_slice(&signed.to_json()).unwrap();
        v["parts"][0]["size"] = 2.into();
        let e = Manifest::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(e.to_string().contains("altered"), "{e}");
        let mut v: serde_json::Value = serde_json::from_slice(&signed.to_json()).unwrap();
        v["format"] = (FORMAT + 1).into();
        let e = Manifest::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(e.to_string().contains("upgrade Lifeboat"), "{e}");
    }

    #[test]
    fn a_manifest_signed_by_another_key_is_forged_once_the_homes_keys_are_known() {
        let forged = Manifest::parse(&manifest().signed(&key(9)).to_json()).unwrap();
        let e = forged
            .clone()
            .trusted_by(&Trusted::keys(vec![key(1).public()]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("forged") && e.contains(&key(9).public().fingerprint()),
            "{e}"
        );
        // Nobody said which keys: intact, but only "not checked".
        let m = forged.trusted_by(&Trusted::default()).unwrap();
        assert_eq!(
            m.provenance,
            Provenance::Unchecked(key(9).public().fingerprint())
        );
        assert!(m.provenance.word().contains("not checked"));
    }
}
