//! `--to`/`--from` URLs read into the options a file would give: the scheme picks the kind
//! ([`UrlForm`] of each), the query is checked against what that kind allows, and the kind reads
//! the rest.

use super::url_form::{Credentials, UrlForm, UrlParts, bad, default_name};
use super::{DestinationOptions, Problem, azure, local, rclone, s3, sftp, smb, webdav};
use std::collections::HashMap;
use url::Url;

/// Every kind read from a URL with a scheme (`rclone:` is read before, as it is no URL).
const FORMS: [&UrlForm; 6] = [
    &local::URL_FORM,
    &s3::URL_FORM,
    &azure::URL_FORM,
    &webdav::URL_FORM,
    &sftp::URL_FORM,
    &smb::URL_FORM,
];

/// Reads one `--to`; `used` counts the default names given so far.
///
/// # Errors
/// A [`Problem`] on `field` saying what is wrong with the URL.
pub fn destination_from_url(
    raw: &str,
    field: &str,
    creds: &Credentials,
    used: &mut HashMap<String, usize>,
) -> Result<DestinationOptions, Problem> {
    if let Some(rest) = raw.strip_prefix(rclone::URL_PREFIX) {
        return Ok(rclone::from_url(rest, creds, used));
    }
    let url = parse(raw, field)?;
    let Some(form) = FORMS.iter().find(|f| f.schemes.contains(&url.scheme())) else {
        return Err(bad(
            field,
            format!(
                "{:?} is not a destination kind; use file://, s3://, azure://, webdav+https://, sftp://, smb:// or rclone:REMOTE:folder",
                url.scheme()
            ),
        ));
    };
    let mut query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    if let Some(k) = query.keys().find(|k| !form.query.contains(&k.as_str())) {
        return Err(bad(
            field,
            format!(
                "unknown setting {k:?} (allowed: {}); credentials go in flags or the environment, never in the URL",
                form.query.join(", ")
            ),
        ));
    }
    let name = query
        .remove("name")
        .unwrap_or_else(|| default_name(form.word, used));
    let parts = UrlParts {
        raw: raw.to_owned(),
        field: field.to_owned(),
        host: url.host_str().unwrap_or("").to_owned(),
        path: url.path().trim_matches('/').to_owned(),
        retention: query.remove("keep"),
        url,
        query,
        name,
    };
    (form.read)(parts, creds)
}

/// A URL, or a plain absolute path as a `file://` one.
fn parse(raw: &str, field: &str) -> Result<Url, Problem> {
    if raw.starts_with('/') {
        Url::from_file_path(raw).map_err(|()| bad(field, format!("{raw:?} is not a usable path")))
    } else {
        Url::parse(raw).map_err(|e| {
            bad(
                field,
                format!("{raw:?} is not a URL ({e}); use file:///path, s3://bucket/prefix, azure://account/container or webdav+https://host/folder"),
            )
        })
    }
}
