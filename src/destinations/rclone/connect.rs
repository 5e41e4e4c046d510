//! Connecting a cloud drive with no terminal on the box: the person runs `rclone authorize` on any
//! computer with a browser and pastes its answer; or pastes a section of an rclone.conf of their
//! own. Either way the remote is first written to a scratch rclone.conf beside the real one, rclone
//! lists the chosen folder through it (proving the sign-in works; rclone may refresh the token
//! there), and only then is the section merged into the real rclone.conf. A failed attempt
//! leaves the real file as it was. Tokens never reach a page or a log.

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
            config: data_dir.join(crate::config::RCLONE_CONF),
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
        let token = token(answer.expose())?;
        let scratch = Scratch::new(&self.config).await?;
        let tool = self.tool(&name, Some(scratch.path.clone()));
        let token_arg = Secret::new(format!("token={token}"));
        let args = [
            "config",
            "create",
            name.as_str(),
            provider.kind,
            token_arg.expose(),
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
        let given = Conf::parse(pasted.expose(), "the pasted text")?;
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
        let scratch = Scratch::new(&self.config).await?;
        conf::merge(&scratch.path, section.clone()).await?;
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

/// A throwaway rclone.conf beside the real one, removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    async fn new(real: &Path) -> Result<Self, ConfError> {
        let mut b = [0u8; 6];
        getrandom::getrandom(&mut b)
            .map_err(|e| ConfError::Io(format!("no randomness for a scratch file: {e}")))?;
        let mut name = real.as_os_str().to_owned();
        name.push(format!(".try-{}", hex::encode(b)));
        let path = PathBuf::from(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| ConfError::Io(format!("making {}: {e}", dir.display())))?;
        }
        Ok(Self { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
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

    #[test]
    fn every_provider_has_an_authorize_command() {
        assert_eq!(
            provider("drive").unwrap().authorize(),
            "rclone authorize \"drive\""
        );
        assert!(provider("s3").is_none());
    }
}
