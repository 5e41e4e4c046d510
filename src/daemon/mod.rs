//! The long-running process (`lifeboat serve`), in the manner of mini-redis's server: the
//! composition root that builds every part from the [`Config`] ([`build`]), starts the
//! single-flight worker on the one job queue ([`worker`], [`crate::jobs`]; safe updates run there
//! too, [`updating`]), the schedules, the retry poll, Home Assistant republishing, automation
//! commands from stdin and the event bus ([`commands`]), Home Assistant's backup events
//! ([`backup_events`]) and the dashboard, and, at the one shutdown signal, awaits every task it
//! started. The binary and the tests build it the same way.

pub mod backup_events;
pub mod build;
pub mod commands;
pub mod host;
mod loops;
mod restoring;
mod updating;
pub mod worker;

use crate::config::{Config, Env};
use crate::destinations::kinds::rclone::store::connect::Drives;
use crate::jobs::Triggers;
use crate::pipeline::run::Runner;
use crate::report::{HaReporter, Watch};
use crate::schedule::Schedule;
use crate::secret::Secret;
use crate::web::{AppState, Services, csrf, ingress::Access};
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Why the daemon cannot be built or served.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    #[error("building the HTTP client: {0}")]
    Http(reqwest::Error),
    #[error("destination {name}: {source}")]
    Destination {
        name: String,
        source: crate::destinations::StoreError,
    },
    #[error("serving the dashboard: {0}")]
    Serve(std::io::Error),
}

/// Everything the daemon runs besides the runner.
pub struct Settings {
    /// Most bytes per second re-verification reads.
    pub verify_rate: u64,
    /// The backup and re-verification schedules.
    pub schedules: Vec<Schedule>,
    /// Which destinations must stay fresh, how fresh, and the clock.
    pub watch: Watch,
    /// Where "restore into Home Assistant" sends a copy.
    pub restore_into: Option<crate::recovery::restore::HaTarget>,
    /// Told of runs; republished now and then (Home Assistant forgets REST states on restart).
    pub reporter: Option<Arc<HaReporter>>,
    /// Take automation commands from the process's stdin (the add-on's `stdin: true`).
    pub stdin_commands: bool,
    /// The websocket to take `lifeboat_command` events from.
    pub events: Option<(url::Url, Secret)>,
    /// Which peers may reach the dashboard, and the token its forms carry.
    pub access: Access,
    pub csrf: csrf::Token,
    /// Where "Add a cloud drive" keeps the remotes it connects.
    pub drives: Drives,
    /// Verified copies a safe update waits for, unless its command says.
    pub min_verified: usize,
    /// Follow Home Assistant's backup events (over `events`' websocket) and ship each new backup
    /// within seconds: ship mode, or the `ship_new_backups` option.
    pub ship_on_events: bool,
    /// When each destination's daily test runs.
    pub probes: crate::pipeline::probing::ProbePlan,
}

/// The long-running process, built and not started.
pub struct Daemon {
    runner: Runner,
    /// The runners of the sources after the first (a database dump, a config folder).
    others: Vec<Runner>,
    settings: Settings,
}

/// A started daemon: what the dashboard serves, and the tasks to await at shutdown.
pub struct Running {
    pub state: AppState,
    /// How following Home Assistant's backup events stands, when they are followed: wait on it
    /// to know the daemon listens.
    pub backup_events: Option<backup_events::Listening>,
    /// How automation commands read from stdin are answered (the host's one stdin reader hands
    /// them to the generation running).
    pub commands: Option<commands::Handler>,
    tasks: JoinSet<()>,
}

impl Daemon {
    /// Builds every part from the options, as the binary does.
    ///
    /// # Errors
    /// [`DaemonError`] when history, the HTTP client or a destination cannot be made.
    pub fn build(
        cfg: &Config,
        env: &Env,
        access: Access,
        csrf: csrf::Token,
    ) -> Result<Self, DaemonError> {
        let (runner, reporter) = build::runner(cfg, env)?;
        let others = build::other_runners(&runner, cfg)?;
        let restore_into =
            crate::recovery::restore::HaTarget::for_source(&cfg.source, build::http_client()?);
        Ok(Self::new(
            runner,
            Settings {
                verify_rate: cfg.schedule.verify_rate,
                schedules: build::schedules(cfg),
                watch: build::watch(cfg),
                restore_into,
                reporter,
                stdin_commands: true,
                events: build::ha_websocket(cfg, env),
                access,
                csrf,
                drives: Drives::in_data_dir(&cfg.data_dir),
                min_verified: cfg.min_verified,
                ship_on_events: build::ships_on_events(cfg),
                probes: crate::pipeline::probing::ProbePlan::default(),
            },
        )
        .with_other_sources(others))
    }

    /// Adds the runners of the sources after the first.
    #[must_use]
    pub fn with_other_sources(mut self, others: Vec<Runner>) -> Self {
        self.others = others;
        self
    }

    /// A daemon around a runner built elsewhere (tests give it a double's source or a set clock).
    pub fn new(runner: Runner, settings: Settings) -> Self {
        Self {
            runner,
            others: Vec::new(),
            settings,
        }
    }

    /// Starts every task: the worker, the schedules, the retry poll, republishing and the
    /// automation commands. They run until `shutdown` is cancelled.
    ///
    /// # Errors
    /// [`DaemonError::History`] when runs cut off by an earlier stop cannot be marked.
    pub async fn start(self, shutdown: &CancellationToken) -> Result<Running, DaemonError> {
        let Self {
            runner,
            others,
            settings,
        } = self;
        runner.history.mark_interrupted(runner.clock.now()).await?;
        let mut tasks = JoinSet::new();
        let (triggers, jobs, hand) = Triggers::channel();
        let api = settings.reporter.as_ref().map(|r| r.api().clone());
        // Safe updates install through the same websocket automation events come over.
        let updates = settings
            .events
            .clone()
            .map(|(url, token)| crate::ha::updates::UpdateClient::new(url, token));
        let services = services(
            &runner,
            &others,
            &settings,
            triggers.clone(),
            updates.clone(),
        );
        let (first, clock) = (runner.source_name.clone(), runner.clock.clone());
        let ship_mode = !runner.source.creates_backups();
        let mut runners = vec![runner];
        runners.extend(others);
        let worker = worker::WorkerSettings {
            verify_rate: settings.verify_rate,
            updates,
            api: api.clone(),
        };
        tasks.spawn(worker::serve(
            runners,
            worker,
            (jobs, hand),
            shutdown.clone(),
        ));
        let listening = spawn_backup_events(&mut tasks, &settings, &triggers, shutdown);
        loops::spawn_schedules(
            &mut tasks,
            &settings.schedules,
            &services.history,
            &clock,
            &triggers,
            listening.clone().filter(|_| ship_mode).map(|l| (l, first)),
            shutdown,
        );
        tasks.spawn(loops::probe_daily(
            services.history.clone(),
            services.destinations.clone(),
            clock.clone(),
            triggers.clone(),
            settings.probes,
            shutdown.clone(),
        ));
        tasks.spawn(loops::retry_poll(
            services.history.clone(),
            services.destinations.clone(),
            clock,
            triggers,
            shutdown.clone(),
        ));
        if let Some(r) = &settings.reporter {
            tasks.spawn(loops::republish(r.clone(), shutdown.clone()));
        }
        let commands = spawn_commands(&mut tasks, &services, &settings, api, shutdown);
        Ok(Running {
            state: app_state(services, settings, shutdown),
            backup_events: listening,
            commands: Some(commands),
            tasks,
        })
    }
}

/// What the dashboard serves: the services, and who may reach them.
fn app_state(services: Services, settings: Settings, shutdown: &CancellationToken) -> AppState {
    AppState {
        current: Arc::new(crate::web::Current::new(crate::web::Generation {
            services: Some(Arc::new(services)),
            problems: Arc::new(Vec::new()),
        })),
        access: settings.access,
        csrf: settings.csrf,
        shutdown: shutdown.clone(),
        drives: settings.drives,
        setup: None,
    }
}

/// What the dashboard's handlers share, from the first runner and the settings.
fn services(
    runner: &Runner,
    others: &[Runner],
    settings: &Settings,
    triggers: Triggers,
    updates: Option<crate::ha::updates::UpdateClient>,
) -> Services {
    Services {
        history: runner.history.clone(),
        triggers,
        destinations: runner.destinations.clone(),
        watch: settings.watch.clone(),
        schedules: settings.schedules.clone(),
        tz: runner.tz,
        progress: runner.progress.clone(),
        keys: runner.keys.clone(),
        pending_key: Arc::default(),
        restore_into: settings.restore_into.clone(),
        updates,
        min_verified: settings.min_verified,
        sources: kit_sources(std::iter::once(runner).chain(others), runner.clock.now()),
        listings: Arc::default(),
    }
}

/// Follows Home Assistant's backup events, when new backups are shipped as they are announced;
/// returns how following them stands.
fn spawn_backup_events(
    tasks: &mut JoinSet<()>,
    settings: &Settings,
    triggers: &Triggers,
    shutdown: &CancellationToken,
) -> Option<backup_events::Listening> {
    let (Some((url, token)), true) = (&settings.events, settings.ship_on_events) else {
        return None;
    };
    let listening = backup_events::Listening::default();
    tasks.spawn(backup_events::serve(
        url.clone(),
        token.clone(),
        triggers.clone(),
        listening.clone(),
        shutdown.clone(),
    ));
    Some(listening)
}

/// Takes automation commands from Home Assistant's events and from stdin, as the settings say;
/// returns how stdin's are answered (for a host that reads stdin itself).
fn spawn_commands(
    tasks: &mut JoinSet<()>,
    services: &Services,
    settings: &Settings,
    api: Option<crate::ha::core_api::HaApi>,
    shutdown: &CancellationToken,
) -> commands::Handler {
    let handler = commands::Handler {
        triggers: services.triggers.clone(),
        history: services.history.clone(),
        destinations: services.destinations.clone(),
        watch: settings.watch.clone(),
        api,
        origin: "stdin",
        min_verified: settings.min_verified,
    };
    if let Some((url, token)) = settings.events.clone() {
        let handler = commands::Handler {
            origin: "event",
            ..handler.clone()
        };
        tasks.spawn(commands::serve_events(
            handler,
            url,
            token,
            shutdown.clone(),
        ));
    }
    if settings.stdin_commands {
        let stdin = handler.clone();
        tasks.spawn(commands::serve_lines(
            move || Some(stdin.clone()),
            tokio::io::stdin(),
            shutdown.clone(),
        ));
    }
    handler
}

/// The kit's lines for the sources of `runners` that are not Home Assistant backups.
pub fn kit_sources<'a>(
    runners: impl IntoIterator<Item = &'a Runner>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<crate::crypto::kit::KitSource> {
    runners
        .into_iter()
        .filter_map(|r| crate::source::kit_line(&r.source_name, r.source.as_ref(), now))
        .collect()
}

impl Running {
    /// Serves the dashboard on `listener` until `shutdown`, then awaits every task.
    ///
    /// # Errors
    /// [`DaemonError::Serve`] when the server fails.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: &CancellationToken,
    ) -> Result<(), DaemonError> {
        let served = serve_app(self.state, listener, shutdown).await;
        // The server only returns at shutdown or on failure: stop the rest either way.
        shutdown.cancel();
        self.tasks.join_all().await;
        served
    }

    /// Awaits every task (after `shutdown` was cancelled), for callers that serve the state
    /// themselves.
    pub async fn join(self) {
        self.tasks.join_all().await;
    }
}

/// The dashboard with no services: the options are invalid, and every page says why (staying up
/// rather than crash-looping).
pub fn idle(
    problems: Vec<String>,
    access: Access,
    csrf: csrf::Token,
    drives: Drives,
    shutdown: &CancellationToken,
) -> AppState {
    AppState {
        current: Arc::new(crate::web::Current::new(crate::web::Generation {
            services: None,
            problems: Arc::new(problems),
        })),
        access,
        csrf,
        shutdown: shutdown.clone(),
        drives,
        setup: None,
    }
}

/// Serves `state` on `listener` until `shutdown`.
///
/// # Errors
/// [`DaemonError::Serve`] when the server fails.
pub async fn serve_app(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: &CancellationToken,
) -> Result<(), DaemonError> {
    axum::serve(
        listener,
        crate::web::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .await
    .map_err(DaemonError::Serve)
}
