//! The Supervisor's rules for an add-on's options and for a repository, written here from its
//! source (home-assistant/supervisor: `apps/options.py` `AppOptions`, `apps/validate.py`
//! `SCHEMA_ELEMENT`, `store/data.py`, `store/validate.py`, `utils/common.py`) so that a test can
//! judge `config.yaml` and the repository as the Supervisor will:
//!
//! - options: unknown keys are dropped (at the top and inside dicts); `null` is a missing required
//!   option; a missing key is allowed only when its type is a string ending in `?`, or a list whose
//!   element is one: a missing dict is never allowed, whatever its fields say; each type is
//!   checked as voluptuous checks it (`str` only takes a string and, with bounds, compares a string
//!   with a number and so refuses every value; `int` coerces like Python's `int()`; `match` is
//!   `re.match`, anchored at the start only; `list(a|b)` compares `str(value)`), and `!secret x`
//!   is looked up in Home Assistant's secrets.
//! - schema: every leaf is in `RE_SCHEMA_ELEMENT`; a list holds one element, never a list; the
//!   developer docs allow nesting two levels deep.
//! - store: `repository.(json|yaml|yml)` is the first `**/repository.*` found; every
//!   `config.(json|yaml|yml)` outside dot-folders and `rootfs` is an add-on whose folder is its
//!   build context; `**/build.*` there turns on the deprecated build file.
//!
//! Python's `str()` of a value is written out where a rule depends on it.

use regex::Regex;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// `RE_SCHEMA_ELEMENT`, with its named groups.
pub fn schema_element() -> Regex {
    Regex::new(concat!(
        r"^(?:",
        r"|bool",
        r"|email",
        r"|url",
        r"|port",
        r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?",
        r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?",
        r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?",
        r"|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?",
        r"|float(?:\((?P<f_min>-?\d*\.?\d+)?,(?P<f_max>-?\d*\.?\d+)?\))?",
        r"|match\((?P<match>.*)\)",
        r"|list\((?P<list>.+)\)",
        r")\??$"
    ))
    .unwrap()
}

/// Checks a `schema` as `SCHEMA_ELEMENT` does, plus the documented depth of two.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    let Value::Object(map) = schema else {
        return Err("schema is not a dict".into());
    };
    let re = schema_element();
    // `depth` counts the containers a value sits in: a top-level option is at 1.
    fn walk(v: &Value, at: &str, depth: usize, in_list: bool, re: &Regex) -> Result<(), String> {
        if (v.is_array() || v.is_object()) && depth > 2 {
            return Err(format!("{at}: nested deeper than two levels"));
        }
        match v {
            Value::String(t) if re.is_match(t) => Ok(()),
            Value::String(t) => Err(format!("{at}: {t:?} is not an option type")),
            Value::Array(_) if in_list => Err(format!("{at}: a list may not hold a list")),
            Value::Array(items) => {
                let [item] = items.as_slice() else {
                    return Err(format!("{at}: a list schema holds exactly one element"));
                };
                walk(item, &format!("{at}[]"), depth + 1, true, re)
            }
            Value::Object(m) => m
                .iter()
                .try_for_each(|(k, v)| walk(v, &format!("{at}.{k}"), depth + 1, false, re)),
            other => Err(format!("{at}: {other} is not an option type")),
        }
    }
    map.iter().try_for_each(|(k, v)| walk(v, k, 1, false, &re))
}

/// What the Supervisor validates an add-on's options with.
pub struct AppOptions<'a> {
    pub schema: &'a Map<String, Value>,
    pub name: &'a str,
    pub slug: &'a str,
    /// Home Assistant's `secrets.yaml`.
    pub secrets: HashMap<String, String>,
}

impl AppOptions<'_> {
    /// `AppOptions.__call__`: the options as the Supervisor keeps them, or its error message.
    pub fn validate(&self, options: &Value) -> Result<Value, String> {
        let Value::Object(given) = options else {
            return Err("expected a dictionary".into());
        };
        let mut out = Map::new();
        for (key, value) in given {
            let Some(typ) = self.schema.get(key) else {
                continue; // "Option '…' does not exist in the schema": dropped
            };
            out.insert(key.clone(), self.element(typ, value, key)?);
        }
        self.check_missing(self.schema, &out, "root")?;
        Ok(Value::Object(out))
    }

    fn who(&self) -> String {
        format!("{} ({})", self.name, self.slug)
    }

    fn element(&self, typ: &Value, value: &Value, key: &str) -> Result<Value, String> {
        match typ {
            Value::Array(t) => {
                let Value::Array(items) = value else {
                    return Err(format!("Invalid list for option '{key}' in {}", self.who()));
                };
                let t = t
                    .first()
                    .ok_or_else(|| format!("Type error for option '{key}' in {}", self.who()))?;
                items.iter().map(|v| self.element(t, v, key)).collect()
            }
            Value::Object(t) => {
                let Value::Object(given) = value else {
                    return Err(format!("Invalid dict for option '{key}' in {}", self.who()));
                };
                let mut out = Map::new();
                for (k, v) in given {
                    if let Some(sub) = t.get(k) {
                        out.insert(k.clone(), self.element(sub, v, k)?);
                    }
                }
                self.check_missing(t, &out, key)?;
                Ok(Value::Object(out))
            }
            Value::String(t) => self.single(t, value, key),
            _ => Err(format!("Type error for option '{key}' in {}", self.who())),
        }
    }

    /// `_check_missing_options`.
    fn check_missing(
        &self,
        origin: &Map<String, Value>,
        exists: &Map<String, Value>,
        root: &str,
    ) -> Result<(), String> {
        for (key, schema) in origin {
            if exists.contains_key(key) {
                continue;
            }
            let schema = match schema {
                Value::Array(items) if !items.is_empty() => &items[0],
                other => other,
            };
            if matches!(schema, Value::String(s) if s.ends_with('?')) {
                continue;
            }
            return Err(format!(
                "Missing option '{key}' in {root} in {}",
                self.who()
            ));
        }
        Ok(())
    }

    /// `_single_validate`.
    fn single(&self, typ: &str, value: &Value, key: &str) -> Result<Value, String> {
        let who = self.who();
        if value.is_null() {
            return Err(format!("Missing required option '{key}' in {who}"));
        }
        let mut value = value.clone();
        if let Some(secret) = py_str(&value).strip_prefix("!secret ") {
            match self.secrets.get(secret) {
                Some(v) => value = Value::String(v.clone()),
                None => return Err(format!("Unknown secret '{secret}' in {who}")),
            }
        }
        let re = schema_element();
        let Some(m) = re.captures(typ) else {
            return Err(format!("Unknown type '{typ}' in {who}"));
        };
        let bound = |g: &str| m.name(g).map(|x| x.as_str().parse::<f64>().unwrap());
        let kind = typ.trim_end_matches('?');
        let prefix = |p: &str| kind.starts_with(p);
        // voluptuous's own words, with the option they are about.
        let bad = |what: &str| Err(format!("{what} (option '{key}' in {who})"));
        if prefix("str") || prefix("password") {
            let (lo, hi) = if prefix("str") {
                (bound("s_min"), bound("s_max"))
            } else {
                (bound("p_min"), bound("p_max"))
            };
            // vol.All(str(value), vol.Range(…)): the literal str(value) equals only a string, and
            // Range compares that string with a float, which Python refuses.
            if !value.is_string() {
                return bad("not a valid value");
            }
            if lo.is_some() || hi.is_some() {
                return bad("invalid value or type (must have a partial ordering)");
            }
            return Ok(value);
        }
        if prefix("int") || prefix("port") {
            let (lo, hi) = if prefix("port") {
                (Some(1.0), Some(65535.0))
            } else {
                (bound("i_min"), bound("i_max"))
            };
            let Some(n) = py_int(&value) else {
                return bad("expected int");
            };
            return in_range(n as f64, lo, hi)
                .then(|| Value::from(n))
                .map_or_else(|| bad("value must be in range"), Ok);
        }
        if prefix("float") {
            let Some(n) = py_float(&value) else {
                return bad("expected float");
            };
            return in_range(n, bound("f_min"), bound("f_max"))
                .then(|| Value::from(n))
                .map_or_else(|| bad("value must be in range"), Ok);
        }
        if prefix("bool") {
            return match py_bool(&value) {
                Some(b) => Ok(Value::Bool(b)),
                None => bad("expected boolean"),
            };
        }
        if prefix("email") {
            return match value.as_str() {
                Some(s) if is_email(s) => Ok(value),
                _ => bad("expected an email address"),
            };
        }
        if prefix("url") {
            return match value.as_str() {
                Some(s) if is_url(s) => Ok(value),
                _ => bad("expected a URL"),
            };
        }
        if prefix("match") {
            let pattern = py_regex(m.name("match").map_or("", |x| x.as_str()));
            let s = py_str(&value);
            return if pattern.is_match(&s) {
                Ok(Value::String(s))
            } else {
                bad(&format!(
                    "does not match regular expression {}",
                    pattern.as_str()
                ))
            };
        }
        if prefix("list") {
            let s = py_str(&value);
            let allowed = m.name("list").map_or("", |x| x.as_str());
            return if allowed.split('|').any(|a| a == s) {
                Ok(Value::String(s))
            } else {
                bad("value must be one of the listed choices")
            };
        }
        if prefix("device") {
            // No hardware here: the Supervisor would look the path up in its device list.
            return Err(format!(
                "Device '{}' does not exist in {who}",
                py_str(&value)
            ));
        }
        Err(format!(
            "Fatal error for option '{key}' with type '{typ}' in {who}"
        ))
    }
}

fn in_range(n: f64, lo: Option<f64>, hi: Option<f64>) -> bool {
    lo.is_none_or(|lo| n >= lo) && hi.is_none_or(|hi| n <= hi)
}

/// Python's `str(value)` for what JSON can hold.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            if f.fract() == 0.0 && f.abs() < 1e16 {
                format!("{f:.1}")
            } else {
                format!("{f}")
            }
        }
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => py_str(other),
    }
}

/// `vol.Coerce(int)`: Python's `int(value)`.
fn py_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.trunc() as i64)
        }),
        Value::String(s) => s.trim().replace('_', "").parse().ok(),
        _ => None,
    }
}

/// `vol.Coerce(float)`: Python's `float(value)`.
fn py_float(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().to_ascii_lowercase().parse().ok(),
        _ => None,
    }
}

/// `vol.Boolean()`.
fn py_bool(v: &Value) -> Option<bool> {
    match v {
        Value::String(s) => match s.to_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "enable" => Some(true),
            "0" | "false" | "no" | "off" | "disable" => Some(false),
            _ => None,
        },
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_f64() != Some(0.0)),
        Value::Array(a) => Some(!a.is_empty()),
        Value::Object(m) => Some(!m.is_empty()),
        Value::Null => Some(false),
    }
}

/// `vol.Url()`: `urlparse` must find a scheme and a network location.
pub fn is_url(s: &str) -> bool {
    let s = s.trim_start_matches(|c: char| c <= ' ');
    let s: String = s
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let Some(colon) = s.find(':') else {
        return false;
    };
    let scheme = &s[..colon];
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let Some(rest) = s[colon + 1..].strip_prefix("//").filter(|_| scheme_ok) else {
        return false;
    };
    let netloc = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !netloc.is_empty()
}

/// `vol.Email()`: a dot-atom (or quoted) user and a domain with a top-level part.
fn is_email(s: &str) -> bool {
    let Some((user, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let user_re = Regex::new(
        r"(?i)^(?:[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*|\x22(?:[\x01-\x08\x0b\x0c\x0e-\x1f!#-\[\]-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*\x22)$",
    )
    .unwrap();
    let domain_re = Regex::new(
        r"(?i)^(?:(?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+(?:[A-Z]{2,6}\.?|[A-Z0-9-]{2,}\.?)|\[(?:25[0-5]|2[0-4]\d|[0-1]?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|[0-1]?\d?\d)){3}\])$",
    )
    .unwrap();
    user_re.is_match(user) && domain_re.is_match(domain)
}

/// A Python pattern as `re.match` applies it: anchored at the start only, and a final `$` also
/// matches before one trailing newline.
fn py_regex(pattern: &str) -> Regex {
    let body = match pattern.strip_suffix('$') {
        Some(p) if !p.ends_with('\\') => format!(r"{p}\n?\z"),
        _ => pattern.to_owned(),
    };
    Regex::new(&format!("^(?:{body})")).unwrap()
}

/// The Supervisor's UI keeps the options a person saves; the add-on is started with the
/// manifest's defaults overlaid by them, one level deep (`{**defaults, **saved}`).
pub fn effective_options(defaults: &Value, saved: &Value) -> Value {
    let mut out = defaults.as_object().cloned().unwrap_or_default();
    for (k, v) in saved.as_object().into_iter().flatten() {
        out.insert(k.clone(), v.clone());
    }
    Value::Object(out)
}

/// `SCHEMA_REPOSITORY_CONFIG`: `name` required, `url` a URL, `maintainer` a string.
pub fn check_repository(doc: &Value) -> Result<(), String> {
    let Value::Object(m) = doc else {
        return Err("repository information is not a dict".into());
    };
    match m.get("name") {
        Some(Value::String(_)) => {}
        _ => return Err("required key not provided @ data['name']".into()),
    }
    if let Some(u) = m.get("url")
        && !u.as_str().is_some_and(is_url)
    {
        return Err("expected a URL for dictionary value @ data['url']".into());
    }
    if let Some(v) = m.get("maintainer")
        && !v.is_string()
    {
        return Err("expected str for dictionary value @ data['maintainer']".into());
    }
    Ok(())
}

/// The suffixes the Supervisor reads as configuration (`FILE_SUFFIX_CONFIGURATION`).
pub const CONFIG_SUFFIXES: [&str; 3] = ["json", "yaml", "yml"];

/// Whether the store's add-on search (`**/config.*`) takes this repository-relative path as an
/// add-on manifest: a configuration suffix, and no part starting with `.` or named `rootfs`.
pub fn is_addon_manifest(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let file = parts.last().copied().unwrap_or_default();
    let named = file.starts_with("config.")
        && file
            .rsplit_once('.')
            .is_some_and(|(_, ext)| CONFIG_SUFFIXES.contains(&ext));
    named && !parts.iter().any(|p| p.starts_with('.') || *p == "rootfs")
}

/// Whether a path is found by `find_one_filetype(path, stem, …)` (`**/{stem}.*` with a
/// configuration suffix; Python's `Path.suffix` is what follows the last dot).
pub fn is_config_file_named(rel: &str, stem: &str) -> bool {
    let file = rel.rsplit('/').next().unwrap_or_default();
    file.strip_prefix(stem)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|_| {
            file.rsplit_once('.')
                .is_some_and(|(_, ext)| CONFIG_SUFFIXES.contains(&ext))
        })
}
