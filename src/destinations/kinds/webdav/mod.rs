//! A WebDAV folder (Nextcloud, ownCloud, a NAS's WebDAV service): its options, their check, its
//! `webdav+https://` URL, the caution an `http://` address earns, and its store (Lifeboat's own
//! streaming client, [`store`]).

pub mod store;

use super::caution::{Caution, CautionKind};
use super::check::{Problem, fingerprint, http_url, problem};
use super::form::{Form, number, password, text};
use super::url_form::{Credentials, UrlForm, UrlParts};
use super::{DestinationOptions, Settings};
use crate::destinations::{Kind, Patience, Store, StoreError, StoreErrorKind, pinned_tls};
use store::WebdavSettings;
// What the store reaches through `super::`.
use crate::destinations::{dav_xml, names, staged};
use crate::secret::Secret;
use serde::Deserialize;
use std::sync::Arc;
use url::Url;

/// A WebDAV folder, as the options give it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebdavOptions {
    pub name: String,
    /// The folder's address, e.g. `https://cloud.example.com/remote.php/dav/files/alice/HA`.
    pub url: String,
    pub username: String,
    /// The password, or (Nextcloud) an app password.
    pub password: Secret,
    /// Upload in pieces of this many MiB, for servers or proxies that cap a request's size.
    #[serde(default)]
    pub segment_mb: Option<u32>,
    /// Trust this server's certificate (SHA-256 of it, hex) even when no authority signed it.
    #[serde(default)]
    pub certificate_sha256: Option<String>,
    #[serde(default)]
    pub retention: Option<String>,
}

/// How the dashboard asks for a WebDAV folder.
pub const FORM: Form = Form {
    kind: Kind::Webdav,
    title: "WebDAV or Nextcloud",
    blurb: "A folder on Nextcloud, ownCloud or a NAS's WebDAV service.",
    fields: &[
        text(
            "url",
            "Folder address",
            "The folder's full address. Nextcloud: https://<server>/remote.php/dav/files/<user>/<folder>.",
            true,
            "https://cloud.example.com/remote.php/dav/files/alice/HA",
        ),
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
            "The account's password; for Nextcloud an app password (Settings → Security).",
            true,
        ),
        number(
            "segment_mb",
            "Upload in pieces of (MiB)",
            "Only for servers or proxies that refuse large uploads; empty: one piece.",
            "100",
            102_400,
        ),
        text(
            "certificate_sha256",
            "Certificate fingerprint (SHA-256)",
            "Only for a server with a certificate no authority signed: its SHA-256, in hex.",
            false,
            "",
        ),
    ],
    presets: &[],
};

/// A WebDAV folder, checked.
#[derive(Debug, Clone)]
pub struct WebdavSpec {
    /// The folder copies go into.
    pub url: Url,
    pub username: String,
    pub password: Secret,
    /// Upload in pieces of this many bytes.
    pub segment: Option<u64>,
    /// The server certificate's SHA-256, when the user pinned it.
    pub certificate_sha256: Option<[u8; 32]>,
}

impl WebdavOptions {
    /// The name and the settings, or `None` when they cannot make a destination.
    pub fn validate(self, at: &str, problems: &mut Vec<Problem>) -> Option<(String, WebdavSpec)> {
        let url = http_url(&self.url, &format!("{at}.url"), problems);
        if let Some(u) = &url
            && (!u.username().is_empty() || u.password().is_some())
        {
            problems.push(problem(
                &format!("{at}.url"),
                "put the user name and password in their own fields, not in the address",
            ));
        }
        if self.username.is_empty() {
            problems.push(problem(&format!("{at}.username"), "the user name is empty"));
        }
        if self.password.is_empty() {
            problems.push(problem(
                &format!("{at}.password"),
                "the password is empty (Nextcloud: make an app password under Settings → Security)",
            ));
        }
        let segment = segment(self.segment_mb, at, problems);
        let certificate_sha256 = pin(self.certificate_sha256, url.as_ref(), at, problems);
        let spec = WebdavSpec {
            url: url?,
            username: self.username,
            password: self.password,
            segment,
            certificate_sha256,
        };
        Some((self.name, spec))
    }
}

/// The upload piece size in bytes (`None`: one request).
fn segment(segment_mb: Option<u32>, at: &str, problems: &mut Vec<Problem>) -> Option<u64> {
    match segment_mb {
        None | Some(0) => None,
        Some(mb @ 1..=102_400) => Some(u64::from(mb) << 20),
        Some(mb) => {
            problems.push(problem(
                &format!("{at}.segment_mb"),
                &format!("{mb} MiB is more than any server takes in one request; use 1 to 102400"),
            ));
            None
        }
    }
}

/// The pinned certificate's SHA-256, checked (a pin needs `https://`).
fn pin(
    raw: Option<String>,
    url: Option<&Url>,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<[u8; 32]> {
    let pin = raw
        .filter(|c| !c.trim().is_empty())
        .and_then(|c| match fingerprint(&c) {
            Some(f) => Some(f),
            None => {
                problems.push(problem(
                    &format!("{at}.certificate_sha256"),
                    "must be the certificate's SHA-256: 64 hex digits, colons allowed \
                     (openssl x509 -noout -fingerprint -sha256)",
                ));
                None
            }
        });
    if pin.is_some() && url.is_some_and(|u| u.scheme() != "https") {
        problems.push(problem(
            &format!("{at}.certificate_sha256"),
            "a pinned certificate needs an https:// address",
        ));
    }
    pin
}

/// Whether `url` names this machine: `localhost` or a loopback address.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

impl Settings for WebdavSpec {
    fn kind(&self) -> Kind {
        Kind::Webdav
    }

    fn location(&self) -> String {
        format!("{} (as {})", self.url, self.username)
    }

    fn url(&self) -> String {
        let mut q = Vec::new();
        if let Some(s) = self.segment {
            q.push(format!("segment_mb={}", s >> 20));
        }
        if let Some(c) = self.certificate_sha256 {
            q.push(format!("certificate_sha256={}", hex::encode(c)));
        }
        let mut out = format!("webdav+{}", self.url);
        if !q.is_empty() {
            out.push(if self.url.query().is_some() { '&' } else { '?' });
            out.push_str(&q.join("&"));
        }
        out
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.password]
    }

    /// An `http://` address to another machine: the password (sent with every request, HTTP
    /// Basic) crosses the network unencrypted. A loopback address never leaves the box.
    fn caution(&self, name: &str) -> Option<Caution> {
        let url = &self.url;
        (url.scheme() == "http" && !self.password.is_empty() && !is_loopback(url)).then(|| {
            let text = format!(
                "the WebDAV destination {name} sends its password in the clear to {} \
                 (http://): anyone on the network on the way can read it and use the account; \
                 change its url to https:// (a self-signed certificate can be pinned with \
                 certificate_sha256)",
                url.host_str().unwrap_or_default()
            );
            Caution::new(CautionKind::Cleartext, text)
        })
    }

    fn open(&self, patience: Patience) -> Result<Arc<dyn Store>, StoreError> {
        let tls = self
            .certificate_sha256
            .map(pinned_tls::config)
            .transpose()
            .map_err(|e| StoreError::new(StoreErrorKind::Config, e.to_string()))?;
        Ok(Arc::new(store::store(WebdavSettings {
            url: self.url.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            segment: self.segment,
            clients: store::clients(tls.as_ref(), patience.silence)?,
            silence: patience.silence,
        })))
    }
}

/// `webdav+https://host/folder?segment_mb=…&certificate_sha256=…` (`webdav+http://` too).
pub const URL_FORM: UrlForm = UrlForm {
    schemes: &["webdav+http", "webdav+https"],
    word: "webdav",
    query: &["name", "keep", "segment_mb", "certificate_sha256"],
    read: from_url,
};

fn from_url(mut parts: UrlParts, creds: &Credentials) -> Result<DestinationOptions, Problem> {
    let segment_mb =
        match parts.query.remove("segment_mb") {
            None => None,
            Some(v) => Some(v.parse::<u32>().map_err(|_| {
                parts.bad(format!("segment_mb={v:?} must be a whole number of MiB"))
            })?),
        };
    let mut http = parts.url.clone();
    http.set_query(None);
    let http = http
        .as_str()
        .strip_prefix("webdav+")
        .unwrap_or(http.as_str())
        .to_owned();
    Ok(DestinationOptions::Webdav(WebdavOptions {
        name: parts.name,
        url: http,
        username: creds.webdav_username.clone().unwrap_or_default(),
        password: creds
            .webdav_password
            .clone()
            .unwrap_or_else(|| Secret::new("")),
        segment_mb,
        certificate_sha256: parts.query.remove("certificate_sha256"),
        retention: parts.retention,
    }))
}
