//! What one request for a backup asks for: why, which destinations, which parts, under what name.

/// What one request for a backup asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// Why: `cli`, `schedule`, `manual`, `stdin`, `event`…
    pub trigger: String,
    /// Ship again what history says was shipped already.
    pub reship: bool,
    /// The name for a backup the source creates.
    pub name: Option<String>,
    /// Only these destinations (by name); every one when empty.
    pub destinations: Vec<String>,
    /// Only these parts, for a backup the source creates.
    pub partial: Option<crate::source::Partial>,
    /// Ship what Home Assistant made since the last backup shipped, as ship mode does, even
    /// when the source makes its own backups (Home Assistant announced a new one).
    pub ship_new: bool,
    /// Which sources (by name) the daemon backs up, in turn; the first source when empty.
    pub sources: Vec<String>,
}

impl RunRequest {
    /// A plain request.
    pub fn new(trigger: &str) -> Self {
        Self {
            trigger: trigger.to_owned(),
            ..Self::default()
        }
    }
}
