//! A standalone `lifeboat.toml` as a document, changed in place with `toml_edit`: destinations
//! are `[[destinations]]` tables (or an inline list of tables); a value that stays the same is
//! not touched, a value that changes keeps its comment, and every other byte stays as it was.

use super::{DestinationEntry, EditError, FieldValue, ScheduleFields, is_own_key, is_secret};
use crate::destinations::Kind;
use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike, Value};

/// Each entry of the list, by its place: `None` where it is not a table.
fn tables(d: &DocumentMut) -> Vec<Option<&dyn TableLike>> {
    match d.get("destinations") {
        Some(Item::ArrayOfTables(a)) => a.iter().map(|t| Some(t as &dyn TableLike)).collect(),
        Some(Item::Value(Value::Array(a))) => a
            .iter()
            .map(|v| v.as_inline_table().map(|t| t as &dyn TableLike))
            .collect(),
        _ => Vec::new(),
    }
}

fn table_mut(d: &mut DocumentMut, at: usize) -> Option<&mut dyn TableLike> {
    match d.get_mut("destinations") {
        Some(Item::ArrayOfTables(a)) => a.get_mut(at).map(|t| t as &mut dyn TableLike),
        Some(Item::Value(Value::Array(a))) => a
            .get_mut(at)
            .and_then(Value::as_inline_table_mut)
            .map(|t| t as &mut dyn TableLike),
        _ => None,
    }
}

pub(super) fn names(d: &DocumentMut) -> Vec<Option<String>> {
    tables(d)
        .into_iter()
        .map(|t| {
            t.and_then(|t| t.get("name"))
                .and_then(Item::as_str)
                .map(str::to_owned)
        })
        .collect()
}

pub(super) fn destinations(d: &DocumentMut) -> Vec<DestinationEntry> {
    tables(d).into_iter().flatten().filter_map(entry).collect()
}

fn entry(t: &dyn TableLike) -> Option<DestinationEntry> {
    let kind = Kind::named(t.get("type")?.as_str()?)?;
    let name = t.get("name").and_then(Item::as_str).unwrap_or_default();
    let fields = t
        .iter()
        .filter(|(k, _)| !is_own_key(k))
        .filter_map(|(k, v)| field(k, v.as_value()?).map(|f| (k.to_owned(), f)))
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
        Value::String(s) => Some(FieldValue::Text(s.value().clone())),
        Value::Integer(n) => Some(FieldValue::Int(*n.value())),
        Value::Boolean(b) => Some(FieldValue::Bool(*b.value())),
        _ => None,
    }
}

fn is_set(v: &Value) -> bool {
    v.as_str() != Some("")
}

pub(super) fn put(
    d: &mut DocumentMut,
    at: Option<usize>,
    entry: &DestinationEntry,
) -> Result<(), EditError> {
    let old = at.and_then(|i| tables(d).get(i).copied().flatten());
    let values = values(old, entry)?;
    match at.and_then(|i| table_mut(d, i)) {
        Some(t) => update(t, &values),
        None => push(d, values)?,
    }
    Ok(())
}

/// The entry's keys and values in the order a new table gets them, a `Keep` taking the old
/// entry's value.
fn values(
    old: Option<&dyn TableLike>,
    entry: &DestinationEntry,
) -> Result<Vec<(String, Value)>, EditError> {
    let mut out = vec![
        ("type".to_owned(), Value::from(entry.kind.as_str())),
        ("name".to_owned(), Value::from(entry.name.as_str())),
    ];
    for (key, value) in entry.fields.iter().filter(|(k, _)| !is_own_key(k)) {
        let v = match value {
            FieldValue::Text(s) => Value::from(s.as_str()),
            FieldValue::Int(n) => Value::from(*n),
            FieldValue::Bool(b) => Value::from(*b),
            FieldValue::Keep => old
                .and_then(|t| t.get(key))
                .and_then(Item::as_value)
                .filter(|v| is_set(v))
                .cloned()
                .ok_or_else(|| EditError::NothingToKeep { field: key.clone() })?,
        };
        out.push((key.clone(), v));
    }
    Ok(out)
}

/// Changes the table in place: keys not given go, values that change keep their comments.
fn update(t: &mut dyn TableLike, values: &[(String, Value)]) {
    let gone: Vec<String> = t
        .iter()
        .map(|(k, _)| k.to_owned())
        .filter(|k| !values.iter().any(|(n, _)| n == k))
        .collect();
    for k in gone {
        t.remove(&k);
    }
    for (k, v) in values {
        set_value(t, k, v.clone());
    }
}

fn push(d: &mut DocumentMut, values: Vec<(String, Value)>) -> Result<(), EditError> {
    let root = d.as_table_mut();
    if root.get("destinations").is_none_or(Item::is_none) {
        root.insert("destinations", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    match root.get_mut("destinations") {
        Some(Item::ArrayOfTables(a)) => {
            let mut t = Table::new();
            for (k, v) in values {
                t.insert(&k, Item::Value(v));
            }
            a.push(t);
        }
        Some(Item::Value(Value::Array(a))) => {
            let mut t = InlineTable::new();
            for (k, v) in values {
                t.insert(&k, v);
            }
            a.push(t);
        }
        _ => {
            return Err(EditError::Options(
                "destinations: not a list of destinations".into(),
            ));
        }
    }
    Ok(())
}

pub(super) fn remove(d: &mut DocumentMut, at: usize) {
    match d.get_mut("destinations") {
        Some(Item::ArrayOfTables(a)) if at < a.len() => {
            a.remove(at);
        }
        Some(Item::Value(Value::Array(a))) if at < a.len() => {
            a.remove(at);
        }
        _ => {}
    }
}

pub(super) fn schedule(d: &DocumentMut) -> ScheduleFields {
    let t = d.get("schedule").and_then(Item::as_table_like);
    let text = |k: &str| {
        t.and_then(|t| t.get(k))
            .and_then(Item::as_str)
            .map(str::to_owned)
    };
    ScheduleFields {
        backup: text("backup"),
        verify: text("verify"),
        jitter_minutes: t
            .and_then(|t| t.get("jitter_minutes"))
            .and_then(Item::as_integer)
            .and_then(|n| u32::try_from(n).ok()),
        timezone: text("timezone"),
    }
}

pub(super) fn set_schedule(d: &mut DocumentMut, s: &ScheduleFields) {
    let root = d.as_table_mut();
    let has_table = root.get("schedule").is_some_and(Item::is_table_like);
    let any = s.backup.is_some()
        || s.verify.is_some()
        || s.jitter_minutes.is_some()
        || s.timezone.is_some();
    if !has_table {
        if !any {
            root.remove("schedule");
            return;
        }
        root.insert("schedule", Item::Table(Table::new()));
    }
    let Some(t) = root.get_mut("schedule").and_then(Item::as_table_like_mut) else {
        return;
    };
    set_text(t, "backup", s.backup.as_deref());
    set_text(t, "verify", s.verify.as_deref());
    match s.jitter_minutes {
        Some(n) => set_value(t, "jitter_minutes", Value::from(i64::from(n))),
        None => {
            t.remove("jitter_minutes");
        }
    }
    set_text(t, "timezone", s.timezone.as_deref());
}

/// Sets the string `key`, or removes it with `None`.
pub(super) fn set_text(t: &mut dyn TableLike, key: &str, text: Option<&str>) {
    match text {
        Some(s) => set_value(t, key, Value::from(s)),
        None => {
            t.remove(key);
        }
    }
}

/// Sets `key` to `new`: left as written when it holds the same already, else replaced with its
/// comment kept.
fn set_value(t: &mut dyn TableLike, key: &str, mut new: Value) {
    match t.get_mut(key) {
        Some(Item::Value(old)) => {
            if !same(old, &new) {
                *new.decor_mut() = old.decor().clone();
                *old = new;
            }
        }
        Some(item) => *item = Item::Value(new),
        None => {
            t.insert(key, Item::Value(new));
        }
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.value() == b.value(),
        (Value::Integer(a), Value::Integer(b)) => a.value() == b.value(),
        (Value::Boolean(a), Value::Boolean(b)) => a.value() == b.value(),
        _ => false,
    }
}
