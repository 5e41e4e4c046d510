//! What every kind's command-line form shares, both ways: the credentials given beside the URL
//! (from flags or the environment, never from the URL), a URL taken apart for a kind to read
//! ([`UrlParts`]), default names, and the escaping a kind uses to write its URL back.

use super::{DestinationOptions, Problem};
use crate::secret::Secret;
use std::collections::HashMap;
use std::path::PathBuf;
use url::Url;

/// Credentials given as flags or environment variables.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    pub azure_account_key: Option<Secret>,
    pub azure_sas_token: Option<Secret>,
    pub webdav_username: Option<String>,
    pub webdav_password: Option<Secret>,
    pub sftp_password: Option<Secret>,
    pub sftp_key: Option<PathBuf>,
    pub sftp_key_passphrase: Option<Secret>,
    pub smb_password: Option<Secret>,
    /// The rclone.conf for `rclone:` destinations (rclone's own default when not given).
    pub rclone_config: Option<PathBuf>,
}

/// A kind's URL form: the schemes it answers to, the settings its query may hold, and how a
/// parsed URL becomes its options.
pub struct UrlForm {
    pub schemes: &'static [&'static str],
    /// The word default names are made of (`s3`, `s3-2`…).
    pub word: &'static str,
    /// Every query key allowed, in the order the refusal lists them.
    pub query: &'static [&'static str],
    pub read: fn(UrlParts, &Credentials) -> Result<DestinationOptions, Problem>,
}

/// A destination URL taken apart: what every kind reads the same way.
pub struct UrlParts {
    pub raw: String,
    /// The field problems are on (`--to[0]`).
    pub field: String,
    pub url: Url,
    /// The query, less `name` and `keep`.
    pub query: HashMap<String, String>,
    pub name: String,
    pub retention: Option<String>,
    pub host: String,
    /// The path without its outer slashes.
    pub path: String,
}

impl UrlParts {
    /// A problem on this URL's field.
    pub fn bad(&self, message: String) -> Problem {
        bad(&self.field, message)
    }
}

/// A problem on `field`.
pub fn bad(field: &str, message: String) -> Problem {
    Problem {
        field: field.to_owned(),
        message,
    }
}

/// The next free default name for `word`: `word`, then `word-2`, `word-3`…
pub fn default_name(word: &str, used: &mut HashMap<String, usize>) -> String {
    let n = used.entry(word.to_owned()).or_insert(0);
    *n += 1;
    if *n == 1 {
        word.to_owned()
    } else {
        format!("{word}-{n}")
    }
}

/// `s` with its `%` escapes undone.
pub fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Escapes what cannot stand as it is in a URL's user part or in one segment of its path.
pub fn url_part(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, URL_PART).to_string()
}

/// A `/`-separated path with each segment escaped (a leading `/` stays).
pub fn url_path(path: &str) -> String {
    path.split('/').map(url_part).collect::<Vec<_>>().join("/")
}

/// Escapes a query value (what `url`'s query parsing would misread: `+`, `&`, `=`, `#`…).
pub fn query_value(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'/')
    .add(b'=');

const URL_PART: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'@')
    .add(b':')
    .add(b'/')
    .add(b'?')
    .add(b'#')
    .add(b'%');
