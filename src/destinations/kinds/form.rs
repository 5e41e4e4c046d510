//! How each kind of destination is asked for on the dashboard: a [`Form`] with a title, a
//! one-line blurb and its own fields only, each named by its option name, in the kind's own words.
//! Every kind module holds its `FORM`; [`FORMS`] lists them in the order the chooser shows them.
//! The name and retention every destination has are asked for by the page itself ([`COMMON`]).

use super::{azure, local, rclone, s3, sftp, smb, webdav};
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

/// Every kind's form, in the order the chooser shows them.
pub const FORMS: [&Form; 7] = [
    &local::FORM,
    &s3::FORM,
    &azure::FORM,
    &webdav::FORM,
    &sftp::FORM,
    &smb::FORM,
    &rclone::FORM,
];

/// The form of the kind whose word is `word` (`s3`).
pub fn form_for(word: &str) -> Option<&'static Form> {
    FORMS.into_iter().find(|f| f.kind.as_str() == word)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn preset(id: &str, given: &[(&str, &str)]) -> (BTreeMap<String, String>, Vec<&'static str>) {
        let mut v: BTreeMap<String, String> = given
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let p = s3::FORM.preset(id).unwrap();
        let problems = p.fill(&mut v).into_iter().map(|(f, _)| f).collect();
        (v, problems)
    }

    #[test]
    fn a_preset_fills_the_empty_fields_only() {
        let (v, p) = preset("b2", &[("region", "us-west-004")]);
        assert_eq!(v["endpoint"], "https://s3.us-west-004.backblazeb2.com");
        assert!(p.is_empty());
        let (_, p) = preset("b2", &[]);
        assert_eq!(p, ["region"], "B2 needs the region to make its endpoint");
        let (v, p) = preset("r2", &[]);
        assert_eq!(v["region"], "auto");
        assert_eq!(p, ["endpoint"], "the account id is the person's to fill");
        let (v, p) = preset(
            "r2",
            &[("endpoint", "https://abc.r2.cloudflarestorage.com")],
        );
        assert_eq!(v["endpoint"], "https://abc.r2.cloudflarestorage.com");
        assert!(p.is_empty());
        let (v, _) = preset("wasabi", &[("region", "eu-central-2")]);
        assert_eq!(v["endpoint"], "https://s3.eu-central-2.wasabisys.com");
        let (v, p) = preset("minio", &[("endpoint", "http://10.0.0.5:9000")]);
        assert_eq!(
            (v["endpoint"].as_str(), v["path_style"].as_str()),
            ("http://10.0.0.5:9000", "true")
        );
        assert!(p.is_empty());
        let (v, p) = preset("aws", &[("region", "eu-central-1"), ("path_style", "")]);
        assert!(!v.contains_key("endpoint") && p.is_empty());
        assert_eq!(v["path_style"], "false");
    }

    /// A value of the field's type.
    fn sample(f: &Field) -> serde_json::Value {
        match f.input {
            Input::Number { .. } => serde_json::json!(1),
            Input::Checkbox => serde_json::json!(true),
            Input::Choice(c) if c.iter().any(|c| c.value == "true") => serde_json::json!(true),
            _ => serde_json::json!("x"),
        }
    }

    /// Every form names options its kind takes (its options refuse unknown keys), each once,
    /// with words, and leaves the name and retention to [`COMMON`].
    #[test]
    fn each_form_asks_for_its_own_options_only() {
        for form in FORMS {
            assert_eq!(
                form_for(form.kind.as_str()).map(|f| f.kind),
                Some(form.kind)
            );
            let mut all = serde_json::json!({"type": form.kind.as_str(), "name": "n"});
            let mut seen = std::collections::HashSet::new();
            for f in form.fields {
                assert!(seen.insert(f.name), "{}: {} twice", form.kind, f.name);
                assert!(COMMON.iter().all(|c| c.name != f.name));
                assert!(!f.help.is_empty() && !f.label.is_empty());
                all[f.name] = sample(f);
            }
            all["retention"] = serde_json::json!("last=1");
            let read: Result<super::super::DestinationOptions, _> = serde_json::from_value(all);
            assert!(read.is_ok(), "{}: {:?}", form.kind, read.err());
        }
        assert_eq!(form_for("nonsense").map(|f| f.kind), None);
    }
}
