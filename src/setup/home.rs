//! Where the settings live and how they are read and written there: the add-on's options through
//! the Supervisor (`GET /addons/self/info` for the options as stored, `!secret` references kept;
//! `POST /addons/self/options` with the whole object; confirmed with `GET
//! /addons/self/options/config`), or a standalone `lifeboat.toml` (written whole, atomically).

mod addon;
mod file;

use crate::config::edit::{EditError, SettingsDoc};
use crate::config::options::Options;
use std::path::PathBuf;

/// Where the settings live.
#[derive(Debug, Clone)]
pub enum SettingsHome {
    /// The add-on's options, kept by the Supervisor at `url` (`http://supervisor`).
    Addon {
        url: url::Url,
        token: crate::secret::Secret,
        http: reqwest::Client,
    },
    /// A standalone settings file.
    File(PathBuf),
    /// The command line: nothing to save to.
    CommandLine,
}

/// Why the settings could not be read or written where they live.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("the Supervisor refused the options: {0}")]
    Refused(String),
    #[error("the Supervisor could not be reached: {0}")]
    Unreachable(String),
    #[error("the Supervisor saved the options, but reads back other ones: {0}")]
    NotConfirmed(String),
    #[error("{path}: {error}")]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Edit(#[from] crate::config::edit::EditError),
}

impl SettingsHome {
    /// Where a change is saved, for people.
    pub fn describe(&self) -> String {
        match self {
            Self::Addon { .. } => "the add-on's options, through the Supervisor".into(),
            Self::File(path) => path.display().to_string(),
            Self::CommandLine => "the command line".into(),
        }
    }

    /// The settings as they stand there.
    ///
    /// # Errors
    /// [`HomeError`].
    pub async fn read(&self) -> Result<SettingsDoc, HomeError> {
        match self {
            Self::Addon { url, token, http } => addon::read(http, url, token).await,
            Self::File(path) => file::read(path).await,
            Self::CommandLine => Err(HomeError::Edit(EditError::Options(
                "the settings came from the command line; there is nothing to read".into(),
            ))),
        }
    }

    /// Saves `doc` there and reads back what the home now holds, as options.
    ///
    /// # Errors
    /// [`HomeError`]: refused (the Supervisor's message), unreachable, or not confirmed.
    pub async fn write(&self, doc: &SettingsDoc) -> Result<Options, HomeError> {
        match self {
            Self::Addon { url, token, http } => addon::write(http, url, token, doc).await,
            Self::File(path) => file::write(path, doc).await,
            Self::CommandLine => Err(HomeError::Edit(EditError::Options(
                "the settings came from the command line; change them there".into(),
            ))),
        }
    }
}
