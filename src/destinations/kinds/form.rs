//! How each kind of destination is asked for on the dashboard: a [`Form`] with a title, a
//! one-line blurb and its own fields only, each named by its option name, in the kind's own words.
//! Every kind module holds its `FORM`; [`super::FORMS`] lists them in the order the chooser shows them.
//! The name and retention every destination has are asked for by the page itself ([`COMMON`]).

use crate::destinations::Kind;

/// One kind's form.
#[derive(Debug)]
pub struct Form {
    pub kind: Kind,
    /// "S3 bucket".
    pub title: &'static str,
    /// One line under the title on the chooser.
    pub blurb: &'static str,
    pub fields: &'static [Field],
    /// Providers whose settings fill empty fields (S3's), none for most kinds.
    pub presets: &'static [Preset],
}

/// One field: an option of the kind.
#[derive(Debug)]
pub struct Field {
    /// The option's name (`bucket`, `secret_access_key`).
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub input: Input,
    pub required: bool,
    pub placeholder: &'static str,
}

/// How a field is typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Text,
    /// A secret: write-only, never shown back.
    Password,
    /// A whole number, from 0 to `max`.
    Number {
        max: u32,
    },
    /// On or off (off: unset).
    Checkbox,
    /// One of these; the value `""` is unset, and `"true"`/`"false"` are a switch.
    Choice(&'static [Choice]),
}

/// One choice of a [`Input::Choice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

/// A provider's settings: what fills the empty fields when it is chosen. In a template,
/// `<region>` is replaced by the region given; other `<…>` parts are the person's to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The word the form sends (`b2`).
    pub id: &'static str,
    pub label: &'static str,
    /// The endpoint, as a template (`None`: the provider's default, no endpoint).
    pub endpoint: Option<&'static str>,
    /// The region, when the provider has one fixed.
    pub region: Option<&'static str>,
    pub path_style: Option<bool>,
    /// What to fill in by hand, in a line.
    pub note: &'static str,
}

impl Form {
    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The preset with id `id`.
    pub fn preset(&self, id: &str) -> Option<&'static Preset> {
        self.presets.iter().find(|p| p.id == id)
    }
}

impl Preset {
    /// Fills the empty `endpoint`, `region` and `path_style` of `values` (by option name) from
    /// the preset; a template part still to fill is a problem on its field, `(field, message)`.
    pub fn fill(
        &self,
        values: &mut std::collections::BTreeMap<String, String>,
    ) -> Vec<(&'static str, String)> {
        let empty = |v: &std::collections::BTreeMap<String, String>, k: &str| {
            v.get(k).is_none_or(|s| s.trim().is_empty())
        };
        let mut problems = Vec::new();
        if empty(values, "region")
            && let Some(r) = self.region
        {
            values.insert("region".into(), r.into());
        }
        if empty(values, "path_style")
            && let Some(p) = self.path_style
        {
            values.insert("path_style".into(), p.to_string());
        }
        if empty(values, "endpoint")
            && let Some(t) = self.endpoint
        {
            let region = values.get("region").map_or("", |r| r.trim());
            if t.contains("<region>") && region.is_empty() {
                problems.push(("region", format!("{}: {}", self.label, self.note)));
                return problems;
            }
            values.insert("endpoint".into(), t.replace("<region>", region));
        }
        if values.get("endpoint").is_some_and(|e| e.contains('<')) {
            problems.push(("endpoint", format!("{}: {}", self.label, self.note)));
        }
        problems
    }
}

impl Field {
    /// Whether the field holds a secret.
    pub fn secret(&self) -> bool {
        self.input == Input::Password
    }
}

/// The fields every destination has, whatever its kind.
pub const COMMON: &[Field] = &[
    Field {
        name: "name",
        label: "Name",
        help: "Names this destination in runs, copies and alerts: letters, digits, - and _.",
        input: Input::Text,
        required: true,
        placeholder: "offsite",
    },
    Field {
        name: "retention",
        label: "Copies to keep",
        help: "Like daily=7 weekly=4 monthly=12; empty: the rule for every destination.",
        input: Input::Text,
        required: false,
        placeholder: "daily=7 weekly=4 monthly=12",
    },
];

/// A text field.
pub(super) const fn text(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    required: bool,
    placeholder: &'static str,
) -> Field {
    Field {
        name,
        label,
        help,
        input: Input::Text,
        required,
        placeholder,
    }
}

/// A secret field.
pub(super) const fn password(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    required: bool,
) -> Field {
    Field {
        name,
        label,
        help,
        input: Input::Password,
        required,
        placeholder: "",
    }
}

/// A number field.
pub(super) const fn number(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    placeholder: &'static str,
    max: u32,
) -> Field {
    Field {
        name,
        label,
        help,
        input: Input::Number { max },
        required: false,
        placeholder,
    }
}
