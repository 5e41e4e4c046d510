//! What a `dir:` or `command:` source is told to make: how its bytes are compressed and which
//! program makes a dump, as the options name them (what they mean to a walk is in
//! [`super::content`]). They sit here, below the configuration, so that `config` can read them
//! from the options without the archive reaching up into it.

use serde::{Deserialize, Serialize};

/// How a source's bytes are compressed before age encrypts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

impl Compression {
    /// Reads `none` or `gzip`.
    ///
    /// # Errors
    /// What to write instead.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "none" | "" => Ok(Self::None),
            "gzip" | "gz" => Ok(Self::Gzip),
            other => Err(format!(
                "{other:?} is not a compression; use \"gzip\" or \"none\""
            )),
        }
    }

    /// What the compression adds to a file name.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Gzip => ".gz",
        }
    }
}

/// The program that made a dump, when Lifeboat knows how its dumps end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpTool {
    /// `pg_dump` or `pg_dumpall` in plain SQL.
    Postgres,
    /// `mysqldump` or `mariadb-dump`.
    Mariadb,
    /// Anything else: no closing line is looked for.
    #[default]
    Other,
}

impl DumpTool {
    /// The tool a command runs, from the words of its command line (`docker exec db pg_dumpall`
    /// runs `pg_dumpall`).
    pub fn guess(argv: &[String]) -> Self {
        for word in argv {
            let program = word.rsplit('/').next().unwrap_or(word);
            match program {
                "pg_dump" | "pg_dumpall" => return Self::Postgres,
                "mysqldump" | "mariadb-dump" => return Self::Mariadb,
                _ => {}
            }
        }
        Self::Other
    }

    /// Reads `postgres`, `mariadb` (or `mysql`) or `other`.
    ///
    /// # Errors
    /// What to write instead.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "mariadb" | "mysql" => Ok(Self::Mariadb),
            "other" => Ok(Self::Other),
            other => Err(format!(
                "{other:?} is not a dump kind; use \"postgres\", \"mariadb\" or \"other\""
            )),
        }
    }

    /// The file name ending of its dumps.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Postgres | Self::Mariadb => ".sql",
            Self::Other => ".out",
        }
    }
}
