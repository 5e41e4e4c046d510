//! A string that must never be printed: tokens, keys, passwords.
//!
//! `Debug` and `Display` show `***`; there is deliberately no `Serialize`, so a secret cannot slip into
//! a manifest, history row or JSON response by accident. Code that truly needs the value calls
//! [`Secret::expose`], which is easy to find in review.

use serde::Deserialize;
use std::fmt;

/// A secret string. Compare and use it only through [`Secret::expose`].
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself. Never log or format the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string (treated as "not set" by the config).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The shortest passphrase taken, for sealing a key and for encrypting copies alike.
pub const MIN_PASSPHRASE: usize = 12;

/// What stands in for a hidden value in free text (errors, logs, a program's complaints).
pub const HIDDEN: &str = "***";

/// Parts of a name (a flag, a variable, a setting, a JSON key) that say it holds a secret.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "account_key",
    "account-key",
    "auth",
    "credential",
    "private",
    "signature",
    "sig",
];

/// Whether `name` (`--db-password`, `PGPASSWORD`, `access_token`, `sig`) looks like it holds a
/// secret. A negation (`--no-password`) does not.
pub fn secret_name(name: &str) -> bool {
    let n = name.trim_start_matches('-').to_ascii_lowercase();
    if n.is_empty() || n.starts_with("no-") || n.starts_with("no_") {
        return false;
    }
    SECRET_WORDS.iter().any(|w| n.contains(w)) || n == "key" || n.ends_with("_key")
}

/// `text` with every known secret and anything that looks like one hidden: the `known` values
/// (four characters or longer), a URL's user and password (`postgresql://u:pw@host` →
/// `postgresql://***@host`), the value of a secret-looking `name=value` or `"name": "value"`,
/// and what follows `Bearer ` or `Basic `. The one scan for everything a child program says.
pub fn scrub(text: &str, known: &[Secret]) -> String {
    scrub_with(text, known, HIDDEN)
}

/// Whether two byte strings are equal, in time that does not depend on where they differ (for
/// tokens and passwords a peer sends).
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// [`scrub`] with `mark` in place of each hidden part.
pub fn scrub_with(text: &str, known: &[Secret], mark: &str) -> String {
    let mut out = text.to_owned();
    for s in known.iter().filter(|s| s.expose().len() >= 4) {
        out = out.replace(s.expose(), mark);
    }
    let out = hide_userinfo(&out, mark);
    let out = hide_assignments(&out, mark);
    hide_after(&out, &["Bearer ", "bearer ", "Basic ", "basic "], mark)
}

/// Ends a hidden value: the characters that close a word, a URL parameter or a quoted string.
fn ends_value(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '&' | ',' | ';' | '"' | '\'' | ')' | ']' | '}' | '<' | '>'
        )
}

/// Replaces the user information of every URL (`scheme://user:pass@host`) in `text`.
pub fn hide_userinfo(text: &str, mark: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = at + 3;
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let authority_end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || ends_value(c))
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(user_end) if user_end > 0 => {
                out.push_str(mark);
                rest = &tail[user_end..];
            }
            _ => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Hides the value of every secret-looking `name=value`, `name: value` and `"name":"value"`.
fn hide_assignments(text: &str, mark: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < text.len() {
        let c = bytes[i];
        if c != b'=' && c != b':' {
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        // The name before the sign, past a closing quote for JSON.
        // `name = value`, as rclone.conf writes it, as well as `name=value`.
        let spaced = c == b'=' && text[..i].ends_with(' ');
        let before = if c == b'=' {
            text[..i].trim_end_matches(' ')
        } else {
            &text[..i]
        };
        let quoted = before.ends_with('"');
        let before = before.strip_suffix('"').unwrap_or(before);
        let name_start = before
            .char_indices()
            .rev()
            .take_while(|(_, ch)| is_name(*ch))
            .last()
            .map_or(before.len(), |(k, _)| k);
        let name = &before[name_start..];
        // `name: value` only where it is a quoted JSON key, so that `https:` and "token: …" in a
        // sentence stay readable.
        if !secret_name(name) || (c == b':' && !quoted) {
            out.push(c as char);
            i += 1;
            continue;
        }
        out.push(c as char);
        i += 1;
        // Spaces, then an opening quote, then the value.
        while i < text.len() && bytes[i] == b' ' {
            out.push(' ');
            i += 1;
        }
        let quote = (i < text.len() && matches!(bytes[i], b'"' | b'\'')).then(|| bytes[i] as char);
        if let Some(q) = quote {
            out.push(q);
            i += 1;
        }
        let value = &text[i..];
        let len = match quote {
            // A quoted value runs to its closing quote, past any escaped one.
            Some(q) => {
                let mut escaped = false;
                value
                    .char_indices()
                    .find(|&(_, ch)| {
                        let end = ch == q && !escaped;
                        escaped = ch == '\\' && !escaped;
                        end
                    })
                    .map_or(value.len(), |(k, _)| k)
            }
            // rclone.conf's `name = value` runs to the end of its line (a token is JSON).
            None if spaced => value.find(['\n', '\r']).unwrap_or(value.len()),
            None => value.find(ends_value).unwrap_or(value.len()),
        };
        if len > 0 && !value[..len].starts_with(mark) {
            out.push_str(mark);
        } else {
            out.push_str(&value[..len]);
        }
        i += len;
    }
    out
}

/// Hides the word after each of `markers` (`Bearer abc` → `Bearer ***`).
fn hide_after(text: &str, markers: &[&str], mark: &str) -> String {
    let mut out = text.to_owned();
    for m in markers {
        let mut from = 0;
        while let Some(pos) = out[from..].find(m) {
            let start = from + pos + m.len();
            let end = out[start..]
                .find(ends_value)
                .map_or(out.len(), |e| start + e);
            if end > start && !out[start..end].starts_with(mark) {
                out.replace_range(start..end, mark);
                from = start + mark.len();
            } else {
                from = end;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2-token");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(***))");
        assert_eq!(s.expose(), "hunter2-token");
    }

    #[test]
    fn deserializes_transparently() {
        let s: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(s.expose(), "abc");
    }

    #[test]
    fn scrub_hides_known_secrets_urls_assignments_and_tokens() {
        let known = [Secret::new("hunter2-token")];
        let cases = [
            ("failed with hunter2-token", "failed with ***"),
            (
                "dial postgresql://u:pw@db.local:5432/x failed",
                "dial postgresql://***@db.local:5432/x failed",
            ),
            ("https://example.com/a?b=1", "https://example.com/a?b=1"),
            (
                "host=h user=u password=s3cr3t dbname=x",
                "host=h user=u password=*** dbname=x",
            ),
            ("PGPASSWORD='a b' x", "PGPASSWORD='***' x"),
            (
                r#"token = {"access_token":"ya29.a0","token_type":"Bearer","refresh_token":"1//0g"}"#,
                "token = ***",
            ),
            ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
            (
                r#"{"access_token":"ya29.a0","expiry":"2099"}"#,
                r#"{"access_token":"***","expiry":"2099"}"#,
            ),
            ("pass = abc123", "pass = ***"),
            ("GET /x?sig=AbC%2F&se=2026", "GET /x?sig=***&se=2026"),
            (
                "couldn't fetch token: invalid_grant",
                "couldn't fetch token: invalid_grant",
            ),
            ("--no-password --dbname=x", "--no-password --dbname=x"),
        ];
        for (given, want) in cases {
            assert_eq!(scrub(given, &known), want, "{given}");
        }
        assert!(secret_name("--db-password") && secret_name("MYSQL_PWD") && secret_name("sig"));
        assert!(!secret_name("--no-password") && !secret_name("--dbname") && !secret_name("-U"));
    }
}
