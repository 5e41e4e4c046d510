//! Command-line parsing and the commands themselves.
//!
//! Exit codes: 0 everything asked for was done (or there was nothing new to ship); 1 a run failed
//! or a destination could not be read; 2 the command line or options are wrong; 3 a run was
//! partial (some destinations hold a verified copy, some do not).

mod demo;
mod inspect;
mod output;
mod recover;
mod restore;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use lifeboat::clock::SystemClock;
use lifeboat::config::urls::{self, Credentials};
use lifeboat::config::{self, Config, ConfigError, Env, options::Options};
use lifeboat::crypto::vault::{self, Vault};
use lifeboat::destinations::{self, Destination};
use lifeboat::ha::core_api::HaApi;
use lifeboat::history::{History, RunStatus};
use lifeboat::pipeline::run::{Observers, RunObserver, Runner};
use lifeboat::report::{HaReporter, Watch};
use lifeboat::secret::Secret;
use lifeboat::source::{self, Patience};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Off-site, encrypted, verified backups for Home Assistant"
)]
struct Cli {
    /// Options file: the add-on's options.json or a lifeboat.toml [default: /data/options.json in
    /// the add-on, else ./lifeboat.toml]
    #[arg(long, global = true, env = "LIFEBOAT_CONFIG")]
    config: Option<PathBuf>,
    /// Where history is kept [default: /data in the add-on, else ~/.local/share/lifeboat]
    #[arg(long, global = true, env = "LIFEBOAT_DATA")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Back up now: ship every new backup of the source to every destination, then verify.
    Run(RunArgs),
    /// List the copies on each destination (from their manifests).
    List(ListArgs),
    /// Apply each destination's retention policy now; with --dry-run only say what would go and why.
    Prune(PruneArgs),
    /// Keep a copy for good: retention never deletes a pinned copy.
    Pin(PinArgs),
    /// Let retention decide about a pinned copy again.
    Unpin(PinArgs),
    /// Re-read stored copies and compare them with their manifests (every copy, or the N
    /// longest unchecked per destination).
    Verify(VerifyArgs),
    /// Stay running: status page, health endpoint, and backups on request.
    Serve(ServeArgs),
    /// Check a backup file to its end: a Home Assistant backup tar, or a Lifeboat copy with
    /// --identity. Needs no Home Assistant and no destination.
    Inspect {
        /// The backup tar, or a Lifeboat copy (`.tar.age`) with --identity
        archive: PathBuf,
        /// Home Assistant backup key for protected backups (repeatable)
        #[arg(long = "ha-key", env = "LIFEBOAT_HA_KEY", hide_env_values = true)]
        ha_keys: Vec<String>,
        /// age identity file (the emergency kit's) to open a Lifeboat copy
        #[arg(long)]
        identity: Option<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Get a backup back with the emergency kit: list the copies on a destination, download one,
    /// check and decrypt it, and write a Home Assistant backup tar (or extract it).
    Recover(RecoverArgs),
    /// Put a copy back into Home Assistant's backup list, ready to restore: download it, check and
    /// decrypt it with the kit, and upload it (token from SUPERVISOR_TOKEN or HA_TOKEN).
    Restore(RestoreArgs),
    /// Ask a running `lifeboat serve` whether it is up (the image's HEALTHCHECK); exit 0 if it is.
    Health {
        /// The health endpoint
        #[arg(long, default_value = "http://127.0.0.1:8099/api/health")]
        url: String,
    },
    /// Print the emergency kit: Home Assistant's backup keys, the age key the copies are locked
    /// to, where every copy is, and the steps to get the home back.
    Kit {
        /// Write it to this file (owner-only) instead of the screen
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        inline: Inline,
    },
    /// The key vault: Home Assistant backup keys kept (sealed) to check and restore backups.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Try Lifeboat with no Home Assistant: back up an embedded sample to a local folder.
    Demo {
        /// Folder for the demo's source, copies, key and history.
        #[arg(long, default_value = "lifeboat-demo")]
        dir: PathBuf,
    },
}

/// Sources, destinations and keys given on the command line instead of an options file.
#[derive(Args, Clone, Default)]
struct Inline {
    /// Source: folder:/path, core:http://host:8123 (token in HA_TOKEN) or supervisor:
    #[arg(long)]
    source: Option<String>,
    /// With core: or supervisor:, create no backup: ship the ones Home Assistant made since the
    /// last one shipped
    #[arg(long)]
    ship: bool,
    /// Destination (repeatable): file:///path, s3://bucket/prefix?endpoint=URL&region=R,
    /// azure://account/container/prefix?endpoint=URL
    #[arg(long = "to")]
    to: Vec<String>,
    /// age public key to encrypt to (repeatable)
    #[arg(long = "recipient")]
    recipients: Vec<String>,
    /// Encrypt with a passphrase instead of public keys
    #[arg(long, env = "LIFEBOAT_PASSPHRASE", hide_env_values = true)]
    passphrase: Option<String>,
    /// Home Assistant backup key (from HA's emergency kit) to check protected backups with
    /// (repeatable)
    #[arg(long = "ha-key", env = "LIFEBOAT_HA_KEY", hide_env_values = true)]
    ha_keys: Vec<String>,
    #[command(flatten)]
    creds: CredentialArgs,
}

/// Destination credentials, from flags or the environment (never from URLs).
#[derive(Args, Clone, Default)]
struct CredentialArgs {
    /// S3 access key id
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    s3_access_key_id: Option<String>,
    /// S3 secret access key
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    s3_secret_access_key: Option<String>,
    /// Azure storage account key
    #[arg(long, env = "AZURE_STORAGE_KEY", hide_env_values = true)]
    azure_account_key: Option<String>,
    /// Azure SAS token
    #[arg(long, env = "AZURE_STORAGE_SAS_TOKEN", hide_env_values = true)]
    azure_sas_token: Option<String>,
    /// WebDAV user name
    #[arg(long, env = "LIFEBOAT_WEBDAV_USER")]
    webdav_user: Option<String>,
    /// WebDAV password (Nextcloud: an app password)
    #[arg(long, env = "LIFEBOAT_WEBDAV_PASSWORD", hide_env_values = true)]
    webdav_password: Option<String>,
    /// SFTP password
    #[arg(long, env = "LIFEBOAT_SFTP_PASSWORD", hide_env_values = true)]
    sftp_password: Option<String>,
    /// SFTP private key file (OpenSSH format, ed25519 or ECDSA)
    #[arg(long, env = "LIFEBOAT_SFTP_KEY")]
    sftp_key: Option<std::path::PathBuf>,
    /// Passphrase of the SFTP private key
    #[arg(long, env = "LIFEBOAT_SFTP_KEY_PASSPHRASE", hide_env_values = true)]
    sftp_key_passphrase: Option<String>,
    /// SMB password
    #[arg(long, env = "LIFEBOAT_SMB_PASSWORD", hide_env_values = true)]
    smb_password: Option<String>,
}

#[derive(Args)]
pub(crate) struct RecoverArgs {
    /// Where the copies are: file:///path, s3://bucket/prefix?endpoint=…, azure://account/container/prefix, webdav+https://host/folder, sftp://user@host/folder, smb://user@host/share/folder
    #[arg(long)]
    from: String,
    /// The copy to recover (its id, as listed) [default: the newest]
    #[arg(long)]
    copy: Option<String>,
    /// The emergency kit's age identity file
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Write the Home Assistant backup tar here
    #[arg(long, conflicts_with = "extract")]
    out: Option<PathBuf>,
    /// Extract the backup's members into this new folder instead
    #[arg(long)]
    extract: Option<PathBuf>,
    /// Also remove Home Assistant's own encryption, so a fresh Home Assistant restores the backup
    /// without the old key (needs --ha-key and --out)
    #[arg(long, requires = "out")]
    remove_encryption: bool,
    /// Home Assistant backup key (from its emergency kit), for --remove-encryption (repeatable)
    #[arg(long = "ha-key", env = "LIFEBOAT_HA_KEY", hide_env_values = true)]
    ha_keys: Vec<String>,
    #[command(flatten)]
    creds: CredentialArgs,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List the keys (fingerprints, never the keys)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Add Home Assistant backup keys: a key (XXXX-XXXX-…), or an emergency-kit file holding them
    Import {
        /// The key, or the path of a file holding keys
        key_or_file: String,
    },
    /// Make a new age key for the copies: its private half is shown once, for the kit, and kept
    /// only when you confirm you have it (by typing its last group)
    Generate {
        /// Also keep the private half here, sealed with the passphrase in LIFEBOAT_SEAL_PASSPHRASE
        /// (for restore drills and restores from the dashboard)
        #[arg(long)]
        seal: bool,
    },
}

#[derive(Args)]
pub(crate) struct RestoreArgs {
    /// Where the copies are: file:///path, s3://bucket/prefix?endpoint=…, azure://account/container/prefix, webdav+https://host/folder, sftp://user@host/folder, smb://user@host/share/folder
    #[arg(long)]
    from: String,
    /// The copy to restore (its id, as listed) [default: the newest]
    #[arg(long)]
    copy: Option<String>,
    /// The emergency kit's age identity file
    #[arg(long)]
    identity: PathBuf,
    /// The Home Assistant to restore into: supervisor: (inside the add-on) or core:http://host:8123
    #[arg(long)]
    into: String,
    #[command(flatten)]
    creds: CredentialArgs,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    inline: Inline,
    /// Ship again even what history says was shipped already.
    #[arg(long)]
    reship: bool,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PruneArgs {
    #[command(flatten)]
    inline: Inline,
    /// Decide, show, delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PinArgs {
    /// The destination's name (as in the options, or as `lifeboat list` shows it)
    #[arg(long)]
    destination: String,
    /// The copy id, as listed
    copy: String,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    inline: Inline,
    /// Only the N longest-unchecked copies per destination [default: all]
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    inline: Inline,
    /// Print the manifests as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    inline: Inline,
    /// Address to listen on [default: the options' listen, else 0.0.0.0:8099 in the add-on and
    /// 127.0.0.1:8099 elsewhere]
    #[arg(long)]
    listen: Option<String>,
    /// Only these peers may connect (repeatable) [default: 172.30.32.2, Home Assistant's ingress
    /// proxy, in the add-on; anyone elsewhere]
    #[arg(long = "allow")]
    allow: Vec<std::net::IpAddr>,
}

/// Runs the command line; returns the exit code.
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
        Command::Serve(ref a) => cmd_serve(&cli, a, &env).await,
        Command::Demo { ref dir } => demo::run(dir).await,
        Command::Health { ref url } => health(url).await,
        Command::Keys(ref k) => keys(&cli, k, &env).await,
        Command::Kit {
            ref out,
            ref inline,
        } => kit(&cli, inline, out.as_deref(), &env),
        Command::Recover(ref a) => recover::run(a).await,
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

fn secret(s: Option<&String>) -> Option<Secret> {
    s.map(|s| Secret::new(s.as_str()))
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

fn default_data_dir(env: &Env) -> PathBuf {
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
    if inline.source.is_some() || !inline.to.is_empty() {
        let mut problems = Vec::new();
        let source = match &inline.source {
            Some(s) => urls::source_from_url(s)
                .map(|mut src| {
                    if inline.ship {
                        use config::options::SourceOptions;
                        if let SourceOptions::Core { mode, .. }
                        | SourceOptions::Supervisor { mode, .. } = &mut src
                        {
                            *mode = Some("ship".into());
                        }
                    }
                    src
                })
                .map_err(|p| problems.push(p))
                .ok(),
            None => {
                problems.push(config::Problem {
                    field: "--source".into(),
                    message: "name the source: folder:/path, core:http://host:8123 or supervisor:"
                        .into(),
                });
                None
            }
        };
        let destinations = urls::destinations_from_urls(&inline.to, &credentials(inline))
            .unwrap_or_else(|p| {
                problems.extend(p);
                Vec::new()
            });
        let recipients = inline.recipients.clone();
        return match (source, problems.is_empty()) {
            (Some(source), true) => Ok(Options {
                data_dir: cli.data_dir.clone(),
                source,
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
                kit_check_days: None,
                alert: None,
            }),
            _ => Err(ConfigError::Invalid(problems)),
        };
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

impl CredentialArgs {
    fn to_credentials(&self) -> Credentials {
        Credentials {
            s3_access_key_id: self.s3_access_key_id.clone(),
            s3_secret_access_key: secret(self.s3_secret_access_key.as_ref()),
            azure_account_key: secret(self.azure_account_key.as_ref()),
            azure_sas_token: secret(self.azure_sas_token.as_ref()),
            webdav_username: self.webdav_user.clone(),
            webdav_password: secret(self.webdav_password.as_ref()),
            sftp_password: secret(self.sftp_password.as_ref()),
            sftp_key: self.sftp_key.clone(),
            sftp_key_passphrase: secret(self.sftp_key_passphrase.as_ref()),
            smb_password: secret(self.smb_password.as_ref()),
        }
    }
}

fn load_config(cli: &Cli, inline: &Inline, env: &Env) -> Result<Config, ConfigError> {
    let opts = load_options(cli, inline, env)?;
    config::validate(
        opts,
        env,
        cli.data_dir
            .clone()
            .unwrap_or_else(|| default_data_dir(env)),
    )
}

fn open_destinations(specs: &[config::DestinationSpec]) -> anyhow::Result<Vec<Destination>> {
    specs
        .iter()
        .map(|d| destinations::open(d).with_context(|| format!("destination {}", d.name)))
        .collect()
}

/// Opens the key vault and files the keys from the options in it. A vault that cannot be opened
/// does not stop backups: it is reported, and the options' keys are still used.
fn open_vault(dir: &std::path::Path, keys: &[Secret]) -> Option<Arc<std::sync::Mutex<Vault>>> {
    match Vault::open(dir) {
        Ok(mut v) => {
            for k in keys {
                if let Err(e) = v.add_ha_key(k, "options", chrono::Utc::now()) {
                    tracing::warn!("filing a key from the options in the vault: {e}");
                }
            }
            Some(Arc::new(std::sync::Mutex::new(v)))
        }
        Err(e) => {
            tracing::error!("the key vault: {e}");
            None
        }
    }
}

/// Who to tell about runs: the Home Assistant the source talks to, or, inside the add-on, the
/// one behind the Supervisor; nobody for a standalone folder source.
fn reporter(
    cfg: &Config,
    http: &reqwest::Client,
    history: &History,
    watch: Watch,
    env: &Env,
) -> Option<Arc<HaReporter>> {
    let api = match &cfg.source {
        config::SourceSpec::Supervisor { url, token, .. } => {
            HaApi::via_supervisor(http.clone(), url, token.clone())
        }
        config::SourceSpec::Core { url, token, .. } => {
            HaApi::direct(http.clone(), url, token.clone())
        }
        config::SourceSpec::Folder { .. } => {
            let token = env.get("SUPERVISOR_TOKEN")?;
            let url = url::Url::parse("http://supervisor").ok()?;
            HaApi::via_supervisor(http.clone(), &url, Secret::new(token))
        }
    };
    Some(Arc::new(HaReporter::new(
        api,
        history.clone(),
        watch,
        cfg.notify_service.clone(),
    )))
}

/// The Home Assistant websocket to take `lifeboat_command` events from, with its token.
fn ha_websocket(cfg: &Config, env: &Env) -> Option<(url::Url, Secret)> {
    use lifeboat::ha::websocket::websocket_url;
    match &cfg.source {
        config::SourceSpec::Supervisor { url, token, .. } => {
            Some((websocket_url(url, "/core/websocket").ok()?, token.clone()))
        }
        config::SourceSpec::Core { url, token, .. } => {
            Some((websocket_url(url, "/api/websocket").ok()?, token.clone()))
        }
        config::SourceSpec::Folder { .. } => {
            let token = env.get("SUPERVISOR_TOKEN")?;
            let url = url::Url::parse("ws://supervisor/core/websocket").ok()?;
            Some((url, Secret::new(token)))
        }
    }
}

pub(crate) fn runner(cfg: &Config, env: &Env) -> anyhow::Result<(Runner, Option<Arc<HaReporter>>)> {
    let history = History::open(&cfg.data_dir)?;
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let reporter = reporter(cfg, &http, &history, watch(cfg), env);
    let mut observers: Vec<Arc<dyn RunObserver>> = Vec::new();
    if let Some(r) = &reporter {
        observers.push(r.clone());
    }
    if let Some(a) = &cfg.alert {
        observers.push(Arc::new(lifeboat::alert::Alerter::new(
            http.clone(),
            a.clone(),
        )));
    }
    let observer: Arc<dyn RunObserver> = Arc::new(Observers(observers));
    let vault = open_vault(&cfg.data_dir, &cfg.ha_backup_keys);
    let runner = Runner {
        source: source::build(&cfg.source, http, Patience::default()),
        destinations: open_destinations(&cfg.destinations)?,
        keys: lifeboat::crypto::keyring::Keyring {
            vault,
            options: cfg.encryption.clone(),
            options_ha_keys: cfg.ha_backup_keys.clone(),
        },
        history,
        clock: Arc::new(SystemClock),
        observer,
        tz: cfg.schedule.tz,
        keep_local: cfg.keep_local,
        progress: Arc::default(),
    };
    Ok((runner, reporter))
}

/// What must stay fresh, and how fresh.
fn watch(cfg: &Config) -> Watch {
    Watch {
        destinations: cfg.destinations.iter().map(|d| d.name.clone()).collect(),
        stale_after: cfg.stale_after,
        kit_every: cfg.kit_check_every,
        clock: Arc::new(SystemClock),
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
    let (runner, _) = runner(&cfg, env)?;
    runner.history.mark_interrupted(chrono::Utc::now()).await?;
    // Destinations owed an earlier backup get it first (a cron-driven `run` drives the queue).
    let mut reports = runner.retry_due().await?;
    reports.extend(runner.run("cli", args.reship).await?);
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
    let (runner, _) = runner(&cfg, env)?;
    let reports = runner.prune(args.dry_run).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        output::print_prune(&reports, &runner.destinations);
    }
    let failed = reports.iter().any(|r| !r.errors.is_empty())
        || reports.len()
            < runner
                .destinations
                .iter()
                .filter(|d| !d.retention.keeps_everything())
                .count();
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
    let (runner, _) = runner(&cfg, env)?;
    let checked = lifeboat::pipeline::reverify::reverify(
        &runner.destinations,
        &runner.history,
        runner.clock.as_ref(),
        cfg.schedule.verify_rate,
        args.limit,
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
    let specs = if args.inline.to.is_empty() {
        load_config(cli, &args.inline, env)?.destinations
    } else {
        let opts = urls::destinations_from_urls(&args.inline.to, &credentials(&args.inline))
            .map_err(ConfigError::Invalid)?;
        config::validate_destinations(opts)?
    };
    let dests = open_destinations(&specs)?;
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

async fn cmd_serve(cli: &Cli, args: &ServeArgs, env: &Env) -> anyhow::Result<ExitCode> {
    use lifeboat::web::ingress::{Access, SUPERVISOR_INGRESS};
    use lifeboat::web::{AppState, app, worker};
    let addon = in_addon(env);
    let access = match (&args.allow[..], addon) {
        ([], false) => Access::Any,
        ([], true) => Access::Only(Arc::new(vec![SUPERVISOR_INGRESS])),
        (list, _) => Access::Only(Arc::new(list.to_vec())),
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let csrf = lifeboat::web::csrf::Token::random()
        .map_err(|e| anyhow::anyhow!("no randomness for the page token: {e}"))?;
    let (state, listen, worker_task) = match load_config(cli, &args.inline, env) {
        Ok(cfg) => {
            let (runner, reporter) = runner(&cfg, env)?;
            runner.history.mark_interrupted(chrono::Utc::now()).await?;
            let history = runner.history.clone();
            let destinations = runner.destinations.clone();
            let api = reporter.as_ref().map(|r| r.api().clone());
            if let Some(r) = reporter {
                // Home Assistant forgets REST states when it restarts: publish them again now and then.
                let stop = shutdown.clone();
                tokio::spawn(async move {
                    loop {
                        r.publish().await;
                        tokio::select! {
                            () = stop.cancelled() => break,
                            () = tokio::time::sleep(std::time::Duration::from_secs(300)) => {}
                        }
                    }
                });
            }
            let clock = runner.clock.clone();
            let progress = runner.progress.clone();
            let keys = runner.keys.clone();
            let http = reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(30))
                .build()
                .context("building the HTTP client")?;
            let restore_into = lifeboat::recovery::restore::HaTarget::for_source(&cfg.source, http);
            let (triggers, task) = worker::spawn(
                runner,
                worker::WorkerSettings {
                    verify_rate: cfg.schedule.verify_rate,
                },
                shutdown.clone(),
            );
            let plans = schedules(&cfg);
            spawn_schedules(&plans, &history, clock, &triggers, &shutdown);
            // Automations: one JSON command per line on stdin, and lifeboat_command events.
            let handler = lifeboat::commands::Handler {
                triggers: triggers.clone(),
                history: history.clone(),
                destinations: destinations.clone(),
                watch: watch(&cfg),
                tz: cfg.schedule.tz,
                api,
                origin: "stdin",
            };
            tokio::spawn(lifeboat::commands::serve_lines(
                handler.clone(),
                tokio::io::stdin(),
                shutdown.clone(),
            ));
            if let Some((url, token)) = ha_websocket(&cfg, env) {
                let handler = lifeboat::commands::Handler {
                    origin: "event",
                    ..handler
                };
                tokio::spawn(lifeboat::commands::serve_events(
                    handler,
                    url,
                    token,
                    shutdown.clone(),
                ));
            }
            let services = lifeboat::web::Services {
                history,
                triggers,
                destinations,
                watch: watch(&cfg),
                schedules: plans,
                tz: cfg.schedule.tz,
                progress,
                keys,
                pending_key: Arc::default(),
                restore_into,
            };
            let state = AppState {
                services: Some(Arc::new(services)),
                problems: Arc::new(Vec::new()),
                access: access.clone(),
                csrf: csrf.clone(),
                shutdown: shutdown.clone(),
            };
            (state, cfg.listen.clone(), Some(task))
        }
        // Stay up and say what is wrong rather than crash-loop.
        Err(e) => {
            tracing::error!("{e}");
            let problems = if e.problems().is_empty() {
                vec![e.to_string()]
            } else {
                e.problems().iter().map(ToString::to_string).collect()
            };
            let state = AppState {
                services: None,
                problems: Arc::new(problems),
                access: access.clone(),
                csrf: csrf.clone(),
                shutdown: shutdown.clone(),
            };
            (state, None, None)
        }
    };
    let addr = args
        .listen
        .clone()
        .or(listen)
        .unwrap_or_else(|| default_listen(addon).into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!("serving on http://{addr}");
    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        stop.cancel();
    });
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .await?;
    if let Some(t) = worker_task {
        let _ = t.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The backup and re-verification schedules the options ask for.
fn schedules(cfg: &Config) -> Vec<lifeboat::schedule::Schedule> {
    let plans: [(&'static str, Option<&croner::Cron>, std::time::Duration); 2] = [
        ("backup", cfg.schedule.backup.as_ref(), cfg.schedule.jitter),
        (
            "verify",
            cfg.schedule.verify.as_ref(),
            std::time::Duration::ZERO,
        ),
    ];
    plans
        .into_iter()
        .filter_map(|(name, cron, jitter)| {
            Some(lifeboat::schedule::Schedule {
                name,
                cron: cron?.clone(),
                tz: cfg.schedule.tz,
                jitter,
            })
        })
        .collect()
}

/// Drives `plans`, and looks at the retry queue every minute, all through the single-flight
/// worker.
fn spawn_schedules(
    plans: &[lifeboat::schedule::Schedule],
    history: &History,
    clock: Arc<dyn lifeboat::clock::Clock>,
    triggers: &lifeboat::web::Triggers,
    shutdown: &tokio_util::sync::CancellationToken,
) {
    use lifeboat::pipeline::run::RunRequest;
    use lifeboat::schedule::{self, Fire, RandomJitter};
    use lifeboat::web::worker::Job;
    for plan in plans {
        let t = triggers.clone();
        let name = plan.name;
        let fire: Fire = Arc::new(move |trigger: &str| {
            let job = if name == "backup" {
                Job::Backup(RunRequest::new(trigger))
            } else {
                Job::Verify
            };
            t.submit(job).map_err(|e| e.to_string())
        });
        tokio::spawn(schedule::drive(
            plan.clone(),
            history.clone(),
            clock.clone(),
            Arc::new(RandomJitter),
            fire,
            shutdown.clone(),
        ));
    }
    let (history, triggers, stop) = (history.clone(), triggers.clone(), shutdown.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            }
            let now = clock.now();
            let due = history
                .retries()
                .await
                .map(|r| r.iter().any(|r| r.next_at <= now))
                .unwrap_or(false);
            // Busy is fine: the queue is looked at again in a minute.
            if due && triggers.submit(Job::Retry).is_ok() {
                tracing::info!("retrying destinations that are owed a backup");
            }
        }
    });
}

fn kit(
    cli: &Cli,
    inline: &Inline,
    out: Option<&std::path::Path>,
    env: &Env,
) -> anyhow::Result<ExitCode> {
    let cfg = load_config(cli, inline, env)?;
    use lifeboat::crypto::kit::{Kit, KitPlace};
    let keys = lifeboat::crypto::keyring::Keyring {
        vault: Some(Arc::new(std::sync::Mutex::new(Vault::open(&cfg.data_dir)?))),
        options: cfg.encryption.clone(),
        options_ha_keys: cfg.ha_backup_keys.clone(),
    };
    let text = Kit::gather(
        chrono::Utc::now(),
        &keys.ha_keys(),
        &keys.encryption(),
        &[],
        cfg.destinations.iter().map(KitPlace::from).collect(),
    )
    .text();
    match out {
        None => print!("{text}"),
        Some(path) => {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts
                .open(path)
                .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            println!(
                "The emergency kit is in {}: print it, then delete the file.",
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn keys(cli: &Cli, command: &KeysCommand, env: &Env) -> anyhow::Result<ExitCode> {
    let dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir(env));
    let mut v = Vault::open(&dir)?;
    match command {
        KeysCommand::List { json } => {
            let (ha, age) = (v.list(), v.age_keys());
            if *json {
                let both = serde_json::json!({"ha_keys": ha, "age_keys": age});
                println!("{}", serde_json::to_string_pretty(&both)?);
                return Ok(ExitCode::SUCCESS);
            }
            if ha.is_empty() {
                println!(
                    "The vault in {} holds no Home Assistant backup key yet.",
                    dir.display()
                );
            }
            for k in ha {
                println!(
                    "{}  added {}  from {}",
                    k.fingerprint,
                    k.added.format("%Y-%m-%d"),
                    k.origin
                );
            }
            for k in age {
                println!(
                    "{}  age key made {}{}  {}",
                    k.fingerprint,
                    k.made.format("%Y-%m-%d"),
                    if k.sealed { ", sealed here" } else { "" },
                    k.recipient
                );
            }
        }
        KeysCommand::Generate { seal } => return generate_key(&dir, &mut v, *seal, env).await,
        KeysCommand::Import { key_or_file } => {
            let path = std::path::Path::new(key_or_file);
            let found = if path.is_file() {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                vault::keys_in_kit(&text)
            } else {
                vault::keys_in_kit(key_or_file)
            };
            anyhow::ensure!(
                !found.is_empty(),
                "no Home Assistant backup key (7 groups of 4 letters and digits, like ABCD-EFGH-…) found in what was given"
            );
            for k in found {
                let key = Secret::new(k);
                let fingerprint = lifeboat::archive::securetar::ha_key_fingerprint(key.expose());
                let new = v.add_ha_key(&key, "import", chrono::Utc::now())?;
                println!(
                    "{fingerprint}: {}",
                    if new { "added" } else { "already in the vault" }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `lifeboat keys generate`: shows a new key pair's private half once, and files the pair only
/// when the person types its last group back (proof they wrote it down or printed it).
async fn generate_key(
    dir: &std::path::Path,
    vault: &mut Vault,
    seal: bool,
    env: &Env,
) -> anyhow::Result<ExitCode> {
    use lifeboat::crypto::identity::{GROUP, KeyPair};
    let sealed_with = if seal {
        let pass = env.get("LIFEBOAT_SEAL_PASSPHRASE").context(
            "--seal takes the passphrase from LIFEBOAT_SEAL_PASSPHRASE (it never goes on the command line)",
        )?;
        Some(Secret::new(pass))
    } else {
        None
    };
    let pair = KeyPair::generate();
    let sealed = sealed_with.map(|p| pair.seal(&p)).transpose()?;
    println!(
        "A new age key for your copies. Write it down or print it NOW: Lifeboat shows it only once.\n\n  \
         {}\n\n  for copying by hand:\n  {}\n\n  public key: {}\n",
        pair.secret().expose(),
        pair.groups().join(" "),
        pair.recipient()
    );
    println!("Type its last group ({GROUP} characters) to confirm you have it:");
    let mut typed = String::new();
    std::io::stdin()
        .read_line(&mut typed)
        .context("reading the last group")?;
    let last = lifeboat::crypto::kit::last_group(pair.secret().expose());
    if !typed.trim().eq_ignore_ascii_case(&last) {
        eprintln!(
            "lifeboat: that is not the key's last group; nothing was kept. Run `lifeboat keys generate` again."
        );
        return Ok(ExitCode::FAILURE);
    }
    let now = chrono::Utc::now();
    vault.add_age_key(&pair, sealed, now)?;
    let history = History::open(dir)?;
    history
        .record_kit_check(
            now,
            true,
            "a new age key was made and its last group typed back",
        )
        .await?;
    println!(
        "Kept. Copies from now on are encrypted to {} ({}){}. Print the kit with `lifeboat kit`.",
        pair.recipient(),
        lifeboat::crypto::recipient_fingerprint(&pair.recipient()),
        if seal {
            "; its private half is sealed here with your passphrase"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
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

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
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
