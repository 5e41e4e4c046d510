//! The destination form as a page: each field with its label, help, value and problem; the
//! provider presets; the Test's result. Secrets are write-only: a secret field is always empty,
//! and says whether a secret is kept ("set — leave empty to keep") or must be typed again.

use super::posted::FieldProblem;
use super::trial::Outcome;
use crate::config::edit::FieldValue;
use crate::destinations::kinds::form::{COMMON, Field, Form, Input};
use crate::web::frame::Frame;
use askama::Template;
use askama_web::WebTemplate;
use std::collections::{BTreeMap, BTreeSet};

/// One field on the page.
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// `text`, `password`, `number`, `checkbox` or `select`.
    pub input: &'static str,
    pub required: bool,
    pub placeholder: &'static str,
    /// Never a secret's.
    pub value: String,
    pub checked: bool,
    pub choices: Vec<ChoiceView>,
    /// A secret is stored and kept unless one is typed.
    pub kept: bool,
    /// A secret was typed, and is not shown back: type it again.
    pub retype: bool,
    pub problem: Option<String>,
}

/// One choice of a select.
pub struct ChoiceView {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// One provider preset.
pub struct PresetView {
    pub id: &'static str,
    pub label: &'static str,
    pub endpoint: &'static str,
    pub region: &'static str,
    pub path_style: &'static str,
    pub note: &'static str,
    pub selected: bool,
}

/// The Test's result, in words.
pub struct ResultView {
    /// `ok`, `bad` or `ask`.
    pub level: &'static str,
    pub heading: String,
    pub detail: String,
    /// An SFTP server's key, to trust.
    pub key: Option<KeyView>,
}

/// A host key shown for the person to compare and trust.
pub struct KeyView {
    pub algorithm: String,
    pub fingerprint: String,
    pub line: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "destination_form.html")]
pub struct FormPage {
    pub frame: Frame,
    pub kind: &'static str,
    pub title: &'static str,
    pub blurb: &'static str,
    /// The name the destination has, when editing it.
    pub replacing: Option<String>,
    pub common: Vec<FieldView>,
    pub fields: Vec<FieldView>,
    pub presets: Vec<PresetView>,
    /// Problems not on one field.
    pub problems: Vec<String>,
    pub result: Option<ResultView>,
    /// Why Save cannot work here, when it cannot.
    pub cannot_save: Option<String>,
}

/// What the page shows in its fields.
#[derive(Default)]
pub struct Shown {
    /// Values by option name (secrets are never among them).
    pub values: BTreeMap<String, String>,
    /// Secrets stored and kept.
    pub kept: BTreeSet<String>,
    /// Secrets typed that must be typed again.
    pub retype: BTreeSet<String>,
    pub preset: String,
    pub problems: Vec<FieldProblem>,
}

impl Shown {
    /// What a stored destination's fields show.
    pub fn stored(name: &str, fields: &BTreeMap<String, FieldValue>) -> Self {
        let mut shown = Self::default();
        shown.values.insert("name".into(), name.to_owned());
        for (k, v) in fields {
            match v {
                FieldValue::Text(s) => {
                    shown.values.insert(k.clone(), s.clone());
                }
                FieldValue::Int(i) => {
                    shown.values.insert(k.clone(), i.to_string());
                }
                FieldValue::Bool(b) => {
                    shown.values.insert(k.clone(), b.to_string());
                }
                FieldValue::Keep => {
                    shown.kept.insert(k.clone());
                }
            }
        }
        shown
    }
}

impl FormPage {
    /// The page for `form`, showing `shown`.
    pub fn new(frame: Frame, form: &'static Form, replacing: Option<String>, shown: Shown) -> Self {
        let view = |f: &'static Field| field_view(f, &shown);
        Self {
            kind: form.kind.as_str(),
            title: form.title,
            blurb: form.blurb,
            replacing,
            common: COMMON.iter().map(view).collect(),
            fields: form.fields.iter().map(view).collect(),
            presets: form
                .presets
                .iter()
                .map(|p| PresetView {
                    id: p.id,
                    label: p.label,
                    endpoint: p.endpoint.unwrap_or(""),
                    region: p.region.unwrap_or(""),
                    path_style: match p.path_style {
                        Some(true) => "true",
                        Some(false) => "false",
                        None => "",
                    },
                    note: p.note,
                    selected: p.id == shown.preset,
                })
                .collect(),
            problems: shown
                .problems
                .iter()
                .filter(|p| !form.fields.iter().chain(COMMON).any(|f| f.name == p.field))
                .map(|p| {
                    if p.field.is_empty() {
                        p.message.clone()
                    } else {
                        format!("{}: {}", p.field, p.message)
                    }
                })
                .collect(),
            result: None,
            cannot_save: None,
            frame,
        }
    }

    /// With the Test's outcome shown.
    pub fn with_result(mut self, outcome: &Outcome) -> Self {
        self.result = Some(result_view(outcome));
        self
    }
}

fn field_view(f: &'static Field, shown: &Shown) -> FieldView {
    let value = if f.secret() {
        String::new()
    } else {
        shown.values.get(f.name).cloned().unwrap_or_default()
    };
    let kept = f.secret() && shown.kept.contains(f.name);
    FieldView {
        name: f.name,
        label: f.label,
        help: f.help,
        input: match f.input {
            Input::Text => "text",
            Input::Password => "password",
            Input::Number { .. } => "number",
            Input::Checkbox => "checkbox",
            Input::Choice(_) => "select",
        },
        required: f.required && !kept,
        placeholder: f.placeholder,
        checked: f.input == Input::Checkbox && !value.is_empty() && value != "false",
        choices: match f.input {
            Input::Choice(choices) => choices
                .iter()
                .map(|c| ChoiceView {
                    value: c.value,
                    label: c.label,
                    selected: c.value == value,
                })
                .collect(),
            _ => Vec::new(),
        },
        kept,
        retype: f.secret() && !kept && shown.retype.contains(f.name),
        problem: shown
            .problems
            .iter()
            .find(|p| p.field == f.name)
            .map(|p| p.message.clone()),
        value,
    }
}

fn result_view(outcome: &Outcome) -> ResultView {
    match outcome {
        Outcome::Works { location } => ResultView {
            level: "ok",
            heading: "It works".into(),
            detail: format!(
                "Lifeboat listed {location}, wrote a test file there, read it back, found it \
                 listed and deleted it."
            ),
            key: None,
        },
        Outcome::Failed(f) => ResultView {
            level: "bad",
            heading: "It does not work yet".into(),
            detail: capital(&f.to_string()),
            key: None,
        },
        Outcome::NotRun(why) => ResultView {
            level: "bad",
            heading: "It could not be tried".into(),
            detail: capital(why),
            key: None,
        },
        Outcome::TrustKey(k) => ResultView {
            level: "ask",
            heading: "Is this the server's key?".into(),
            detail: "The server answered with the key below. Compare its fingerprint with the \
                     server's own (on the server: ssh-keygen -lf on its host key, or the NAS's \
                     SSH settings). Trust it only if they match: from then on, any other key is \
                     refused."
                .into(),
            key: Some(KeyView {
                algorithm: k.algorithm.clone(),
                fingerprint: k.fingerprint.clone(),
                line: k.line.clone(),
            }),
        },
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}
