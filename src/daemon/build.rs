//! Builds the parts of the running system from a validated [`Config`]: history, the HTTP client,
//! the destinations, the key ring (vault and options), the source, who is told about runs (Home
//! Assistant, an outside alert), and the runner that ties them together. The one-shot commands
//! (`lifeboat run`, `prune`, `verify`) and the daemon build them here, the same way.

use super::DaemonError;
use crate::clock::SystemClock;
use crate::config::{self, Config, Env, SUPERVISOR_URL};
use crate::crypto::keyring::Keyring;
use crate::crypto::vault::Vault;
use crate::destinations::{self, Destination};
use crate::ha::core_api::HaApi;
use crate::history::History;
use crate::pipeline::run::{Observers, RunObserver, Runner};
use crate::report::{HaReporter, Watch};
use crate::secret::Secret;
use crate::signing::Trusted;
use crate::source::{self, Patience};
use std::sync::{Arc, Mutex};
use url::Url;

/// The HTTP client every part shares: a connection that cannot be made in 30 s is an error.
///
/// # Errors
/// [`DaemonError::Http`] when the TLS stack cannot start.
pub fn http_client() -> Result<reqwest::Client, DaemonError> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(DaemonError::Http)
}

/// Opens every configured destination (nothing is contacted yet), judging the manifests read
/// there by the signing keys `trusted` holds.
///
/// # Errors
/// [`DaemonError::Destination`] naming the one whose settings cannot make a client.
pub fn destinations(
    specs: &[config::DestinationSpec],
    trusted: &Trusted,
) -> Result<Vec<Destination>, DaemonError> {
    specs
        .iter()
        .map(|d| {
            let mut opened = destinations::open(d).map_err(|source| DaemonError::Destination {
                name: d.name.clone(),
                source,
            })?;
            opened.trust = trusted.clone();
            Ok(opened)
        })
        .collect()
}

/// Opens the key vault and files the keys from the options in it. A vault that cannot be opened
/// does not stop backups: it is reported, and the options' keys are still used.
fn vault(cfg: &Config, now: chrono::DateTime<chrono::Utc>) -> Option<Arc<Mutex<Vault>>> {
    match Vault::open(&cfg.data_dir) {
        Ok(mut v) => {
            for k in &cfg.ha_backup_keys {
                if let Err(e) = v.add_ha_key(k, "options", now) {
                    tracing::warn!("filing a key from the options in the vault: {e}");
                }
            }
            Some(Arc::new(Mutex::new(v)))
        }
        Err(e) => {
            tracing::error!("the key vault: {e}");
            None
        }
    }
}

/// The Supervisor, as the add-on reaches it: its URL and the add-on's token, when there is one.
fn supervisor(env: &Env) -> Option<(Url, Secret)> {
    let token = env.get("SUPERVISOR_TOKEN")?;
    Some((Url::parse(SUPERVISOR_URL).ok()?, Secret::new(token)))
}

/// Core's REST API: the Home Assistant the source talks to, or, inside the add-on, the one behind
/// the Supervisor; none for a standalone folder source.
pub fn ha_api(cfg: &Config, http: &reqwest::Client, env: &Env) -> Option<HaApi> {
    match &cfg.source {
        config::SourceSpec::Supervisor { url, token, .. } => {
            Some(HaApi::via_supervisor(http.clone(), url, token.clone()))
        }
        config::SourceSpec::Core { url, token, .. } => {
            Some(HaApi::direct(http.clone(), url, token.clone()))
        }
        config::SourceSpec::Folder { .. }
        | config::SourceSpec::Dir { .. }
        | config::SourceSpec::Command { .. } => {
            let (url, token) = supervisor(env)?;
            Some(HaApi::via_supervisor(http.clone(), &url, token))
        }
    }
}

/// The Home Assistant websocket to take `lifeboat_command` events from, with its token.
pub fn ha_websocket(cfg: &Config, env: &Env) -> Option<(Url, Secret)> {
    use crate::ha::websocket::websocket_url;
    let (url, path, token) = match &cfg.source {
        config::SourceSpec::Supervisor { url, token, .. } => {
            (url.clone(), "/core/websocket", token.clone())
        }
        config::SourceSpec::Core { url, token, .. } => {
            (url.clone(), "/api/websocket", token.clone())
        }
        config::SourceSpec::Folder { .. }
        | config::SourceSpec::Dir { .. }
        | config::SourceSpec::Command { .. } => {
            let (url, token) = supervisor(env)?;
            (url, "/core/websocket", token)
        }
    };
    Some((websocket_url(&url, path).ok()?, token))
}

/// Whether Home Assistant's backup events are followed to ship its new backups at once: in ship
/// mode always, in create mode with `ship_new_backups`.
pub fn ships_on_events(cfg: &Config) -> bool {
    match &cfg.source {
        config::SourceSpec::Supervisor { mode, .. } | config::SourceSpec::Core { mode, .. } => {
            *mode == config::SourceMode::Ship || cfg.ship_new_backups
        }
        config::SourceSpec::Folder { .. }
        | config::SourceSpec::Dir { .. }
        | config::SourceSpec::Command { .. } => false,
    }
}

/// What must stay fresh, and how fresh.
pub fn watch(cfg: &Config) -> Watch {
    Watch {
        destinations: cfg.destinations.iter().map(|d| d.name.clone()).collect(),
        sources: if cfg.sources.len() > 1 {
            cfg.sources
                .iter()
                .enumerate()
                .map(|(i, s)| crate::report::WatchedSource {
                    name: s.name.clone(),
                    first: i == 0,
                    stale_after: s.stale_after.unwrap_or(cfg.stale_after),
                })
                .collect()
        } else {
            Vec::new()
        },
        stale_after: cfg.stale_after,
        kit_every: cfg.kit_check_every,
        cautions: config::cautions(&cfg.destinations),
        clock: Arc::new(SystemClock),
    }
}

/// The runner for `cfg`, and the Home Assistant reporter among its observers (when there is a
/// Home Assistant to tell).
///
/// # Errors
/// [`DaemonError`] when history cannot be opened or a destination cannot be made.
pub fn runner(cfg: &Config, env: &Env) -> Result<(Runner, Option<Arc<HaReporter>>), DaemonError> {
    let history = History::open(&cfg.data_dir)?;
    let http = http_client()?;
    let reporter = ha_api(cfg, &http, env).map(|api| {
        Arc::new(HaReporter::new(
            api,
            history.clone(),
            watch(cfg),
            cfg.notify_service.clone(),
        ))
    });
    let mut observers: Vec<Arc<dyn RunObserver>> = Vec::new();
    if let Some(r) = &reporter {
        observers.push(r.clone());
    }
    if let Some(a) = &cfg.alert {
        observers.push(Arc::new(crate::alert::Alerter::new(
            http.clone(),
            a.clone(),
        )));
    }
    let (name, retention) = cfg
        .sources
        .first()
        .map_or(("home-assistant".to_owned(), None), |s| {
            (s.name.clone(), s.retention)
        });
    let keys = Keyring::new(
        vault(cfg, chrono::Utc::now()),
        cfg.encryption.clone(),
        cfg.ha_backup_keys.clone(),
    );
    let mut all = destinations(&cfg.destinations, &keys.trusted)?;
    if let Some(first) = cfg.sources.first() {
        all.retain(|d| first.destinations.is_empty() || first.destinations.contains(&d.name));
    }
    let runner = Runner {
        source: source::build(&cfg.source, &name, http, Patience::default()),
        destinations: all,
        keys,
        history,
        clock: Arc::new(SystemClock),
        observer: Arc::new(Observers(observers)),
        tz: cfg.schedule.tz,
        keep_local: cfg.keep_local,
        progress: Arc::default(),
        source_name: name,
        first_source: true,
        retention,
    };
    Ok((runner, reporter))
}

/// The runners of the sources after the first: `first`'s history, keys, clock, observers and
/// progress, with each source's own name, destinations and retention.
///
/// # Errors
/// [`DaemonError`] when a destination cannot be made.
pub fn other_runners(first: &Runner, cfg: &Config) -> Result<Vec<Runner>, DaemonError> {
    let http = http_client()?;
    let all = destinations(&cfg.destinations, &first.keys.trusted)?;
    Ok(cfg
        .sources
        .iter()
        .skip(1)
        .map(|s| Runner {
            source: source::build(&s.spec, &s.name, http.clone(), Patience::default()),
            destinations: all
                .iter()
                .filter(|d| s.destinations.is_empty() || s.destinations.contains(&d.name))
                .cloned()
                .collect(),
            keep_local: None,
            source_name: s.name.clone(),
            first_source: false,
            retention: s.retention,
            ..first.clone()
        })
        .collect())
}

/// The backup and re-verification schedules the options ask for: the main backup schedule
/// backs up every source without a schedule of its own, in the order they are configured; a
/// source with its own has a `backup:NAME` schedule.
pub fn schedules(cfg: &Config) -> Vec<crate::schedule::Schedule> {
    use crate::schedule::{Schedule, ScheduleName};
    let plan = |name: ScheduleName, sources: Vec<String>, cron: &croner::Cron, jitter| Schedule {
        name,
        sources,
        cron: cron.clone(),
        tz: cfg.schedule.tz,
        jitter,
    };
    let mut out = Vec::new();
    let following: Vec<String> = cfg
        .sources
        .iter()
        .filter(|s| s.schedule.is_none())
        .map(|s| s.name.clone())
        .collect();
    if let Some(cron) = &cfg.schedule.backup
        && (!following.is_empty() || cfg.sources.is_empty())
    {
        out.push(plan(
            ScheduleName::Backup,
            following,
            cron,
            cfg.schedule.jitter,
        ));
    }
    for s in &cfg.sources {
        if let Some(cron) = &s.schedule {
            out.push(plan(
                ScheduleName::SourceBackup(s.name.clone()),
                vec![s.name.clone()],
                cron,
                cfg.schedule.jitter,
            ));
        }
    }
    if let Some(cron) = &cfg.schedule.verify {
        out.push(plan(
            ScheduleName::Verify,
            Vec::new(),
            cron,
            std::time::Duration::ZERO,
        ));
    }
    out
}
