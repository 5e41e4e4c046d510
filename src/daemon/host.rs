//! The daemon across changes of settings (`lifeboat serve`): it serves one generation at a time —
//! the daemon built from one set of settings, or the idle dashboard when they are invalid — and
//! applies new settings saved from the dashboard without a restart ([`crate::setup::Apply`]).
//!
//! A change applies at once when no job runs. While one runs (a backup, a check), it finishes on
//! the settings it began with, and the change applies as it ends; the newest change wins. The
//! next daemon is built before the one running stops, so settings that cannot be built leave the
//! running one as it was. The old generation's tasks are awaited before the next one starts:
//! two workers never share history.

use super::{Daemon, DaemonError, Running};
use crate::config::{Config, Env};
use crate::setup::{Applied, Apply, ApplyError};
use crate::web::{Current, Generation, csrf, ingress::Access};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// How often a waiting change looks whether the job running has ended.
const JOB_POLL: Duration = Duration::from_millis(500);

/// The daemon across settings. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

struct Inner {
    /// What the dashboard serves now.
    current: Arc<Current>,
    env: Env,
    access: Access,
    csrf: csrf::Token,
    /// The one shutdown signal; each generation runs under a child of it.
    shutdown: CancellationToken,
    /// The running generation's automation commands, for the one stdin reader.
    commands: std::sync::RwLock<Option<super::commands::Handler>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The daemon running now (`None`: idle, the settings are invalid).
    live: Option<Live>,
    /// A change waiting for the job running now to end.
    pending: Option<Config>,
}

/// One generation's daemon: its tasks, and the signal that stops only them.
struct Live {
    running: Running,
    stop: CancellationToken,
}

impl Live {
    /// Whether a job runs now or waits for the worker (any job: a backup, a check, a
    /// deletion, a test).
    fn busy(&self) -> bool {
        self.running
            .state
            .services()
            .is_some_and(|s| s.triggers.busy() || s.progress.running())
    }
}

impl Host {
    /// Starts on `first`: the daemon when the settings are valid, else idle, showing `first`'s
    /// problems.
    ///
    /// # Errors
    /// [`DaemonError`] when the daemon cannot be built or started.
    pub async fn start(
        first: Result<&Config, Vec<String>>,
        env: Env,
        access: Access,
        csrf: csrf::Token,
        shutdown: &CancellationToken,
    ) -> Result<Self, DaemonError> {
        let host = Self {
            inner: Arc::new(Inner {
                current: Arc::new(Current::default()),
                env,
                access,
                csrf,
                shutdown: shutdown.clone(),
                commands: std::sync::RwLock::new(None),
                state: Mutex::default(),
            }),
        };
        match first {
            Ok(config) => {
                let mut state = host.inner.state.lock().await;
                let next = host.build(config)?;
                host.replace(&mut state, next).await?;
            }
            Err(problems) => host.inner.current.set(Generation {
                services: None,
                problems: Arc::new(problems),
            }),
        }
        Ok(host)
    }

    /// Reads automation commands from stdin for as long as the host runs, and hands each to the
    /// generation running when it comes (one reader: see [`Host::build`]).
    pub fn serve_stdin(&self) -> tokio::task::JoinHandle<()> {
        let inner = self.inner.clone();
        tokio::spawn(super::commands::serve_lines(
            move || {
                inner
                    .commands
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            },
            tokio::io::stdin(),
            self.inner.shutdown.clone(),
        ))
    }

    /// What the dashboard serves: always the generation running now.
    pub fn current(&self) -> Arc<Current> {
        self.inner.current.clone()
    }

    /// The one shutdown signal.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Awaits the running generation's tasks (after the shutdown signal).
    pub async fn join(&self) {
        let live = self.inner.state.lock().await.live.take();
        if let Some(live) = live {
            live.stop.cancel();
            live.running.join().await;
        }
    }

    /// Builds the daemon for `config`, stops the running one, starts the new one and serves it.
    async fn switch(&self, state: &mut State, config: &Config) -> Result<(), Switch> {
        let next = self.build(config).map_err(Switch::NotBuilt)?;
        self.replace(state, next).await.map_err(Switch::Stopped)
    }

    fn build(&self, config: &Config) -> Result<Daemon, DaemonError> {
        let inner = &self.inner;
        let mut next = Daemon::build(config, &inner.env, inner.access.clone(), inner.csrf.clone())?;
        // The host reads stdin once, for every generation ([`Host::serve_stdin`]): a reader per
        // generation would leave the old one's read pending, and it would swallow a command.
        next.settings.stdin_commands = false;
        Ok(next)
    }

    /// Stops the running daemon and starts `next` in its place.
    async fn replace(&self, state: &mut State, next: Daemon) -> Result<(), DaemonError> {
        let inner = &self.inner;
        if let Some(old) = state.live.take() {
            old.stop.cancel();
            old.running.join().await;
        }
        let stop = inner.shutdown.child_token();
        let running = match next.start(&stop).await {
            Ok(running) => running,
            Err(e) => {
                // The old one is stopped: say why nothing runs rather than show its services.
                inner.current.set(Generation {
                    services: None,
                    problems: Arc::new(vec![e.to_string()]),
                });
                *inner
                    .commands
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                return Err(e);
            }
        };
        inner.current.set(running.state.current.get());
        *inner
            .commands
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = running.commands.clone();
        state.live = Some(Live { running, stop });
        tracing::info!("running on the settings as they stand now");
        Ok(())
    }

    /// Applies the change that waited, once no job runs (or gives up at shutdown).
    async fn apply_when_idle(self) {
        loop {
            tokio::select! {
                () = self.inner.shutdown.cancelled() => return,
                () = tokio::time::sleep(JOB_POLL) => {}
            }
            let mut state = self.inner.state.lock().await;
            if state.live.as_ref().is_some_and(Live::busy) {
                continue;
            }
            let Some(config) = state.pending.take() else {
                return;
            };
            if let Err(e) = self.switch(&mut state, &config).await {
                tracing::error!(
                    "the settings saved from the dashboard could not be applied: {}",
                    ApplyError::from(e)
                );
            }
            return;
        }
    }
}

/// Why new settings did not take over.
enum Switch {
    /// They could not be built; the daemon runs on as it was.
    NotBuilt(DaemonError),
    /// The daemon was stopped, and the next one did not start: nothing runs.
    Stopped(DaemonError),
}

impl From<Switch> for ApplyError {
    fn from(s: Switch) -> Self {
        match s {
            Switch::NotBuilt(e) => Self::NotBuilt(e.to_string()),
            Switch::Stopped(e) => Self::Stopped(e.to_string()),
        }
    }
}

#[async_trait]
impl Apply for Host {
    async fn apply(&self, config: Config) -> Result<Applied, ApplyError> {
        let mut state = self.inner.state.lock().await;
        if !state.live.as_ref().is_some_and(Live::busy) {
            state.pending = None;
            let next = self
                .build(&config)
                .map_err(|e| ApplyError::NotBuilt(e.to_string()))?;
            // Building took a moment: a job may have started meanwhile. It finishes first.
            if !state.live.as_ref().is_some_and(Live::busy) {
                self.replace(&mut state, next)
                    .await
                    .map_err(|e| ApplyError::Stopped(e.to_string()))?;
                return Ok(Applied::Now);
            }
        }
        if state.pending.replace(config).is_none() {
            tokio::spawn(self.clone().apply_when_idle());
        }
        Ok(Applied::AfterJob)
    }
}
