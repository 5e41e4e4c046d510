//! The settings form: the schedule, the default retention and each destination's own, as the
//! page shows them and as the person sends them back, and how they change the settings document.
//! Everything sent is kept to show again; the document's destinations decide which fields there
//! are (a field for a name the document does not hold is ignored).

use crate::config::edit::{FieldValue, ScheduleFields, SettingsDoc};

/// The longest text a field takes.
const MAX_TEXT: usize = 200;
/// The most minutes of jitter (the add-on's schema: `int(0,720)`).
const MAX_JITTER: u32 = 720;
/// The form field of a destination's retention: this, then the destination's name.
pub const DESTINATION_FIELD: &str = "retention:";

/// One destination's retention on the form.
pub struct DestinationRetention {
    pub name: String,
    pub kind: &'static str,
    pub retention: String,
    /// The option the validation names it by: `destinations[0].retention`.
    pub field: String,
}

impl DestinationRetention {
    /// Its input's name.
    pub fn input(&self) -> String {
        format!("{DESTINATION_FIELD}{}", self.name)
    }
}

/// The form's values, as text.
pub struct SettingsForm {
    pub backup: String,
    pub verify: String,
    pub jitter_minutes: String,
    pub timezone: String,
    pub retention: String,
    pub destinations: Vec<DestinationRetention>,
}

fn text(v: Option<&FieldValue>) -> String {
    match v {
        Some(FieldValue::Text(s)) => s.clone(),
        Some(FieldValue::Int(n)) => n.to_string(),
        _ => String::new(),
    }
}

impl SettingsForm {
    /// What `doc` holds now.
    pub fn from_doc(doc: &SettingsDoc) -> Self {
        let s = doc.schedule();
        Self {
            backup: s.backup.unwrap_or_default(),
            verify: s.verify.unwrap_or_default(),
            jitter_minutes: s.jitter_minutes.map(|n| n.to_string()).unwrap_or_default(),
            timezone: s.timezone.unwrap_or_default(),
            retention: doc.retention().unwrap_or_default(),
            destinations: doc
                .destinations()
                .into_iter()
                .enumerate()
                .map(|(i, d)| DestinationRetention {
                    retention: text(d.fields.get("retention")),
                    kind: d.kind.as_str(),
                    name: d.name,
                    field: format!("destinations[{i}].retention"),
                })
                .collect(),
        }
    }

    /// What the person sent, over `doc`'s destinations. A destination whose field was not sent
    /// (added or renamed since the form was shown) keeps its own retention as it is.
    pub fn from_pairs(doc: &SettingsDoc, pairs: &[(String, String)]) -> Self {
        let sent = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let get = |k: &str| sent(k).unwrap_or_default();
        let mut form = Self::from_doc(doc);
        form.backup = get("backup");
        form.verify = get("verify");
        form.jitter_minutes = get("jitter_minutes");
        form.timezone = get("timezone");
        form.retention = get("retention");
        for d in &mut form.destinations {
            if let Some(v) = sent(&d.input()) {
                d.retention = v;
            }
        }
        form
    }

    /// Changes `doc` to hold the form's values.
    ///
    /// # Errors
    /// The problems the form itself finds, each naming its field; `doc` is then half changed and
    /// must not be saved.
    pub fn apply(&self, doc: &mut SettingsDoc) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut field = |name: &str, value: &str| -> Option<String> {
            let v = value.trim();
            if v.chars().count() > MAX_TEXT {
                problems.push(format!("{name}: at most {MAX_TEXT} characters"));
            }
            (!v.is_empty()).then(|| v.to_owned())
        };
        let schedule = ScheduleFields {
            backup: field("schedule.backup", &self.backup),
            verify: field("schedule.verify", &self.verify),
            jitter_minutes: None,
            timezone: field("schedule.timezone", &self.timezone),
        };
        let retention = field("retention", &self.retention);
        let mine: Vec<(String, Option<String>)> = self
            .destinations
            .iter()
            .map(|d| (d.name.clone(), field(&d.field, &d.retention)))
            .collect();
        let jitter = match self.jitter_minutes.trim() {
            "" => None,
            n => match n.parse::<u32>() {
                Ok(n) if n <= MAX_JITTER => Some(n),
                _ => {
                    problems.push(
                        "schedule.jitter_minutes: a whole number of minutes, 0 to 720".into(),
                    );
                    None
                }
            },
        };
        doc.set_schedule(&ScheduleFields {
            jitter_minutes: jitter,
            ..schedule
        });
        doc.set_retention(retention.as_deref());
        for (name, retention) in mine {
            if let Err(e) = set_destination_retention(doc, &name, retention) {
                problems.push(e);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Sets one destination's own retention, touching it only when it changes.
fn set_destination_retention(
    doc: &mut SettingsDoc,
    name: &str,
    retention: Option<String>,
) -> Result<(), String> {
    let Some(mut entry) = doc.destinations().into_iter().find(|d| d.name == name) else {
        return Err(format!("{name}: the destination is gone from the settings"));
    };
    let now = entry.fields.get("retention").cloned();
    let wanted = retention.map(FieldValue::Text);
    if now == wanted {
        return Ok(());
    }
    match wanted {
        Some(v) => entry.fields.insert("retention".into(), v),
        None => entry.fields.remove("retention"),
    };
    doc.put_destination(Some(name), entry)
        .map_err(|e| format!("{name}: {e}"))
}
