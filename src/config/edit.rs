//! The settings as a document to change from the dashboard: the add-on's options (JSON) or a
//! standalone `lifeboat.toml` (edited in place with `toml_edit`, so the person's comments and
//! order stay). One destination, the schedule or the retention changes at a time; everything
//! else in the document is left as it was, byte for byte in a TOML file. Secrets are write-only:
//! read back as [`FieldValue::Keep`], and a `Keep` given back leaves the stored secret as it is.
//!
//! Each form has its own module ([`json`], [`toml_form`]); this one holds what they share.

mod json;
#[cfg(test)]
mod tests;
mod toml_form;

use super::options::Options;
use crate::destinations::Kind;
use std::collections::BTreeMap;
use std::path::Path;

/// The option fields that hold secrets, in every kind: never shown back, kept unless replaced.
pub const SECRET_FIELDS: &[&str] = &[
    "secret_access_key",
    "account_key",
    "sas_token",
    "password",
    "private_key_passphrase",
];

/// The option fields that say where a destination connects and as whom, in every kind: a stored
/// secret is sent only where these are as they were. A bucket, container, share or folder on the
/// same server under the same account is not among them (the secret goes nowhere new).
pub const ADDRESS_FIELDS: &[&str] = &[
    "url",
    "host",
    "port",
    "endpoint",
    "account",
    "username",
    "access_key_id",
    "domain",
    "remote",
    "rclone_config",
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

impl DestinationEntry {
    /// Whether `other` connects to the same place as the same one: the same kind and every
    /// [`ADDRESS_FIELDS`] field as it is here. Only then may a stored secret be kept for it.
    pub fn same_place(&self, other: &Self) -> bool {
        self.kind == other.kind
            && ADDRESS_FIELDS
                .iter()
                .all(|f| self.fields.get(*f) == other.fields.get(*f))
    }

    /// The first secret this entry keeps from before, if any.
    fn first_kept(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|(_, v)| **v == FieldValue::Keep)
            .map(|(k, _)| k.as_str())
    }
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
    /// A digest of the settings as they were read, before any change: a save checks that
    /// they were not changed elsewhere in between.
    origin: String,
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
        if !value.is_object() {
            return Err(EditError::NotAnObject);
        }
        Ok(Self {
            origin: digest(value.to_string().as_bytes()),
            form: Form::Json(value),
        })
    }

    /// A standalone settings file's text.
    ///
    /// # Errors
    /// [`EditError::Toml`] when it does not parse.
    pub fn from_toml(text: &str) -> Result<Self, EditError> {
        let doc = text
            .parse::<toml_edit::DocumentMut>()
            .map_err(|e| EditError::Toml(e.to_string()))?;
        Ok(Self {
            form: Form::Toml(doc),
            origin: digest(text.as_bytes()),
        })
    }

    /// Whether `other` was read from the very settings this one was read from (nothing changed
    /// them in between), whatever either has been changed to since.
    pub fn same_origin(&self, other: &Self) -> bool {
        self.origin == other.origin
    }

    /// The whole options object, for `POST /addons/self/options` (`None` for a TOML document).
    pub fn to_json(&self) -> Option<serde_json::Value> {
        match &self.form {
            Form::Json(v) => Some(v.clone()),
            Form::Toml(_) => None,
        }
    }

    /// The file's new text, comments and order kept (`None` for a JSON document).
    pub fn to_toml(&self) -> Option<String> {
        match &self.form {
            Form::Json(_) => None,
            Form::Toml(d) => Some(d.to_string()),
        }
    }

    /// Every destination, in order; secrets that are set read as [`FieldValue::Keep`].
    pub fn destinations(&self) -> Vec<DestinationEntry> {
        match &self.form {
            Form::Json(v) => json::destinations(v),
            Form::Toml(d) => toml_form::destinations(d),
        }
    }

    /// Adds `entry`, or replaces the destination named `replacing` with it (a rename when the
    /// names differ), in its place. A [`FieldValue::Keep`] keeps the replaced entry's secret,
    /// but only when the entry connects to the same place ([`DestinationEntry::same_place`]).
    ///
    /// # Errors
    /// [`EditError`] when `replacing` is not there, the new name is taken, or a `Keep` has
    /// nothing to keep (none stored, or the kind or address changed).
    pub fn put_destination(
        &mut self,
        replacing: Option<&str>,
        entry: DestinationEntry,
    ) -> Result<(), EditError> {
        let names = self.names();
        let at = match replacing {
            Some(old) => Some(
                names
                    .iter()
                    .position(|n| n.as_deref() == Some(old))
                    .ok_or_else(|| EditError::NoSuchDestination(old.to_owned()))?,
            ),
            None => None,
        };
        let taken = names
            .iter()
            .enumerate()
            .any(|(i, n)| n.as_deref() == Some(entry.name.as_str()) && Some(i) != at);
        if taken {
            return Err(EditError::NameTaken(entry.name));
        }
        self.kept_in_place(replacing, &entry)?;
        match &mut self.form {
            Form::Json(v) => json::put(v, at, &entry),
            Form::Toml(d) => toml_form::put(d, at, &entry),
        }
    }

    /// A secret is kept only for the same kind at the same address: a changed form never takes
    /// the stored secret somewhere else.
    fn kept_in_place(
        &self,
        replacing: Option<&str>,
        entry: &DestinationEntry,
    ) -> Result<(), EditError> {
        let Some(field) = entry.first_kept() else {
            return Ok(());
        };
        let moved = self
            .destinations()
            .into_iter()
            .find(|d| Some(d.name.as_str()) == replacing)
            .is_none_or(|old| !old.same_place(entry));
        if moved {
            return Err(EditError::NothingToKeep {
                field: field.to_owned(),
            });
        }
        Ok(())
    }

    /// Removes the destination `name` (its copies stay where they are).
    ///
    /// # Errors
    /// [`EditError::NoSuchDestination`].
    pub fn remove_destination(&mut self, name: &str) -> Result<(), EditError> {
        let at = self
            .names()
            .iter()
            .position(|n| n.as_deref() == Some(name))
            .ok_or_else(|| EditError::NoSuchDestination(name.to_owned()))?;
        match &mut self.form {
            Form::Json(v) => json::remove(v, at),
            Form::Toml(d) => toml_form::remove(d, at),
        }
        Ok(())
    }

    /// The schedule as set.
    pub fn schedule(&self) -> ScheduleFields {
        match &self.form {
            Form::Json(v) => json::schedule(v),
            Form::Toml(d) => toml_form::schedule(d),
        }
    }

    /// Sets the schedule's fields; `None` unsets one.
    pub fn set_schedule(&mut self, schedule: &ScheduleFields) {
        match &mut self.form {
            Form::Json(v) => json::set_schedule(v, schedule),
            Form::Toml(d) => toml_form::set_schedule(d, schedule),
        }
    }

    /// The retention every destination without its own uses (top-level `retention`).
    pub fn retention(&self) -> Option<String> {
        match &self.form {
            Form::Json(v) => v
                .get("retention")
                .and_then(|r| r.as_str())
                .map(str::to_owned),
            Form::Toml(d) => d
                .get("retention")
                .and_then(toml_edit::Item::as_str)
                .map(str::to_owned),
        }
    }

    /// Sets (or, with `None`, unsets) the top-level retention.
    pub fn set_retention(&mut self, text: Option<&str>) {
        match &mut self.form {
            Form::Json(v) => json::set_text(v, "retention", text),
            Form::Toml(d) => toml_form::set_text(d.as_table_mut(), "retention", text),
        }
    }

    /// The document read as options, for Lifeboat's own validation.
    ///
    /// # Errors
    /// [`EditError::Options`] saying which key does not fit.
    pub fn options(&self) -> Result<Options, EditError> {
        let (path, text) = match &self.form {
            Form::Json(v) => ("options.json", v.to_string()),
            Form::Toml(d) => ("lifeboat.toml", d.to_string()),
        };
        super::parse_options(Path::new(path), &text).map_err(|e| match e {
            super::ConfigError::Syntax { field, message, .. } => {
                EditError::Options(format!("{field}: {message}"))
            }
            other => EditError::Options(other.to_string()),
        })
    }

    /// Each destination's name, by its place in the list (`None` where an entry is not a
    /// destination: not a table, or no name).
    fn names(&self) -> Vec<Option<String>> {
        match &self.form {
            Form::Json(v) => json::names(v),
            Form::Toml(d) => toml_form::names(d),
        }
    }
}

/// Whether `field` holds a secret.
fn is_secret(field: &str) -> bool {
    SECRET_FIELDS.contains(&field)
}

/// The keys an entry's `fields` may not set: the entry gives them itself.
fn is_own_key(field: &str) -> bool {
    matches!(field, "name" | "type")
}

/// SHA-256 of `bytes`, first 16 hex digits.
fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(bytes)[..8])
}
