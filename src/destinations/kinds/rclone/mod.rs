//! A folder on any storage rclone reaches (Google Drive, OneDrive, Dropbox and the rest): its
//! options, the check of its remote, its `rclone:REMOTE:folder` form, where its rclone.conf is,
//! and its store (the `rclone` program, [`store`]).

pub mod store;

/// The cloud drives the dashboard connects, kept in the data folder's rclone.conf.
pub use store::connect::Drives;

use super::check::{Problem, problem};
use super::form::{Form, text};
use super::url_form::{Credentials, default_name};
use super::{DestinationOptions, Settings};
use crate::destinations::{Kind, Patience, Store, StoreError};
// What the store reaches through `super::`.
use crate::destinations::{StoreErrorKind, names, staged};
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file the dashboard writes connected cloud drives to, in the data folder.
pub const RCLONE_CONF: &str = "rclone.conf";

/// What an rclone destination's command-line form starts with.
pub const URL_PREFIX: &str = "rclone:";

/// How the dashboard asks for an rclone remote (connected on the drives page first).
pub const FORM: Form = Form {
    kind: Kind::Rclone,
    title: "Cloud drive, through rclone",
    blurb: "Google Drive, OneDrive, Dropbox and 70 more: connect one on the drives page, then use it here.",
    fields: &[
        text(
            "remote",
            "Remote and folder",
            "The remote's name, a colon, and the folder in it.",
            true,
            "gdrive:Home Assistant/lifeboat",
        ),
        text(
            "rclone_config",
            "rclone.conf",
            "Empty: the one in Lifeboat's data folder, where connected drives are kept.",
            false,
            "",
        ),
    ],
    presets: &[],
};

/// An rclone remote, as the options give it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RcloneOptions {
    pub name: String,
    /// The remote and the folder in it, e.g. `gdrive:Home Assistant/lifeboat`.
    pub remote: String,
    /// The rclone.conf that holds the remote; by default the one in the data folder, where
    /// the dashboard writes the drives it connects.
    #[serde(default)]
    pub rclone_config: Option<PathBuf>,
    #[serde(default)]
    pub retention: Option<String>,
    /// Given on the command line: without `--rclone-config`, rclone's own default file is the
    /// one to use (the person's), not the data folder's.
    #[serde(skip)]
    pub from_command_line: bool,
}

/// A folder on any storage rclone reaches, through the `rclone` program.
#[derive(Debug, Clone)]
pub struct RcloneSpec {
    /// `name:folder` as rclone takes it, e.g. `gdrive:Home Assistant/lifeboat`.
    pub remote: String,
    /// The rclone.conf holding the remote (`None`: rclone's own default).
    pub config: Option<PathBuf>,
    /// The rclone program (a bare name is looked up on `PATH`).
    pub program: PathBuf,
}

impl RcloneOptions {
    /// The name and the settings, or `None` when they cannot make a destination.
    pub fn validate(self, at: &str, problems: &mut Vec<Problem>) -> Option<(String, RcloneSpec)> {
        let remote = self.remote.trim().to_owned();
        if let Err(why) = remote_check(&remote) {
            problems.push(problem(&format!("{at}.remote"), &why));
        }
        let config = match (self.rclone_config, self.from_command_line) {
            (Some(path), _) => Some(path),
            (None, true) => None,
            (None, false) => Some(PathBuf::from(RCLONE_CONF)),
        };
        let spec = RcloneSpec {
            remote,
            config,
            program: PathBuf::from("rclone"),
        };
        Some((self.name, spec))
    }
}

/// Checks an rclone remote as written: `NAME:folder`, the name as rclone allows it (letters,
/// digits, `_ - .` and spaces), or an on-the-fly `:type:folder`. Settings after a comma
/// (`gdrive,chunk_size=64M:folder`) pass through, but not secrets, which would show wherever the
/// remote is shown.
fn remote_check(remote: &str) -> Result<(), String> {
    const EXAMPLE: &str = "like gdrive:Home Assistant/lifeboat (the name you gave the remote in \
                           rclone, a colon, then the folder)";
    let Some((name, _folder)) = remote.split_once(':') else {
        return Err(if remote.is_empty() {
            format!("name the remote and its folder, {EXAMPLE}")
        } else {
            format!("{remote:?} has no colon after the remote's name; write it {EXAMPLE}")
        });
    };
    let (base, settings) = name.split_once(',').unwrap_or((name, ""));
    let on_the_fly = base.is_empty() && remote.starts_with(':');
    let base_ok = base
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
        && !base.starts_with(['-', ' '])
        && !base.ends_with(' ');
    if !on_the_fly && (base.is_empty() || !base_ok) {
        return Err(format!(
            "{base:?} is not a remote name rclone takes (letters, digits, _ - . and spaces); \
             write it {EXAMPLE}"
        ));
    }
    let secret_words = ["pass", "secret", "token", "key", "sas"];
    if let Some(key) = settings
        .split(',')
        .filter_map(|kv| kv.split('=').next())
        .find(|k| {
            secret_words
                .iter()
                .any(|w| k.to_ascii_lowercase().contains(w))
        })
    {
        return Err(format!(
            "{key:?} looks like a secret: keep it in rclone.conf (or connect the drive on the \
             dashboard), since the remote is shown wherever its copies are"
        ));
    }
    Ok(())
}

impl Settings for RcloneSpec {
    fn kind(&self) -> Kind {
        Kind::Rclone
    }

    fn location(&self) -> String {
        self.url()
    }

    fn url(&self) -> String {
        format!("{URL_PREFIX}{}", self.remote)
    }

    /// Its secrets stay in rclone.conf, which Lifeboat never reads aloud.
    fn secrets(&self) -> Vec<&Secret> {
        Vec::new()
    }

    /// A relative rclone.conf (the default one among them) is in the data folder.
    fn in_data_dir(&mut self, data_dir: &Path) {
        if let Some(conf) = &mut self.config
            && conf.is_relative()
        {
            *conf = data_dir.join(&*conf);
        }
    }

    fn open(&self, patience: Patience) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(store::store(self.clone(), patience.silence)))
    }
}

/// `REMOTE:folder` (after `rclone:`), with `?name=…&keep=…` after it only when that is all the
/// query holds (a folder may itself have a `?` in its name).
pub fn from_url(
    rest: &str,
    creds: &Credentials,
    used: &mut HashMap<String, usize>,
) -> DestinationOptions {
    let (remote, query) = match rest.rsplit_once('?') {
        Some((remote, q))
            if !q.is_empty()
                && url::form_urlencoded::parse(q.as_bytes())
                    .all(|(k, _)| k == "name" || k == "keep") =>
        {
            let query: HashMap<String, String> = url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect();
            (remote, query)
        }
        _ => (rest, HashMap::new()),
    };
    let name = query
        .get("name")
        .cloned()
        .unwrap_or_else(|| default_name("rclone", used));
    DestinationOptions::Rclone(RcloneOptions {
        name,
        remote: remote.to_owned(),
        rclone_config: creds.rclone_config.clone(),
        retention: query.get("keep").cloned(),
        from_command_line: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DestinationKind, urls, validate_destinations};

    #[test]
    fn rclone_remotes_come_whole_with_their_config_file() {
        let creds = Credentials {
            rclone_config: Some("/home/me/rclone.conf".into()),
            ..Credentials::default()
        };
        let specs = validate_destinations(
            urls::destinations_from_urls(
                &[
                    "rclone:gdrive:Home Assistant/lifeboat?name=drive&keep=last=5".into(),
                    "rclone:dropbox:odd?folder".into(),
                ],
                &creds,
            )
            .unwrap(),
        )
        .unwrap();
        let remotes: Vec<(&str, &str, Option<&std::path::Path>)> = specs
            .iter()
            .map(|s| match &s.kind {
                DestinationKind::Rclone(r) => {
                    (s.name.as_str(), r.remote.as_str(), r.config.as_deref())
                }
                _ => panic!("rclone expected"),
            })
            .collect();
        let conf = Some(std::path::Path::new("/home/me/rclone.conf"));
        assert_eq!(
            remotes,
            [
                ("drive", "gdrive:Home Assistant/lifeboat", conf),
                ("rclone", "dropbox:odd?folder", conf)
            ]
        );
        assert_eq!(specs[0].retention.last, 5);
        // Without --rclone-config, rclone's own default file (the person's) is used.
        let spec = validate_destinations(
            urls::destinations_from_urls(&["rclone:gdrive:x".into()], &Credentials::default())
                .unwrap(),
        )
        .unwrap()
        .remove(0);
        assert!(matches!(&spec.kind, DestinationKind::Rclone(r) if r.config.is_none()));
        for (bad, says) in [
            ("rclone:gdrive", "no colon"),
            ("rclone:", "name the remote"),
            ("rclone:-x:y", "not a remote name"),
            ("rclone:gdrive,client_secret=abc:HA", "looks like a secret"),
        ] {
            let e = validate_destinations(
                urls::destinations_from_urls(&[bad.into()], &Credentials::default()).unwrap(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(
            validate_destinations(
                urls::destinations_from_urls(
                    &[
                        "rclone:gdrive,chunk_size=64M:HA".into(),
                        "rclone::local:/x".into()
                    ],
                    &Credentials::default()
                )
                .unwrap()
            )
            .is_ok()
        );
    }
}
