//! Connecting a cloud drive with no terminal on the box: the person runs `rclone authorize` on any
//! computer with a browser and pastes its answer; or pastes a section of an rclone.conf of their
//! own. Either way the remote is first written to a scratch rclone.conf beside the real one, rclone
//! lists the chosen folder through it (proving the sign-in works; rclone may refresh the token
//! there), and only then is the section merged into the real rclone.conf. A failed attempt
//! leaves the real file as it was. Tokens never reach a page or a log, nor rclone's command line
//! (where `/proc` shows it): a token reaches rclone in the scratch file, made new under a random
//! name, readable by its owner only, and removed by the attempt that made it.
//!
//! A pasted section is someone else's text: only rclone's storage types are taken, and no
//! setting that makes rclone run a program on this machine (`ssh`, `*_command`), even inside a
//! connection string in another setting's value.

use super::conf::{self, Conf, ConfError};
use super::process::Tool;
use crate::destinations::{StoreError, StoreErrorKind};
use crate::secret::Secret;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long rclone may take to set up a remote (OneDrive asks Microsoft which drives there are).
const SETUP_TIME: Duration = Duration::from_secs(60);

/// A storage service connected by signing in through a browser.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    /// rclone's backend type.
    pub kind: &'static str,
    pub label: &'static str,
    /// What the person should know before signing in.
    pub note: &'static str,
}

/// The services offered on the page, the homes' usual ones first.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        kind: "drive",
        label: "Google Drive",
        note: "Signs in with rclone's own Google client; copies count against your Drive storage.",
    },
    Provider {
        kind: "onedrive",
        label: "Microsoft OneDrive",
        note: "Personal or business; rclone picks your own drive when it checks the sign-in.",
    },
    Provider {
        kind: "dropbox",
        label: "Dropbox",
        note: "Copies go under the folder you name, inside your Dropbox.",
    },
    Provider {
        kind: "box",
        label: "Box",
        note: "",
    },
    Provider {
        kind: "pcloud",
        label: "pCloud",
        note: "",
    },
    Provider {
        kind: "yandex",
        label: "Yandex Disk",
        note: "",
    },
];

/// The provider of rclone type `kind`.
pub fn provider(kind: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.kind == kind)
}

impl Provider {
    /// The command to run on a computer with a browser.
    pub fn authorize(&self) -> String {
        format!("rclone authorize \"{}\"", self.kind)
    }
}

/// Why a drive could not be connected; nothing was written to rclone.conf.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Input(String),
    #[error("rclone could not use it: {0}")]
    Rclone(StoreError),
    #[error(transparent)]
    Conf(#[from] ConfError),
}

/// A remote now in rclone.conf.
#[derive(Debug, Clone)]
pub struct Connected {
    /// Its name in rclone.conf.
    pub name: String,
    /// Its backend type.
    pub kind: String,
    /// The remote and folder to put in the options (`gdrive:Home Assistant/lifeboat`).
    pub remote: String,
    /// Files already in that folder (0 when it does not exist yet: the first backup makes it).
    pub files: usize,
}

/// Where the dashboard keeps connected drives, and the rclone it runs.
#[derive(Debug, Clone)]
pub struct Drives {
    pub program: PathBuf,
    pub config: PathBuf,
}

/// A remote as the page lists it: never its settings.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub kind: String,
}

impl Drives {
    /// The rclone.conf in `data_dir`, run with the `rclone` on `PATH`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            program: PathBuf::from("rclone"),
            config: data_dir.join(crate::destinations::kinds::rclone::RCLONE_CONF),
        }
    }

    /// The remotes in rclone.conf, by name and type.
    ///
    /// # Errors
    /// [`ConfError`] when the file cannot be read.
    pub async fn list(&self) -> Result<Vec<Listed>, ConfError> {
        Ok(conf::read(&self.config)
            .await?
            .sections
            .iter()
            .map(|s| Listed {
                name: s.name.clone(),
                kind: s.kind().to_owned(),
            })
            .collect())
    }

    /// Connects `name` to `provider` with the answer `rclone authorize` printed, and proves it by
    /// listing `folder`.
    ///
    /// # Errors
    /// [`ConnectError`] saying what to fix; rclone.conf is then unchanged.
    pub async fn connect(
        &self,
        name: &str,
        provider_kind: &str,
        answer: &Secret,
        folder: &str,
    ) -> Result<Connected, ConnectError> {
        let name = remote_name(name)?;
        let provider = provider(provider_kind)
            .ok_or_else(|| ConnectError::Input(format!("{provider_kind:?} is not on the list")))?;
        let token = Secret::new(token(answer.expose())?);
        let scratch = Scratch::new(&self.config).await?;
        // The token goes to rclone in the scratch file; `config update` then runs the backend's
        // setup as `config create` would (OneDrive picks the drive), without refreshing it.
        conf::merge(
            &scratch.path,
            conf::Section::new(&name, &[("type", provider.kind), ("token", token.expose())]),
        )
        .await?;
        let tool = self.tool(&name, Some(scratch.path.clone()));
        let args = [
            "config",
            "update",
            name.as_str(),
            "config_refresh_token=false",
        ];
        let made = tokio::time::timeout(SETUP_TIME, tool.run("setting up the remote", &args)).await;
        match made {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(ConnectError::Rclone(e)),
            Err(_) => {
                return Err(ConnectError::Rclone(StoreError::unavailable(format!(
                    "setting up the remote took more than {} s (rclone could not reach {}?)",
                    SETUP_TIME.as_secs(),
                    provider.label
                ))));
            }
        }
        self.prove_and_keep(&scratch, &tool, &name, folder).await
    }

    /// Adds the pasted rclone.conf section (or the one called `name` among several), proving it
    /// by listing `folder`.
    ///
    /// # Errors
    /// [`ConnectError`] saying what to fix; rclone.conf is then unchanged.
    pub async fn import(
        &self,
        pasted: &Secret,
        name: Option<&str>,
        folder: &str,
    ) -> Result<Connected, ConnectError> {
        let (name, section) = pasted_section(pasted.expose(), name)?;
        let scratch = Scratch::new(&self.config).await?;
        conf::merge(&scratch.path, section).await?;
        let tool = self.tool(&name, Some(scratch.path.clone()));
        self.prove_and_keep(&scratch, &tool, &name, folder).await
    }

    fn tool(&self, name: &str, config: Option<PathBuf>) -> Tool {
        Tool {
            program: self.program.clone(),
            config,
            remote_name: name.to_owned(),
            remarks: std::sync::Arc::default(),
        }
    }

    /// Lists `folder` through the scratch file, then moves its section into rclone.conf.
    async fn prove_and_keep(
        &self,
        scratch: &Scratch,
        tool: &Tool,
        name: &str,
        folder: &str,
    ) -> Result<Connected, ConnectError> {
        // A leading slash stays: a local or SFTP remote takes an absolute folder.
        let folder = folder.trim().trim_end_matches('/');
        let remote = format!("{name}:{folder}");
        let files = match tool
            .run(
                "listing the folder",
                &[
                    "lsjson",
                    "--files-only",
                    "--no-mimetype",
                    "--no-modtime",
                    &remote,
                ],
            )
            .await
        {
            Ok(out) => serde_json::from_slice::<Vec<serde_json::Value>>(&out)
                .map(|v| v.len())
                .unwrap_or(0),
            // The first backup makes the folder.
            Err(e) if e.kind == StoreErrorKind::NotFound => 0,
            Err(e) => return Err(ConnectError::Rclone(e)),
        };
        // Read after the listing: rclone may have refreshed the token into the scratch file.
        let section = conf::read(&scratch.path)
            .await?
            .get(name)
            .cloned()
            .ok_or_else(|| ConnectError::Input(format!("rclone did not write [{name}]")))?;
        let kind = section.kind().to_owned();
        conf::merge(&self.config, section).await?;
        Ok(Connected {
            name: name.to_owned(),
            kind,
            remote,
            files,
        })
    }
}

/// A throwaway rclone.conf beside the real one: made new under a random name, readable by its
/// owner only, removed when dropped (by the attempt that made it, and only by it).
struct Scratch {
    path: PathBuf,
    _file: crate::scratch::TempFile,
}

impl Scratch {
    async fn new(real: &Path) -> Result<Self, ConfError> {
        if let Some(dir) = real.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| ConfError::Io(format!("making {}: {e}", dir.display())))?;
        }
        let (file, _) = crate::scratch::TempFile::beside(real).map_err(|e| {
            ConfError::Io(format!(
                "making a scratch file beside {}: {e}",
                real.display()
            ))
        })?;
        Ok(Self {
            path: file.path().to_owned(),
            _file: file,
        })
    }
}

/// rclone's storage types a pasted section may have (`memory` keeps nothing; wrappers such as
/// `crypt` or `union` are taken, their settings checked like any other).
const KNOWN_TYPES: &[&str] = &[
    "alias",
    "amazon cloud drive",
    "azureblob",
    "azurefiles",
    "b2",
    "box",
    "cache",
    "chunker",
    "combine",
    "compress",
    "crypt",
    "drive",
    "dropbox",
    "fichier",
    "filefabric",
    "ftp",
    "gofile",
    "google cloud storage",
    "google photos",
    "hasher",
    "hdfs",
    "hidrive",
    "http",
    "imagekit",
    "internetarchive",
    "jottacloud",
    "koofr",
    "linkbox",
    "local",
    "mailru",
    "mega",
    "netstorage",
    "onedrive",
    "opendrive",
    "oracleobjectstorage",
    "pcloud",
    "pikpak",
    "pixeldrain",
    "premiumizeme",
    "protondrive",
    "putio",
    "qingstor",
    "quatrix",
    "s3",
    "seafile",
    "sftp",
    "sharefile",
    "sia",
    "smb",
    "storj",
    "sugarsync",
    "swift",
    "tardigrade",
    "ulozto",
    "union",
    "uptobox",
    "webdav",
    "yandex",
    "zoho",
];

/// The section of pasted rclone.conf text to add (the one called `name` when there are several)
/// and its remote name, checked as [`Drives::import`] takes it: a name rclone allows, a `type`
/// among rclone's storage types, and no setting that runs a program. Nothing is written.
///
/// # Errors
/// [`ConnectError`] saying what to fix in the pasted text.
pub fn pasted_section(
    pasted: &str,
    name: Option<&str>,
) -> Result<(String, conf::Section), ConnectError> {
    let given = Conf::parse(pasted, "the pasted text")?;
    let section = match (name.filter(|n| !n.trim().is_empty()), &given.sections[..]) {
        (_, []) => {
            return Err(ConnectError::Input(
                "the pasted text has no [name] section: paste it from rclone.conf, starting \
                 at the line with the remote's name in brackets"
                    .into(),
            ));
        }
        (Some(n), all) => all.iter().find(|s| s.name == n.trim()).ok_or_else(|| {
            ConnectError::Input(format!("the pasted text has no section [{}]", n.trim()))
        })?,
        (None, [one]) => one,
        (None, _) => {
            return Err(ConnectError::Input(
                "the pasted text has several sections: name the one to add".into(),
            ));
        }
    };
    let name = remote_name(&section.name)?;
    if section.get("type").is_none() {
        return Err(ConnectError::Input(format!(
            "[{name}] has no type = line, so rclone would not know what it is"
        )));
    }
    safe_section(&name, section)?;
    Ok((name, section.clone()))
}

/// Whether an rclone setting makes rclone run a program on this machine (`ssh` for sftp in newer
/// rclone, `bearer_token_command` for WebDAV, `password_command`, and any other `*_command`).
fn runs_a_program(key: &str) -> bool {
    let k = key
        .trim()
        .trim_start_matches('-')
        .to_ascii_lowercase()
        .replace('-', "_");
    k == "ssh" || k.ends_with("command") || k.ends_with("_program") || k == "exec"
}

/// Refuses a pasted section of a type rclone does not store with, or with a setting that runs a
/// program, naming it; a setting's value may itself hold a connection string
/// (`remote = :sftp,ssh=…:`), whose settings are checked too.
fn safe_section(name: &str, section: &conf::Section) -> Result<(), ConnectError> {
    let kind = section.kind().trim();
    if !KNOWN_TYPES.contains(&kind) {
        return Err(ConnectError::Input(format!(
            "[{name}] has type = {kind}, which is not one of rclone's storage types that \
             Lifeboat takes (drive, onedrive, dropbox, s3, sftp, webdav, local and the like)"
        )));
    }
    let refuse = |key: &str| {
        ConnectError::Input(format!(
            "[{name}]: the setting {key} was refused, because it makes rclone run a program on \
             this machine; remove that line (rclone connects on its own without it) and paste \
             the section again"
        ))
    };
    for line in section.text().lines() {
        let line = line.trim();
        if line.starts_with(['#', ';']) {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if runs_a_program(key) {
            return Err(refuse(key.trim()));
        }
        // A connection string in a value: `:backend,key=value,key2="v":path`.
        for part in value.split([',', ':']) {
            if let Some((inner, _)) = part.split_once('=')
                && runs_a_program(inner)
            {
                return Err(refuse(inner.trim()));
            }
        }
    }
    Ok(())
}

/// A remote name as rclone allows it.
fn remote_name(name: &str) -> Result<String, ConnectError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ConnectError::Input(format!(
            "{name:?} cannot name a remote: use letters, digits, _ - and . (like gdrive)"
        )))
    }
}

/// The token in what `rclone authorize` printed: the JSON between `--->` and `<---End paste`, or
/// the pasted JSON itself.
fn token(answer: &str) -> Result<String, ConnectError> {
    let inner = match (answer.find("--->"), answer.find("<---End paste")) {
        (Some(a), Some(b)) if a + 4 <= b => &answer[a + 4..b],
        _ => answer,
    };
    let json = match (inner.find('{'), inner.rfind('}')) {
        (Some(a), Some(b)) if a < b => &inner[a..=b],
        _ => "",
    };
    let value: serde_json::Value = serde_json::from_str(json).map_err(|_| {
        ConnectError::Input(
            "that is not what rclone authorize prints: paste everything between ---> and \
             <---End paste (one line starting with {)"
                .into(),
        )
    })?;
    let has = |k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_str())
            .is_some_and(|s| !s.is_empty())
    };
    if !has("access_token") {
        return Err(ConnectError::Input(
            "the pasted answer holds no access_token: run rclone authorize again and paste its \
             whole answer"
                .into(),
        ));
    }
    // One line, as rclone.conf holds it.
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_in_rclone_authorize_s_whole_answer() {
        let printed = "If your browser doesn't open automatically go to the following link: http://127.0.0.1:53682/auth?state=x\n\
             Log in and authorize rclone for access\nWaiting for code...\nGot code\n\
             Paste the following into your remote machine --->\n\
             {\"access_token\":\"ya29.a0\",\"token_type\":\"Bearer\",\"refresh_token\":\"1//0g\",\"expiry\":\"2026-12-02T23:00:00Z\"}\n\
             <---End paste\n";
        let t = token(printed).unwrap();
        assert!(
            t.starts_with('{') && t.contains("\"refresh_token\":\"1//0g\""),
            "{t}"
        );
        assert!(token("{\"access_token\":\"a\"}").is_ok());
        let e = token("4/0AeanS0b-code-instead").unwrap_err().to_string();
        assert!(e.contains("---> and <---End paste"), "{e}");
        let e = token("{\"refresh_token\":\"r\"}").unwrap_err().to_string();
        assert!(e.contains("access_token"), "{e}");
    }

    #[test]
    fn remote_names_are_the_ones_rclone_takes() {
        assert_eq!(remote_name(" gdrive ").unwrap(), "gdrive");
        assert!(remote_name("my drive").is_err());
        assert!(remote_name("-x").is_err());
        assert!(remote_name("a:b").is_err());
    }

    /// Issue 38: a pasted section runs no program and is of a storage type rclone has.
    #[test]
    fn pasted_sections_that_run_programs_are_refused_by_key() {
        let check = |text: &str| {
            let c = Conf::parse(text, "pasted").unwrap();
            let s = &c.sections[0];
            safe_section(&s.name, s).map_err(|e| e.to_string())
        };
        assert!(check("[nas]\ntype = sftp\nhost = nas.local\npass = abc\n").is_ok());
        assert!(check("[usb]\ntype = local\n").is_ok());
        for (text, key) in [
            (
                "[nas]\ntype = sftp\nhost = h\nssh = sh -c 'touch /tmp/owned'\n",
                "ssh",
            ),
            (
                "[dav]\ntype = webdav\nurl = https://x\nbearer_token_command = sh -c id\n",
                "bearer_token_command",
            ),
            (
                "[c]\ntype = crypt\nremote = :sftp,host=h,ssh=\"sh -c id\":x\n",
                "ssh",
            ),
            (
                "[s]\ntype = sftp\nserver_command = /bin/sh\n",
                "server_command",
            ),
        ] {
            let e = check(text).unwrap_err();
            assert!(e.contains(&format!("the setting {key} was refused")), "{e}");
        }
        let e = check("[m]\ntype = memory\n").unwrap_err();
        assert!(e.contains("type = memory"), "{e}");
        let e = check("[m]\ntype = ../../bin/sh\n").unwrap_err();
        assert!(e.contains("not one of rclone's storage types"), "{e}");
    }

    /// Issue 38: the token reaches rclone through a private scratch file, never its arguments,
    /// and rclone gets none of Lifeboat's environment; the scratch file is gone afterwards.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_token_reaches_rclone_in_a_private_file_not_its_arguments() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let seen = dir.path().join("seen");
        // A stand-in rclone: it writes down its arguments, its environment and the mode and
        // text of the rclone.conf it was given, then fails (nothing is kept).
        let fake = dir.path().join("rclone");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\n{{ echo \"ARGS $*\"; env; stat -c 'MODE %a' \"$2\"; cat \"$2\"; }} >> {}\n\
                 echo 'ERROR : Failed to create: no' >&2\nexit 1\n",
                seen.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o700)).unwrap();
        let drives = Drives {
            program: fake,
            config: dir.path().join("conf").join("rclone.conf"),
        };
        let answer = Secret::new(
            "--->\n{\"access_token\":\"ya29.SECRET-in-token\",\"refresh_token\":\"1//r\"}\n<---End paste",
        );
        let e = drives
            .connect("gdrive", "drive", &answer, "lifeboat")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("rclone could not use it"), "{e}");
        let seen = std::fs::read_to_string(&seen).unwrap();
        let args = seen.lines().find(|l| l.starts_with("ARGS")).unwrap();
        assert!(
            !args.contains("SECRET"),
            "the token is in rclone's arguments: {args}"
        );
        assert!(seen.contains("MODE 600"), "{seen}");
        assert!(
            seen.contains("ya29.SECRET-in-token"),
            "rclone was not given the token in its file: {seen}"
        );
        assert!(
            !seen.lines().any(|l| l.starts_with("CARGO")),
            "rclone inherited Lifeboat's environment: {seen}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path().join("conf"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[test]
    fn every_provider_has_an_authorize_command() {
        assert_eq!(
            provider("drive").unwrap().authorize(),
            "rclone authorize \"drive\""
        );
        assert!(provider("s3").is_none());
    }
}
