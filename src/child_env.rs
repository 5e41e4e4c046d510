//! The environment a child program starts with: cleared, then only what it needs. Lifeboat's own
//! environment holds Home Assistant's tokens (`SUPERVISOR_TOKEN`, `HA_TOKEN`) and the passwords
//! given as variables; a `command:` source, rclone and psql have no use for them, and a program
//! run with them could hand them on. Which variables a program gets is decided here from an
//! environment given as input ([`ChildEnv::new`]); only [`ChildEnv::inherited`] reads the
//! process's own.

use std::ffi::{OsStr, OsString};

/// Variables every child gets: where programs are, the home folder, time zone, language and the
/// temporary folder, and the system's certificate settings.
const COMMON: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TZ",
    "LANG",
    "LANGUAGE",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Which program a child is: each gets the common variables and its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// A `command:` source: the common variables (its configured `environment` is added by the
    /// source).
    Command,
    /// rclone: also `RCLONE_*` (`RCLONE_CONFIG`, `RCLONE_CONFIG_PASS` for an encrypted
    /// rclone.conf) and the proxy settings it honours.
    Rclone,
    /// psql: also `PG*` (`PGPASSWORD`, `PGPASSFILE`, `PGSSLMODE`…), which the person sets for
    /// the scratch server.
    Psql,
}

impl Program {
    fn takes(self, name: &str) -> bool {
        if COMMON.contains(&name) || name.starts_with("LC_") {
            return true;
        }
        match self {
            Self::Command => false,
            Self::Rclone => {
                name.starts_with("RCLONE_")
                    || matches!(
                        name,
                        "HTTP_PROXY"
                            | "HTTPS_PROXY"
                            | "NO_PROXY"
                            | "http_proxy"
                            | "https_proxy"
                            | "no_proxy"
                    )
            }
            Self::Psql => name.starts_with("PG"),
        }
    }
}

/// The variables one kind of child starts with.
#[derive(Clone, Default)]
pub struct ChildEnv {
    vars: Vec<(OsString, OsString)>,
}

/// Names only: values may be secrets.
impl std::fmt::Debug for ChildEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.vars.iter().map(|(k, _)| k))
            .finish()
    }
}

impl ChildEnv {
    /// What `program` takes of `environment`.
    pub fn new(
        program: Program,
        environment: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Self {
        Self {
            vars: environment
                .into_iter()
                .filter(|(k, _)| k.to_str().is_some_and(|k| program.takes(k)))
                .collect(),
        }
    }

    /// What `program` takes of this process's environment: the edge where it is read.
    pub fn inherited(program: Program) -> Self {
        Self::new(program, std::env::vars_os())
    }

    /// The variables, to give a command after `env_clear()`.
    pub fn vars(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// Whether `name` is among them.
    pub fn has(&self, name: &str) -> bool {
        self.vars.iter().any(|(k, _)| k == name)
    }

    /// Clears `cmd`'s environment and gives it these variables.
    pub fn apply<'c>(
        &self,
        cmd: &'c mut tokio::process::Command,
    ) -> &'c mut tokio::process::Command {
        cmd.env_clear().envs(self.vars())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn tokens_stay_behind_and_each_program_gets_its_own() {
        let given = env(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("LC_ALL", "C.UTF-8"),
            ("SUPERVISOR_TOKEN", "sv"),
            ("HA_TOKEN", "ha"),
            ("LIFEBOAT_WEBDAV_PASSWORD", "dav"),
            ("RCLONE_CONFIG_PASS", "rc"),
            ("PGPASSWORD", "pg"),
        ]);
        let command = ChildEnv::new(Program::Command, given.clone());
        let names = |e: &ChildEnv| {
            e.vars()
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&command), ["PATH", "HOME", "LC_ALL"]);
        let rclone = ChildEnv::new(Program::Rclone, given.clone());
        assert_eq!(
            names(&rclone),
            ["PATH", "HOME", "LC_ALL", "RCLONE_CONFIG_PASS"]
        );
        let psql = ChildEnv::new(Program::Psql, given);
        assert_eq!(names(&psql), ["PATH", "HOME", "LC_ALL", "PGPASSWORD"]);
        assert!(!format!("{psql:?}").contains("pg\""), "{psql:?}");
    }
}
