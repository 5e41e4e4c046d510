//! A `command:` source: any program's standard output (`pg_dumpall -U postgres`,
//! `docker exec db mysqldump …`), run without a shell from its list of words, streamed and
//! gzipped on the way unless asked not to. Its exit status ends the stream: a command that exits
//! non-zero (or is killed) fails the stream with its standard error's last lines, so the run
//! claims no copy; one that succeeds but wrote to standard error has those lines among the run's
//! warnings. The command starts with a cleared environment ([`crate::child_env`]: no Home
//! Assistant token reaches it) plus the variables given in `environment`, which reach the command
//! only, never a log. The command is described by its program and arguments with what looks like
//! a secret hidden (a URL's user and password, `password=…`, the word after `--password`, `-p…`),
//! and what it says on standard error passes the same scan ([`crate::secret::scrub`]).

use super::{Asked, Notes, Opened, Pending, Source, SourceError};
use crate::archive::content::{Compression, ContentSpec, DumpTool, Kind};
use crate::archive::{BackupJson, BackupKind};
use crate::child_env::{ChildEnv, Program};
use crate::secret::{self, Secret};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncBufReadExt, AsyncRead, ReadBuf};
use tokio::process::{Child, ChildStdout};

/// Lines of standard error kept (the last ones).
const STDERR_LINES: usize = 20;

/// A command whose output is the backup.
pub struct CommandSource {
    name: String,
    argv: Vec<String>,
    environment: Vec<(String, Secret)>,
    compression: Compression,
    tool: DumpTool,
    /// What the command takes of Lifeboat's own environment.
    inherited: ChildEnv,
}

impl CommandSource {
    pub fn new(
        name: &str,
        argv: Vec<String>,
        environment: Vec<(String, Secret)>,
        compression: Compression,
        tool: DumpTool,
    ) -> Self {
        Self {
            name: name.to_owned(),
            argv,
            environment,
            compression,
            tool,
            inherited: ChildEnv::inherited(Program::Command),
        }
    }

    /// The same source, with `inherited` as what it takes of Lifeboat's environment.
    #[must_use]
    pub fn with_inherited(mut self, inherited: ChildEnv) -> Self {
        self.inherited = inherited;
        self
    }
}

/// What stands in for a hidden part of a command line.
const HIDDEN: &str = "•••";

/// The command line for people, logs, history, the kit and Home Assistant's events, with what
/// looks like a secret hidden: a URL's user and password, the value of a secret-looking
/// `name=value` (inside a word too: `"host=h password=x"`), the word after a secret-looking flag
/// (`--password x`, `--api-token x`), MySQL's `-pSECRET`, a `Bearer` token.
pub fn shown(argv: &[String]) -> String {
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for word in argv {
        let w = if hide_next {
            hide_next = false;
            HIDDEN.to_owned()
        } else if word.starts_with("-p") && word.len() > 2 && !word.starts_with("--") {
            format!("-p{HIDDEN}")
        } else if word.starts_with('-') && !word.contains('=') && secret::secret_name(word) {
            hide_next = true;
            word.clone()
        } else {
            secret::scrub_with(word, &[], HIDDEN)
        };
        out.push(if w.contains(' ') { format!("{w:?}") } else { w });
    }
    out.join(" ")
}

#[async_trait]
impl Source for CommandSource {
    fn describe(&self) -> String {
        format!("command:{}", shown(&self.argv))
    }

    async fn pending(
        &self,
        _shipped: &HashSet<String>,
        now: DateTime<Utc>,
        _asked: &Asked<'_>,
    ) -> Result<Vec<Pending>, SourceError> {
        Ok(super::made_now(
            self,
            "command",
            &self.name,
            self.describe(),
            now,
        ))
    }

    async fn open(&self, _pending: &Pending) -> Result<Opened, SourceError> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err(SourceError::BackupFailed("the command is empty".into()));
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        self.inherited.apply(&mut cmd);
        for (k, v) in &self.environment {
            cmd.env(k, v.expose());
        }
        let mut child = cmd.spawn().map_err(|e| {
            SourceError::BackupFailed(format!(
                "cannot run {}: {e}{}",
                shown(&self.argv),
                if e.kind() == std::io::ErrorKind::NotFound {
                    " (is it installed, and on the PATH?)"
                } else {
                    ""
                }
            ))
        })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(SourceError::BackupFailed(
                "the command's output could not be read".into(),
            ));
        };
        let tail: Notes = Arc::default();
        let lines = tail.clone();
        // What the command says may quote its own secrets: the configured ones are known.
        let known: Vec<Secret> = self.environment.iter().map(|(_, v)| v.clone()).collect();
        let stderr_done = tokio::spawn(async move {
            let mut r = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = r.next_line().await {
                let line = secret::scrub(&line, &known);
                if let Ok(mut l) = lines.lock() {
                    l.push(line.chars().take(500).collect());
                    if l.len() > STDERR_LINES {
                        l.remove(0);
                    }
                }
            }
        });
        let notes: Notes = Arc::default();
        let output = Output {
            stdout,
            child: Some(child),
            waiting: None,
            stderr: tail,
            stderr_done: Some(stderr_done),
            notes: notes.clone(),
            program: shown(std::slice::from_ref(program)),
        };
        let stream: Box<dyn AsyncRead + Send + Unpin> = Box::new(output);
        let stream = match self.compression {
            Compression::None => stream,
            Compression::Gzip => super::pipe::gzip(stream),
        };
        Ok(Opened {
            stream,
            size: None,
            notes: Some(notes),
        })
    }

    fn content(&self, now: DateTime<Utc>) -> Option<(ContentSpec, Box<BackupJson>)> {
        Some((
            ContentSpec {
                kind: Kind::Dump,
                compression: self.compression,
                tool: self.tool,
            },
            Box::new(super::dir::described(&self.name, BackupKind::Dump, now)),
        ))
    }

    fn creates_backups(&self) -> bool {
        false
    }

    fn owns_key(&self, key: &str) -> bool {
        super::named_key_of(key, "command", &self.name)
    }
}

type Waiting = Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>;

/// The command's standard output, ending in its exit status: an error unless it exited 0.
struct Output {
    stdout: ChildStdout,
    child: Option<Child>,
    waiting: Option<Waiting>,
    stderr: Notes,
    stderr_done: Option<tokio::task::JoinHandle<()>>,
    notes: Notes,
    program: String,
}

impl AsyncRead for Output {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.waiting.is_none() {
            let before = buf.filled().len();
            ready!(Pin::new(&mut self.stdout).poll_read(cx, buf))?;
            if buf.filled().len() > before {
                return Poll::Ready(Ok(()));
            }
            // Standard output ended: the stream ends as the command does.
            let (Some(mut child), Some(stderr_done)) = (self.child.take(), self.stderr_done.take())
            else {
                return Poll::Ready(Ok(()));
            };
            let stderr = self.stderr.clone();
            let notes = self.notes.clone();
            let program = self.program.clone();
            self.waiting = Some(Box::pin(async move {
                let status = child.wait().await?;
                // A process the command left behind may hold standard error open: what it said
                // so far is enough.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stderr_done).await;
                let said = stderr.lock().map(|l| l.clone()).unwrap_or_default();
                if status.success() {
                    if let Ok(mut n) = notes.lock() {
                        n.extend(said.into_iter().map(|l| format!("{program}: {l}")));
                    }
                    return Ok(());
                }
                let how = match status.code() {
                    Some(code) => format!("exited with status {code}"),
                    None => "was killed".to_owned(),
                };
                Err(std::io::Error::other(if said.is_empty() {
                    format!("{program} {how}")
                } else {
                    format!("{program} {how}: {}", said.join(" / "))
                }))
            }));
        }
        let Some(waiting) = self.waiting.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let r = ready!(waiting.as_mut().poll(cx));
        self.waiting = Some(Box::pin(std::future::ready(Ok(()))));
        Poll::Ready(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn passwords_are_hidden_from_the_description() {
        assert_eq!(
            shown(&words("mysqldump -psecret --all-databases")),
            "mysqldump -p••• --all-databases"
        );
        assert_eq!(
            shown(&words(
                "pg_dump --dbname=postgresql://u@h/db password=hunter2"
            )),
            "pg_dump --dbname=postgresql://•••@h/db password=•••"
        );
        assert_eq!(
            shown(&words("x --password hunter2 -U")),
            "x --password ••• -U"
        );
        assert_eq!(
            shown(&words("pg_dumpall -U postgres")),
            "pg_dumpall -U postgres"
        );
    }

    /// Issue 38: a password inside a URL, a connection string or after any secret-looking flag
    /// is hidden wherever the command is shown (history, pages, kit, Home Assistant's events).
    #[test]
    fn urls_connection_strings_and_secret_flags_are_hidden() {
        let argv = vec![
            "pg_dump".to_owned(),
            "--dbname=postgresql://backup:url-pw-1@db.local:5432/app".to_owned(),
            "postgres://other:url-pw-2@h/x".to_owned(),
            "host=db user=u password=conn-pw-3 dbname=app".to_owned(),
            "--api-token".to_owned(),
            "flag-pw-4".to_owned(),
            "--db-password=flag-pw-5".to_owned(),
            "-H".to_owned(),
            "Authorization: Bearer bearer-pw-6".to_owned(),
            "MYSQL_PWD=env-pw-7".to_owned(),
            "--no-password".to_owned(),
            "app".to_owned(),
        ];
        let s = shown(&argv);
        for pw in 1..=7 {
            assert!(!s.contains(&format!("pw-{pw}")), "pw-{pw} shows in {s}");
        }
        assert!(
            s.contains("postgresql://•••@db.local:5432/app")
                && s.contains("--no-password app")
                && s.contains("password=•••"),
            "{s}"
        );
    }

    async fn read(src: &CommandSource) -> (std::io::Result<Vec<u8>>, Vec<String>) {
        let now = Utc::now();
        let p = &src
            .pending(&HashSet::new(), now, &Asked::default())
            .await
            .unwrap()[0];
        let mut opened = src.open(p).await.unwrap();
        let mut out = Vec::new();
        let r = opened.stream.read_to_end(&mut out).await.map(|_| out);
        let notes = opened.notes.unwrap().lock().unwrap().clone();
        (r, notes)
    }

    /// Issue 38: the command gets no Home Assistant token, only the common variables and its
    /// own `environment`.
    #[tokio::test]
    async fn the_command_starts_with_a_cleared_environment() {
        let lifeboat_s = [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("LANG", "C.UTF-8".to_owned()),
            ("SUPERVISOR_TOKEN", "supervisor-secret".to_owned()),
            ("HA_TOKEN", "ha-secret".to_owned()),
        ]
        .map(|(k, v)| (std::ffi::OsString::from(k), std::ffi::OsString::from(v)));
        let src = CommandSource::new(
            "t",
            vec!["sh".into(), "-c".into(), "env".into()],
            vec![("PGHOST".into(), Secret::new("db.local"))],
            Compression::None,
            DumpTool::Other,
        )
        .with_inherited(ChildEnv::new(Program::Command, lifeboat_s));
        let (out, _) = read(&src).await;
        let env = String::from_utf8(out.unwrap()).unwrap();
        assert!(
            !env.contains("supervisor-secret") && !env.contains("ha-secret"),
            "{env}"
        );
        assert!(
            env.contains("PGHOST=db.local") && env.contains("LANG=C.UTF-8"),
            "{env}"
        );
        // Nothing else of this process's environment (cargo's own variables among it).
        let extra: Vec<&str> = env
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .filter(|k| !["PATH", "LANG", "PGHOST", "PWD", "SHLVL", "_", "OLDPWD"].contains(k))
            .collect();
        assert!(extra.is_empty(), "inherited: {extra:?}");
    }

    #[tokio::test]
    async fn the_exit_status_ends_the_stream() {
        let sh = |script: &str, env: Vec<(String, Secret)>| {
            CommandSource::new(
                "t",
                vec!["sh".into(), "-c".into(), script.into()],
                env,
                Compression::None,
                DumpTool::Other,
            )
        };
        let (out, notes) = read(&sh(
            "printf 'dump:%s' \"$SECRET\"; echo warned >&2",
            vec![("SECRET".into(), Secret::new("s3"))],
        ))
        .await;
        assert_eq!(out.unwrap(), b"dump:s3");
        assert_eq!(notes, ["sh: warned"]);
        let (out, _) = read(&sh(
            "printf partial; echo 'FATAL: no such role' >&2; exit 3",
            vec![],
        ))
        .await;
        let e = out.unwrap_err().to_string();
        assert!(
            e.contains("exited with status 3") && e.contains("FATAL: no such role"),
            "{e}"
        );
        let (out, _) = read(&sh("printf partial; kill -9 $$", vec![])).await;
        assert!(out.unwrap_err().to_string().contains("was killed"));
        // A process left behind with standard error open does not hold the stream's end.
        let left = sh(
            "(sleep 60 >&2 </dev/null >/dev/null &); printf done",
            vec![],
        );
        let (out, _) = tokio::time::timeout(std::time::Duration::from_secs(30), read(&left))
            .await
            .expect("the stream ended");
        assert_eq!(out.unwrap(), b"done");
        // What the command says is scanned like everything else.
        let (_, notes) = read(&sh(
            "echo \"connecting to postgresql://u:said-pw@h/db with $SECRET\" >&2",
            vec![("SECRET".into(), Secret::new("configured-pw"))],
        ))
        .await;
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            !notes[0].contains("said-pw") && !notes[0].contains("configured-pw"),
            "{notes:?}"
        );
    }

    /// Run apart from the others: under qemu-user (the aarch64 unit tests) glibc's posix_spawn
    /// runs as a plain fork, so a missing program is only found when it exits 127, and this one
    /// test is skipped there (scripts/release.sh).
    #[tokio::test]
    async fn a_missing_program_is_said_to_be_missing() {
        let missing = CommandSource::new(
            "t",
            words("/nonexistent/pg_dumpall"),
            vec![],
            Compression::None,
            DumpTool::Postgres,
        );
        let p = &missing
            .pending(&HashSet::new(), Utc::now(), &Asked::default())
            .await
            .unwrap()[0];
        let e = missing.open(p).await.err().unwrap().to_string();
        assert!(e.contains("is it installed"), "{e}");
    }
}
