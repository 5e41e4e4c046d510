//! A folder in an SMB2/3 share (a NAS, a Windows share, Samba): its options, their check and
//! tidying, its `smb://` URL and its store (Lifeboat's own client, [`store`]).

pub mod store;

use super::check::{Problem, problem};
use super::form::{Form, number, password, text};
use super::url_form::{Credentials, UrlForm, UrlParts, decode, query_value, url_part, url_path};
use super::{DestinationOptions, Settings};
use crate::destinations::{Kind, Patience, Store, StoreError};
// What the store reaches through `super::`.
use crate::destinations::{StoreErrorKind, names, staged};
use crate::secret::Secret;
use serde::Deserialize;
use std::sync::Arc;

/// An SMB share's folder, as the options give it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmbOptions {
    pub name: String,
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// The share's name, e.g. `backups` for `\\\\nas\\backups`.
    pub share: String,
    /// The folder inside the share.
    #[serde(default)]
    pub path: Option<String>,
    pub username: String,
    pub password: Secret,
    /// The account's domain or workgroup, when it is not a local account of the server.
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub retention: Option<String>,
}

/// How the dashboard asks for an SMB share.
pub const FORM: Form = Form {
    kind: Kind::Smb,
    title: "SMB share",
    blurb: "A folder in a Windows or NAS share (SMB 2 or 3), reached directly.",
    fields: &[
        text(
            "host",
            "Server",
            "The NAS's or computer's name or address.",
            true,
            "nas.local",
        ),
        number("port", "Port", "Empty: 445.", "445", 65535),
        text(
            "share",
            "Share",
            "The share's name: backups for \\\\nas\\backups.",
            true,
            "backups",
        ),
        text(
            "path",
            "Folder in the share",
            "Empty: the share's top.",
            false,
            "home-assistant",
        ),
        text(
            "username",
            "User name",
            "An account of the server allowed to write in the share.",
            true,
            "",
        ),
        password("password", "Password", "The account's password.", true),
        text(
            "domain",
            "Domain or workgroup",
            "Only when the account is not a local account of the server.",
            false,
            "",
        ),
    ],
    presets: &[],
};

/// A folder in an SMB2/3 share.
#[derive(Debug, Clone)]
pub struct SmbSpec {
    pub host: String,
    pub port: u16,
    pub share: String,
    /// The folder inside the share (`/`-separated, no leading slash; empty for its top).
    pub path: String,
    pub username: String,
    pub password: Secret,
    /// The account's domain or workgroup (empty for an account of the server itself).
    pub domain: String,
}

impl SmbOptions {
    /// The name and the settings, or `None` when they cannot make a destination.
    pub fn validate(self, at: &str, problems: &mut Vec<Problem>) -> Option<(String, SmbSpec)> {
        let host = self.host.trim().to_owned();
        if host.is_empty() || host.contains(['/', '\\', ' ', '@']) {
            problems.push(problem(
                &format!("{at}.host"),
                "give the server's name or address only, like nas.local or 192.168.1.20 \
                 (the share goes in share, the folder in path)",
            ));
        }
        if self.port == Some(0) {
            problems.push(problem(
                &format!("{at}.port"),
                "0 is not a port; SMB uses 445",
            ));
        }
        let share = share(&self.share, at, problems);
        if self.username.is_empty() {
            problems.push(problem(&format!("{at}.username"), "the user name is empty"));
        }
        if self.password.is_empty() {
            problems.push(problem(&format!("{at}.password"), "the password is empty"));
        }
        let path = folder(self.path.unwrap_or_default(), at, problems);
        let spec = SmbSpec {
            host,
            port: self.port.unwrap_or(445),
            share,
            path,
            username: self.username,
            password: self.password,
            domain: self.domain.unwrap_or_default().trim().to_owned(),
        };
        Some((self.name, spec))
    }
}

/// The share's name, without slashes around it.
fn share(raw: &str, at: &str, problems: &mut Vec<Problem>) -> String {
    let share = raw.trim().trim_matches(['/', '\\']).to_owned();
    if share.is_empty() {
        problems.push(problem(
            &format!("{at}.share"),
            "give the share's name, like backups for \\\\nas\\backups",
        ));
    } else if share.contains(['/', '\\']) {
        problems.push(problem(
            &format!("{at}.share"),
            &format!(
                "{share:?} is a share and a folder: put the share's name in share and the \
                 folder inside it in path"
            ),
        ));
    }
    share
}

/// The folder inside the share, `/`-separated with no empty parts; it may not climb out.
fn folder(raw: String, at: &str, problems: &mut Vec<Problem>) -> String {
    let path = raw.replace('\\', "/");
    let path = path
        .split('/')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    if path.split('/').any(|p| p == "..") {
        problems.push(problem(
            &format!("{at}.path"),
            "the folder cannot climb out of the share with ..",
        ));
    }
    path
}

impl Settings for SmbSpec {
    fn kind(&self) -> Kind {
        Kind::Smb
    }

    fn location(&self) -> String {
        self.url()
    }

    fn url(&self) -> String {
        let mut out = format!(
            "smb://{}@{}:{}/{}",
            url_part(&self.username),
            self.host,
            self.port,
            url_part(&self.share)
        );
        if !self.path.is_empty() {
            out.push('/');
            out.push_str(&url_path(&self.path));
        }
        if !self.domain.is_empty() {
            out.push_str("?domain=");
            out.push_str(&query_value(&self.domain));
        }
        out
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.password]
    }

    fn open(&self, patience: Patience) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(store::store(self.clone(), patience.silence)))
    }
}

/// `smb://user@host/share/folder?domain=…`.
pub const URL_FORM: UrlForm = UrlForm {
    schemes: &["smb"],
    word: "smb",
    query: &["name", "keep", "domain"],
    read: from_url,
};

fn from_url(mut parts: UrlParts, creds: &Credentials) -> Result<DestinationOptions, Problem> {
    let (share, folder) = parts.path.split_once('/').unwrap_or((&parts.path, ""));
    Ok(DestinationOptions::Smb(SmbOptions {
        port: parts.url.port(),
        share: decode(share),
        path: Some(decode(folder)),
        username: decode(parts.url.username()),
        password: creds
            .smb_password
            .clone()
            .unwrap_or_else(|| Secret::new("")),
        domain: parts.query.remove("domain"),
        name: parts.name,
        host: parts.host,
        retention: parts.retention,
    }))
}
