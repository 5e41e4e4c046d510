//! A problem that needs a person: its kind, which decides how serious it is and the short tag the
//! dashboard shows, and its words. Everyone who shows problems (Home Assistant's `problem` sensor,
//! the copies notification, the overview, the `status` command) asks the kind; nobody reads a
//! problem's words back to learn what it is.

use serde::{Serialize, Serializer};
use std::fmt;

/// What a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// No backup has a verified off-site copy yet (a new install).
    NothingYet,
    /// The last backup failed.
    LastFailed,
    /// The last backup did not reach every destination.
    Incomplete,
    /// The newest backup is protected with a Home Assistant key Lifeboat has never seen.
    Keys,
    /// A destination or source has no fresh verified copy.
    Stale,
    /// A copy failed its re-verification.
    Damaged,
    /// A destination refused its settings (credentials); retrying cannot help until they change.
    FixSettings,
    /// Settings that work but send a password in the clear.
    Cleartext,
    /// The emergency kit's check is overdue.
    Kit,
    /// A destination's newest test (daily, or asked for) failed after its newest verified
    /// copy: the next backup there will fail the same way unless a person acts.
    ProbeFailed,
}

/// How serious a problem is: the overview's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look.
    Warn,
    /// Copies are at risk now.
    Bad,
}

impl Severity {
    /// The CSS class that colours it.
    pub fn class(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Bad => "bad",
        }
    }
}

impl ProblemKind {
    /// How serious a problem of this kind is.
    pub fn severity(self) -> Severity {
        match self {
            Self::Stale | Self::Damaged | Self::Keys | Self::FixSettings | Self::ProbeFailed => {
                Severity::Bad
            }
            Self::NothingYet
            | Self::LastFailed
            | Self::Incomplete
            | Self::Cleartext
            | Self::Kit => Severity::Warn,
        }
    }

    /// The dashboard's short tag for it; `None` for the general "Problem" tag, under which the
    /// problem is shown with its words.
    pub fn own_tag(self) -> Option<&'static str> {
        match self {
            Self::Stale => Some("Stale"),
            Self::Damaged => Some("Damaged"),
            Self::Kit => Some("Kit"),
            Self::Keys => Some("Keys"),
            Self::Cleartext => Some("In the clear"),
            Self::NothingYet
            | Self::LastFailed
            | Self::Incomplete
            | Self::FixSettings
            | Self::ProbeFailed => None,
        }
    }

    /// The words a problem's line starts with for Home Assistant and the `status` command
    /// (`stale: …`), if any.
    pub fn words(self) -> Option<&'static str> {
        match self {
            Self::Stale => Some("stale"),
            Self::Damaged => Some("damaged"),
            Self::Kit => Some("kit"),
            Self::Keys => Some("keys"),
            Self::FixSettings => Some("fix settings"),
            Self::Cleartext => Some("cleartext"),
            Self::NothingYet | Self::LastFailed | Self::Incomplete | Self::ProbeFailed => None,
        }
    }

    /// Whether it is about the copies themselves and lasts until they are mended (stale or
    /// damaged copies), so Home Assistant keeps a notification up for it.
    pub fn about_copies(self) -> bool {
        matches!(self, Self::Stale | Self::Damaged)
    }
}

/// A problem in plain words, with its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    /// What is wrong, without the kind's words (`the newest verified copy on nas is 30 hours old`).
    pub text: String,
}

impl Problem {
    /// A problem of `kind` saying `text`.
    pub fn new(kind: ProblemKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
        }
    }

    /// How serious it is.
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }

    /// The dashboard's short tag.
    pub fn tag(&self) -> &'static str {
        self.kind.own_tag().unwrap_or("Problem")
    }

    /// What the dashboard shows beside the tag: the text under an own tag, the whole line under
    /// the general one.
    pub fn shown(&self) -> String {
        match self.kind.own_tag() {
            Some(_) => self.text.clone(),
            None => self.to_string(),
        }
    }
}

/// The whole line, the kind's words first: `stale: the newest verified copy on nas is …`.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind.words() {
            Some(words) => write!(f, "{words}: {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

/// As its line (Home Assistant's `problems` attribute and the `status` command list lines).
impl Serialize for Problem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 36: a refused credential stops every copy to that destination until a person acts,
    /// as serious as a stale copy, not the mild "warn" it once showed as.
    #[test]
    fn a_refused_credential_is_as_serious_as_a_stale_copy() {
        let fix = Problem::new(ProblemKind::FixSettings, "s3 refused the credentials");
        assert_eq!(fix.severity(), Severity::Bad);
        assert_eq!(fix.severity(), ProblemKind::Stale.severity());
        assert_eq!(fix.severity().class(), "bad");
    }

    #[test]
    fn a_line_starts_with_its_words_and_the_dashboard_shows_the_rest_under_its_tag() {
        let stale = Problem::new(ProblemKind::Stale, "nas holds no verified copy");
        assert_eq!(stale.to_string(), "stale: nas holds no verified copy");
        assert_eq!(
            (stale.tag(), stale.shown().as_str()),
            ("Stale", "nas holds no verified copy")
        );
        let fix = Problem::new(ProblemKind::FixSettings, "s3 refused the credentials");
        assert_eq!(fix.tag(), "Problem");
        assert_eq!(fix.shown(), "fix settings: s3 refused the credentials");
        let failed = Problem::new(ProblemKind::LastFailed, "the last backup failed: disk full");
        assert_eq!(failed.to_string(), "the last backup failed: disk full");
        assert_eq!(
            serde_json::to_value([&stale]).ok(),
            Some(serde_json::json!(["stale: nas holds no verified copy"]))
        );
    }

    #[test]
    fn only_stale_and_damaged_copies_keep_a_notification_up() {
        use ProblemKind::*;
        let all = [
            NothingYet,
            LastFailed,
            Incomplete,
            Keys,
            Stale,
            Damaged,
            FixSettings,
            Cleartext,
            Kit,
            ProbeFailed,
        ];
        let lasting: Vec<_> = all.into_iter().filter(|k| k.about_copies()).collect();
        assert_eq!(lasting, [Stale, Damaged]);
        let bad: Vec<_> = all
            .into_iter()
            .filter(|k| k.severity() == Severity::Bad)
            .collect();
        assert_eq!(bad, [Keys, Stale, Damaged, FixSettings, ProbeFailed]);
    }
}
