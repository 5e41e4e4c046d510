//! Running the `rclone` program: one process per operation, its arguments given as a list (never
//! through a shell), its standard error read line by line as it goes. What rclone said and how it
//! exited become one [`StoreError`] whose kind decides what happens next: a remote that is not in
//! rclone.conf or a sign-in that expired waits for the person; a dropped connection or a killed
//! rclone is tried again later. Low-level retries rclone reports on its own (a cloud's rate
//! limits) are counted, so a run can mention them; rclone reports them only at `DEBUG`, though,
//! so at `INFO` (below) they go uncounted, as the S3 backend's always did.
//!
//! rclone runs at `INFO` (at `DEBUG` it prints its whole command line and more), with a cleared
//! environment ([`crate::child_env`]: no Home Assistant token reaches it), and every line it says
//! passes the secret scan ([`crate::secret::scrub`]) before it is kept or quoted.

use crate::child_env::{ChildEnv, Program};
use crate::destinations::probe::Cause;
use crate::destinations::{StoreError, StoreErrorKind};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// Lines of rclone's complaints kept for the error message.
const KEPT_LINES: usize = 4;
/// The most a listing or a small read may print.
pub const MAX_OUTPUT: u64 = 16 << 20;

/// How to start rclone for one remote.
#[derive(Debug, Clone)]
pub struct Tool {
    pub program: PathBuf,
    pub config: Option<PathBuf>,
    /// The remote's name (before the colon), for messages.
    pub remote_name: String,
    /// What runs should mention, kept until taken ([`crate::destinations::Store::remarks`]).
    pub remarks: Arc<Mutex<Vec<String>>>,
}

/// What rclone wrote to its standard error.
#[derive(Debug, Default)]
pub struct Said {
    /// Its last complaints, without their timestamps.
    pub lines: VecDeque<String>,
    /// Requests rclone tried again on its own.
    pub retries: u32,
    /// Of those, the ones after the service said to slow down.
    pub rate_limited: u32,
}

impl Said {
    fn hear(&mut self, line: &str) {
        let line = &crate::secret::scrub(line, &[]);
        let lower = line.to_ascii_lowercase();
        if lower.contains("low level retry") || lower.contains("pacer: rate limited") {
            if lower.contains("low level retry") {
                self.retries += 1;
            }
            if ["ratelimit", "rate limit", "429", "too many requests"]
                .iter()
                .any(|w| lower.contains(w))
                && lower.contains("low level retry")
            {
                self.rate_limited += 1;
            }
            return;
        }
        // A continuation of the line before (rclone indents the rest of a long error).
        if line.starts_with([' ', '\t']) {
            if let Some(last) = self.lines.back_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
            return;
        }
        let text = without_timestamp(line);
        if text.starts_with("DEBUG") || text.starts_with("INFO") || text.trim().is_empty() {
            return;
        }
        if self.lines.len() == KEPT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(text.trim().to_owned());
    }

    /// The line that says best what went wrong: rclone's closing "Failed to …", else its last
    /// error.
    fn reason(&self) -> Option<String> {
        self.lines
            .iter()
            .rev()
            .find(|l| l.starts_with("Failed to"))
            .or_else(|| self.lines.iter().rev().find(|l| l.contains("ERROR")))
            .or_else(|| self.lines.back())
            .map(|l| l.trim_start_matches("ERROR :").trim().to_owned())
    }

    fn all(&self) -> String {
        self.lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// For the run's timeline: how often rclone had to try again.
    pub fn remark(&self) -> Option<String> {
        (self.retries > 0).then(|| {
            if self.rate_limited > 0 {
                format!(
                    "rclone retried {} requests on its own, {} of them after the service's rate limits",
                    self.retries, self.rate_limited
                )
            } else {
                format!("rclone retried {} requests on its own", self.retries)
            }
        })
    }
}

/// `2026/12/02 21:33:28 ERROR : …` → `ERROR : …`.
fn without_timestamp(line: &str) -> &str {
    let b = line.as_bytes();
    let stamped = b.len() > 20
        && b[4] == b'/'
        && b[7] == b'/'
        && b[10] == b' '
        && b[13] == b':'
        && b[19] == b' ';
    if stamped { &line[20..] } else { line }
}

/// Reads rclone's standard error to its end.
pub async fn listen(stderr: impl AsyncRead + Unpin) -> Said {
    let mut said = Said::default();
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        said.hear(&line);
    }
    said
}

impl Tool {
    /// `rclone [--config FILE] ARGS…`, standard output and error piped, killed if dropped, with
    /// a cleared environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        ChildEnv::inherited(Program::Rclone).apply(&mut cmd);
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        cmd.args(args)
            // Lifeboat's own retries decide; rclone's low-level retries (rate limits) stay on.
            .args(["--retries", "1", "--stats", "0", "--log-level", "INFO"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Starts `cmd`.
    ///
    /// # Errors
    /// `Config` when the program is missing or cannot be run.
    pub fn spawn(&self, mut cmd: Command) -> Result<Child, StoreError> {
        cmd.spawn().map_err(|e| {
            let program = self.program.display();
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "the rclone program ({program}) is not installed or not on PATH: the add-on \
                     image carries it; elsewhere install rclone (https://rclone.org/install/)"
                ),
                _ => format!("rclone ({program}) could not be started: {e}"),
            };
            StoreError::new(StoreErrorKind::Config, why)
        })
    }

    /// Runs `args` to the end; returns what rclone printed.
    ///
    /// # Errors
    /// What rclone said, classified.
    pub async fn run(&self, what: &str, args: &[&str]) -> Result<Vec<u8>, StoreError> {
        use tokio::io::AsyncReadExt;
        let mut child = self.spawn(self.command(args))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let heard = async {
            match stderr {
                Some(e) => listen(e).await,
                None => Said::default(),
            }
        };
        let read = async {
            let mut out = Vec::new();
            if let Some(o) = stdout {
                o.take(MAX_OUTPUT).read_to_end(&mut out).await.map(|_| out)
            } else {
                Ok(out)
            }
        };
        let (said, out) = tokio::join!(heard, read);
        self.remember(&said);
        let status = child
            .wait()
            .await
            .map_err(|e| StoreError::unavailable(format!("{what}: waiting for rclone: {e}")))?;
        if status.success() {
            out.map_err(|e| {
                StoreError::unavailable(format!("{what}: reading rclone's answer: {e}"))
            })
        } else {
            Err(self.failure(what, status, &said).await)
        }
    }

    /// Keeps what `said` holds worth mentioning.
    pub fn remember(&self, said: &Said) {
        if let Some(r) = said.remark()
            && let Ok(mut all) = self.remarks.lock()
        {
            all.push(r);
        }
    }

    /// Takes what was kept.
    pub fn take_remarks(&self) -> Vec<String> {
        self.remarks
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// The error for an rclone that ended with `status` after saying `said`.
    pub async fn failure(&self, what: &str, status: ExitStatus, said: &Said) -> StoreError {
        let reason = said.reason().unwrap_or_else(|| match status.code() {
            Some(code) => format!("rclone ended with status {code}"),
            None => "rclone was stopped before it finished".to_owned(),
        });
        let all = said.all().to_ascii_lowercase();
        let name = &self.remote_name;
        if all.contains("didn't find section in config file") {
            return StoreError::new(StoreErrorKind::Config, self.no_such_remote().await);
        }
        if [
            "couldn't fetch token",
            "cannot fetch token",
            "invalid_grant",
            "token expired",
            "maybe it has expired",
            "token has been expired or revoked",
            "unauthorized_client",
            "expired_access_token",
            "invalid_access_token",
        ]
        .iter()
        .any(|w| all.contains(w))
        {
            return StoreError::new(
                StoreErrorKind::Denied,
                format!(
                    "{what}: the sign-in to {name:?} has expired or was revoked; connect it again \
                     on the dashboard (Add a cloud drive, same name) or with rclone config \
                     reconnect {name}: ({reason})"
                ),
            )
            .because(Cause::Credentials);
        }
        let message = format!("{what}: {reason}");
        if ["ratelimit", "rate limit", "too many requests"]
            .iter()
            .any(|w| all.contains(w))
        {
            return StoreError::unavailable(format!(
                "{message} (the service's rate limit: the copy is sent again later)"
            ));
        }
        // The sign-in refused (a 401, a bad signature or key), or signed in and refused (403).
        if [
            "status code: 401",
            " 401 ",
            "401 unauthorized",
            "not authorized",
            "signaturedoesnotmatch",
            "invalidaccesskeyid",
            "unable to authenticate",
        ]
        .iter()
        .any(|w| all.contains(w))
        {
            return StoreError::new(StoreErrorKind::Denied, message).because(Cause::Credentials);
        }
        if [
            "status code: 403",
            " 403 ",
            "accessdenied",
            "access denied",
            "permission denied",
            "forbidden",
        ]
        .iter()
        .any(|w| all.contains(w))
        {
            return StoreError::new(StoreErrorKind::Denied, message);
        }
        if matches!(status.code(), Some(3 | 4))
            || [
                "doesn't exist",
                "directory not found",
                "object not found",
                "no such file",
                "file not found",
            ]
            .iter()
            .any(|w| all.contains(w))
        {
            return StoreError::new(StoreErrorKind::NotFound, message);
        }
        match status.code() {
            // Fatal (an account suspended) or a usage error: the same again cannot help.
            Some(7) => StoreError::new(StoreErrorKind::Other, message),
            Some(1) if all.contains("usage:") || all.contains("unknown flag") => {
                StoreError::new(StoreErrorKind::Config, message)
            }
            // Killed mid-way, a connection dropped, a server down, a limit for today:
            // StoreError notices a full drive; the rest may pass.
            _ => StoreError::unavailable(message),
        }
    }

    /// Says that the remote is not in rclone.conf, naming the ones that are.
    async fn no_such_remote(&self) -> String {
        let name = &self.remote_name;
        let file = match &self.config {
            Some(c) => c.display().to_string(),
            None => "rclone's own rclone.conf".to_owned(),
        };
        if let Some(c) = &self.config
            && !tokio::fs::try_exists(c).await.unwrap_or(false)
        {
            return format!(
                "there is no remote {name:?}: {file} does not exist yet; connect the drive on the \
                 dashboard (Add a cloud drive) or point rclone_config at your rclone.conf"
            );
        }
        // Only for the message: no answer leaves the list out.
        let listed = match self.spawn(self.command(&["listremotes"])) {
            Ok(child) => child.wait_with_output().await.ok(),
            Err(_) => None,
        };
        let known = listed
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(|l| l.trim_end_matches(':').to_owned())
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let has = if known.is_empty() {
            "it has none".to_owned()
        } else {
            format!("it has {}", known.join(", "))
        };
        format!(
            "there is no remote {name:?} in {file} ({has}); check the name's spelling, or connect \
             the drive on the dashboard (Add a cloud drive)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(text: &str) -> Said {
        let mut s = Said::default();
        for l in text.lines() {
            s.hear(l);
        }
        s
    }

    #[test]
    fn rclone_s_own_retries_are_counted_and_its_complaint_kept() {
        let s = said(
            "2026/12/02 21:33:28 DEBUG : pacer: low level retry 1/10 (error googleapi: Error 403: User Rate Limit Exceeded, userRateLimitExceeded)\n\
             2026/12/02 21:33:29 DEBUG : pacer: Rate limited, increasing sleep to 1.5s\n\
             2026/12/02 21:33:30 DEBUG : pacer: low level retry 2/10 (error read: connection reset by peer)\n\
             2026/12/02 21:33:31 DEBUG : Sending chunk 0 length 8388608\n\
             2026/12/02 21:33:31 ERROR : Attempt 1/1 failed with 1 errors and: SignatureDoesNotMatch:\n\
             \tstatus code: 403, request id: , host id:\n\
             2026/12/02 21:33:31 Failed to lsjson: SignatureDoesNotMatch:",
        );
        assert_eq!((s.retries, s.rate_limited), (2, 1));
        assert_eq!(
            s.remark().unwrap(),
            "rclone retried 2 requests on its own, 1 of them after the service's rate limits"
        );
        assert_eq!(
            s.reason().unwrap(),
            "Failed to lsjson: SignatureDoesNotMatch:"
        );
        assert!(s.all().contains("status code: 403"), "{}", s.all());
        assert!(said("").remark().is_none());
    }

    /// Issue 38: what rclone says passes the secret scan before it is kept or quoted.
    #[test]
    fn rclone_s_lines_are_scanned_for_secrets() {
        let s = said(
            "2026/12/02 21:33:31 ERROR : webdav root '': Get \"https://ann:dav-pw-1@dav.example/x\": refused\n\
             2026/12/02 21:33:31 ERROR : token = {\"access_token\":\"ya29.tok-pw-2\"}\n\
             2026/12/02 21:33:31 Failed to lsjson: Authorization: Bearer bearer-pw-3",
        );
        let all = s.all();
        for pw in ["dav-pw-1", "tok-pw-2", "bearer-pw-3"] {
            assert!(!all.contains(pw), "{pw} in {all}");
        }
        assert!(s.reason().unwrap().starts_with("Failed to lsjson"), "{all}");
    }

    /// Issue 38: rclone runs at INFO (at DEBUG it prints its arguments) and without Lifeboat's
    /// environment.
    #[test]
    fn rclone_runs_quietly_with_a_cleared_environment() {
        let tool = Tool {
            program: "rclone".into(),
            config: None,
            remote_name: "r".into(),
            remarks: Arc::default(),
        };
        let cmd = tool.command(&["lsjson", "r:"]);
        let args: Vec<String> = cmd
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let level = args.iter().position(|a| a == "--log-level").unwrap();
        assert!(
            matches!(args[level + 1].as_str(), "INFO" | "NOTICE" | "ERROR"),
            "{args:?}"
        );
        // Only variables rclone may take are given: cargo's own are not among them.
        let given: Vec<String> = cmd
            .as_std()
            .get_envs()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert!(given.iter().any(|k| k == "PATH"), "{given:?}");
        assert!(given.iter().all(|k| !k.starts_with("CARGO")), "{given:?}");
    }
}
