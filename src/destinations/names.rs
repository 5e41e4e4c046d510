//! Names read from a destination are hostile: a destination is someone else's computer, and
//! whoever can write there can plant a manifest naming `..`. Two checks keep every request inside
//! the destination's folder:
//! - [`copy`]: a manifest's copy id and data object must be exactly the names Lifeboat writes
//!   for the manifest file they were read from ([`super::layout`]), and its parts, when it lists
//!   any, exactly that data object's part names in order, no more than a copy has; checked
//!   before anything is fetched or deleted;
//! - [`single`] (and the [`Checked`] wrapper every store is opened in, plus one call where each
//!   kind joins a name to its folder): a store refuses `/`, `.`, `..`, empty names, path
//!   separators, backslashes and control characters where one name inside the folder is due.

use super::{Manifest, ObjectWriter, Store, StoreError, StoreErrorKind, layout};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::io::AsyncRead;

/// Why a name is not one a store takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("an empty name")]
    Empty,
    #[error("{0:?} names a folder, not a file inside the destination")]
    Dots(String),
    #[error("{0:?} holds a path separator (/ or \\), so it would reach outside the destination")]
    Separator(String),
    #[error("{0:?} holds a control character")]
    Control(String),
}

impl From<NameError> for StoreError {
    fn from(e: NameError) -> Self {
        StoreError::new(
            StoreErrorKind::Other,
            format!("refused: {e}; nothing was sent to the destination"),
        )
    }
}

/// Checks that `name` is one name directly inside the destination's folder.
///
/// # Errors
/// [`NameError`] saying what is wrong with it.
pub fn single(name: &str) -> Result<&str, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name == "." || name == ".." {
        return Err(NameError::Dots(name.to_owned()));
    }
    if name.contains(['/', '\\']) {
        return Err(NameError::Separator(name.to_owned()));
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control(name.to_owned()));
    }
    Ok(name)
}

/// Checks a name as [`Store::delete`] takes it: one name, or one inside the folder store's
/// hidden folder of uploads in progress (as its [`Store::unfinished`] names them).
///
/// # Errors
/// [`NameError`] saying what is wrong with it.
pub fn deletable(name: &str) -> Result<&str, NameError> {
    match name
        .strip_prefix(layout::LOCAL_PARTIAL_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(inner) => single(inner).map(|_| name),
        None => single(name),
    }
}

/// Checks a relative path whose every part is a [`single`] name (the path OpenDAL joins to its
/// root).
///
/// # Errors
/// [`NameError`] for the first part that is not.
pub fn inside(path: &str) -> Result<&str, NameError> {
    for part in path.split('/') {
        single(part)?;
    }
    Ok(path)
}

/// What to do about a manifest Lifeboat did not write, said after why it was refused.
const NOT_OURS: &str = "Lifeboat did not write it and acts on nothing it names: check who else \
                        can write to this destination, then remove the file by hand";

/// Why a manifest is not one Lifeboat wrote for the object it was read from (see [`copy`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestNameError {
    #[error("refused: {listed:?} is not the name of a manifest Lifeboat writes. {NOT_OURS}")]
    NotAManifestName { listed: String },
    #[error(
        "refused: {id:?} is not a copy id Lifeboat makes (the UTC time, then letters, \
         digits, - or _). {NOT_OURS}"
    )]
    NotACopyId { id: String },
    #[error("refused: the manifest in {listed} names copy {named:?}, not {id}. {NOT_OURS}")]
    OtherCopy {
        listed: String,
        named: String,
        id: String,
    },
    #[error(
        "refused: the manifest in {listed} names its data {object:?}, which is not a data object \
         of copy {id} as Lifeboat names them ({id}{ending}, …). {NOT_OURS}"
    )]
    NotItsData {
        listed: String,
        object: String,
        id: String,
        /// The ending Lifeboat would have given it.
        ending: String,
    },
    #[error(
        "refused: the manifest in {listed} does not list the parts of its data as Lifeboat writes them: {why}. {NOT_OURS}"
    )]
    NotItsParts { listed: String, why: PartsError },
}

/// Why a manifest's list of parts is not one Lifeboat wrote for its data object (see [`copy`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartsError {
    #[error("it lists {0} parts, more than the {max} a copy is stored in", max = layout::MAX_PARTS)]
    TooMany(usize),
    #[error("its part {n} is named {named:?}, not {expected}")]
    Misnamed {
        n: usize,
        named: String,
        expected: String,
    },
    #[error("its part {0} is empty; Lifeboat sends no empty part")]
    Empty(usize),
    #[error("its parts add up to {sum} bytes, not the {stored} bytes it says are stored")]
    Sizes { sum: u128, stored: u64 },
}

/// Why the names a copy is to be deleted by are not one copy's (see [`deletion`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeletionError {
    #[error("refused: {0:?} is not a copy id Lifeboat makes; nothing was deleted")]
    NotACopyId(String),
    #[error("refused: {data:?} is not a data object of copy {id}; nothing was deleted")]
    NotItsData { id: String, data: String },
}

/// Checks that the manifest read from the object `listed` names exactly what Lifeboat writes:
/// `listed` is `<copy id>.manifest.json` for a copy id of Lifeboat's form, the manifest's
/// `copy_id` is that id, and its `object` is that copy's data object.
///
/// # Errors
/// [`ManifestNameError`] saying what is wrong, for a listing's problems.
pub fn copy(listed: &str, m: &Manifest) -> Result<(), ManifestNameError> {
    let Some(id) = layout::copy_id_of_manifest(listed).filter(|_| !listed.contains('/')) else {
        return Err(ManifestNameError::NotAManifestName {
            listed: listed.to_owned(),
        });
    };
    if !layout::is_copy_id(id) {
        return Err(ManifestNameError::NotACopyId { id: id.to_owned() });
    }
    if m.copy_id != id {
        return Err(ManifestNameError::OtherCopy {
            listed: listed.to_owned(),
            named: m.copy_id.clone(),
            id: id.to_owned(),
        });
    }
    // The copy id followed by one of the endings Lifeboat gives data objects. Not the one ending
    // the manifest's content implies: a dump's tool may be recognised only from its first lines,
    // after its object was named from the command (`sh -c 'pg_dump …'` writes `.out.gz.age` and a
    // manifest that says postgres).
    if !layout::is_data_object_of(id, &m.object) {
        return Err(ManifestNameError::NotItsData {
            listed: listed.to_owned(),
            object: m.object.clone(),
            id: id.to_owned(),
            ending: expected_ending(m),
        });
    }
    parts(m).map_err(|why| ManifestNameError::NotItsParts {
        listed: listed.to_owned(),
        why,
    })
}

/// Checks that a manifest's parts are exactly its data object's parts, 1, 2, 3… in order, each
/// holding something, no more than [`layout::MAX_PARTS`], adding up to the stored size.
///
/// # Errors
/// [`PartsError`] for the first thing that is not so.
pub fn parts(m: &Manifest) -> Result<(), PartsError> {
    if m.parts.len() > layout::MAX_PARTS {
        return Err(PartsError::TooMany(m.parts.len()));
    }
    let mut sum = 0u128;
    for (i, part) in m.parts.iter().enumerate() {
        let expected = layout::part_name(&m.object, i + 1);
        if part.object != expected {
            return Err(PartsError::Misnamed {
                n: i + 1,
                named: part.object.clone(),
                expected,
            });
        }
        if part.size == 0 {
            return Err(PartsError::Empty(i + 1));
        }
        sum += u128::from(part.size);
    }
    if !m.parts.is_empty() && sum != u128::from(m.stored.size) {
        return Err(PartsError::Sizes {
            sum,
            stored: m.stored.size,
        });
    }
    Ok(())
}

/// The ending Lifeboat gives the data object of what `m` describes, when the tool was known.
fn expected_ending(m: &Manifest) -> String {
    match &m.content {
        Some(c) => format!("{}.age", c.spec().suffix()),
        None => layout::data_object(""),
    }
}

/// Checks the names a copy is deleted by, as [`super::manifest::delete_copy`] is given them:
/// a copy id of Lifeboat's form, and a data object that is that copy's (`data` empty: the
/// default one).
///
/// # Errors
/// [`DeletionError`] saying what is wrong.
pub fn deletion(id: &str, data: &str) -> Result<(), DeletionError> {
    if !layout::is_copy_id(id) {
        return Err(DeletionError::NotACopyId(id.to_owned()));
    }
    if !data.is_empty() && !layout::is_data_object_of(id, data) {
        return Err(DeletionError::NotItsData {
            id: id.to_owned(),
            data: data.to_owned(),
        });
    }
    Ok(())
}

/// A store whose every name is checked before it reaches the store within: the one check every
/// kind goes through ([`super::build`] opens each store in it).
pub struct Checked(pub Arc<dyn Store>);

#[async_trait]
impl Store for Checked {
    async fn writer(
        &self,
        path: &str,
        size: Option<u64>,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        self.0.writer(single(path)?, size).await
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        self.0.reader(single(path)?).await
    }

    async fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        self.0.read_small(single(path)?, limit).await
    }

    async fn write_small(&self, path: &str, data: Vec<u8>) -> Result<(), StoreError> {
        self.0.write_small(single(path)?, data).await
    }

    async fn list(&self) -> Result<Vec<String>, StoreError> {
        self.0.list().await
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.0.delete(deletable(path)?).await
    }

    async fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        self.0.unfinished().await
    }

    fn trust(&self) -> Option<String> {
        self.0.trust()
    }

    fn remarks(&self) -> Vec<String> {
        self.0.remarks()
    }

    fn outside_settings(&self) -> Option<String> {
        self.0.outside_settings()
    }

    fn holds_parts(&self) -> bool {
        self.0.holds_parts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_name_inside_the_folder_passes() {
        for ok in [
            "a.tar.age",
            ".lifeboat-partial-0a1b-x.tar.age",
            "a b",
            "%2e%2e",
            "...",
        ] {
            assert_eq!(single(ok), Ok(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "/",
            "/abs",
            "../x",
            "a/../../b",
            "..\\x",
            "\\abs",
            "a\0b",
            "a\nb",
        ] {
            assert!(single(bad).is_err(), "{bad:?} passed");
        }
        let e = StoreError::from(single("..").unwrap_err());
        assert!(
            e.message.contains("refused") && e.message.contains("\"..\""),
            "{e}"
        );
        assert!(!e.is_retryable());
    }

    #[test]
    fn deletes_reach_the_folders_uploads_and_nothing_else() {
        assert!(deletable(".lifeboat-partial/x.tar.age").is_ok());
        assert!(deletable("a.tar.age").is_ok());
        for bad in [
            ".lifeboat-partial/..",
            ".lifeboat-partial/a/b",
            ".lifeboat-partial/",
            "x/y",
        ] {
            assert!(deletable(bad).is_err(), "{bad:?} passed");
        }
        assert!(inside("a/b.json").is_ok());
        for bad in ["/a", "a//b", "a/../b", "a/", ""] {
            assert!(inside(bad).is_err(), "{bad:?} passed");
        }
    }

    fn manifest(copy_id: &str, object: &str, content: Option<serde_json::Value>) -> Manifest {
        let t = "2026-11-23T10:15:00Z";
        serde_json::from_value(serde_json::json!({
            "format": 1, "copy_id": copy_id, "object": object, "created": t,
            "lifeboat_version": "0", "verified": t, "ha_key_fingerprint": null,
            "backup": {"slug": "s", "name": "n", "date": t, "type": "full"},
            "plain": {"size": 1, "sha256": "00"}, "stored": {"size": 1, "sha256": "00"},
            "encryption": {"scheme": "age", "recipients": [], "passphrase": false},
            "content": content,
        }))
        .unwrap()
    }

    #[test]
    fn a_manifest_names_exactly_its_own_copy() {
        let id = "20261123T101500Z-02dc63e3";
        let file = layout::manifest_object(id);
        assert!(copy(&file, &manifest(id, &layout::data_object(id), None)).is_ok());
        let dump = serde_json::json!({"kind": "dump", "compression": "gzip", "tool": "postgres", "bytes": 1});
        let sql = layout::data_object_as(id, ".sql.gz");
        assert!(copy(&file, &manifest(id, &sql, Some(dump.clone()))).is_ok());
        // A dump whose tool was recognised from its first lines, after its object was named from
        // the command (`sh -c 'pg_dump …'`): its own copy, not a refused one.
        let out = layout::data_object_as(id, ".out.gz");
        assert!(copy(&file, &manifest(id, &out, Some(dump.clone()))).is_ok());
        let other = "20261123T101500Z-other";
        for (listed, m) in [
            (file.clone(), manifest(id, "..", None)),
            (file.clone(), manifest(id, "../x", None)),
            (
                file.clone(),
                manifest(id, &layout::data_object(other), None),
            ),
            (
                file.clone(),
                manifest(id, &format!("{id}.sql.gz.age/x"), None),
            ),
            (
                file.clone(),
                manifest(id, &format!("{id}.exe"), Some(dump.clone())),
            ),
            (
                file.clone(),
                manifest(other, &layout::data_object(other), None),
            ),
            (file.clone(), manifest("..", &layout::data_object(id), None)),
            ("..manifest.json".into(), manifest(".", "..", None)),
            (
                format!("x/{file}"),
                manifest(id, &layout::data_object(id), None),
            ),
        ] {
            let why = copy(&listed, &m).unwrap_err().to_string();
            assert!(
                why.starts_with("refused:") && why.contains("remove the file by hand"),
                "{why}"
            );
        }
    }

    /// A planted manifest may list "parts" that are another copy's objects, a path outside
    /// the folder, or endless: only exactly its own data object's parts, in order, are taken.
    #[test]
    fn a_manifest_lists_exactly_its_own_datas_parts() {
        let id = "20261123T101500Z-02dc63e3";
        let file = layout::manifest_object(id);
        let object = layout::data_object_as(id, ".sql.gz");
        let with_parts = |parts: Vec<(String, u64)>, stored: u64| {
            let mut m = manifest(id, &object, None);
            m.stored.size = stored;
            m.parts = parts
                .into_iter()
                .map(|(object, size)| crate::destinations::manifest::Part {
                    object,
                    size,
                    sha256: "00".into(),
                })
                .collect();
            m
        };
        let own = |n| layout::part_name(&object, n);
        let good = with_parts(vec![(own(1), 10), (own(2), 5)], 15);
        assert!(copy(&file, &good).is_ok());
        let other = layout::part_name(&layout::data_object("20261123T101500Z-other"), 1);
        let endless: Vec<(String, u64)> =
            (1..=layout::MAX_PARTS + 1).map(|n| (own(n), 1)).collect();
        for (m, says) in [
            (with_parts(vec![(other, 10)], 10), "part 1 is named"),
            (with_parts(vec![("..".into(), 10)], 10), "part 1 is named"),
            (
                with_parts(vec![(format!("{object}/../../etc/passwd"), 1)], 1),
                "named",
            ),
            (
                with_parts(vec![(own(1), 5), (own(3), 5)], 10),
                "part 2 is named",
            ),
            (
                with_parts(vec![(own(2), 5), (own(1), 5)], 10),
                "part 1 is named",
            ),
            (
                with_parts(vec![(own(1), 5), (own(2), 0)], 5),
                "part 2 is empty",
            ),
            (with_parts(vec![(own(1), 5)], 6), "add up to 5 bytes"),
            (with_parts(endless, 4001), "more than the 4000"),
        ] {
            let why = copy(&file, &m).unwrap_err().to_string();
            assert!(
                why.starts_with("refused:") && why.contains(says) && why.contains("by hand"),
                "{why}"
            );
        }
    }

    #[test]
    fn a_deletion_names_one_copy_of_lifeboats_form() {
        let id = "20261123T101500Z-02dc63e3";
        assert!(deletion(id, "").is_ok());
        assert!(deletion(id, &layout::data_object(id)).is_ok());
        assert!(deletion(id, &layout::data_object_as(id, ".sql.gz")).is_ok());
        for (id, data) in [
            ("..", ""),
            ("../20261123T101500Z-x", ""),
            (id, ".."),
            (id, "20261123T101500Z-other.tar.age"),
            (id, "../x.tar.age"),
            (id, &format!("{id}.tar.age/..")),
        ] {
            let e = deletion(id, data).unwrap_err().to_string();
            assert!(
                e.contains("refused") && e.contains("nothing was deleted"),
                "{e}"
            );
        }
    }
}
