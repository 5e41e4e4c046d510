//! A `command:` source: any program's standard output (`pg_dumpall -U postgres`,
//! `docker exec db mysqldump …`), run without a shell from its list of words, streamed and
//! gzipped on the way unless asked not to. Its exit status ends the stream: a command that exits
//! non-zero (or is killed) fails the stream with its standard error's last lines, so the run
//! claims no copy; one that succeeds but wrote to standard error has those lines among the run's
//! warnings. Variables given in `environment` reach the command only, never a log: the command
//! is described by its program and arguments, with anything after `password=` or `-p` hidden.

use super::{Asked, Notes, Opened, Pending, Source, SourceError};
use crate::archive::BackupJson;
use crate::archive::content::{Compression, ContentSpec, DumpTool, Kind};
use crate::secret::Secret;
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
        }
    }
}

/// The command line for people and logs, with passwords hidden.
pub fn shown(argv: &[String]) -> String {
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for word in argv {
        let w = if hide_next {
            hide_next = false;
            "•••".to_owned()
        } else if let Some((key, _)) = word
            .split_once('=')
            .filter(|(k, _)| k.to_ascii_lowercase().contains("password"))
        {
            format!("{key}=•••")
        } else if word == "--password" {
            hide_next = true;
            word.clone()
        } else if word.starts_with("-p") && word.len() > 2 && !word.starts_with("--") {
            "-p•••".to_owned()
        } else {
            word.clone()
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
        let stderr_done = tokio::spawn(async move {
            let mut r = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = r.next_line().await {
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
            Box::new(super::dir::described(&self.name, "dump", now)),
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
            "pg_dump --dbname=postgresql://u@h/db password=•••"
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
