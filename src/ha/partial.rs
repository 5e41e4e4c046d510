//! The parts of a partial backup, as the Supervisor (`/backups/new/partial`) and Core's
//! `backup/generate` take them.

/// The parts of a partial backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    /// Home Assistant's own configuration and database.
    #[serde(default = "yes")]
    pub homeassistant: bool,
    /// Add-on slugs (as in the add-on's URL, e.g. `core_mosquitto`).
    #[serde(default)]
    pub addons: Vec<String>,
    /// Of `share`, `addons/local`, `ssl`, `media`.
    #[serde(default)]
    pub folders: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The folders a Supervisor backup can hold.
pub const FOLDERS: [&str; 4] = ["share", "addons/local", "ssl", "media"];

/// Why the parts of a partial backup make no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartialError {
    #[error("{0:?} is not a folder Home Assistant backs up; use {folders}", folders = FOLDERS.join(", "))]
    UnknownFolder(String),
    #[error("a partial backup needs at least one part: homeassistant, addons or folders")]
    Empty,
}

impl Partial {
    /// Checks the parts make sense.
    ///
    /// # Errors
    /// [`PartialError`] saying what is wrong.
    pub fn check(&self) -> Result<(), PartialError> {
        if let Some(f) = self.folders.iter().find(|f| !FOLDERS.contains(&f.as_str())) {
            return Err(PartialError::UnknownFolder(f.clone()));
        }
        if !self.homeassistant && self.addons.is_empty() && self.folders.is_empty() {
            return Err(PartialError::Empty);
        }
        Ok(())
    }
}
