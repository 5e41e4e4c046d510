//! `backup.json`, the plain-text description at the front of every backup (also `snapshot.json` in
//! very old ones). Unknown keys are kept out of the way rather than refused: the Supervisor allows
//! extra keys and has added and dropped some over the years.

use super::ArchiveError;
use serde::{Deserialize, Deserializer, Serialize};

/// The fields Lifeboat reads, shows and records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupJson {
    pub slug: String,
    pub name: String,
    pub date: String,
    #[serde(rename = "type")]
    pub kind: BackupKind,
    #[serde(default = "one")]
    pub version: u32,
    #[serde(default, deserialize_with = "legacy_bool")]
    pub protected: bool,
    #[serde(default = "yes")]
    pub compressed: bool,
    #[serde(default)]
    pub homeassistant: Option<HomeAssistantPart>,
    #[serde(default)]
    pub folders: Vec<String>,
    #[serde(default)]
    pub addons: Vec<AddonPart>,
    #[serde(default)]
    pub supervisor_version: Option<String>,
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What a backup holds, as its `type` says: Home Assistant's `full` or `partial`, or what Lifeboat
/// writes for its own sources (`folder`, `dump`). Any other word read from a manifest is kept as
/// it was (a `backup.json` must say `full` or `partial`: [`BackupJson::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum BackupKind {
    /// Everything Home Assistant has: itself, every add-on and folder.
    Full,
    /// What was chosen of it.
    Partial,
    /// A `dir:` source's folder.
    Folder,
    /// A `command:` source's dump.
    Dump,
    /// Any other word.
    Other(String),
}

impl BackupKind {
    /// Its word in `backup.json` and manifests.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Full => "full",
            Self::Partial => "partial",
            Self::Folder => "folder",
            Self::Dump => "dump",
            Self::Other(word) => word,
        }
    }

    /// Whether it is a full Home Assistant backup.
    pub fn is_full(&self) -> bool {
        *self == Self::Full
    }
}

impl From<String> for BackupKind {
    fn from(word: String) -> Self {
        match word.as_str() {
            "full" => Self::Full,
            "partial" => Self::Partial,
            "folder" => Self::Folder,
            "dump" => Self::Dump,
            _ => Self::Other(word),
        }
    }
}

impl From<BackupKind> for String {
    fn from(kind: BackupKind) -> Self {
        kind.as_str().to_owned()
    }
}

impl std::fmt::Display for BackupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Home Assistant part of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HomeAssistantPart {
    pub version: String,
    #[serde(default)]
    pub exclude_database: Option<bool>,
    #[serde(default)]
    pub size: Option<f64>,
}

/// One add-on in a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddonPart {
    pub slug: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// The Supervisor counts any non-bool legacy value of `protected` as true.
fn legacy_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::Null => false,
        _ => true,
    })
}

impl BackupJson {
    /// Parses and checks the required fields.
    ///
    /// # Errors
    /// [`ArchiveError::BadBackupJson`] saying which field is missing or wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, ArchiveError> {
        let parsed: Self = serde_json::from_slice(bytes)
            .map_err(|e| ArchiveError::BadBackupJson(e.to_string()))?;
        if parsed.slug.is_empty() || parsed.slug.contains(['/', '\\']) {
            return Err(ArchiveError::BadBackupJson(format!(
                "slug {:?} is empty or has a slash",
                parsed.slug
            )));
        }
        if !matches!(parsed.kind, BackupKind::Full | BackupKind::Partial) {
            return Err(ArchiveError::BadBackupJson(format!(
                "type {:?} is neither full nor partial",
                parsed.kind.as_str()
            )));
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing manifests (`fuzz/fuzz_targets/manifest.rs`): serde_json's default float
    /// parsing is not correctly rounded, so a size written in its shortest form could read back
    /// one unit in the last place off (0.9999000182302412 as …413); a signed manifest carrying
    /// such a size then no longer matched its own signature. Every number must read back as it
    /// was written.
    #[test]
    fn a_size_reads_back_exactly_as_written() {
        const SIZE: f64 = 0.999_900_018_230_241_2;
        let raw = br#"{"slug":"s","name":"n","date":"d","type":"full",
            "homeassistant":{"version":"2026.2.3","size":0.9999000182302412},
            "extra":{"f":0.9999000182302412}}"#;
        // As a manifest is read: into a JSON value first (the one its signature is checked
        // over), then into the type; and straight into the type.
        let value: serde_json::Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(value["extra"]["f"].as_f64(), Some(SIZE));
        let via_value: BackupJson = serde_json::from_value(value.clone()).unwrap();
        let direct = BackupJson::parse(raw).unwrap();
        for b in [&via_value, &direct] {
            assert_eq!(b.homeassistant.as_ref().unwrap().size, Some(SIZE));
        }
        // Tests alone cannot see it: a dev-dependency (jsonschema) turns on the correctly rounded
        // parsing in test builds only. The build itself must ask for it.
        let cargo: toml::Table = toml::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/Cargo.toml"
        )))
        .unwrap();
        let features = &cargo["dependencies"]["serde_json"]["features"];
        assert!(
            features
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f.as_str() == Some("float_roundtrip"))),
            "serde_json without float_roundtrip: {features:?}"
        );
    }

    #[test]
    fn a_kind_reads_and_writes_as_its_word() {
        for (word, kind) in [
            ("full", BackupKind::Full),
            ("partial", BackupKind::Partial),
            ("folder", BackupKind::Folder),
            ("dump", BackupKind::Dump),
            ("later", BackupKind::Other("later".into())),
        ] {
            let json = serde_json::json!(word);
            assert_eq!(
                serde_json::from_value::<BackupKind>(json.clone()).ok(),
                Some(kind.clone())
            );
            assert_eq!(serde_json::to_value(&kind).ok(), Some(json));
            assert_eq!(kind.to_string(), word);
        }
        assert!(BackupKind::Full.is_full() && !BackupKind::Partial.is_full());
    }

    #[test]
    fn a_backup_of_another_kind_is_named_by_its_word() {
        let json =
            br#"{"slug": "s", "name": "n", "date": "2026-01-01T00:00:00+00:00", "type": "later"}"#;
        let e = BackupJson::parse(json).unwrap_err().to_string();
        assert!(
            e.contains(r#"type "later" is neither full nor partial"#),
            "{e}"
        );
    }

    #[test]
    fn legacy_core_backup_json() {
        let b = BackupJson::parse(br#"{"slug":"be3a0233","name":"Core 2024.3.3","date":"2026-11-22T09:06:23.662749+00:00","type":"partial","folders":["homeassistant"],"homeassistant":{"version":"2024.3.3"},"compressed":true}"#).unwrap();
        assert_eq!(b.slug, "be3a0233");
        assert!(!b.protected);
        assert_eq!(b.version, 1);
        assert_eq!(b.homeassistant.unwrap().version, "2024.3.3");
    }

    #[test]
    fn legacy_protected_value_counts_as_true() {
        let b = BackupJson::parse(br#"{"slug":"a","name":"n","date":"d","type":"full","protected":"aes128","crypto":"aes128"}"#).unwrap();
        assert!(b.protected);
    }

    #[test]
    fn required_fields() {
        let e = BackupJson::parse(br#"{"name":"n","date":"d","type":"full"}"#).unwrap_err();
        assert!(e.to_string().contains("slug"), "{e}");
        let e =
            BackupJson::parse(br#"{"slug":"a","name":"n","date":"d","type":"weird"}"#).unwrap_err();
        assert!(e.to_string().contains("weird"), "{e}");
        let e = BackupJson::parse(br#"{"slug":"../x","name":"n","date":"d","type":"full"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("slash"), "{e}");
    }
}
