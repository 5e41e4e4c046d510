//! One module per destination kind, in the manner of OpenDAL's `services/<name>/`: each holds
//! the kind's options (as a person writes them), their validation into settings (every problem
//! naming its field), its URL form both ways, its label and location, its secrets and the opening
//! of its store. [`Settings`] is what every kind's settings answer; [`DestinationKind`] and
//! [`DestinationOptions`] only delegate to the kind they hold, so the configuration and the rest
//! of the destinations never look inside a kind.

pub mod azure;
mod caution;
mod check;
pub mod form;
mod from_url;
pub mod local;
pub mod rclone;
pub mod s3;
pub mod sftp;
pub mod smb;
mod url_form;
pub mod webdav;

pub use caution::{Caution, CautionKind};
pub use check::{Problem, fingerprint, http_url, non_empty_secret, problem};
pub use from_url::destination_from_url;
pub use url_form::Credentials;

use super::{Kind, Patience, Store, StoreError};
use crate::secret::Secret;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

/// Every kind's form, in the order the chooser shows them.
pub const FORMS: [&form::Form; 7] = [
    &local::FORM,
    &s3::FORM,
    &azure::FORM,
    &webdav::FORM,
    &sftp::FORM,
    &smb::FORM,
    &rclone::FORM,
];

/// The form of the kind whose word is `word` (`s3`).
pub fn form_for(word: &str) -> Option<&'static form::Form> {
    FORMS.into_iter().find(|f| f.kind.as_str() == word)
}

/// What the settings of every kind of destination answer.
pub trait Settings: std::fmt::Debug {
    /// Which kind they are.
    fn kind(&self) -> Kind;
    /// Where the copies are, for people (no secrets).
    fn location(&self) -> String;
    /// The `--from`/`--to` URL that reaches the destination from the command line (credentials
    /// are never part of it).
    fn url(&self) -> String;
    /// Every secret in the settings.
    fn secrets(&self) -> Vec<&Secret>;
    /// Settings that work but put something at risk, as a [`Caution`] (its kind and words);
    /// `name` is the destination's.
    fn caution(&self, _name: &str) -> Option<Caution> {
        None
    }
    /// Puts what the kind keeps beside Lifeboat's own state into the data folder.
    fn in_data_dir(&mut self, _data_dir: &Path) {}
    /// The store, with `patience`. Nothing is contacted yet.
    ///
    /// # Errors
    /// A [`StoreError`] of kind `Config` when the settings cannot make a client.
    fn open(&self, patience: Patience) -> Result<Arc<dyn Store>, StoreError>;
}

/// One destination.
#[derive(Debug, Clone)]
pub struct DestinationSpec {
    pub name: String,
    pub kind: DestinationKind,
    /// Which copies to keep there.
    pub retention: crate::retention::Policy,
}

/// Kind-specific settings of a destination.
#[derive(Debug, Clone)]
pub enum DestinationKind {
    Local(local::LocalSpec),
    S3(s3::S3Spec),
    Azure(azure::AzureSpec),
    Sftp(sftp::SftpSpec),
    Smb(smb::SmbSpec),
    Rclone(rclone::RcloneSpec),
    Webdav(webdav::WebdavSpec),
}

impl DestinationSpec {
    /// A digest of how the destination is reached, secrets included: it changes when any of
    /// those settings does (not with retention, which cannot cure a refusal), and shows none of
    /// them (SHA-256, first 16 hex digits).
    pub fn settings_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        // Debug prints every setting but the secrets (redacted): add those one by one.
        h.update(self.kind.digest_text().as_bytes());
        for s in self.kind.settings().secrets() {
            h.update([0]);
            h.update(s.expose().as_bytes());
        }
        hex::encode(&h.finalize()[..8])
    }

    /// What about it puts something at risk, if anything (see [`Settings::caution`]).
    pub fn caution(&self) -> Option<Caution> {
        self.kind.settings().caution(&self.name)
    }
}

impl DestinationKind {
    /// The settings of the kind it is.
    pub fn settings(&self) -> &dyn Settings {
        match self {
            Self::Local(s) => s,
            Self::S3(s) => s,
            Self::Azure(s) => s,
            Self::Sftp(s) => s,
            Self::Smb(s) => s,
            Self::Rclone(s) => s,
            Self::Webdav(s) => s,
        }
    }

    /// The settings of the kind it is, to change.
    pub fn settings_mut(&mut self) -> &mut dyn Settings {
        match self {
            Self::Local(s) => s,
            Self::S3(s) => s,
            Self::Azure(s) => s,
            Self::Sftp(s) => s,
            Self::Smb(s) => s,
            Self::Rclone(s) => s,
            Self::Webdav(s) => s,
        }
    }

    /// Every setting but the secrets, as digests have always read them (the retry queue keeps
    /// them): `S3 { bucket: … }` for the kinds whose fields sat in this enum before they had a
    /// module of their own, `Sftp(SftpSpec { … })` for the rest. A kind added later needs no arm.
    fn digest_text(&self) -> String {
        match self {
            Self::Local(_) | Self::S3(_) | Self::Azure(_) | Self::Webdav(_) => {
                format!("{:?}", self.settings()).replacen("Spec {", " {", 1)
            }
            _ => format!("{self:?}"),
        }
    }

    /// A short word for the kind, for messages and manifests.
    pub fn label(&self) -> &'static str {
        self.settings().kind().as_str()
    }

    /// Where the copies are, for people (no secrets).
    pub fn location(&self) -> String {
        self.settings().location()
    }

    /// The `--from`/`--to` URL that reaches this destination from the command line.
    pub fn url(&self) -> String {
        self.settings().url()
    }
}

/// One destination as the options give it, chosen by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum DestinationOptions {
    /// A folder: a USB disk, a mounted NAS share, `/share`, `/media`.
    Local(local::LocalOptions),
    /// Any S3-compatible store: AWS, Backblaze B2, Wasabi, MinIO, SeaweedFS…
    S3(s3::S3Options),
    /// A WebDAV folder: Nextcloud, ownCloud, a NAS's WebDAV service.
    Webdav(webdav::WebdavOptions),
    /// A folder on any SSH server, over SFTP.
    Sftp(sftp::SftpOptions),
    /// A folder in an SMB2/3 share: a NAS, a Windows share, Samba.
    Smb(smb::SmbOptions),
    /// Any storage rclone reaches: Google Drive, OneDrive, Dropbox and 70 more, connected on the
    /// dashboard ("Add a cloud drive") or in an rclone.conf of your own.
    Rclone(rclone::RcloneOptions),
    /// Azure Blob Storage, with an account key or a SAS token.
    Azure(azure::AzureOptions),
}

impl DestinationOptions {
    /// The destination's name, as written.
    pub fn name(&self) -> &str {
        match self {
            Self::Local(o) => &o.name,
            Self::S3(o) => &o.name,
            Self::Webdav(o) => &o.name,
            Self::Sftp(o) => &o.name,
            Self::Smb(o) => &o.name,
            Self::Rclone(o) => &o.name,
            Self::Azure(o) => &o.name,
        }
    }

    /// The destination's own retention policy, as written.
    pub fn retention(&self) -> Option<&str> {
        match self {
            Self::Local(o) => o.retention.as_deref(),
            Self::S3(o) => o.retention.as_deref(),
            Self::Webdav(o) => o.retention.as_deref(),
            Self::Sftp(o) => o.retention.as_deref(),
            Self::Smb(o) => o.retention.as_deref(),
            Self::Rclone(o) => o.retention.as_deref(),
            Self::Azure(o) => o.retention.as_deref(),
        }
    }

    /// The secret option named `field` (`secret_access_key`, `password`…), when it is set: what a
    /// form that leaves a secret empty keeps.
    pub fn secret(&self, field: &str) -> Option<&Secret> {
        match (self, field) {
            (Self::S3(o), "secret_access_key") => Some(&o.secret_access_key),
            (Self::Azure(o), "account_key") => o.account_key.as_ref(),
            (Self::Azure(o), "sas_token") => o.sas_token.as_ref(),
            (Self::Webdav(o), "password") => Some(&o.password),
            (Self::Sftp(o), "password") => o.password.as_ref(),
            (Self::Sftp(o), "private_key_passphrase") => o.private_key_passphrase.as_ref(),
            (Self::Smb(o), "password") => Some(&o.password),
            _ => None,
        }
        .filter(|s| !s.is_empty())
    }

    /// The name and the checked settings, each problem on a field under `at`
    /// (`destinations[1]`); `None` when the settings cannot make a destination.
    pub fn validate(
        self,
        at: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<(String, DestinationKind)> {
        use DestinationKind as K;
        match self {
            Self::Local(o) => o.validate(at, problems).map(|(n, s)| (n, K::Local(s))),
            Self::S3(o) => o.validate(at, problems).map(|(n, s)| (n, K::S3(s))),
            Self::Webdav(o) => o.validate(at, problems).map(|(n, s)| (n, K::Webdav(s))),
            Self::Sftp(o) => o.validate(at, problems).map(|(n, s)| (n, K::Sftp(s))),
            Self::Smb(o) => o.validate(at, problems).map(|(n, s)| (n, K::Smb(s))),
            Self::Rclone(o) => o.validate(at, problems).map(|(n, s)| (n, K::Rclone(s))),
            Self::Azure(o) => o.validate(at, problems).map(|(n, s)| (n, K::Azure(s))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value of the field's type.
    fn sample(f: &form::Field) -> serde_json::Value {
        match f.input {
            form::Input::Number { .. } => serde_json::json!(1),
            form::Input::Checkbox => serde_json::json!(true),
            form::Input::Choice(c) if c.iter().any(|c| c.value == "true") => {
                serde_json::json!(true)
            }
            _ => serde_json::json!("x"),
        }
    }

    /// Every form names options its kind takes (each read, with a value of its type), each once,
    /// with words, and leaves the name and retention to [`form::COMMON`].
    #[test]
    fn each_form_asks_for_its_own_options_only() {
        for form in FORMS {
            assert_eq!(
                form_for(form.kind.as_str()).map(|f| f.kind),
                Some(form.kind)
            );
            let mut all = serde_json::json!({"type": form.kind.as_str(), "name": "n"});
            let mut seen = std::collections::HashSet::new();
            for f in form.fields {
                assert!(seen.insert(f.name), "{}: {} twice", form.kind, f.name);
                assert!(form::COMMON.iter().all(|c| c.name != f.name));
                assert!(!f.help.is_empty() && !f.label.is_empty());
                all[f.name] = sample(f);
            }
            all["retention"] = serde_json::json!("last=1");
            let read: Result<DestinationOptions, _> = serde_json::from_value(all.clone());
            assert!(read.is_ok(), "{}: {:?}", form.kind, read.err());
            // Each field is read by the options: a value of no type it takes is refused.
            for f in form.fields {
                let mut wrong = all.clone();
                wrong[f.name] = serde_json::json!([[1]]);
                let read: Result<DestinationOptions, _> = serde_json::from_value(wrong);
                assert!(
                    read.is_err(),
                    "{}: {} is no option of it",
                    form.kind,
                    f.name
                );
            }
        }
        assert_eq!(form_for("nonsense").map(|f| f.kind), None);
    }

    fn spec(secret: &str, keep: &str) -> DestinationSpec {
        DestinationSpec {
            name: "b2".into(),
            retention: crate::retention::Policy::parse(keep).unwrap(),
            kind: DestinationKind::S3(s3::S3Spec {
                bucket: "backups".into(),
                prefix: "home/".into(),
                endpoint: None,
                region: "us-east-1".into(),
                access_key_id: "AK".into(),
                secret_access_key: Secret::new(secret),
                path_style: false,
            }),
        }
    }

    #[test]
    fn the_settings_digest_follows_how_a_destination_is_reached() {
        let d = spec("s3cret-one", "last=3").settings_digest();
        assert_eq!(d.len(), 16);
        assert!(!d.contains("s3cret"));
        assert_ne!(d, spec("s3cret-two", "last=3").settings_digest());
        assert_eq!(d, spec("s3cret-one", "daily=7").settings_digest());
    }

    /// The digest reads the settings as it did before the kinds had modules, so a destination
    /// waiting in the retry queue for new settings is not tried again by an update alone.
    #[test]
    fn the_settings_digest_reads_the_settings_as_before() {
        assert_eq!(
            spec("s", "last=3").kind.digest_text(),
            "S3 { bucket: \"backups\", prefix: \"home/\", endpoint: None, region: \"us-east-1\", \
             access_key_id: \"AK\", secret_access_key: Secret(***), path_style: false }"
        );
        let local = DestinationKind::Local(local::LocalSpec {
            path: "/media/usb".into(),
        });
        assert_eq!(local.digest_text(), "Local { path: \"/media/usb\" }");
        let rclone = DestinationKind::Rclone(rclone::RcloneSpec {
            remote: "gdrive:HA".into(),
            config: None,
            program: "rclone".into(),
        });
        assert!(
            rclone
                .digest_text()
                .starts_with("Rclone(RcloneSpec { remote: ")
        );
    }
}
