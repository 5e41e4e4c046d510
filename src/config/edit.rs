//! The settings as a document to change from the dashboard: the add-on's options (JSON) or a
//! standalone `lifeboat.toml` (edited in place with `toml_edit`, so the person's comments and
//! order stay). One destination, the schedule or the retention changes at a time; everything
//! else in the document is left as it was, byte for byte in a TOML file. Secrets are write-only:
//! read back as [`FieldValue::Keep`], and a `Keep` given back leaves the stored secret as it is.
//!
//! INTERFACE FIRST (issue 37): signatures fixed by the lead; bodies are filled on branch
//! `i37-save`. Nothing here is called until then.

use super::options::Options;
use crate::destinations::Kind;
use std::collections::BTreeMap;

/// The option fields that hold secrets, in every kind: never shown back, kept unless replaced.
pub const SECRET_FIELDS: &[&str] = &[
    "secret_access_key",
    "account_key",
    "sas_token",
    "password",
    "private_key_passphrase",
];

/// One field's value as the dashboard gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    Int(i64),
    Bool(bool),
    /// A secret that is set and stays as it is (never its value).
    Keep,
}

/// One destination as a form shows and gives it: its name, kind, and its option fields by their
/// option names (`bucket`, `endpoint`, `retention`…); a field left out is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationEntry {
    pub name: String,
    pub kind: Kind,
    pub fields: BTreeMap<String, FieldValue>,
}

/// The schedule's fields (`[schedule]`), each unset when `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleFields {
    pub backup: Option<String>,
    pub verify: Option<String>,
    pub jitter_minutes: Option<u32>,
    pub timezone: Option<String>,
}

/// Why a change cannot be made to the document.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the settings file is not valid TOML: {0}")]
    Toml(String),
    #[error("the options are not a JSON object")]
    NotAnObject,
    #[error("there is no destination named {0:?}")]
    NoSuchDestination(String),
    #[error("a destination named {0:?} is there already: give this one another name")]
    NameTaken(String),
    #[error("{field} is a secret that is not set yet: type it")]
    NothingToKeep { field: String },
    #[error("the settings do not read as options: {0}")]
    Options(String),
}

/// The settings, as a document to change.
#[derive(Debug, Clone)]
pub struct SettingsDoc {
    form: Form,
}

#[derive(Debug, Clone)]
enum Form {
    Json(serde_json::Value),
    Toml(toml_edit::DocumentMut),
}

impl SettingsDoc {
    /// The add-on's options object, as the Supervisor holds it (`!secret` references kept).
    ///
    /// # Errors
    /// [`EditError::NotAnObject`].
    pub fn from_json(value: serde_json::Value) -> Result<Self, EditError> {
        let _ = value;
        todo!("i37-save")
    }

    /// A standalone settings file's text.
    ///
    /// # Errors
    /// [`EditError::Toml`] when it does not parse.
    pub fn from_toml(text: &str) -> Result<Self, EditError> {
        let _ = text;
        todo!("i37-save")
    }

    /// The whole options object, for `POST /addons/self/options` (`None` for a TOML document).
    pub fn to_json(&self) -> Option<serde_json::Value> {
        todo!("i37-save")
    }

    /// The file's new text, comments and order kept (`None` for a JSON document).
    pub fn to_toml(&self) -> Option<String> {
        todo!("i37-save")
    }

    /// Every destination, in order; secrets that are set read as [`FieldValue::Keep`].
    pub fn destinations(&self) -> Vec<DestinationEntry> {
        todo!("i37-save")
    }

    /// Adds `entry`, or replaces the destination named `replacing` with it (a rename when the
    /// names differ), in its place. A [`FieldValue::Keep`] keeps the replaced entry's secret.
    ///
    /// # Errors
    /// [`EditError`] when `replacing` is not there, the new name is taken, or a `Keep` has
    /// nothing to keep.
    pub fn put_destination(
        &mut self,
        replacing: Option<&str>,
        entry: DestinationEntry,
    ) -> Result<(), EditError> {
        let _ = (replacing, entry);
        todo!("i37-save")
    }

    /// Removes the destination `name` (its copies stay where they are).
    ///
    /// # Errors
    /// [`EditError::NoSuchDestination`].
    pub fn remove_destination(&mut self, name: &str) -> Result<(), EditError> {
        let _ = name;
        todo!("i37-save")
    }

    /// The schedule as set.
    pub fn schedule(&self) -> ScheduleFields {
        todo!("i37-save")
    }

    /// Sets the schedule's fields; `None` unsets one.
    pub fn set_schedule(&mut self, schedule: &ScheduleFields) {
        let _ = schedule;
        todo!("i37-save")
    }

    /// The retention every destination without its own uses (top-level `retention`).
    pub fn retention(&self) -> Option<String> {
        todo!("i37-save")
    }

    /// Sets (or, with `None`, unsets) the top-level retention.
    pub fn set_retention(&mut self, text: Option<&str>) {
        let _ = text;
        todo!("i37-save")
    }

    /// The document read as options, for Lifeboat's own validation.
    ///
    /// # Errors
    /// [`EditError::Options`] saying which key does not fit.
    pub fn options(&self) -> Result<Options, EditError> {
        todo!("i37-save")
    }
}
