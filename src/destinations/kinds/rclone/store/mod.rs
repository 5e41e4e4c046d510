//! Any storage the `rclone` program reaches (Google Drive, OneDrive, Dropbox and 70 more, with
//! rclone's registered sign-in clients and resumable uploads) as a destination on the shared frame
//! ([`super::staged`]): this module only says how to do the frame's file operations with rclone.
//!
//! One rclone process per operation, not a long-lived `rclone rcd`. Both were measured here
//! (Debian's rclone 1.60.1, a WebDAV remote on loopback, 20 listings, 100 MiB moved): a listing
//! costs 74 ms as a process and 14 ms through rcd's `operations/list`, a difference that does not
//! count beside an upload; 100 MiB went up in 360 ms through `rcat --size` and in 486 ms through
//! rcd's `operations/uploadfile`, which cannot be told the size, so drives that cannot stream
//! (OneDrive among them) would have rcd spool the whole backup to a temporary file; and a process
//! reads rclone.conf afresh each time, so a drive connected again on the dashboard is used at
//! once, with no daemon to keep alive or secure.
//!
//! - upload: `rclone rcat --size N` fed through its standard input. Told the exact size up front
//!   (the age file's size follows from the plain size), rclone streams to every backend and spools
//!   nothing to disk; without it, backends that cannot stream write a temporary file first, so a
//!   stream of unknown length (a `dir:` or `command:` source) is sent in parts of a known size
//!   ([`crate::destinations::parts`]).
//! - read back: `rclone cat`; its first bytes are awaited before the reader is handed out, so a
//!   missing file is `NotFound` at once, and a reader whose rclone fails half-way ends in an error,
//!   never in a short, clean end.
//! - list: `rclone lsjson --files-only`; delete: `rclone deletefile`; rename: `rclone moveto`
//!   (server-side where the backend can; Drive, which allows two files of one name, has the old
//!   one deleted first by rclone).
//!
//! rclone writes refreshed sign-in tokens back into its rclone.conf itself; Lifeboat only reads
//! and merges it ([`conf`]) and connects new drives ([`connect`]).

pub mod conf;
pub mod connect;
pub mod process;

use super::staged::{Remote, RemoteFile, Small, Staged, Written};
use super::{StoreError, StoreErrorKind};
use crate::destinations::kinds::rclone::RcloneSpec;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use process::{Said, Tool, listen};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::task::JoinHandle;

/// How much of rclone's output one read takes.
const READ_CHUNK: usize = 256 << 10;

/// A folder on an rclone remote.
pub struct Rclone {
    tool: Tool,
    /// `name:folder` as given.
    folder: String,
    silence: Duration,
}

/// The store on `spec`'s remote, given up after `silence` without progress.
pub fn store(spec: RcloneSpec, silence: Duration) -> Staged<Rclone> {
    Staged::new(Rclone::new(spec, silence), Small::patient(silence))
}

/// The remote's name, before its colon and settings (`gdrive` in `gdrive,chunk_size=8M:HA`).
pub fn remote_name(remote: &str) -> &str {
    let name = remote.split_once(':').map_or(remote, |(n, _)| n);
    name.split_once(',').map_or(name, |(n, _)| n)
}

impl Rclone {
    /// rclone on `spec`'s remote.
    pub fn new(spec: RcloneSpec, silence: Duration) -> Self {
        Self {
            tool: Tool {
                program: spec.program,
                config: spec.config,
                remote_name: remote_name(&spec.remote).to_owned(),
                remarks: Arc::default(),
            },
            folder: spec.remote,
            silence,
        }
    }

    /// `name` inside the folder, as rclone takes it. A name that is not one name inside the
    /// folder (`..`, `a/b`) is refused, never handed to rclone.
    fn path(&self, name: &str) -> Result<String, StoreError> {
        let name = super::names::single(name)?;
        Ok(if self.folder.ends_with([':', '/']) {
            format!("{}{name}", self.folder)
        } else {
            format!("{}/{name}", self.folder)
        })
    }

    /// Starts `rclone rcat` into `name`.
    fn upload(&self, name: &str, size: Option<u64>) -> Result<Upload, StoreError> {
        let path = self.path(name)?;
        let size = size.map(|s| s.to_string());
        let mut args = vec!["rcat"];
        if let Some(s) = &size {
            args.extend(["--size", s]);
        }
        args.push(&path);
        let mut cmd = self.tool.command(&args);
        cmd.stdin(std::process::Stdio::piped());
        let mut child = self.tool.spawn(cmd)?;
        let stdin = child.stdin.take();
        let said = child.stderr.take().map(|e| tokio::spawn(listen(e)));
        Ok(Upload {
            child,
            stdin,
            said,
            tool: self.tool.clone(),
            what: format!("uploading {name}"),
            silence: self.silence,
        })
    }

    /// Starts `rclone cat` on `name` and waits for its first bytes (or its end).
    async fn cat(&self, name: &str) -> Result<Download, StoreError> {
        let path = self.path(name)?;
        let what = format!("reading {name}");
        let mut child = self.tool.spawn(self.tool.command(&["cat", &path]))?;
        let said = child.stderr.take().map(|e| tokio::spawn(listen(e)));
        let Some(stdout) = child.stdout.take() else {
            return Err(StoreError::unavailable(format!(
                "{what}: rclone gave no output"
            )));
        };
        let mut download = Download {
            child,
            stdout,
            said,
            tool: self.tool.clone(),
            what,
            silence: self.silence,
            first: None,
        };
        let first = download.next_chunk().await?;
        if first.is_empty() {
            // rclone printed nothing and ended well: an empty file, or (on a bucket, where a
            // missing name reads as an empty folder) nothing there at all.
            download.end().await?;
            if !self.is_file(name).await? {
                return Err(StoreError::new(
                    StoreErrorKind::NotFound,
                    format!("reading {name}: it is not there"),
                ));
            }
        }
        download.first = Some(first);
        Ok(download)
    }

    /// Whether `name` is a file (`lsjson --stat`).
    async fn is_file(&self, name: &str) -> Result<bool, StoreError> {
        #[derive(serde::Deserialize)]
        struct Stat {
            #[serde(rename = "IsDir")]
            is_dir: bool,
        }
        let path = self.path(name)?;
        let out = match self
            .tool
            .run(
                &format!("looking for {name}"),
                &["lsjson", "--stat", "--no-mimetype", &path],
            )
            .await
        {
            Err(e) if e.kind == StoreErrorKind::NotFound => return Ok(false),
            other => other?,
        };
        Ok(serde_json::from_slice::<Stat>(&out).is_ok_and(|s| !s.is_dir))
    }
}

/// Waits for rclone's end: `Ok` when it ended well, else what it said, classified.
async fn ended(
    child: &mut Child,
    said: Option<JoinHandle<Said>>,
    tool: &Tool,
    what: &str,
) -> Result<(), StoreError> {
    let status = child
        .wait()
        .await
        .map_err(|e| StoreError::unavailable(format!("{what}: waiting for rclone: {e}")))?;
    let said = match said {
        Some(task) => task.await.unwrap_or_default(),
        None => Said::default(),
    };
    tool.remember(&said);
    if status.success() {
        Ok(())
    } else {
        Err(tool.failure(what, status, &said).await)
    }
}

/// An `rclone rcat` being fed.
struct Upload {
    child: Child,
    stdin: Option<ChildStdin>,
    said: Option<JoinHandle<Said>>,
    tool: Tool,
    what: String,
    silence: Duration,
}

impl Upload {
    /// rclone stopped taking data: why.
    async fn stopped(&mut self) -> StoreError {
        self.stdin = None;
        match ended(&mut self.child, self.said.take(), &self.tool, &self.what).await {
            Err(e) => e,
            Ok(()) => StoreError::unavailable(format!(
                "{}: rclone ended before it had every byte",
                self.what
            )),
        }
    }
}

#[async_trait]
impl RemoteFile for Upload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.stopped().await);
        };
        match tokio::time::timeout(self.silence, stdin.write_all(&chunk)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.stopped().await),
            Err(_) => Err(StoreError::unavailable(format!(
                "{}: rclone took no data for {} s",
                self.what,
                self.silence.as_secs()
            ))),
        }
    }

    async fn close(mut self: Box<Self>) -> Result<(), StoreError> {
        if let Some(mut stdin) = self.stdin.take() {
            // Its end tells rclone the file is complete; an error shows in how rclone ends.
            let _ = stdin.shutdown().await;
        }
        let this = &mut *self;
        match tokio::time::timeout(
            this.silence,
            ended(&mut this.child, this.said.take(), &this.tool, &this.what),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(format!(
                "{}: rclone did not finish within {} s of the last byte",
                this.what,
                this.silence.as_secs()
            ))),
        }
    }

    async fn discard(mut self: Box<Self>) {
        self.stdin = None;
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// An `rclone cat` being read.
struct Download {
    child: Child,
    stdout: ChildStdout,
    said: Option<JoinHandle<Said>>,
    tool: Tool,
    what: String,
    silence: Duration,
    /// Bytes read before the reader was handed out.
    first: Option<Bytes>,
}

impl Download {
    /// The next bytes rclone printed; empty at its end.
    async fn next_chunk(&mut self) -> Result<Bytes, StoreError> {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        match tokio::time::timeout(self.silence, self.stdout.read_buf(&mut buf)).await {
            Ok(Ok(_)) => Ok(buf.freeze()),
            Ok(Err(e)) => Err(StoreError::unavailable(format!("{}: {e}", self.what))),
            Err(_) => Err(StoreError::unavailable(format!(
                "{}: rclone sent nothing for {} s",
                self.what,
                self.silence.as_secs()
            ))),
        }
    }

    async fn end(&mut self) -> Result<(), StoreError> {
        ended(&mut self.child, self.said.take(), &self.tool, &self.what).await
    }

    /// The bytes as a reader that fails, rather than ends, when rclone does.
    fn into_reader(self) -> Box<dyn AsyncRead + Send + Unpin> {
        let stream = futures::stream::try_unfold(Some(self), |state| async move {
            let Some(mut d) = state else {
                return Ok::<_, std::io::Error>(None);
            };
            let chunk = match d.first.take() {
                Some(first) if !first.is_empty() => first,
                Some(_) => Bytes::new(),
                None => d.next_chunk().await.map_err(std::io::Error::other)?,
            };
            if chunk.is_empty() {
                d.end().await.map_err(std::io::Error::other)?;
                return Ok(None);
            }
            Ok(Some((chunk, Some(d))))
        });
        Box::new(tokio_util::io::StreamReader::new(Box::pin(stream)))
    }
}

#[async_trait]
impl Remote for Rclone {
    async fn make_folder(&self) -> Result<(), StoreError> {
        self.tool
            .run(
                &format!("creating {}", self.folder),
                &["mkdir", &self.folder],
            )
            .await
            .map(drop)
    }

    async fn create(
        &self,
        name: &str,
        size: Option<u64>,
    ) -> Result<Box<dyn RemoteFile>, StoreError> {
        Ok(Box::new(self.upload(name, size)?))
    }

    async fn put(&self, name: &str, data: Bytes) -> Result<(), StoreError> {
        let mut upload = Box::new(self.upload(name, Some(data.len() as u64))?);
        upload.write(data).await?;
        upload.close().await
    }

    async fn rename(&self, from: &str, to: &str, _written: Written) -> Result<(), StoreError> {
        self.tool
            .run(
                &format!("moving {to} into place"),
                &["moveto", &self.path(from)?, &self.path(to)?],
            )
            .await
            .map(drop)
    }

    async fn remove(&self, name: &str) -> Result<(), StoreError> {
        self.tool
            .run(
                &format!("deleting {name}"),
                &["deletefile", &self.path(name)?],
            )
            .await
            .map(drop)
    }

    async fn names(&self) -> Result<Vec<String>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(rename = "Name")]
            name: String,
        }
        let what = format!("listing {}", self.folder);
        let out = self
            .tool
            .run(
                &what,
                &[
                    "lsjson",
                    "--files-only",
                    "--no-mimetype",
                    "--no-modtime",
                    &self.folder,
                ],
            )
            .await?;
        let entries: Vec<Entry> = serde_json::from_slice(&out).map_err(|e| {
            StoreError::unavailable(format!("{what}: rclone's listing did not read: {e}"))
        })?;
        Ok(entries.into_iter().map(|e| e.name).collect())
    }

    async fn open(&self, name: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        Ok(self.cat(name).await?.into_reader())
    }

    async fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let mut reader = self.cat(name).await?.into_reader().take(limit + 1);
        let mut out = Vec::new();
        reader
            .read_to_end(&mut out)
            .await
            .map_err(|e| StoreError::unavailable(format!("reading {name}: {e}")))?;
        if out.len() as u64 > limit {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                format!("{name} is more than the {limit} bytes expected"),
            ));
        }
        Ok(out)
    }

    /// `rcat` without `--size` spools to a temporary file for every backend that needs the
    /// size first; which do is rclone's business, so every such stream goes in parts.
    fn takes_unknown_length(&self) -> bool {
        false
    }

    fn remarks(&self) -> Vec<String> {
        self.tool.take_remarks()
    }

    /// The remote's section of rclone.conf, digested: connecting the drive again (or for the
    /// first time) changes it. Read from the small file each time it is asked (the retry poll,
    /// once a minute); `None` when rclone's own default file is used, which Lifeboat does not
    /// look for.
    fn outside_settings(&self) -> Option<String> {
        use sha2::Digest;
        let path = self.tool.config.as_ref()?;
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let section = conf::Conf::parse(&text, "rclone.conf")
            .ok()
            .and_then(|c| c.get(&self.tool.remote_name).map(conf::Section::text));
        let digest = sha2::Sha256::digest(section.unwrap_or_default().as_bytes());
        Some(hex::encode(&digest[..8]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_inside_the_folder_as_rclone_takes_them() {
        let at = |remote: &str| {
            Rclone::new(
                RcloneSpec {
                    remote: remote.into(),
                    config: None,
                    program: "rclone".into(),
                },
                Duration::from_secs(1),
            )
        };
        assert_eq!(at("gdrive:").path("a.tar.age").unwrap(), "gdrive:a.tar.age");
        assert_eq!(
            at("gdrive:Home Assistant/lifeboat")
                .path("a.tar.age")
                .unwrap(),
            "gdrive:Home Assistant/lifeboat/a.tar.age"
        );
        assert_eq!(at("nas:/srv/ha/").path("x").unwrap(), "nas:/srv/ha/x");
        for bad in ["..", "../x", "/abs", "a/../../b", "..\\x", ""] {
            assert!(at("nas:/srv/ha/").path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(remote_name("gdrive,chunk_size=64M:HA"), "gdrive");
        assert_eq!(remote_name("my drive:HA"), "my drive");
    }
}
