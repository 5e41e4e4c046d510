//! Command-line parsing and the commands themselves.
//!
//! Exit codes: 0 everything asked for was done (or there was nothing new to ship); 1 a run failed
//! or a destination could not be read; 2 the command line or options are wrong; 3 a run was
//! partial (some destinations hold a verified copy, some do not).

mod args;
mod demo;
mod drill;
mod inspect;
mod keys;
mod output;
mod recover;
mod restore;
mod update;

use anyhow::Context;
use args::{
    Cli, Command, Inline, ListArgs, PinArgs, PruneArgs, RunArgs, ServeArgs, VerifyArgs, secret,
};
use clap::Parser;
use lifeboat::config::urls::{self, Credentials};
use lifeboat::config::{self, Config, ConfigError, Env, options::Options};
use lifeboat::destinations;
use lifeboat::history::{History, RunStatus};
use lifeboat::secret::Secret;
use std::path::PathBuf;
use std::process::ExitCode;

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Env::from_process();
    let result = match cli.command {
        Command::Run(ref a) => cmd_run(&cli, a, &env).await,
        Command::List(ref a) => cmd_list(&cli, a, &env).await,
        Command::Prune(ref a) => cmd_prune(&cli, a, &env).await,
        Command::Pin(ref a) => cmd_pin(&cli, a, &env, true).await,
        Command::Unpin(ref a) => cmd_pin(&cli, a, &env, false).await,
        Command::Verify(ref a) => cmd_verify(&cli, a, &env).await,
        Command::Update(ref a) => update::run(&cli, a, &env).await,
        Command::Serve(ref a) => cmd_serve(&cli, a, &env).await,
        Command::Demo { ref dir } => demo::run(dir).await,
        Command::Health { ref url } => health(url).await,
        Command::Keys(ref k) => keys::keys(&cli, k, &env).await,
        Command::Kit {
            ref out,
            ref inline,
        } => keys::kit(&cli, inline, out.as_deref(), &env).await,
        Command::Recover(ref a) => recover::run(a).await,
        Command::Drill(ref a) => drill::run(&cli, a, &env).await,
        Command::Restore(ref a) => restore::run(a, &env).await,
        Command::Inspect {
            ref archive,
            ref ha_keys,
            ref identity,
            json,
        } => inspect::run(archive.clone(), ha_keys.clone(), identity.clone(), json).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(c) = e.downcast_ref::<ConfigError>() {
                eprintln!("lifeboat: {c}");
                return ExitCode::from(2);
            }
            eprintln!("lifeboat: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn in_addon(env: &Env) -> bool {
    env.get("SUPERVISOR_TOKEN").is_some() && std::path::Path::new("/data/options.json").exists()
}

/// Where the server listens unless told: in the add-on every interface of its container, so the
/// Supervisor's ingress proxy reaches it (the access policy admits only that proxy); elsewhere
/// loopback.
fn default_listen(addon: bool) -> &'static str {
    if addon {
        "0.0.0.0:8099"
    } else {
        "127.0.0.1:8099"
    }
}

pub(crate) fn default_data_dir(env: &Env) -> PathBuf {
    if in_addon(env) {
        return PathBuf::from("/data");
    }
    env.get("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            env.get("HOME")
                .map(|h| PathBuf::from(h).join(".local/share"))
        })
        .unwrap_or_else(|| PathBuf::from("."))
        .join("lifeboat")
}

/// Options from the command line when it names a source or destination, else from the file.
fn load_options(cli: &Cli, inline: &Inline, env: &Env) -> Result<Options, ConfigError> {
    if !inline.source.is_empty() || !inline.to.is_empty() {
        let mut problems = Vec::new();
        let mut given = Vec::new();
        for s in &inline.source {
            match urls::source_from_url(s) {
                Ok(mut src) => {
                    if inline.ship {
                        use config::options::SourceOptions;
                        if let SourceOptions::Core { mode, .. }
                        | SourceOptions::Supervisor { mode, .. } = &mut src
                        {
                            *mode = Some("ship".into());
                        }
                    }
                    given.push(src);
                }
                Err(p) => problems.push(p),
            }
        }
        if inline.source.is_empty() {
            problems.push(config::Problem {
                field: "--source".into(),
                message: "name the source: folder:/path, core:http://host:8123, supervisor:, \
                          dir:/path or 'command:pg_dumpall -U postgres'"
                    .into(),
            });
        }
        let (source, sources) = urls::name_sources(given);
        let destinations = urls::destinations_from_urls(&inline.to, &credentials(inline))
            .unwrap_or_else(|p| {
                problems.extend(p);
                Vec::new()
            });
        let recipients = inline.recipients.clone();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        return Ok(Options {
            data_dir: cli.data_dir.clone(),
            source,
            sources,
            destinations,
            encryption: config::options::EncryptionOptions {
                recipients,
                passphrase: secret(inline.passphrase.as_ref()),
            },
            ha_backup_keys: inline
                .ha_keys
                .iter()
                .map(|k| Secret::new(k.as_str()))
                .collect(),
            notify_service: None,
            listen: None,
            retention: None,
            schedule: Default::default(),
            keep_local: None,
            stale_after_hours: None,
            min_verified: None,
            ship_new_backups: None,
            kit_check_days: None,
            alert: None,
        });
    }
    let path = cli.config.clone().unwrap_or_else(|| {
        if in_addon(env) {
            PathBuf::from("/data/options.json")
        } else {
            PathBuf::from("lifeboat.toml")
        }
    });
    if !path.exists() && cli.config.is_none() {
        return Err(ConfigError::Invalid(vec![config::Problem {
            field: "--config".into(),
            message: format!(
                "there is no {} here: pass --source and --to, or --config FILE (see lifeboat run --help)",
                path.display()
            ),
        }]));
    }
    let mut opts = config::read_options(&path)?;
    if cli.data_dir.is_some() {
        opts.data_dir.clone_from(&cli.data_dir);
    }
    Ok(opts)
}

fn credentials(inline: &Inline) -> Credentials {
    inline.creds.to_credentials()
}

pub(crate) fn load_config(cli: &Cli, inline: &Inline, env: &Env) -> Result<Config, ConfigError> {
    let opts = load_options(cli, inline, env)?;
    let cfg = config::validate(
        opts,
        env,
        cli.data_dir
            .clone()
            .unwrap_or_else(|| default_data_dir(env)),
    )?;
    say_cautions(&cfg.destinations);
    Ok(cfg)
}

/// Says on stderr what in the settings works but puts something at risk (the dashboard lists the
/// same among its problems).
fn say_cautions(destinations: &[config::DestinationSpec]) {
    for c in config::cautions(destinations) {
        eprintln!("lifeboat: warning: {c}");
    }
}

pub(crate) fn exit_code(statuses: impl IntoIterator<Item = RunStatus>) -> ExitCode {
    ExitCode::from(exit_status(statuses))
}

/// 1 when any run failed (failure outranks partial), else 3 when any was partial, else 0.
fn exit_status(statuses: impl IntoIterator<Item = RunStatus>) -> u8 {
    let (mut failed, mut partial) = (false, false);
    for s in statuses {
        match s {
            RunStatus::Success => {}
            RunStatus::Partial => partial = true,
            RunStatus::Failed | RunStatus::Running | RunStatus::Interrupted => failed = true,
        }
    }
    if failed {
        1
    } else if partial {
        3
    } else {
        0
    }
}

async fn cmd_run(cli: &Cli, args: &RunArgs, env: &Env) -> anyhow::Result<ExitCode> {
    let cfg = load_config(cli, &args.inline, env)?;
    let (runner, _) = lifeboat::daemon::build::runner(&cfg, env)?;
    runner.history.mark_interrupted(chrono::Utc::now()).await?;
    let mut runners = lifeboat::daemon::build::other_runners(&runner, &cfg)?;
    runners.insert(0, runner);
    let mut reports = Vec::new();
    // Source by source; destinations owed an earlier backup get it first (a cron-driven `run`
    // drives the queue).
    for r in &runners {
        reports.extend(r.retry_due().await?);
        reports.extend(r.run("cli", args.reship).await?);
    }
    let runner = &runners[0];
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else if reports.is_empty() {
        println!(
            "Nothing new to back up from {} (use --reship to ship again).",
            runner.source.describe()
        );
    } else {
        for r in &reports {
            output::print_report(r);
        }
    }
    Ok(exit_code(reports.iter().map(|r| r.status)))
}

async fn cmd_prune(cli: &Cli, args: &PruneArgs, env: &Env) -> anyhow::Result<ExitCode> {
    let cfg = load_config(cli, &args.inline, env)?;
    let (runner, _) = lifeboat::daemon::build::runner(&cfg, env)?;
    let mut runners = lifeboat::daemon::build::other_runners(&runner, &cfg)?;
    runners.insert(0, runner);
    let mut reports = Vec::new();
    let mut failed = false;
    for r in &runners {
        let mine = r.prune(args.dry_run).await;
        let pruned = r
            .destinations
            .iter()
            .filter(|d| {
                !r.retention
                    .as_ref()
                    .unwrap_or(&d.retention)
                    .keeps_everything()
            })
            .count();
        failed |= mine.iter().any(|p| !p.errors.is_empty()) || mine.len() < pruned;
        reports.extend(mine);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        output::print_prune(&reports, &runners[0].destinations);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn cmd_pin(cli: &Cli, args: &PinArgs, env: &Env, pin: bool) -> anyhow::Result<ExitCode> {
    let dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir(env));
    let history = History::open(&dir)?;
    if pin {
        history
            .pin(&args.destination, &args.copy, chrono::Utc::now())
            .await?;
        println!(
            "Pinned {} on {}: retention will keep it.",
            args.copy, args.destination
        );
    } else if history.unpin(&args.destination, &args.copy).await? {
        println!(
            "Unpinned {} on {}: retention decides about it again.",
            args.copy, args.destination
        );
    } else {
        eprintln!(
            "lifeboat: {} on {} was not pinned",
            args.copy, args.destination
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn cmd_verify(cli: &Cli, args: &VerifyArgs, env: &Env) -> anyhow::Result<ExitCode> {
    let cfg = load_config(cli, &args.inline, env)?;
    let (runner, _) = lifeboat::daemon::build::runner(&cfg, env)?;
    let checked = lifeboat::pipeline::reverify::reverify(
        &runner.destinations,
        &runner.history,
        runner.clock.as_ref(),
        cfg.schedule.verify_rate,
        lifeboat::pipeline::reverify::Pick::LongestUnchecked(args.limit),
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checked)?);
    } else {
        for c in &checked {
            match &c.error {
                None => println!("{} {}: intact", c.destination, c.copy_id),
                Some(e) => println!("{} {}: FAILED — {e}", c.destination, c.copy_id),
            }
        }
        if checked.is_empty() {
            println!("No copies to check.");
        }
    }
    Ok(if checked.iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn cmd_list(cli: &Cli, args: &ListArgs, env: &Env) -> anyhow::Result<ExitCode> {
    // Listing reads manifests only: it needs destinations, no source and no key.
    let mut data_dir = None;
    let specs = if args.inline.to.is_empty() {
        let cfg = load_config(cli, &args.inline, env)?;
        data_dir = Some(cfg.data_dir);
        cfg.destinations
    } else {
        let opts = urls::destinations_from_urls(&args.inline.to, &credentials(&args.inline))
            .map_err(ConfigError::Invalid)?;
        let specs = config::validate_destinations(opts)?;
        say_cautions(&specs);
        specs
    };
    // The keys given, else (listing with the options, on the box) the vault's, when it has one.
    let mut trust = recover::trusted(&args.trust, None)?;
    if !trust.is_given()
        && let Some(dir) = data_dir
        && dir.join(lifeboat::crypto::vault::KEY_FILE).exists()
    {
        let vault = lifeboat::crypto::vault::Vault::open(&dir)?;
        trust = lifeboat::signing::Trusted::keys(vault.signer_keys());
    }
    let dests = lifeboat::daemon::build::destinations(&specs, &trust)?;
    let mut all = serde_json::Map::new();
    let mut failed = false;
    for d in &dests {
        match destinations::manifest::list(d).await {
            Ok(listed) => {
                if args.json {
                    all.insert(d.name.clone(), output::listed_json(&listed));
                } else {
                    output::print_listing(d, &listed);
                }
            }
            Err(e) => {
                failed = true;
                if args.json {
                    all.insert(d.name.clone(), serde_json::json!({"error": e.to_string()}));
                } else {
                    println!("{} ({}): cannot list: {e}", d.name, d.location);
                }
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Who may connect: `--allow`'s peers, else the ingress proxy in the add-on and this machine
/// elsewhere; with the password in `LIFEBOAT_PASSWORD` (never on the command line, where other
/// programs see it) for any other peer; answering requests addressed to the names of
/// `--host-name` and `LIFEBOAT_HOST_NAMES` besides localhost and addresses.
fn access_for(
    args: &ServeArgs,
    addon: bool,
    env: &Env,
) -> Result<lifeboat::web::ingress::Access, lifeboat::web::ingress::AccessError> {
    use lifeboat::web::ingress::{Access, SUPERVISOR_INGRESS};
    let access = match (args.allow.as_slice(), addon) {
        ([], false) => Access::any(),
        ([], true) => Access::only(vec![SUPERVISOR_INGRESS]),
        (list, _) => Access::only(list.to_vec()),
    };
    let from_env = env.get("LIFEBOAT_HOST_NAMES").unwrap_or_default();
    let access = access.with_host_names(
        args.host_names
            .iter()
            .map(String::as_str)
            .chain(from_env.split(',')),
    );
    match env.get("LIFEBOAT_PASSWORD").filter(|p| !p.is_empty()) {
        Some(p) => access.with_password(Secret::new(p)),
        None => Ok(access),
    }
}

async fn cmd_serve(cli: &Cli, args: &ServeArgs, env: &Env) -> anyhow::Result<ExitCode> {
    use lifeboat::daemon;
    let addon = in_addon(env);
    let access = match access_for(args, addon, env) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let loaded = load_config(cli, &args.inline, env);
    let addr = args
        .listen
        .clone()
        .or_else(|| loaded.as_ref().ok().and_then(|c| c.listen.clone()))
        .unwrap_or_else(|| default_listen(addon).into());
    // Refused before anything starts: no dashboard for a whole network unannounced.
    let resolved = tokio::net::lookup_host(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    for a in resolved {
        if let Err(e) = access.check_listen(a.ip()) {
            eprintln!("lifeboat: {e}");
            return Ok(ExitCode::from(2));
        }
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    let csrf = lifeboat::web::csrf::Token::random()
        .map_err(|e| anyhow::anyhow!("no randomness for the page token: {e}"))?;
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir(env));
    let first = loaded.as_ref().map_err(|e| {
        // Stay up and say what is wrong rather than crash-loop.
        tracing::error!("{e}");
        if e.problems().is_empty() {
            vec![e.to_string()]
        } else {
            e.problems().iter().map(ToString::to_string).collect()
        }
    });
    let host =
        daemon::host::Host::start(first, env.clone(), access.clone(), csrf.clone(), &shutdown)
            .await?;
    let stdin = host.serve_stdin();
    let setup = lifeboat::setup::Setup {
        home: settings_home(cli, &args.inline, env)?,
        env: env.clone(),
        data_dir_given: cli.data_dir.clone(),
        default_data_dir: default_data_dir(env),
        apply: std::sync::Arc::new(host.clone()),
    };
    let state = lifeboat::web::AppState {
        current: host.current(),
        access,
        csrf,
        shutdown: shutdown.clone(),
        drives: lifeboat::destinations::kinds::rclone::Drives::in_data_dir(
            &loaded.as_ref().map_or(data_dir, |c| c.data_dir.clone()),
        ),
        setup: Some(std::sync::Arc::new(setup)),
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    // Registered before it says it is serving: a stop that comes at once is a clean one.
    let signalled = stop_signals();
    tracing::info!("serving on http://{addr}");
    let stop = shutdown.clone();
    tokio::spawn(async move {
        signalled.await;
        stop.cancel();
    });
    let served = daemon::serve_app(state, listener, &shutdown).await;
    // The server only returns at shutdown or on failure: stop the rest either way.
    shutdown.cancel();
    host.join().await;
    // The reader ends at the signal (a read already waiting on stdin is left to the runtime).
    stdin.abort();
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Where the settings `serve` runs on live, for changes made on the dashboard: the add-on's
/// options (through the Supervisor), the settings file, or the command line (not editable).
fn settings_home(
    cli: &Cli,
    inline: &Inline,
    env: &Env,
) -> anyhow::Result<lifeboat::setup::SettingsHome> {
    use lifeboat::setup::SettingsHome;
    if !inline.source.is_empty() || !inline.to.is_empty() {
        return Ok(SettingsHome::CommandLine);
    }
    if in_addon(env) && cli.config.is_none() {
        let token = env.get("SUPERVISOR_TOKEN").unwrap_or_default();
        return Ok(SettingsHome::Addon {
            url: config::SUPERVISOR_URL.parse()?,
            token: Secret::new(token),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
        });
    }
    Ok(SettingsHome::File(
        cli.config
            .clone()
            .unwrap_or_else(|| PathBuf::from("lifeboat.toml")),
    ))
}

/// Up means answering: an idle server with bad options is healthy (restarting it would not fix
/// the options), a server that does not answer is not.
async fn health(url: &str) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .context("building the HTTP client")?;
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => {
            println!("{}", r.text().await.unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Ok(r) => {
            eprintln!("lifeboat: {url} answered HTTP {}", r.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("lifeboat: {url} does not answer: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// SIGTERM (how the Supervisor and Docker stop the add-on) or Ctrl-C. SIGTERM's handler is in
/// place when this returns, not when the future is first polled: until then the signal's
/// default action would end the process with no clean shutdown.
fn stop_signals() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_outranks_partial_outranks_success() {
        use RunStatus::{Failed, Partial, Success};
        assert_eq!(exit_status([]), 0);
        assert_eq!(exit_status([Success, Success]), 0);
        assert_eq!(exit_status([Success, Partial]), 3);
        assert_eq!(exit_status([Partial, Failed]), 1);
        assert_eq!(exit_status([Failed, Partial, Success]), 1);
    }
}
