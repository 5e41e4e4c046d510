//! Commands from Home Assistant automations: one JSON line per `hassio.app_stdin` /
//! `hassio.addon_stdin` call on stdin, or a `lifeboat_command` event on Home Assistant's bus.
//! Every command is answered with a `lifeboat_command_result` event; unknown or malformed input
//! gets an error answer, never a crash.
//!
//! - `{"command": "backup", "name": "Before upgrade", "destinations": ["nas"],
//!   "partial": {"homeassistant": true, "addons": ["core_mosquitto"], "folders": ["share"]}}` — queue
//!   a backup (every field but `command` optional; `"sources": ["postgres"]` backs up those
//!   sources instead of the first)
//! - `{"command": "verify"}` — read the newest copy on every destination back against its manifest
//!   (a job on the one queue, its verdicts recorded as checks like any re-verification)
//! - `{"command": "prune", "dry_run": true}` — apply every destination's retention policy (or, with
//!   `dry_run`, only say what it would delete and why)
//! - `{"command": "status"}` — state, last backup, problems, newest copy per destination
//! - `{"command": "update", "entity_id": "update.home_assistant_core_update"}` (or `"addon":
//!   "core_mosquitto"`, and optionally `"min_verified": 2`) — the safe update: back up off-site,
//!   require verified copies, then install ([`crate::pipeline::safe_update`]); answered when it
//!   has ended, and told again as a `lifeboat_update_result` event
//!
//! Any command may carry an `"id"`, echoed in its answer so an automation can match them. A bare
//! string (`"backup"`) is taken as `{"command": "backup"}`: Home Assistant JSON-quotes string input.

use crate::destinations::Destination;
use crate::ha::core_api::HaApi;
use crate::history::{History, HistoryError};
use crate::jobs::{Job, TriggerError, Triggers};
use crate::pipeline::plan::{Refusal, check_destination_names};
use crate::pipeline::reverify::Pick;
use crate::pipeline::run::RunRequest;
use crate::report::{Summary, Watch};
use crate::source::Partial;
use serde::Deserialize;
use serde_json::{Value, json};

/// The longest command line read; longer input is refused.
pub const MAX_LINE: usize = 64 * 1024;

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Backup {
        name: Option<String>,
        destinations: Vec<String>,
        partial: Option<Partial>,
        /// Which sources, by name; the first (Home Assistant) when empty.
        sources: Vec<String>,
    },
    Verify,
    Prune {
        dry_run: bool,
    },
    Status,
    Update {
        /// An `update.*` entity id or an add-on slug.
        target: String,
        min_verified: Option<usize>,
    },
}

impl Command {
    fn word(&self) -> &'static str {
        match self {
            Self::Backup { .. } => "backup",
            Self::Verify => "verify",
            Self::Prune { .. } => "prune",
            Self::Status => "status",
            Self::Update { .. } => "update",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    command: String,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    destinations: Option<Vec<String>>,
    #[serde(default)]
    partial: Option<Partial>,
    #[serde(default)]
    sources: Option<Vec<String>>,
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    entity_id: Option<String>,
    #[serde(default)]
    addon: Option<String>,
    #[serde(default)]
    min_verified: Option<usize>,
}

/// A command with the id to answer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Option<Value>,
    pub command: Command,
}

/// Why input is not a command; the message is what the answer says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Parses one command from JSON (an object, or a bare command word as a JSON string).
///
/// # Errors
/// [`Refused`] saying what is wrong and what is accepted.
pub fn parse(value: Value) -> Result<Request, Refused> {
    let value = match value {
        Value::String(word) => json!({ "command": word }),
        v @ Value::Object(_) => v,
        other => {
            return Err(Refused(format!(
                "expected an object like {{\"command\": \"backup\"}}, got {other}"
            )));
        }
    };
    let raw: Raw =
        serde_json::from_value(value).map_err(|e| Refused(format!("not a command: {e}")))?;
    let backup_only = raw.name.is_some()
        || raw.destinations.is_some()
        || raw.partial.is_some()
        || raw.sources.is_some();
    if let Some(p) = &raw.partial {
        p.check().map_err(|e| Refused(format!("partial: {e}")))?;
    }
    let command = match raw.command.as_str() {
        "backup" => Command::Backup {
            name: raw.name.filter(|n| !n.trim().is_empty()),
            destinations: raw.destinations.unwrap_or_default(),
            partial: raw.partial,
            sources: raw.sources.unwrap_or_default(),
        },
        "verify" => Command::Verify,
        "prune" => Command::Prune {
            dry_run: raw.dry_run.unwrap_or(false),
        },
        "status" => Command::Status,
        "update" => update_command(&raw)?,
        other => {
            return Err(Refused(format!(
                "unknown command {other:?}; Lifeboat knows backup, verify, prune, status and update"
            )));
        }
    };
    let update_only = raw.entity_id.is_some() || raw.addon.is_some() || raw.min_verified.is_some();
    if update_only && !matches!(command, Command::Update { .. }) {
        return Err(Refused(format!(
            "{} takes no entity_id, addon or min_verified",
            command.word()
        )));
    }
    if backup_only && !matches!(command, Command::Backup { .. }) {
        return Err(Refused(format!(
            "{} takes no name, destinations, partial or sources",
            command.word()
        )));
    }
    if raw.dry_run.is_some() && !matches!(command, Command::Prune { .. }) {
        return Err(Refused(format!("{} takes no dry_run", command.word())));
    }
    Ok(Request {
        id: raw.id,
        command,
    })
}

/// An `update` command: exactly one of `entity_id` (an `update.*` entity) and `addon` (a slug).
fn update_command(raw: &Raw) -> Result<Command, Refused> {
    let target = match (&raw.entity_id, &raw.addon) {
        (Some(e), None) if e.trim().starts_with("update.") => e.trim().to_owned(),
        (Some(e), None) => {
            return Err(Refused(format!(
                "entity_id {e:?} is not an update entity (update.…)"
            )));
        }
        (None, Some(a)) if !a.trim().is_empty() => a.trim().to_owned(),
        _ => {
            return Err(Refused(
                "update needs either entity_id (an update.… entity) or addon (an add-on slug such \
                 as core_mosquitto)"
                    .into(),
            ));
        }
    };
    if raw.min_verified == Some(0) {
        return Err(Refused(
            "min_verified must be at least 1: the update waits for a verified copy".into(),
        ));
    }
    Ok(Command::Update {
        target,
        min_verified: raw.min_verified,
    })
}

/// Parses one stdin line.
///
/// # Errors
/// [`Refused`] for a line that is not JSON or not a command.
pub fn parse_line(line: &str) -> Result<Request, Refused> {
    let value: Value = serde_json::from_str(line.trim())
        .map_err(|e| Refused(format!("not JSON ({e}); send one JSON object per line")))?;
    parse(value)
}

/// Carries commands out and answers them.
#[derive(Clone)]
pub struct Handler {
    pub triggers: Triggers,
    pub history: History,
    pub destinations: Vec<Destination>,
    /// Staleness and the clock, for `status`.
    pub watch: Watch,
    /// Where answers go; without it they are only logged.
    pub api: Option<HaApi>,
    /// The origin put in each answer (`stdin` or `event`).
    pub origin: &'static str,
    /// How many verified copies a safe update waits for, unless the command says.
    pub min_verified: usize,
}

/// Why a command was not carried out, as its answer says.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error("there is no source named {unknown:?}: only one source is configured")]
    NoSources { unknown: String },
    #[error("there is no source named {unknown:?}; the sources are {known}")]
    NoSource { unknown: String, known: String },
    #[error(transparent)]
    Destinations(#[from] Refusal),
    #[error(transparent)]
    Queue(#[from] TriggerError),
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The job ran and says why it did not do what was asked.
    #[error("{0}")]
    Job(String),
}

impl Handler {
    /// Handles raw input and fires the answer.
    pub async fn handle(&self, input: Result<Value, Refused>) -> Value {
        self.answer(input.and_then(parse)).await
    }

    /// Carries out a parsed command (or says why it is not one) and fires the answer.
    async fn answer(&self, parsed: Result<Request, Refused>) -> Value {
        let answer = match parsed {
            Err(e) => json!({"ok": false, "error": e.0, "source": self.origin}),
            Ok(req) => {
                let mut a = match self.execute(&req.command).await {
                    Ok(result) => json!({"ok": true, "result": result}),
                    Err(e) => json!({"ok": false, "error": e.to_string()}),
                };
                a["command"] = json!(req.command.word());
                a["source"] = json!(self.origin);
                if let Some(id) = req.id {
                    a["id"] = id;
                }
                a
            }
        };
        tracing::info!("command answer: {answer}");
        if let Some(api) = &self.api
            && let Err(e) = api.fire_event("lifeboat_command_result", &answer).await
        {
            tracing::warn!("answering the command: {e}");
        }
        answer
    }

    async fn execute(&self, command: &Command) -> Result<Value, CommandError> {
        match command {
            Command::Backup {
                name,
                destinations,
                partial,
                sources,
            } => {
                self.check_sources(sources)?;
                let request = RunRequest {
                    trigger: self.origin.to_owned(),
                    name: name.clone(),
                    destinations: destinations.clone(),
                    partial: partial.clone(),
                    sources: sources.clone(),
                    ..RunRequest::default()
                };
                check_destination_names(&self.destinations, destinations)?;
                self.triggers.fire(request)?;
                Ok(json!({"queued": true}))
            }
            Command::Status => self.status().await,
            Command::Update {
                target,
                min_verified,
            } => self.update(target, *min_verified).await,
            Command::Verify => {
                let checked = self
                    .triggers
                    .ask(|reply| Job::Verify {
                        pick: Pick::Newest,
                        reply,
                    })
                    .await??;
                Ok(json!({"copies": checked}))
            }
            Command::Prune { dry_run } => self.prune(*dry_run).await,
        }
    }

    /// Refuses a backup of a source that is not configured.
    fn check_sources(&self, sources: &[String]) -> Result<(), CommandError> {
        let known: Vec<&str> = self.watch.sources.iter().map(|s| s.name.as_str()).collect();
        match sources.iter().find(|s| !known.contains(&s.as_str())) {
            None => Ok(()),
            Some(unknown) if known.is_empty() => Err(CommandError::NoSources {
                unknown: unknown.clone(),
            }),
            Some(unknown) => Err(CommandError::NoSource {
                unknown: unknown.clone(),
                known: known.join(", "),
            }),
        }
    }

    async fn status(&self) -> Result<Value, CommandError> {
        let s = Summary::load(&self.history, false, &self.watch).await?;
        Ok(json!({
            "state": s.state,
            "last_backup": s.last_good.as_ref().map(|r| json!({"at": r.started_at, "name": r.backup_name, "slug": r.backup_slug})),
            "problems": s.problems,
            "copies": s.copies.iter().map(|c| json!({"destination": c.destination, "copy_id": c.copy_id, "verified_at": c.verified_at, "size": c.stored_size})).collect::<Vec<_>>(),
        }))
    }

    async fn update(
        &self,
        target: &str,
        min_verified: Option<usize>,
    ) -> Result<Value, CommandError> {
        let ask = crate::pipeline::safe_update::UpdateAsk {
            target: target.to_owned(),
            min_verified: min_verified.unwrap_or(self.min_verified),
            trigger: self.origin.to_owned(),
        };
        let report = self
            .triggers
            .ask(|reply| Job::Update { ask, reply })
            .await?
            .map_err(|e| CommandError::Job(e.to_string()))?;
        if report.installed {
            Ok(serde_json::to_value(&report).unwrap_or_default())
        } else {
            Err(CommandError::Job(report.message()))
        }
    }

    async fn prune(&self, dry_run: bool) -> Result<Value, CommandError> {
        let reports = self
            .triggers
            .ask(|reply| Job::Prune { dry_run, reply })
            .await?;
        Ok(json!({
            "dry_run": dry_run,
            "destinations": reports.iter().map(|r| json!({
                "destination": r.destination,
                "policy": r.policy,
                "held": r.held,
                "deleted": r.deleted,
                "would_delete": if dry_run { r.decisions.iter().filter(|d| !d.keep).map(|d| json!({"copy_id": d.id, "reasons": d.reasons})).collect::<Vec<_>>() } else { Vec::new() },
                "kept": r.decisions.iter().filter(|d| d.keep).count(),
                "errors": r.errors,
            })).collect::<Vec<_>>(),
            "unmanaged": self.destinations.iter().filter(|d| d.retention.keeps_everything()).map(|d| d.name.clone()).collect::<Vec<_>>(),
        }))
    }
}

/// One line of at most [`MAX_LINE`] bytes: `Ok(Some(Ok(line)))`, `Ok(Some(Err(())))` for a longer
/// one (skipped to its end without being held), `Ok(None)` at the end of input.
async fn next_line(
    input: &mut (impl tokio::io::AsyncBufRead + Unpin),
) -> std::io::Result<Option<Result<String, ()>>> {
    use tokio::io::AsyncBufReadExt;
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let chunk = input.fill_buf().await?;
        if chunk.is_empty() {
            return Ok((!line.is_empty() || too_long).then(|| {
                if too_long {
                    Err(())
                } else {
                    Ok(String::from_utf8_lossy(&line).into_owned())
                }
            }));
        }
        let (piece, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if !too_long && line.len() + piece.len() <= MAX_LINE {
            line.extend_from_slice(piece);
        } else {
            too_long = true;
            line.clear();
        }
        let used = done.unwrap_or(chunk.len());
        input.consume(used);
        if done.is_some() {
            return Ok(Some(if too_long {
                Err(())
            } else {
                Ok(String::from_utf8_lossy(&line).into_owned())
            }));
        }
    }
}

/// Reads commands from `input` (the add-on's stdin), one JSON line each, until it closes or
/// `shutdown`, and has `handler`'s handler of the moment answer each (none: Lifeboat is idle).
/// Lines longer than [`MAX_LINE`] are refused, not buffered.
pub async fn serve_lines(
    handler: impl Fn() -> Option<Handler>,
    input: impl tokio::io::AsyncRead + Unpin,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut input = tokio::io::BufReader::new(input);
    // Commands that wait for a job (verify, prune) are answered in their own task, so a long
    // verify does not hold up `status`; the others are answered at once, in order.
    let mut answering = tokio::task::JoinSet::new();
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break,
            n = next_line(&mut input) => n,
        };
        let input = match next {
            Ok(None) => break,
            Ok(Some(Ok(line))) if line.trim().is_empty() => continue,
            Ok(Some(Ok(line))) => serde_json::from_str(line.trim())
                .map_err(|e| Refused(format!("not JSON ({e}); send one JSON object per line"))),
            Ok(Some(Err(()))) => Err(Refused(format!(
                "the line is longer than {MAX_LINE} bytes; it was ignored"
            ))),
            Err(e) => {
                tracing::warn!("reading commands from stdin stopped: {e}");
                break;
            }
        };
        match handler() {
            Some(h) => answer(&h, input, &mut answering).await,
            None => tracing::warn!(
                "a command came while Lifeboat is idle (its settings are invalid); it was not run"
            ),
        }
    }
    answering.join_all().await;
}

/// Answers `input`: at once, or, for a command that waits for its job, in a task of `answering`.
async fn answer(
    handler: &Handler,
    input: Result<Value, Refused>,
    answering: &mut tokio::task::JoinSet<()>,
) {
    while answering.try_join_next().is_some() {}
    let parsed = input.and_then(parse);
    let waits = matches!(
        &parsed,
        Ok(Request {
            command: Command::Verify | Command::Prune { .. } | Command::Update { .. },
            ..
        })
    );
    if waits {
        let handler = handler.clone();
        answering.spawn(async move {
            handler.answer(parsed).await;
        });
    } else {
        handler.answer(parsed).await;
    }
}

/// Listens for `lifeboat_command` events on Home Assistant's bus over the websocket, reconnecting
/// with backoff whenever the connection drops, until `shutdown`.
pub async fn serve_events(
    handler: Handler,
    url: url::Url,
    token: crate::secret::Secret,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use crate::ha::websocket::{WsClient, WsError};
    use std::time::Duration;
    let mut backoff = Duration::from_secs(2);
    let mut answering = tokio::task::JoinSet::new();
    loop {
        let session = async {
            let mut ws = WsClient::connect(&url, &token, Duration::from_secs(30)).await?;
            let sub = ws
                .subscribe(json!({"type": "subscribe_events", "event_type": "lifeboat_command"}))
                .await?;
            tracing::info!("listening for lifeboat_command events");
            loop {
                match ws.next_event(sub, Duration::from_secs(60)).await {
                    Ok(event) => answer(&handler, Ok(event["data"].clone()), &mut answering).await,
                    // Quiet for a minute: make sure the connection is still there.
                    Err(WsError::Timeout(_)) => ws.ping().await?,
                    Err(e) => return Err::<(), WsError>(e),
                };
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            r = session => if let Err(e) = r {
                tracing::warn!("Home Assistant event connection: {e}; reconnecting in {backoff:?}");
            },
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
    answering.join_all().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_their_refusals() {
        assert_eq!(
            parse_line(r#"{"command":"backup"}"#).unwrap().command,
            Command::Backup {
                name: None,
                destinations: vec![],
                partial: None,
                sources: vec![],
            }
        );
        assert_eq!(parse_line(r#""status""#).unwrap().command, Command::Status);
        let r = parse_line(
            r#"{"command":"backup","name":"Before upgrade","destinations":["nas"],"id":7,"sources":["postgres"]}"#,
        )
        .unwrap();
        assert_eq!(r.id, Some(json!(7)));
        assert_eq!(
            r.command,
            Command::Backup {
                name: Some("Before upgrade".into()),
                destinations: vec!["nas".into()],
                partial: None,
                sources: vec!["postgres".into()],
            }
        );
        assert!(
            parse_line(r#"{"command":"verify","sources":["x"]}"#)
                .unwrap_err()
                .0
                .contains("sources")
        );
        assert_eq!(
            parse_line(r#"{"command":"update","entity_id":"update.home_assistant_core_update"}"#)
                .unwrap()
                .command,
            Command::Update {
                target: "update.home_assistant_core_update".into(),
                min_verified: None
            }
        );
        assert_eq!(
            parse_line(r#"{"command":"update","addon":"core_mosquitto","min_verified":2}"#)
                .unwrap()
                .command,
            Command::Update {
                target: "core_mosquitto".into(),
                min_verified: Some(2)
            }
        );
        for (bad, says) in [
            (r#"{"command":"update"}"#, "needs either entity_id"),
            (
                r#"{"command":"update","entity_id":"light.kitchen"}"#,
                "is not an update entity",
            ),
            (
                r#"{"command":"update","entity_id":"update.x","addon":"y"}"#,
                "needs either entity_id",
            ),
            (
                r#"{"command":"update","addon":"core_mosquitto","min_verified":0}"#,
                "at least 1",
            ),
            (r#"{"command":"backup","addon":"x"}"#, "takes no entity_id"),
            ("not json", "not JSON"),
            ("[1,2]", "expected an object"),
            (r#"{"command":"explode"}"#, "unknown command"),
            (r#"{"cmd":"backup"}"#, "not a command"),
            (r#"{"command":"status","name":"x"}"#, "takes no name"),
            (
                r#"{"command":"backup","destinations":"nas"}"#,
                "not a command",
            ),
            (
                r#"{"command":"backup","partial":{"folders":["etc"]}}"#,
                "not a folder",
            ),
            (
                r#"{"command":"backup","partial":{"homeassistant":false}}"#,
                "at least one part",
            ),
            (
                r#"{"command":"backup","partial":{"everything":true}}"#,
                "not a command",
            ),
        ] {
            let e = parse_line(bad).unwrap_err();
            assert!(e.0.contains(says), "{bad}: {e}");
        }
    }
}
