//! What every kind's validation shares: a [`Problem`] naming its field, and the small checks more
//! than one kind (and the rest of the configuration) makes.

use crate::secret::Secret;
use std::fmt;
use url::Url;

/// One thing wrong with the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a path: `destinations[1].bucket`.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A problem on `field`.
pub fn problem(field: &str, message: &str) -> Problem {
    Problem {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// A secret, unless it is empty.
pub fn non_empty_secret(s: Option<Secret>) -> Option<Secret> {
    s.filter(|s| !s.is_empty())
}

/// An `http://` or `https://` address with a host, or a problem on `field`.
pub fn http_url(raw: &str, field: &str, problems: &mut Vec<Problem>) -> Option<Url> {
    match Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(_) => {
            problems.push(problem(
                field,
                &format!("{raw:?} must be an http:// or https:// address"),
            ));
            None
        }
        Err(e) => {
            problems.push(problem(field, &format!("{raw:?} is not a URL ({e})")));
            None
        }
    }
}

/// Trims slashes so a prefix is `a/b/` or empty.
pub fn normalize_prefix(prefix: Option<&str>) -> String {
    let p = prefix.unwrap_or("").trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// A SHA-256 fingerprint as people copy it: hex, upper or lower case, colons or spaces between.
pub fn fingerprint(raw: &str) -> Option<[u8; 32]> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}
