//! A folder on any SSH server, over SFTP: its options, their check (the host key among them,
//! [`host_key`]), its `sftp://` URL, where trusted host keys are remembered, and its store
//! (Lifeboat's own client, [`store`]).

pub mod host_key;
pub mod store;

use super::check::{Problem, non_empty_secret, problem};
use super::form::{Form, number, password, text};
use super::url_form::{Credentials, UrlForm, UrlParts, decode, query_value, url_part, url_path};
use super::{DestinationOptions, Settings};
use crate::destinations::{Kind, Patience, Store, StoreError};
// What the store reaches through `super::`.
use crate::destinations::{StoreErrorKind, names, staged};
use crate::secret::Secret;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file in the data folder that remembers SFTP host keys trusted on first use.
pub const SFTP_KNOWN_HOSTS: &str = "sftp_known_hosts";

/// An SFTP folder, as the options give it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpOptions {
    pub name: String,
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    pub username: String,
    #[serde(default)]
    pub password: Option<Secret>,
    /// An OpenSSH private key file, e.g. `/ssl/lifeboat_ed25519`.
    #[serde(default)]
    pub private_key: Option<PathBuf>,
    #[serde(default)]
    pub private_key_passphrase: Option<Secret>,
    /// The folder on the server (relative to the account's home unless it starts with `/`).
    #[serde(default)]
    pub path: Option<String>,
    /// The server's public host key (`ssh-ed25519 AAAA…`) or its `SHA256:` fingerprint.
    #[serde(default)]
    pub host_key: Option<String>,
    #[serde(default)]
    pub retention: Option<String>,
}

/// How the dashboard asks for an SFTP folder.
pub const FORM: Form = Form {
    kind: Kind::Sftp,
    title: "SFTP server",
    blurb: "A folder on any SSH server: a NAS, a Raspberry Pi at a friend's, a rented server.",
    fields: &[
        text(
            "host",
            "Server",
            "The server's name or address.",
            true,
            "nas.local",
        ),
        number("port", "Port", "Empty: 22.", "22", 65535),
        text(
            "username",
            "User name",
            "The account that signs in.",
            true,
            "",
        ),
        password(
            "password",
            "Password",
            "The account's password; or leave it empty and give a key file below.",
            false,
        ),
        text(
            "private_key",
            "Private key file",
            "Instead of a password: the path of an OpenSSH ed25519 or ECDSA key file on this machine.",
            false,
            "/ssl/lifeboat_ed25519",
        ),
        password(
            "private_key_passphrase",
            "Key passphrase",
            "Only when the key file has a passphrase.",
            false,
        ),
        text(
            "path",
            "Folder",
            "The folder on the server; relative to the account's home unless it starts with /.",
            false,
            "backups/home-assistant",
        ),
        text(
            "host_key",
            "Server's host key",
            "Test shows the key the server offers; trust it when it matches the server's own. Or paste it (ssh-keyscan) or its SHA256: fingerprint.",
            false,
            "ssh-ed25519 AAAA…",
        ),
    ],
    presets: &[],
};

/// A folder on an SSH server, reached over SFTP.
#[derive(Debug, Clone)]
pub struct SftpSpec {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub auth: SftpAuth,
    /// The folder on the server (relative paths start at the account's home).
    pub path: String,
    /// The `SHA256:` fingerprint the host key must have, when pinned.
    pub host_key: Option<String>,
    /// Where host keys trusted on first use are remembered (`None`: for this process only).
    pub known_hosts: Option<PathBuf>,
}

/// How Lifeboat signs in to an SFTP server.
#[derive(Debug, Clone)]
pub enum SftpAuth {
    Password(Secret),
    /// An OpenSSH private key file (ed25519 or ECDSA), and its passphrase if it has one.
    Key {
        path: PathBuf,
        passphrase: Option<Secret>,
    },
}

impl SftpOptions {
    /// The name and the settings, or `None` when they cannot make a destination.
    pub fn validate(self, at: &str, problems: &mut Vec<Problem>) -> Option<(String, SftpSpec)> {
        if self.host.is_empty() || self.host.contains(['/', ' ', '@']) {
            problems.push(problem(
                &format!("{at}.host"),
                "give the server's name or address only, like nas.local or 192.168.1.20",
            ));
        }
        if self.port == Some(0) {
            problems.push(problem(
                &format!("{at}.port"),
                "0 is not a port; SSH uses 22",
            ));
        }
        if self.username.is_empty() {
            problems.push(problem(&format!("{at}.username"), "the user name is empty"));
        }
        let auth = auth(
            self.password,
            self.private_key,
            self.private_key_passphrase,
            at,
            problems,
        );
        let host_key = self
            .host_key
            .filter(|k| !k.trim().is_empty())
            .and_then(|k| match host_key::host_key_fingerprint(&k) {
                Ok(f) => Some(f),
                Err(e) => {
                    problems.push(problem(&format!("{at}.host_key"), &e));
                    None
                }
            });
        let spec = SftpSpec {
            host: self.host,
            port: self.port.unwrap_or(22),
            username: self.username,
            auth: auth?,
            path: self.path.unwrap_or_default(),
            host_key,
            known_hosts: None,
        };
        Some((self.name, spec))
    }
}

/// The one way of signing in of a password and a key file that is set.
fn auth(
    password: Option<Secret>,
    private_key: Option<PathBuf>,
    passphrase: Option<Secret>,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<SftpAuth> {
    let password = non_empty_secret(password);
    let private_key = private_key.filter(|p| !p.as_os_str().is_empty());
    match (password, private_key) {
        (Some(p), None) => Some(SftpAuth::Password(p)),
        (None, Some(path)) => {
            if !path.is_absolute() {
                problems.push(problem(
                    &format!("{at}.private_key"),
                    &format!(
                        "{} must be an absolute path to the key file, like /ssl/lifeboat_ed25519",
                        path.display()
                    ),
                ));
            }
            Some(SftpAuth::Key {
                path,
                passphrase: non_empty_secret(passphrase),
            })
        }
        (Some(_), Some(_)) => {
            problems.push(problem(
                &format!("{at}.password"),
                "set either password or private_key, not both",
            ));
            None
        }
        (None, None) => {
            problems.push(problem(
                &format!("{at}.password"),
                "set password, or private_key (the path of an OpenSSH key file)",
            ));
            None
        }
    }
}

impl Settings for SftpSpec {
    fn kind(&self) -> Kind {
        Kind::Sftp
    }

    fn location(&self) -> String {
        format!(
            "sftp://{}@{}:{}/{}",
            self.username,
            self.host,
            self.port,
            self.path.trim_start_matches('/')
        )
    }

    fn url(&self) -> String {
        // An absolute folder keeps its leading slash: sftp://u@h:22//srv/backups.
        let mut out = format!(
            "sftp://{}@{}:{}/{}",
            url_part(&self.username),
            self.host,
            self.port,
            url_path(&self.path)
        );
        if let Some(k) = &self.host_key {
            out.push_str("?host_key=");
            out.push_str(&query_value(k));
        }
        out
    }

    fn secrets(&self) -> Vec<&Secret> {
        match &self.auth {
            SftpAuth::Password(p) => vec![p],
            SftpAuth::Key { passphrase, .. } => passphrase.iter().collect(),
        }
    }

    /// Host keys trusted on first use are remembered in the data folder.
    fn in_data_dir(&mut self, data_dir: &Path) {
        self.known_hosts = Some(data_dir.join(SFTP_KNOWN_HOSTS));
    }

    fn open(&self, patience: Patience) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(store::store(self.clone(), patience.silence)))
    }
}

/// `sftp://user@host:22/folder?host_key=…` (`//` before an absolute folder).
pub const URL_FORM: UrlForm = UrlForm {
    schemes: &["sftp"],
    word: "sftp",
    query: &["name", "keep", "host_key"],
    read: from_url,
};

fn from_url(mut parts: UrlParts, creds: &Credentials) -> Result<DestinationOptions, Problem> {
    let url = &parts.url;
    let path = url.path().strip_prefix('/').unwrap_or(url.path());
    Ok(DestinationOptions::Sftp(SftpOptions {
        port: url.port(),
        username: decode(url.username()),
        path: Some(decode(path)),
        password: creds.sftp_password.clone(),
        private_key: creds.sftp_key.clone(),
        private_key_passphrase: creds.sftp_key_passphrase.clone(),
        host_key: parts.query.remove("host_key"),
        name: parts.name,
        host: parts.host,
        retention: parts.retention,
    }))
}
