//! Setting Lifeboat up from the dashboard: where the settings live ([`home`]: the add-on's
//! options through the Supervisor, or a standalone `lifeboat.toml`), and the one way a change
//! goes: checked by Lifeboat's own validation, saved where the settings live, confirmed, then
//! applied by the running daemon without a restart ([`Apply`]).

pub mod home;

use crate::config::edit::{EditError, SettingsDoc};
use crate::config::{Config, Env};
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;

pub use home::SettingsHome;

/// How a saved change took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// At once.
    Now,
    /// When the job running now ends (it finishes on the settings it began with).
    AfterJob,
}

/// The running daemon, as the setup sees it: it takes validated settings and runs on them.
#[async_trait]
pub trait Apply: Send + Sync {
    /// Runs on `config` from now on (or once the job running now ends).
    ///
    /// # Errors
    /// [`ApplyError`] when the daemon cannot be built on them; it goes on as it was.
    async fn apply(&self, config: Config) -> Result<Applied, ApplyError>;
}

/// The settings were saved, but the daemon does not run on them.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// They could not be built; the daemon runs on the ones before.
    #[error("saved, but Lifeboat could not start on them (it goes on with the ones before): {0}")]
    NotBuilt(String),
    /// The daemon was stopped for them, and could not start again: nothing runs now.
    #[error(
        "saved, but Lifeboat stopped and could not start on them: {0}. Nothing runs now; fix \
         the settings, or restart Lifeboat"
    )]
    Stopped(String),
}

/// Why a change was not saved. Nothing was saved unless the variant says so.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The settings came from the command line: there is nowhere to save a change.
    #[error("these settings come from the command line; change them there")]
    NotEditable,
    #[error(transparent)]
    Edit(#[from] EditError),
    /// Lifeboat's own validation refused them; each problem names its field.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// Where they live refused them (the Supervisor's own message), or could not be reached.
    #[error(transparent)]
    Home(#[from] home::HomeError),
    /// The settings were changed elsewhere (another page, the Configuration tab, the file)
    /// since this change began from them.
    #[error(
        "the settings were changed elsewhere since this page was opened; nothing was saved: \
         open the page again and make the change there"
    )]
    Changed,
    /// Saved, but not applied.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// Saves one at a time, in this process.
static SAVING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The setup service the dashboard holds.
pub struct Setup {
    pub home: SettingsHome,
    /// The environment validation reads (tokens the options may leave out).
    pub env: Env,
    /// The data folder the command line chose (`--data-dir`), over the options'.
    pub data_dir_given: Option<PathBuf>,
    /// The data folder when neither says.
    pub default_data_dir: PathBuf,
    pub apply: Arc<dyn Apply>,
}

impl Setup {
    /// Whether the settings can be changed here (not when they came from the command line).
    pub fn editable(&self) -> bool {
        !matches!(self.home, SettingsHome::CommandLine)
    }

    /// The settings as they stand where they live, to change.
    ///
    /// # Errors
    /// [`SetupError::NotEditable`], or the home's error.
    pub async fn current(&self) -> Result<SettingsDoc, SetupError> {
        if !self.editable() {
            return Err(SetupError::NotEditable);
        }
        Ok(self.home.read().await?)
    }

    /// Lifeboat's own validation of `doc`, as `lifeboat serve` would read it.
    ///
    /// # Errors
    /// [`SetupError::Edit`] when it does not read as options, [`SetupError::Invalid`] with every
    /// problem.
    pub fn check(&self, doc: &SettingsDoc) -> Result<Config, SetupError> {
        self.validated(doc.options()?)
    }

    /// Checks `doc`, saves it where the settings live, reads back what was saved, and has the
    /// daemon run on it.
    ///
    /// # Errors
    /// [`SetupError`]; nothing is saved when it is `NotEditable`, `Edit`, `Invalid` or
    /// `Changed`.
    pub async fn save(&self, doc: &SettingsDoc) -> Result<Applied, SetupError> {
        if !self.editable() {
            return Err(SetupError::NotEditable);
        }
        self.check(doc)?;
        // One save at a time, start to end: two pages saving at once neither lose each other's
        // change unseen nor apply in the other order than they were saved.
        let _one_at_a_time = SAVING.lock().await;
        if !self.home.read().await?.same_origin(doc) {
            return Err(SetupError::Changed);
        }
        let saved = self.home.write(doc).await?;
        let config = self.validated(saved)?;
        Ok(self.apply.apply(config).await?)
    }

    fn validated(&self, mut opts: crate::config::options::Options) -> Result<Config, SetupError> {
        if self.data_dir_given.is_some() {
            opts.data_dir.clone_from(&self.data_dir_given);
        }
        crate::config::validate(opts, &self.env, self.default_data_dir.clone()).map_err(|e| {
            let problems: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
            if problems.is_empty() {
                SetupError::Invalid(vec![e.to_string()])
            } else {
                SetupError::Invalid(problems)
            }
        })
    }
}
