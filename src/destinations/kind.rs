//! The kinds of destination, and what each can do that the pipeline must know about.

/// What kind of place a destination is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Local,
    S3,
    Azure,
    Webdav,
    Sftp,
    Smb,
    Rclone,
}

impl Kind {
    /// Every kind, in the order people are shown them.
    pub const ALL: [Self; 7] = [
        Self::Local,
        Self::S3,
        Self::Azure,
        Self::Webdav,
        Self::Sftp,
        Self::Smb,
        Self::Rclone,
    ];

    /// The kind whose word is `word` (`s3`).
    pub fn named(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == word)
    }

    /// The word the options and URLs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::S3 => "s3",
            Self::Azure => "azure",
            Self::Webdav => "webdav",
            Self::Sftp => "sftp",
            Self::Smb => "smb",
            Self::Rclone => "rclone",
        }
    }

    /// A folder on a disk this machine mounts: its free space can be measured, and a missing
    /// folder that held copies is a disk that is not mounted (never stood in for by a new one).
    pub fn is_local_disk(self) -> bool {
        self == Self::Local
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
