//! A destination form as the browser posts it: the kind, the name it had (when editing), every
//! field by its option name, the provider preset and a host key the person chose to trust. It
//! becomes the kind's options (for Lifeboat's own validation and the Test) or the entry the
//! settings document takes (for Save). Only the kind's own fields are read; each value is capped.

use crate::config::edit::{DestinationEntry, FieldValue};
use crate::config::options::DestinationOptions;
use crate::destinations::kinds::form::{COMMON, Field, Form, Input};
use crate::destinations::kinds::form_for;
use crate::secret::Secret;
use std::collections::BTreeMap;

/// The longest value a field takes (an RSA host key line fits; a novel does not).
pub const MAX_VALUE: usize = 4096;

/// One thing wrong with what was posted: on a field (by option name), or on the whole form
/// (`field` empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl FieldProblem {
    pub fn on(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A destination form as posted.
#[derive(Debug)]
pub struct Posted {
    pub form: &'static Form,
    /// The destination's name before this change, when editing one.
    pub replacing: Option<String>,
    /// The common and the kind's fields, by option name, as typed (text trimmed).
    pub values: BTreeMap<String, String>,
    /// The provider chosen (`b2`), or empty.
    pub preset: String,
    /// A host key line the person chose to trust after Test showed it.
    pub trust_key: Option<String>,
}

/// Why a post is no destination form at all.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("the form names no kind of destination Lifeboat knows")]
    NoKind,
}

impl Posted {
    /// Reads the posted pairs; anything not a field of the kind is left unread.
    ///
    /// # Errors
    /// [`PostError::NoKind`] when `kind` is missing or unknown.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, PostError> {
        let first = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let form = first("kind").and_then(form_for).ok_or(PostError::NoKind)?;
        let mut values = BTreeMap::new();
        for f in COMMON.iter().chain(form.fields) {
            if let Some(v) = first(f.name) {
                let v = if f.secret() { v } else { v.trim() };
                values.insert(f.name.to_owned(), v.to_owned());
            }
        }
        let text = |key: &str| {
            first(key)
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= MAX_VALUE)
                .map(str::to_owned)
        };
        Ok(Self {
            form,
            replacing: text("replacing"),
            values,
            preset: text("preset").unwrap_or_default(),
            trust_key: text("trust_key"),
        })
    }

    /// The value of `field`, when it is not empty.
    pub fn value(&self, field: &str) -> Option<&str> {
        self.values
            .get(field)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The trusted key goes into `host_key`; the preset fills the empty fields.
    pub fn settle(&mut self) -> Vec<FieldProblem> {
        if let Some(key) = self.trust_key.clone()
            && self.form.field("host_key").is_some()
        {
            self.values.insert("host_key".into(), key);
        }
        let Some(preset) = self.form.preset(&self.preset) else {
            return Vec::new();
        };
        preset
            .fill(&mut self.values)
            .into_iter()
            .map(|(f, m)| FieldProblem::on(f, m))
            .collect()
    }

    /// What is wrong before any validation: a value too long, a number that is none, a
    /// required field left empty (a secret kept from before counts as given).
    pub fn check(&self, kept: &dyn Fn(&str) -> Option<Secret>) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        for f in COMMON.iter().chain(self.form.fields) {
            let v = self.value(f.name);
            if v.is_some_and(|v| v.len() > MAX_VALUE) {
                out.push(FieldProblem::on(
                    f.name,
                    format!("is longer than {MAX_VALUE} characters"),
                ));
            } else if let (Some(v), Input::Number { max }) = (v, f.input)
                && v.parse::<u32>().ok().filter(|n| *n <= max).is_none()
            {
                out.push(FieldProblem::on(
                    f.name,
                    format!("{v:?} is not a whole number from 0 to {max}"),
                ));
            } else if f.required && v.is_none() && !(f.secret() && kept(f.name).is_some()) {
                out.push(FieldProblem::on(f.name, format!("fill in {}", f.label)));
            }
        }
        out
    }

    /// The kind's options, secrets left empty taken from `kept` (the stored ones, when editing).
    ///
    /// # Errors
    /// The problem serde names, on the whole form (the checks before make this rare).
    pub fn options(
        &self,
        kept: &dyn Fn(&str) -> Option<Secret>,
    ) -> Result<DestinationOptions, FieldProblem> {
        let mut map = serde_json::Map::new();
        map.insert("type".into(), self.form.kind.as_str().into());
        for f in COMMON.iter().chain(self.form.fields) {
            let value = match self.value(f.name) {
                Some(v) => json_value(f, v),
                None if f.secret() => kept(f.name).map(|s| s.expose().into()),
                None => None,
            };
            if let Some(v) = value {
                map.insert(f.name.into(), v);
            }
        }
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| FieldProblem::on("", format!("these settings do not fit: {e}")))
    }

    /// The entry the settings document takes: fields left empty are unset, except a secret of a
    /// destination being edited, which is kept.
    pub fn entry(&self) -> DestinationEntry {
        let mut fields = BTreeMap::new();
        for f in COMMON.iter().chain(self.form.fields) {
            if f.name == "name" {
                continue;
            }
            let value = match self.value(f.name) {
                Some(v) => field_value(f, v),
                None if f.secret() && self.replacing.is_some() => Some(FieldValue::Keep),
                None => None,
            };
            if let Some(v) = value {
                fields.insert(f.name.to_owned(), v);
            }
        }
        DestinationEntry {
            name: self.value("name").unwrap_or_default().to_owned(),
            kind: self.form.kind,
            fields,
        }
    }
}

/// A typed value as JSON, by the field's input.
fn json_value(f: &Field, v: &str) -> Option<serde_json::Value> {
    Some(match field_value(f, v)? {
        FieldValue::Text(s) => s.into(),
        FieldValue::Int(i) => i.into(),
        FieldValue::Bool(b) => b.into(),
        FieldValue::Keep => return None,
    })
}

/// A typed value, by the field's input (a number that is none stays text, for validation to
/// name).
fn field_value(f: &Field, v: &str) -> Option<FieldValue> {
    Some(match f.input {
        Input::Number { .. } => v
            .parse::<i64>()
            .map_or_else(|_| FieldValue::Text(v.to_owned()), FieldValue::Int),
        Input::Checkbox => FieldValue::Bool(true),
        Input::Choice(_) if v == "true" || v == "false" => FieldValue::Bool(v == "true"),
        _ => FieldValue::Text(v.to_owned()),
    })
}

/// Problems of Lifeboat's validation as fields of the form: `destinations[0].bucket: …` is the
/// field `bucket` when `at` is `destinations[0]`; anything else is on the whole form.
pub fn on_fields(problems: impl IntoIterator<Item = String>, at: &str) -> Vec<FieldProblem> {
    let lead = format!("{at}.");
    problems
        .into_iter()
        .map(|p| {
            p.strip_prefix(&lead)
                .and_then(|rest| rest.split_once(": "))
                .map_or_else(
                    || FieldProblem::on("", p.clone()),
                    |(field, message)| FieldProblem::on(field, message),
                )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> Posted {
        Posted::parse(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .unwrap()
    }

    fn nothing(_: &str) -> Option<Secret> {
        None
    }

    #[test]
    fn only_the_kinds_fields_are_read_and_numbers_are_checked() {
        let p = posted(&[
            ("kind", "sftp"),
            ("name", " nas "),
            ("host", "nas.local"),
            ("port", "70000"),
            ("bucket", "not an sftp field"),
            ("password", " pass "),
        ]);
        assert_eq!(p.value("name"), Some("nas"));
        assert_eq!(
            p.value("password"),
            Some(" pass "),
            "secrets are taken as typed"
        );
        assert_eq!(p.value("bucket"), None);
        let problems = p.check(&nothing);
        assert!(problems.iter().any(|f| f.field == "port"), "{problems:?}");
        assert!(
            problems.iter().any(|f| f.field == "username"),
            "{problems:?}"
        );
        assert!(Posted::parse(vec![("kind".into(), "ftp".into())]).is_err());
    }

    #[test]
    fn a_secret_left_empty_is_kept_when_editing_and_missing_otherwise() {
        let mut pairs = vec![
            ("kind", "s3"),
            ("name", "b2"),
            ("bucket", "backups"),
            ("access_key_id", "AK"),
            ("secret_access_key", ""),
            ("path_style", "true"),
        ];
        let new = posted(&pairs);
        assert!(
            new.check(&nothing)
                .iter()
                .any(|f| f.field == "secret_access_key")
        );
        assert!(!new.entry().fields.contains_key("secret_access_key"));
        pairs.push(("replacing", "b2"));
        let edit = posted(&pairs);
        let kept = |f: &str| (f == "secret_access_key").then(|| Secret::new("stored"));
        assert!(edit.check(&kept).is_empty());
        assert_eq!(edit.entry().fields["secret_access_key"], FieldValue::Keep);
        assert_eq!(edit.entry().fields["path_style"], FieldValue::Bool(true));
        let DestinationOptions::S3(o) = edit.options(&kept).unwrap() else {
            panic!("not s3")
        };
        assert_eq!(o.secret_access_key.expose(), "stored");
        assert_eq!(o.path_style, Some(true));
    }

    #[test]
    fn validation_problems_land_on_their_fields() {
        let p = on_fields(
            [
                "destinations[1].bucket: name the bucket".to_owned(),
                "destinations[0].bucket: other".to_owned(),
                "retention: bad".to_owned(),
            ],
            "destinations[1]",
        );
        assert_eq!(p[0], FieldProblem::on("bucket", "name the bucket"));
        assert_eq!(p[1].field, "");
        assert_eq!(p[2].field, "");
    }
}
