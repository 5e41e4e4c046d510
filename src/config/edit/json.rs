//! The add-on's options object as a document: destinations are a list of objects with `name`,
//! `type` and the kind's fields; `!secret` references stay as they are.

use super::{DestinationEntry, EditError, FieldValue, ScheduleFields, is_own_key, is_secret};
use crate::destinations::Kind;
use serde_json::{Map, Value};

fn list(v: &Value) -> &[Value] {
    v.get("destinations")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The list to change, made when the options have none.
fn list_mut(v: &mut Value) -> Result<&mut Vec<Value>, EditError> {
    let Some(obj) = v.as_object_mut() else {
        return Err(EditError::NotAnObject);
    };
    let slot = obj
        .entry("destinations")
        .or_insert_with(|| Value::Array(Vec::new()));
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut()
        .ok_or_else(|| EditError::Options("destinations: not a list of destinations".into()))
}

pub(super) fn names(v: &Value) -> Vec<Option<String>> {
    list(v)
        .iter()
        .map(|d| d.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

pub(super) fn destinations(v: &Value) -> Vec<DestinationEntry> {
    list(v).iter().filter_map(entry).collect()
}

fn entry(d: &Value) -> Option<DestinationEntry> {
    let obj = d.as_object()?;
    let kind = Kind::named(obj.get("type")?.as_str()?)?;
    let name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
    let fields = obj
        .iter()
        .filter(|(k, _)| !is_own_key(k))
        .filter_map(|(k, v)| field(k, v).map(|f| (k.clone(), f)))
        .collect();
    Some(DestinationEntry {
        name: name.to_owned(),
        kind,
        fields,
    })
}

/// A field as the dashboard sees it; a set secret as [`FieldValue::Keep`].
fn field(key: &str, v: &Value) -> Option<FieldValue> {
    if is_secret(key) {
        return is_set(v).then_some(FieldValue::Keep);
    }
    match v {
        Value::String(s) => Some(FieldValue::Text(s.clone())),
        Value::Bool(b) => Some(FieldValue::Bool(*b)),
        Value::Number(n) => n.as_i64().map(FieldValue::Int),
        _ => None,
    }
}

fn is_set(v: &Value) -> bool {
    !(v.is_null() || v.as_str() == Some(""))
}

pub(super) fn put(
    v: &mut Value,
    at: Option<usize>,
    entry: &DestinationEntry,
) -> Result<(), EditError> {
    let items = list_mut(v)?;
    let old = at.and_then(|i| items.get(i)).and_then(Value::as_object);
    let new = object(old, entry)?;
    match at.and_then(|i| items.get_mut(i)) {
        Some(slot) => *slot = new,
        None => items.push(new),
    }
    Ok(())
}

/// The entry as an options object, a `Keep` taking the old entry's value.
fn object(old: Option<&Map<String, Value>>, entry: &DestinationEntry) -> Result<Value, EditError> {
    let mut out = Map::new();
    out.insert("name".into(), Value::String(entry.name.clone()));
    out.insert("type".into(), Value::String(entry.kind.as_str().into()));
    for (key, value) in entry.fields.iter().filter(|(k, _)| !is_own_key(k)) {
        let v = match value {
            FieldValue::Text(s) => Value::String(s.clone()),
            FieldValue::Int(n) => Value::from(*n),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Keep => old
                .and_then(|o| o.get(key))
                .filter(|v| is_set(v))
                .cloned()
                .ok_or_else(|| EditError::NothingToKeep { field: key.clone() })?,
        };
        out.insert(key.clone(), v);
    }
    Ok(Value::Object(out))
}

pub(super) fn remove(v: &mut Value, at: usize) {
    if let Some(items) = v.get_mut("destinations").and_then(Value::as_array_mut)
        && at < items.len()
    {
        items.remove(at);
    }
}

pub(super) fn schedule(v: &Value) -> ScheduleFields {
    let s = v.get("schedule");
    let text = |k: &str| {
        s.and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    ScheduleFields {
        backup: text("backup"),
        verify: text("verify"),
        jitter_minutes: s
            .and_then(|s| s.get("jitter_minutes"))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        timezone: text("timezone"),
    }
}

pub(super) fn set_schedule(v: &mut Value, schedule: &ScheduleFields) {
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    let slot = obj
        .entry("schedule")
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    set_text(slot, "backup", schedule.backup.as_deref());
    set_text(slot, "verify", schedule.verify.as_deref());
    set_text(slot, "timezone", schedule.timezone.as_deref());
    if let Some(s) = slot.as_object_mut() {
        match schedule.jitter_minutes {
            Some(n) => s.insert("jitter_minutes".into(), Value::from(n)),
            None => s.remove("jitter_minutes"),
        };
    }
}

/// Sets the string `key` of the object `v`, or removes it with `None`.
pub(super) fn set_text(v: &mut Value, key: &str, text: Option<&str>) {
    if let Some(obj) = v.as_object_mut() {
        match text {
            Some(t) => obj.insert(key.into(), Value::String(t.to_owned())),
            None => obj.remove(key),
        };
    }
}
