//! A folder: a USB disk, a mounted NAS share, `/share`, `/media`. Its options, their check, its
//! `file://` URL and its store (OpenDAL's file system service, through [`crate::destinations::folder`]).

use super::check::{Problem, problem};
use super::form::{Form, text};
use super::url_form::{Credentials, UrlForm, UrlParts};
use super::{DestinationOptions, Settings};
use crate::destinations::folder::FolderStore;
use crate::destinations::{Kind, Patience, Store, StoreError};
use crate::secret::Secret;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// A folder, as the options give it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalOptions {
    pub name: String,
    pub path: PathBuf,
    /// This destination's own retention policy (default: the top-level `retention`).
    #[serde(default)]
    pub retention: Option<String>,
}

/// A folder, checked.
#[derive(Debug, Clone)]
pub struct LocalSpec {
    pub path: PathBuf,
}

impl LocalOptions {
    /// The name and the settings, or `None` when they cannot make a destination.
    pub fn validate(self, at: &str, problems: &mut Vec<Problem>) -> Option<(String, LocalSpec)> {
        if !self.path.is_absolute() {
            problems.push(problem(
                &format!("{at}.path"),
                &format!(
                    "{} must be an absolute path, like /media/usb/ha-backups",
                    self.path.display()
                ),
            ));
        }
        Some((self.name, LocalSpec { path: self.path }))
    }
}

impl Settings for LocalSpec {
    fn kind(&self) -> Kind {
        Kind::Local
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    fn secrets(&self) -> Vec<&Secret> {
        Vec::new()
    }

    fn open(&self, patience: Patience) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(FolderStore::new(self.path.clone(), patience)))
    }
}

/// How the dashboard asks for a folder.
pub const FORM: Form = Form {
    kind: Kind::Local,
    title: "Folder, USB disk or NAS path",
    blurb: "A folder this machine reaches: a USB disk under /media, a NAS share mounted in Home Assistant, /share.",
    fields: &[text(
        "path",
        "Folder",
        "The folder's full path on this machine. A NAS share mounted under Settings → System → Storage appears under /share or /media.",
        true,
        "/media/usb/ha-backups",
    )],
    presets: &[],
};

/// `file:///path`, or a plain absolute path.
pub const URL_FORM: UrlForm = UrlForm {
    schemes: &["file"],
    word: "local",
    query: &["name", "keep"],
    read: from_url,
};

fn from_url(parts: UrlParts, _: &Credentials) -> Result<DestinationOptions, Problem> {
    let path = parts.url.to_file_path().map_err(|()| {
        parts.bad(format!(
            "{:?} must be an absolute path, like file:///mnt/usb/ha",
            parts.raw
        ))
    })?;
    Ok(DestinationOptions::Local(LocalOptions {
        name: parts.name,
        path,
        retention: parts.retention,
    }))
}
