//! Options → [`Config`]: every check in one place, every problem collected (not just the first),
//! each naming its field.

use super::options::{
    AlertOptions, CommandLine, DestinationOptions, EncryptionOptions, Options, ScheduleOptions,
    SourceEntry, SourceOptions,
};
use super::{
    AlertKind, AlertSpec, AzureCredential, Config, ConfigError, DestinationKind, DestinationSpec,
    EncryptionSpec, Env, NamedSource, Problem, RcloneSpec, ScheduleSpec, SftpAuth, SftpSpec,
    SmbSpec, SourceMode, SourceSpec, SupervisorMethod,
};
use crate::archive::content::{Compression, DumpTool};
use crate::retention::Policy;
use crate::secret::Secret;
use std::collections::HashSet;
use std::path::PathBuf;
use url::Url;

/// The Supervisor's address inside an add-on container.
pub const SUPERVISOR_URL: &str = "http://supervisor";

/// Validates options. `default_data_dir` is used when the options name none.
///
/// # Errors
/// [`ConfigError::Invalid`] listing every problem found.
pub fn validate(
    opts: Options,
    env: &Env,
    default_data_dir: PathBuf,
) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let default_policy = policy(
        opts.retention.as_deref(),
        "retention",
        Policy::default(),
        &mut problems,
    );
    let data_dir = opts.data_dir.unwrap_or(default_data_dir);
    let mut destinations = destinations(opts.destinations, default_policy, &mut problems);
    for d in &mut destinations {
        match &mut d.kind {
            DestinationKind::Sftp(sftp) => {
                sftp.known_hosts = Some(data_dir.join(super::SFTP_KNOWN_HOSTS));
            }
            // A relative rclone.conf (the default one among them) is in the data folder.
            DestinationKind::Rclone(rclone) => {
                if let Some(conf) = &mut rclone.config
                    && conf.is_relative()
                {
                    *conf = data_dir.join(&*conf);
                }
            }
            _ => {}
        }
    }
    let sources = sources(opts.source, opts.sources, env, &destinations, &mut problems);
    let source = sources.first().map(|s| s.spec.clone());
    let schedule = schedule(opts.schedule, env, &mut problems);
    let alert = opts.alert.and_then(|a| alert(a, &mut problems));
    let stale_hours = opts.stale_after_hours.unwrap_or(super::DEFAULT_STALE_HOURS);
    if opts.keep_local.is_some() && source.as_ref().is_some_and(|s| !s.is_home_assistant()) {
        problems.push(problem(
            "keep_local",
            "applies to the supervisor and core sources only: Lifeboat does not delete files from a \
             folder source",
        ));
    }
    let min_verified = opts.min_verified.unwrap_or(1) as usize;
    if min_verified == 0 {
        problems.push(problem(
            "min_verified",
            "must be at least 1: a safe update waits for a verified copy before it installs",
        ));
    } else if !destinations.is_empty() && min_verified > destinations.len() {
        problems.push(problem(
            "min_verified",
            &format!(
                "is {min_verified}, but only {} destinations are configured: no safe update could \
                 ever install",
                destinations.len()
            ),
        ));
    }
    if opts.ship_new_backups == Some(true)
        && source.as_ref().is_some_and(|s| !s.is_home_assistant())
    {
        problems.push(problem(
            "ship_new_backups",
            "applies to the supervisor and core sources only: a folder source ships every new file \
             on each run",
        ));
    }
    if stale_hours == 0 {
        problems.push(problem(
            "stale_after_hours",
            "must be at least 1 (hours without a verified copy before Lifeboat says so)",
        ));
    }
    let encryption = encryption(opts.encryption, &mut problems);
    // `notify.mobile_app_x` and `mobile_app_x` both name the service `mobile_app_x`.
    let notify_service = opts
        .notify_service
        .as_deref()
        .map(|s| s.trim().trim_start_matches("notify.").to_owned())
        .filter(|s| !s.is_empty());
    if let Some(service) = &notify_service
        && !service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        problems.push(problem(
            "notify_service",
            &format!("{service:?} is not a notify service name like mobile_app_my_phone"),
        ));
    }
    if let Some(listen) = &opts.listen
        && listen.parse::<std::net::SocketAddr>().is_err()
    {
        problems.push(problem(
            "listen",
            &format!("{listen:?} is not an address and port like 127.0.0.1:8099"),
        ));
    }
    match (source, encryption) {
        (Some(source), Some(encryption)) if problems.is_empty() => Ok(Config {
            data_dir,
            source,
            sources,
            destinations,
            encryption,
            ha_backup_keys: opts
                .ha_backup_keys
                .into_iter()
                .filter(|k| !k.is_empty())
                .collect(),
            notify_service,
            listen: opts.listen,
            schedule,
            keep_local: opts.keep_local,
            stale_after: std::time::Duration::from_secs(u64::from(stale_hours) * 3600),
            min_verified,
            ship_new_backups: opts.ship_new_backups.unwrap_or(false),
            kit_check_every: match opts.kit_check_days.unwrap_or(super::DEFAULT_KIT_CHECK_DAYS) {
                0 => None,
                days => Some(std::time::Duration::from_secs(u64::from(days) * 86_400)),
            },
            alert,
        }),
        _ => Err(ConfigError::Invalid(problems)),
    }
}

/// Validates only destinations (for commands that need nothing else, like `list`).
///
/// # Errors
/// [`ConfigError::Invalid`] listing every problem found.
pub fn validate_destinations(
    opts: Vec<DestinationOptions>,
) -> Result<Vec<DestinationSpec>, ConfigError> {
    let mut problems = Vec::new();
    let out = destinations(opts, Policy::default(), &mut problems);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// The prefix of a [`cautions`] line (the dashboard tags it by this).
pub const CLEARTEXT: &str = "cleartext: ";

/// Settings that work but put something at risk, in plain words, each starting with its tag
/// ([`CLEARTEXT`]): today a WebDAV destination whose address is `http://` to another machine, where
/// the password (sent with every request, HTTP Basic) crosses the network unencrypted. A loopback
/// address (`localhost`, `127.0.0.0/8`, `::1`) never leaves the box, so it is no caution.
pub fn cautions(destinations: &[DestinationSpec]) -> Vec<String> {
    destinations
        .iter()
        .filter_map(|d| match &d.kind {
            DestinationKind::Webdav { url, password, .. }
                if url.scheme() == "http" && !password.is_empty() && !is_loopback(url) =>
            {
                Some(format!(
                    "{CLEARTEXT}the WebDAV destination {} sends its password in the clear to {} \
                     (http://): anyone on the network on the way can read it and use the account; \
                     change its url to https:// (a self-signed certificate can be pinned with \
                     certificate_sha256)",
                    d.name,
                    url.host_str().unwrap_or_default()
                ))
            }
            _ => None,
        })
        .collect()
}

/// Whether `url` names this machine: `localhost` or a loopback address.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

fn destinations(
    opts: Vec<DestinationOptions>,
    default_policy: Policy,
    problems: &mut Vec<Problem>,
) -> Vec<DestinationSpec> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    if opts.is_empty() {
        problems.push(problem(
            "destinations",
            "add at least one destination (a folder, an S3 bucket or an Azure container)",
        ));
    }
    for (i, d) in opts.into_iter().enumerate() {
        if let Some(d) = destination(d, &format!("destinations[{i}]"), default_policy, problems) {
            if !names.insert(d.name.clone()) {
                problems.push(problem(
                    &format!("destinations[{i}].name"),
                    &format!(
                        "the name {:?} is used twice; give each destination its own",
                        d.name
                    ),
                ));
            }
            out.push(d);
        }
    }
    out
}

fn problem(field: &str, message: &str) -> Problem {
    Problem {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

fn non_empty_secret(s: Option<Secret>) -> Option<Secret> {
    s.filter(|s| !s.is_empty())
}

fn http_url(raw: &str, field: &str, problems: &mut Vec<Problem>) -> Option<Url> {
    match Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(_) => {
            problems.push(problem(
                field,
                &format!("{raw:?} must be an http:// or https:// address"),
            ));
            None
        }
        Err(e) => {
            problems.push(problem(field, &format!("{raw:?} is not a URL ({e})")));
            None
        }
    }
}

/// Every source: the shorthand `source` and the `sources` list, Home Assistant's first.
fn sources(
    shorthand: Option<SourceOptions>,
    entries: Vec<SourceEntry>,
    env: &Env,
    destinations: &[DestinationSpec],
    problems: &mut Vec<Problem>,
) -> Vec<NamedSource> {
    let mut out = Vec::new();
    if shorthand.is_none() && entries.is_empty() {
        problems.push(problem(
            "source",
            "name where backups come from: a source (supervisor, core, folder, dir or command), or a \
             list of sources",
        ));
    }
    if let Some(spec) = shorthand.and_then(|s| source(s, env, problems)) {
        out.push(NamedSource {
            name: spec.default_name(),
            spec,
            destinations: Vec::new(),
            schedule: None,
            retention: None,
            stale_after: None,
        });
    }
    for (i, entry) in entries.into_iter().enumerate() {
        let at = format!("sources[{i}]");
        let field = |f: &str| format!("{at}.{f}");
        let name = entry.name.trim().to_owned();
        if name.is_empty()
            || name.len() > 40
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            problems.push(problem(
                &field("name"),
                &format!(
                    "{name:?} is not a source name: use up to 40 lowercase letters, digits, - and _ \
                     (like postgres or configs)"
                ),
            ));
        }
        if out.iter().any(|s: &NamedSource| s.name == name) {
            problems.push(problem(
                &field("name"),
                &format!("{name:?} names two sources: give each its own name"),
            ));
        }
        for d in &entry.destinations {
            if !destinations.iter().any(|x| x.name == *d) {
                problems.push(problem(
                    &field("destinations"),
                    &format!("there is no destination named {d:?}"),
                ));
            }
        }
        let schedule = cron(entry.schedule.as_deref(), &field("schedule"), problems);
        let retention = entry
            .retention
            .as_deref()
            .map(|r| policy(Some(r), &field("retention"), Policy::default(), problems));
        if entry.stale_after_hours == Some(0) {
            problems.push(problem(
                &field("stale_after_hours"),
                "must be at least 1 (hours without a verified copy before Lifeboat says so)",
            ));
        }
        let mut own = Vec::new();
        let spec = source(entry.source, env, &mut own);
        problems.extend(own.into_iter().map(|mut p| {
            if let Some(rest) = p.field.strip_prefix("source.") {
                p.field = field(rest);
            }
            p
        }));
        if let Some(spec) = spec {
            out.push(NamedSource {
                name,
                spec,
                destinations: entry.destinations,
                schedule,
                retention,
                stale_after: entry
                    .stale_after_hours
                    .map(|h| std::time::Duration::from_secs(u64::from(h) * 3600)),
            });
        }
    }
    if out.iter().filter(|s| s.spec.is_home_assistant()).count() > 1 {
        problems.push(problem(
            "sources",
            "names Home Assistant twice: keep one core or supervisor source",
        ));
    }
    // Home Assistant first: it is what safe updates, keep_local and backup events are about.
    if let Some(i) = out.iter().position(|s| s.spec.is_home_assistant()) {
        let ha = out.remove(i);
        out.insert(0, ha);
    }
    out
}

fn source(opts: SourceOptions, env: &Env, problems: &mut Vec<Problem>) -> Option<SourceSpec> {
    match opts {
        SourceOptions::Dir {
            path,
            exclude,
            compression,
        } => {
            if path.as_os_str().is_empty() || !path.is_absolute() {
                problems.push(problem(
                    "source.path",
                    &format!(
                        "{:?} must be a folder's full path, like /share or /opt/halo/configs",
                        path.display()
                    ),
                ));
            }
            for g in &exclude {
                if let Err(e) = glob::Pattern::new(g) {
                    problems.push(problem(
                        "source.exclude",
                        &format!("{g:?} is not a glob ({e}); write *.tmp or cache/*"),
                    ));
                }
            }
            let compression = compression_of(compression.as_deref(), Compression::None, problems);
            Some(SourceSpec::Dir {
                path,
                exclude,
                compression,
            })
        }
        SourceOptions::Command {
            command,
            environment,
            compression,
            dump,
        } => {
            let argv = match command {
                CommandLine::Words(w) => w,
                CommandLine::Line(l) => shlex::split(&l).unwrap_or_else(|| {
                    problems.push(problem(
                        "source.command",
                        &format!(
                            "{:?} has a quote that is never closed",
                            crate::secret::scrub(&l, &[])
                        ),
                    ));
                    Vec::new()
                }),
            };
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                problems.push(problem(
                    "source.command",
                    "name the command to run, like [\"pg_dumpall\", \"-U\", \"postgres\"]",
                ));
            }
            for name in environment.keys() {
                let ok = !name.is_empty()
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !ok {
                    problems.push(problem(
                        "source.environment",
                        &format!("{name:?} is not a variable name like PGPASSWORD"),
                    ));
                }
            }
            let compression = compression_of(compression.as_deref(), Compression::Gzip, problems);
            let tool = match dump.as_deref().map(DumpTool::parse) {
                None => DumpTool::guess(&argv),
                Some(Ok(t)) => t,
                Some(Err(e)) => {
                    problems.push(problem("source.dump", &e));
                    DumpTool::Other
                }
            };
            Some(SourceSpec::Command {
                argv,
                environment: environment.into_iter().collect(),
                compression,
                tool,
            })
        }
        SourceOptions::Folder { path } => {
            if path.as_os_str().is_empty() {
                problems.push(problem(
                    "source.path",
                    "name the folder that holds the backup tars",
                ));
                return None;
            }
            Some(SourceSpec::Folder { path })
        }
        SourceOptions::Core {
            url,
            token,
            agent_id,
            mode,
        } => {
            let mode = source_mode(mode.as_deref(), problems);
            let url = http_url(&url, "source.url", problems);
            let token = non_empty_secret(token).or_else(|| env.get("HA_TOKEN").map(Secret::new));
            if token.is_none() {
                problems.push(problem(
                    "source.token",
                    "a long-lived access token is needed (create one in your Home Assistant profile, \
                     Security tab); set it here or in HA_TOKEN",
                ));
            }
            Some(SourceSpec::Core {
                url: url?,
                token: token?,
                agent_id: agent_id.filter(|a| !a.is_empty()),
                mode: mode?,
            })
        }
        SourceOptions::Supervisor {
            method,
            url,
            token,
            mode,
        } => {
            let mode = source_mode(mode.as_deref(), problems);
            let method = match method.as_deref() {
                None | Some("websocket") => Some(SupervisorMethod::Websocket),
                Some("rest") => Some(SupervisorMethod::Rest),
                Some(other) => {
                    problems.push(problem(
                        "source.method",
                        &format!("{other:?} is not a method; use \"websocket\" or \"rest\""),
                    ));
                    None
                }
            };
            let url = http_url(
                url.as_deref().unwrap_or(SUPERVISOR_URL),
                "source.url",
                problems,
            );
            let token =
                non_empty_secret(token).or_else(|| env.get("SUPERVISOR_TOKEN").map(Secret::new));
            if token.is_none() {
                problems.push(problem(
                    "source.token",
                    "SUPERVISOR_TOKEN is not set: the supervisor source works only inside the add-on \
                     (use the core or folder source elsewhere)",
                ));
            }
            Some(SourceSpec::Supervisor {
                url: url?,
                token: token?,
                method: method?,
                mode: mode?,
            })
        }
    }
}

fn compression_of(
    raw: Option<&str>,
    default: Compression,
    problems: &mut Vec<Problem>,
) -> Compression {
    match raw.map(Compression::parse) {
        None => default,
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            problems.push(problem("source.compression", &e));
            default
        }
    }
}

/// A retention policy as written, `default` when none is.
fn policy(text: Option<&str>, field: &str, default: Policy, problems: &mut Vec<Problem>) -> Policy {
    match text.map(Policy::parse) {
        None => default,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            problems.push(problem(field, &e));
            default
        }
    }
}

fn cron(text: Option<&str>, field: &str, problems: &mut Vec<Problem>) -> Option<croner::Cron> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    match text.parse::<croner::Cron>() {
        Ok(c) => Some(c),
        Err(e) => {
            problems.push(problem(
                field,
                &format!(
                    "{text:?} is not a cron expression ({e}); write minute hour day month weekday, \
                     like \"30 3 * * *\" for 03:30 every day"
                ),
            ));
            None
        }
    }
}

fn schedule(opts: ScheduleOptions, env: &Env, problems: &mut Vec<Problem>) -> ScheduleSpec {
    let tz = match opts
        .timezone
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(name) => name.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            problems.push(problem(
                "schedule.timezone",
                &format!("{name:?} is not a time zone; use an IANA name like Europe/Berlin"),
            ));
            chrono_tz::UTC
        }),
        // The Supervisor gives every add-on Home Assistant's time zone in TZ.
        None => env
            .get("TZ")
            .and_then(|t| t.parse().ok())
            .unwrap_or(chrono_tz::UTC),
    };
    let rate = opts
        .verify_mib_per_second
        .map_or(super::DEFAULT_VERIFY_MIB, u64::from);
    if rate == 0 {
        problems.push(problem(
            "schedule.verify_mib_per_second",
            "must be at least 1 (MiB per second re-verification may read)",
        ));
    }
    ScheduleSpec {
        backup: cron(opts.backup.as_deref(), "schedule.backup", problems),
        verify: cron(opts.verify.as_deref(), "schedule.verify", problems),
        jitter: std::time::Duration::from_secs(u64::from(opts.jitter_minutes.unwrap_or(0)) * 60),
        tz,
        verify_rate: rate * 1024 * 1024,
    }
}

fn alert(opts: AlertOptions, problems: &mut Vec<Problem>) -> Option<AlertSpec> {
    let kind = match opts.kind.as_deref() {
        None | Some("webhook") => Some(AlertKind::Webhook),
        Some("ntfy") => Some(AlertKind::Ntfy),
        Some("healthchecks") => Some(AlertKind::Healthchecks),
        Some(other) => {
            problems.push(problem(
                "alert.kind",
                &format!("{other:?} is not an alert kind; use webhook, ntfy or healthchecks"),
            ));
            None
        }
    };
    // The options page sends an empty section when no alert is set up.
    let raw = opts.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let Some(raw) = raw else {
        if opts.kind.is_some() || opts.on_success.is_some() {
            problems.push(problem("alert.url", "set the address the alert goes to"));
        }
        return None;
    };
    let url = http_url(raw, "alert.url", problems);
    Some(AlertSpec {
        url: url?,
        kind: kind?,
        on_success: opts.on_success.unwrap_or(false),
    })
}

fn source_mode(mode: Option<&str>, problems: &mut Vec<Problem>) -> Option<SourceMode> {
    match mode.map(str::trim) {
        None | Some("" | "create") => Some(SourceMode::Create),
        Some("ship") => Some(SourceMode::Ship),
        Some(other) => {
            problems.push(problem(
                "source.mode",
                &format!(
                    "{other:?} is not a mode; use \"create\" (Lifeboat asks for backups) or \"ship\" \
                     (Lifeboat ships the backups Home Assistant makes)"
                ),
            ));
            None
        }
    }
}

/// Names show up in object paths, history and entity ids: keep them short and plain.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Trims slashes so a prefix is `a/b/` or empty.
pub(crate) fn normalize_prefix(prefix: Option<&str>) -> String {
    let p = prefix.unwrap_or("").trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// `default_policy` is the top-level `retention`, for destinations that name none.
/// Checks an rclone remote as written: `NAME:folder`, the name as rclone allows it (letters,
/// digits, `_ - .` and spaces), or an on-the-fly `:type:folder`. Settings after a comma
/// (`gdrive,chunk_size=64M:folder`) pass through, but not secrets, which would show wherever the
/// remote is shown.
fn rclone_remote(remote: &str) -> Result<(), String> {
    const EXAMPLE: &str = "like gdrive:Home Assistant/lifeboat (the name you gave the remote in \
                           rclone, a colon, then the folder)";
    let Some((name, _folder)) = remote.split_once(':') else {
        return Err(if remote.is_empty() {
            format!("name the remote and its folder, {EXAMPLE}")
        } else {
            format!("{remote:?} has no colon after the remote's name; write it {EXAMPLE}")
        });
    };
    let (base, settings) = name.split_once(',').unwrap_or((name, ""));
    let on_the_fly = base.is_empty() && remote.starts_with(':');
    let base_ok = base
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
        && !base.starts_with(['-', ' '])
        && !base.ends_with(' ');
    if !on_the_fly && (base.is_empty() || !base_ok) {
        return Err(format!(
            "{base:?} is not a remote name rclone takes (letters, digits, _ - . and spaces); \
             write it {EXAMPLE}"
        ));
    }
    let secret_words = ["pass", "secret", "token", "key", "sas"];
    if let Some(key) = settings
        .split(',')
        .filter_map(|kv| kv.split('=').next())
        .find(|k| {
            secret_words
                .iter()
                .any(|w| k.to_ascii_lowercase().contains(w))
        })
    {
        return Err(format!(
            "{key:?} looks like a secret: keep it in rclone.conf (or connect the drive on the \
             dashboard), since the remote is shown wherever its copies are"
        ));
    }
    Ok(())
}

fn destination(
    opts: DestinationOptions,
    at: &str,
    default_policy: Policy,
    problems: &mut Vec<Problem>,
) -> Option<DestinationSpec> {
    let before = problems.len();
    let retention = policy(
        opts.retention(),
        &format!("{at}.retention"),
        default_policy,
        problems,
    );
    let (name, kind) = match opts {
        DestinationOptions::Local { name, path, .. } => {
            if !path.is_absolute() {
                problems.push(problem(
                    &format!("{at}.path"),
                    &format!(
                        "{} must be an absolute path, like /media/usb/ha-backups",
                        path.display()
                    ),
                ));
            }
            (name, DestinationKind::Local { path })
        }
        DestinationOptions::S3 {
            name,
            bucket,
            prefix,
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            path_style,
            ..
        } => {
            if bucket.is_empty() || bucket.contains('/') {
                problems.push(problem(
                    &format!("{at}.bucket"),
                    "name the bucket, without slashes",
                ));
            }
            if let Some(e) = endpoint.as_deref().filter(|e| !e.is_empty()) {
                http_url(e, &format!("{at}.endpoint"), problems);
            }
            if access_key_id.is_empty() {
                problems.push(problem(
                    &format!("{at}.access_key_id"),
                    "the access key id is empty",
                ));
            }
            if secret_access_key.is_empty() {
                problems.push(problem(
                    &format!("{at}.secret_access_key"),
                    "the secret access key is empty",
                ));
            }
            let endpoint = endpoint.filter(|e| !e.is_empty());
            let region = region
                .filter(|r| !r.is_empty())
                .or_else(|| endpoint.as_deref().and_then(region_from_endpoint))
                .unwrap_or_else(|| "us-east-1".to_owned());
            (
                name,
                DestinationKind::S3 {
                    bucket,
                    prefix: normalize_prefix(prefix.as_deref()),
                    path_style: path_style.unwrap_or(endpoint.is_some()),
                    endpoint,
                    region,
                    access_key_id,
                    secret_access_key,
                },
            )
        }
        DestinationOptions::Sftp {
            name,
            host,
            port,
            username,
            password,
            private_key,
            private_key_passphrase,
            path,
            host_key,
            ..
        } => {
            if host.is_empty() || host.contains(['/', ' ', '@']) {
                problems.push(problem(
                    &format!("{at}.host"),
                    "give the server's name or address only, like nas.local or 192.168.1.20",
                ));
            }
            if port == Some(0) {
                problems.push(problem(
                    &format!("{at}.port"),
                    "0 is not a port; SSH uses 22",
                ));
            }
            if username.is_empty() {
                problems.push(problem(&format!("{at}.username"), "the user name is empty"));
            }
            let password = non_empty_secret(password);
            let private_key = private_key.filter(|p| !p.as_os_str().is_empty());
            let auth = match (password, private_key) {
                (Some(p), None) => Some(SftpAuth::Password(p)),
                (None, Some(path)) => {
                    if !path.is_absolute() {
                        problems.push(problem(
                            &format!("{at}.private_key"),
                            &format!(
                                "{} must be an absolute path to the key file, like /ssl/lifeboat_ed25519",
                                path.display()
                            ),
                        ));
                    }
                    Some(SftpAuth::Key {
                        path,
                        passphrase: non_empty_secret(private_key_passphrase),
                    })
                }
                (Some(_), Some(_)) => {
                    problems.push(problem(
                        &format!("{at}.password"),
                        "set either password or private_key, not both",
                    ));
                    None
                }
                (None, None) => {
                    problems.push(problem(
                        &format!("{at}.password"),
                        "set password, or private_key (the path of an OpenSSH key file)",
                    ));
                    None
                }
            };
            let host_key = host_key.filter(|k| !k.trim().is_empty()).and_then(|k| {
                match super::host_key::host_key_fingerprint(&k) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        problems.push(problem(&format!("{at}.host_key"), &e));
                        None
                    }
                }
            });
            (
                name,
                DestinationKind::Sftp(SftpSpec {
                    host,
                    port: port.unwrap_or(22),
                    username,
                    auth: auth?,
                    path: path.unwrap_or_default(),
                    host_key,
                    known_hosts: None,
                }),
            )
        }
        DestinationOptions::Smb {
            name,
            host,
            port,
            share,
            path,
            username,
            password,
            domain,
            ..
        } => {
            let host = host.trim().to_owned();
            if host.is_empty() || host.contains(['/', '\\', ' ', '@']) {
                problems.push(problem(
                    &format!("{at}.host"),
                    "give the server's name or address only, like nas.local or 192.168.1.20 \
                     (the share goes in share, the folder in path)",
                ));
            }
            if port == Some(0) {
                problems.push(problem(
                    &format!("{at}.port"),
                    "0 is not a port; SMB uses 445",
                ));
            }
            let share = share.trim().trim_matches(['/', '\\']).to_owned();
            if share.is_empty() {
                problems.push(problem(
                    &format!("{at}.share"),
                    "give the share's name, like backups for \\\\nas\\backups",
                ));
            } else if share.contains(['/', '\\']) {
                problems.push(problem(
                    &format!("{at}.share"),
                    &format!(
                        "{share:?} is a share and a folder: put the share's name in share and the \
                         folder inside it in path"
                    ),
                ));
            }
            if username.is_empty() {
                problems.push(problem(&format!("{at}.username"), "the user name is empty"));
            }
            if password.is_empty() {
                problems.push(problem(&format!("{at}.password"), "the password is empty"));
            }
            let path = path.unwrap_or_default().replace('\\', "/");
            let path = path
                .split('/')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("/");
            if path.split('/').any(|p| p == "..") {
                problems.push(problem(
                    &format!("{at}.path"),
                    "the folder cannot climb out of the share with ..",
                ));
            }
            (
                name,
                DestinationKind::Smb(SmbSpec {
                    host,
                    port: port.unwrap_or(445),
                    share,
                    path,
                    username,
                    password,
                    domain: domain.unwrap_or_default().trim().to_owned(),
                }),
            )
        }
        DestinationOptions::Rclone {
            name,
            remote,
            rclone_config,
            from_command_line,
            ..
        } => {
            let remote = remote.trim().to_owned();
            if let Err(why) = rclone_remote(&remote) {
                problems.push(problem(&format!("{at}.remote"), &why));
            }
            let config = match (rclone_config, from_command_line) {
                (Some(path), _) => Some(path),
                (None, true) => None,
                (None, false) => Some(PathBuf::from(super::RCLONE_CONF)),
            };
            (
                name,
                DestinationKind::Rclone(RcloneSpec {
                    remote,
                    config,
                    program: PathBuf::from("rclone"),
                }),
            )
        }
        DestinationOptions::Webdav {
            name,
            url,
            username,
            password,
            segment_mb,
            certificate_sha256,
            ..
        } => {
            let url = http_url(&url, &format!("{at}.url"), problems);
            if let Some(u) = &url
                && (!u.username().is_empty() || u.password().is_some())
            {
                problems.push(problem(
                    &format!("{at}.url"),
                    "put the user name and password in their own fields, not in the address",
                ));
            }
            if username.is_empty() {
                problems.push(problem(&format!("{at}.username"), "the user name is empty"));
            }
            if password.is_empty() {
                problems.push(problem(
                    &format!("{at}.password"),
                    "the password is empty (Nextcloud: make an app password under Settings → Security)",
                ));
            }
            let segment = match segment_mb {
                None | Some(0) => None,
                Some(mb @ 1..=102_400) => Some(u64::from(mb) << 20),
                Some(mb) => {
                    problems.push(problem(
                        &format!("{at}.segment_mb"),
                        &format!(
                            "{mb} MiB is more than any server takes in one request; use 1 to 102400"
                        ),
                    ));
                    None
                }
            };
            let certificate_sha256 = certificate_sha256
                .filter(|c| !c.trim().is_empty())
                .and_then(|c| match fingerprint(&c) {
                    Some(f) => Some(f),
                    None => {
                        problems.push(problem(
                            &format!("{at}.certificate_sha256"),
                            "must be the certificate's SHA-256: 64 hex digits, colons allowed \
                             (openssl x509 -noout -fingerprint -sha256)",
                        ));
                        None
                    }
                });
            if certificate_sha256.is_some() && url.as_ref().is_some_and(|u| u.scheme() != "https") {
                problems.push(problem(
                    &format!("{at}.certificate_sha256"),
                    "a pinned certificate needs an https:// address",
                ));
            }
            (
                name,
                DestinationKind::Webdav {
                    url: url?,
                    username,
                    password,
                    segment,
                    certificate_sha256,
                },
            )
        }
        DestinationOptions::Azure {
            name,
            account,
            container,
            prefix,
            endpoint,
            account_key,
            sas_token,
            ..
        } => {
            if account.is_empty() {
                problems.push(problem(
                    &format!("{at}.account"),
                    "name the storage account",
                ));
            }
            if container.is_empty() || container.contains('/') {
                problems.push(problem(
                    &format!("{at}.container"),
                    "name the container, without slashes",
                ));
            }
            let endpoint = endpoint
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
            http_url(&endpoint, &format!("{at}.endpoint"), problems);
            let credential = match (non_empty_secret(account_key), non_empty_secret(sas_token)) {
                (Some(k), None) => Some(AzureCredential::AccountKey(k)),
                (None, Some(s)) => Some(AzureCredential::Sas(Secret::new(
                    s.expose().trim_start_matches('?'),
                ))),
                (Some(_), Some(_)) => {
                    problems.push(problem(
                        &format!("{at}.sas_token"),
                        "set either account_key or sas_token, not both",
                    ));
                    None
                }
                (None, None) => {
                    problems.push(problem(
                        &format!("{at}.account_key"),
                        "set account_key (Access keys in the Azure portal) or sas_token",
                    ));
                    None
                }
            };
            (
                name,
                DestinationKind::Azure {
                    account,
                    container,
                    prefix: normalize_prefix(prefix.as_deref()),
                    endpoint: endpoint.trim_end_matches('/').to_owned(),
                    credential: credential?,
                },
            )
        }
    };
    if !valid_name(&name) {
        problems.push(problem(
            &format!("{at}.name"),
            &format!("{name:?} must be 1-40 characters of a-z, 0-9, - and _"),
        ));
    }
    (problems.len() == before).then_some(DestinationSpec {
        name,
        kind,
        retention,
    })
}

/// A SHA-256 fingerprint as people copy it: hex, upper or lower case, colons or spaces between.
pub fn fingerprint(raw: &str) -> Option<[u8; 32]> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// Backblaze B2 (`s3.us-west-004.backblazeb2.com`) and Wasabi carry the region in the host name.
fn region_from_endpoint(endpoint: &str) -> Option<String> {
    let host = Url::parse(endpoint).ok()?.host_str()?.to_owned();
    let mut parts = host.split('.');
    let (first, second) = (parts.next()?, parts.next()?);
    (first == "s3" && (host.ends_with("backblazeb2.com") || host.ends_with("wasabisys.com")))
        .then(|| second.to_owned())
        .filter(|r| r.contains('-'))
}

fn encryption(opts: EncryptionOptions, problems: &mut Vec<Problem>) -> Option<EncryptionSpec> {
    let mut recipients = Vec::new();
    let mut ok = true;
    for (i, r) in opts.recipients.iter().enumerate() {
        match r.trim().parse::<age::x25519::Recipient>() {
            Ok(r) => recipients.push(r),
            Err(_) => {
                ok = false;
                problems.push(problem(
                    &format!("encryption.recipients[{i}]"),
                    &format!("{r:?} is not an age public key (they start with age1)"),
                ));
            }
        }
    }
    let passphrase = non_empty_secret(opts.passphrase);
    // Neither set is valid: the key is then one Lifeboat makes (the emergency-kit page), and a run
    // refuses to start until there is one.
    match (opts.recipients.is_empty(), &passphrase) {
        (false, Some(_)) => {
            problems.push(problem(
                "encryption.passphrase",
                "age cannot mix a passphrase with public keys: use one or the other",
            ));
            None
        }
        // The same minimum as for sealing a key: a copy is only as safe as its passphrase.
        (true, Some(p)) if p.expose().chars().count() < crate::secret::MIN_PASSPHRASE => {
            problems.push(problem(
                "encryption.passphrase",
                &format!(
                    "the passphrase is too short: use at least {} characters (a sentence of \
                     four or five words is easy to type and hard to guess)",
                    crate::secret::MIN_PASSPHRASE
                ),
            ));
            None
        }
        _ => ok.then_some(EncryptionSpec {
            recipients,
            passphrase,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_options;
    use std::path::Path;

    const RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    /// Options with a folder source and one destination of `kind` named `name`, its settings
    /// `extra`, validated with `/var/lib/lifeboat` as the data folder.
    fn one_destination(kind: &str, name: &str, extra: &str) -> Result<Config, ConfigError> {
        check(
            &format!(
                r#"
                data_dir = "/var/lib/lifeboat"
                [source]
                type = "folder"
                path = "/backup"
                [[destinations]]
                type = "{kind}"
                name = "{name}"
                {extra}
                "#
            ),
            &Env::default(),
        )
    }

    fn check(toml: &str, env: &Env) -> Result<Config, ConfigError> {
        let opts = parse_options(Path::new("lifeboat.toml"), toml)?;
        validate(opts, env, PathBuf::from("/tmp/data"))
    }

    fn fields(err: &ConfigError) -> Vec<&str> {
        err.problems().iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn a_complete_config_validates() {
        let cfg = check(
            &format!(
                r#"
                [source]
                type = "core"
                url = "http://homeassistant.local:8123"
                [encryption]
                recipients = ["{RECIPIENT}"]
                [[destinations]]
                type = "s3"
                name = "b2"
                bucket = "home"
                prefix = "/ha/"
                endpoint = "https://s3.us-west-004.backblazeb2.com"
                access_key_id = "k"
                secret_access_key = "s"
                [[destinations]]
                type = "local"
                name = "usb"
                path = "/media/usb"
                "#
            ),
            &Env::from_pairs([("HA_TOKEN", "tok")]),
        )
        .unwrap();
        assert_eq!(cfg.destinations.len(), 2);
        let DestinationKind::S3 {
            prefix,
            region,
            path_style,
            ..
        } = &cfg.destinations[0].kind
        else {
            panic!("s3 expected")
        };
        assert_eq!(prefix, "ha/");
        assert_eq!(region, "us-west-004");
        assert!(path_style);
        let SourceSpec::Core { token, .. } = &cfg.source else {
            panic!()
        };
        assert_eq!(token.expose(), "tok");
    }

    #[test]
    fn schedule_retention_staleness_and_alert_validate() {
        let base = format!(
            r#"
            retention = "daily=7 monthly=12"
            stale_after_hours = 50
            [source]
            type = "folder"
            path = "/backup"
            [encryption]
            recipients = ["{RECIPIENT}"]
            [schedule]
            backup = "30 3 * * *"
            jitter_minutes = 15
            [alert]
            url = "https://ntfy.example/lifeboat"
            kind = "ntfy"
            [[destinations]]
            type = "local"
            name = "usb"
            path = "/media/usb"
            [[destinations]]
            type = "local"
            name = "nas"
            path = "/share/nas"
            retention = "last=2"
            "#
        );
        let cfg = check(&base, &Env::from_pairs([("TZ", "Europe/Berlin")])).unwrap();
        assert_eq!(
            cfg.destinations[0].retention.to_string(),
            "daily=7 monthly=12"
        );
        assert_eq!(cfg.destinations[1].retention.to_string(), "last=2");
        assert_eq!(cfg.schedule.tz, chrono_tz::Europe::Berlin);
        assert!(cfg.schedule.backup.is_some() && cfg.schedule.verify.is_none());
        assert_eq!(cfg.schedule.jitter, std::time::Duration::from_secs(900));
        assert_eq!(cfg.stale_after, std::time::Duration::from_secs(50 * 3600));
        assert_eq!(cfg.alert.as_ref().map(|a| a.kind), Some(AlertKind::Ntfy));
        // The topic is the secret: Debug shows the host only.
        assert!(!format!("{cfg:?}").contains("lifeboat"), "{cfg:?}");
        // The options page's empty alert section means no alert.
        let empty = base.replace(
            "url = \"https://ntfy.example/lifeboat\"\n            kind = \"ntfy\"",
            "",
        );
        assert!(check(&empty, &Env::default()).unwrap().alert.is_none());

        let bad = base
            .replace("daily=7 monthly=12", "daily=seven")
            .replace("last=2", "fortnightly=2")
            .replace("30 3 * * *", "at half past three")
            .replace("stale_after_hours = 50", "stale_after_hours = 0")
            .replace("kind = \"ntfy\"", "kind = \"pager\"")
            .replace(
                "jitter_minutes = 15",
                "jitter_minutes = 15\n            timezone = \"Mars/Olympus\"",
            );
        let err = check(&bad, &Env::default()).unwrap_err();
        let f = fields(&err);
        for want in [
            "retention",
            "destinations[1].retention",
            "schedule.backup",
            "schedule.timezone",
            "stale_after_hours",
            "alert.kind",
        ] {
            assert!(f.contains(&want), "{want} missing from {f:?}");
        }
        assert!(err.to_string().contains("30 3 * * *"), "{err}");
    }

    #[test]
    fn every_problem_names_its_field() {
        let err = check(
            r#"
            [source]
            type = "core"
            url = "ftp://x"
            [encryption]
            recipients = ["age1nope"]
            [[destinations]]
            type = "s3"
            name = "Bad Name"
            bucket = ""
            access_key_id = ""
            secret_access_key = ""
            [[destinations]]
            type = "azure"
            name = "az"
            account = "acct"
            container = "c"
            "#,
            &Env::default(),
        )
        .unwrap_err();
        let f = fields(&err);
        for want in [
            "source.url",
            "source.token",
            "encryption.recipients[0]",
            "destinations[0].bucket",
            "destinations[0].access_key_id",
            "destinations[0].secret_access_key",
            "destinations[0].name",
            "destinations[1].account_key",
        ] {
            assert!(f.contains(&want), "{want} missing from {f:?}");
        }
    }

    #[test]
    fn webdav_settings_are_checked_field_by_field() {
        let dav = |extra: &str| one_destination("webdav", "nextcloud", extra);
        let ok = dav(r#"url = "https://cloud.example.com/remote.php/dav/files/a/HA"
                        username = "a"
                        password = "app-pass"
                        segment_mb = 50
                        certificate_sha256 = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89""#)
        .unwrap();
        let DestinationKind::Webdav {
            segment,
            certificate_sha256,
            ..
        } = &ok.destinations[0].kind
        else {
            panic!("webdav expected")
        };
        assert_eq!(*segment, Some(50 << 20));
        assert_eq!(certificate_sha256.unwrap()[0], 0xab);
        assert!(!format!("{:?}", ok.destinations[0]).contains("app-pass"));

        let err = dav(r#"url = "http://a:secret@nas.local/dav"
                         username = ""
                         password = ""
                         segment_mb = 999999
                         certificate_sha256 = "not-hex""#)
        .unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "destinations[0].url",
                "destinations[0].username",
                "destinations[0].password",
                "destinations[0].segment_mb",
                "destinations[0].certificate_sha256",
            ]
        );
        let err = dav(r#"url = "http://nas.local/dav"
                         username = "a"
                         password = "b"
                         certificate_sha256 = "00000000000000000000000000000000000000000000000000000000000000ff""#)
        .unwrap_err();
        assert!(err.to_string().contains("needs an https://"), "{err}");
    }

    /// Issue 38: a WebDAV password sent over http:// to another machine is said, with the fix;
    /// https:// and loopback addresses are not.
    #[test]
    fn a_webdav_password_over_http_to_another_machine_is_a_caution() {
        let at = |url: &str| {
            let cfg = one_destination(
                "webdav",
                "nas",
                &format!("url = \"{url}\"\nusername = \"a\"\npassword = \"s3cr3t-pass\""),
            )
            .unwrap();
            cautions(&cfg.destinations)
        };
        let said = at("http://nas.local:5005/backups");
        assert_eq!(said.len(), 1, "{said:?}");
        for want in [CLEARTEXT, "nas", "in the clear", "nas.local", "https://"] {
            assert!(said[0].contains(want), "{want:?} missing from {said:?}");
        }
        assert!(
            !said[0].contains("s3cr3t"),
            "the password itself is never said"
        );
        assert_eq!(at("http://192.168.1.5/dav").len(), 1);
        for quiet in [
            "https://nas.local/backups",
            "http://localhost:8080/dav",
            "http://127.0.0.1:8080/dav",
            "http://127.0.0.2/dav",
            "http://[::1]:8080/dav",
        ] {
            assert!(at(quiet).is_empty(), "{quiet}: {:?}", at(quiet));
        }
    }

    #[test]
    fn sftp_settings_are_checked_and_remember_host_keys_in_the_data_folder() {
        let sftp = |extra: &str| one_destination("sftp", "pi", extra);
        let ok = sftp(
            r#"host = "nas.local"
                         username = "pi"
                         private_key = "/ssl/lifeboat_ed25519"
                         host_key = "SHA256:MfndkZGI39VvdzBkMsUGnbSys27p6LWm2LNET71VvW8""#,
        )
        .unwrap();
        let DestinationKind::Sftp(SftpSpec {
            port,
            auth,
            known_hosts,
            ..
        }) = &ok.destinations[0].kind
        else {
            panic!("sftp expected")
        };
        assert_eq!(*port, 22);
        assert!(matches!(
            auth,
            SftpAuth::Key {
                passphrase: None,
                ..
            }
        ));
        assert_eq!(
            known_hosts.as_deref(),
            Some(Path::new("/var/lib/lifeboat/sftp_known_hosts"))
        );

        let err = sftp(
            r#"host = "pi@nas.local"
                          port = 0
                          username = ""
                          host_key = "ssh-rsa nonsense""#,
        )
        .unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "destinations[0].host",
                "destinations[0].port",
                "destinations[0].username",
                "destinations[0].password",
                "destinations[0].host_key",
            ]
        );
        let err = sftp(
            r#"host = "nas"
                          username = "pi"
                          password = "p"
                          private_key = "keys/id""#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
    }

    #[test]
    fn smb_settings_are_checked_and_tidied() {
        let smb = |extra: &str| one_destination("smb", "nas", extra);
        let ok = smb(r#"host = "nas.local"
                        share = '\backups\'
                        path = '\home assistant\lifeboat\'
                        username = "ha"
                        password = "pw""#)
        .unwrap();
        let DestinationKind::Smb(SmbSpec {
            port, share, path, ..
        }) = &ok.destinations[0].kind
        else {
            panic!("smb expected")
        };
        assert_eq!(
            (*port, share.as_str(), path.as_str()),
            (445, "backups", "home assistant/lifeboat")
        );
        assert_eq!(
            ok.destinations[0].kind.url(),
            "smb://ha@nas.local:445/backups/home%20assistant/lifeboat"
        );

        let err = smb(r#"host = "//nas.local/backups"
                         port = 0
                         share = "backups/ha"
                         path = "../other"
                         username = ""
                         password = "" "#)
        .unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "destinations[0].host",
                "destinations[0].port",
                "destinations[0].share",
                "destinations[0].username",
                "destinations[0].password",
                "destinations[0].path",
            ]
        );
        assert!(err.to_string().contains("share and a folder"), "{err}");
    }

    #[test]
    fn unknown_and_missing_keys_name_the_field() {
        let err = check(
            "[source]\ntype = \"folder\"\npaht = \"/x\"\n",
            &Env::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("source") && msg.contains("paht"), "{msg}");

        let err = parse_options(
            Path::new("/data/options.json"),
            r#"{"source":{"type":"folder","path":"/b"},"destinations":[{"type":"s3","name":"x"}]}"#,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("destinations[0]") && msg.contains("bucket"),
            "{msg}"
        );
    }

    #[test]
    fn several_sources_are_named_ordered_and_checked() {
        let halo = format!(
            r#"
            [source]
            type = "core"
            url = "http://ha:8123"
            token = "t"
            [[sources]]
            name = "postgres"
            type = "command"
            command = ["docker", "exec", "db", "pg_dumpall", "-U", "postgres"]
            environment = {{ PGPASSWORD = "pw" }}
            schedule = "0 2 * * *"
            retention = "daily=7 weekly=4 monthly=12"
            stale_after_hours = 26
            destinations = ["usb"]
            [[sources]]
            name = "configs"
            type = "dir"
            path = "/opt/halo/configs"
            exclude = ["*.tmp"]
            compression = "gzip"
            [[destinations]]
            type = "local"
            name = "usb"
            path = "/mnt/usb"
            [encryption]
            recipients = ["{RECIPIENT}"]
            "#
        );
        let cfg = check(&halo, &Env::default()).unwrap();
        let names: Vec<&str> = cfg.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["home-assistant", "postgres", "configs"]);
        assert!(cfg.source.is_home_assistant());
        let pg = &cfg.sources[1];
        let SourceSpec::Command {
            argv,
            environment,
            compression,
            tool,
        } = &pg.spec
        else {
            panic!("{pg:?}")
        };
        assert_eq!(argv.len(), 6);
        assert_eq!(environment[0].0, "PGPASSWORD");
        assert!(
            !format!("{pg:?}").contains("pw\""),
            "the password never prints"
        );
        assert_eq!(
            (*compression, *tool),
            (Compression::Gzip, DumpTool::Postgres)
        );
        assert_eq!(pg.destinations, ["usb"]);
        assert!(pg.schedule.is_some() && pg.retention.is_some());
        assert_eq!(
            pg.stale_after,
            Some(std::time::Duration::from_secs(26 * 3600))
        );
        let SourceSpec::Dir { compression, .. } = &cfg.sources[2].spec else {
            panic!()
        };
        assert_eq!(*compression, Compression::Gzip);

        // Only [[sources]]: a home server with no Home Assistant; a command as one line.
        let alone = format!(
            r#"
            [[sources]]
            name = "db"
            type = "command"
            command = "mysqldump --all-databases -u 'backup user'"
            [[destinations]]
            type = "local"
            name = "usb"
            path = "/mnt/usb"
            [encryption]
            recipients = ["{RECIPIENT}"]
            "#
        );
        let cfg = check(&alone, &Env::default()).unwrap();
        let SourceSpec::Command { argv, tool, .. } = &cfg.source else {
            panic!()
        };
        assert_eq!(argv.last().map(String::as_str), Some("backup user"));
        assert_eq!(*tool, DumpTool::Mariadb);

        let bad = format!(
            r#"
            [[sources]]
            name = "Bad Name"
            type = "command"
            command = "pg_dumpall 'unclosed"
            compression = "zip"
            destinations = ["nowhere"]
            [[sources]]
            name = "files"
            type = "dir"
            path = "relative/path"
            exclude = ["[unclosed"]
            [[sources]]
            name = "files"
            type = "dir"
            path = "/x"
            [[destinations]]
            type = "local"
            name = "usb"
            path = "/mnt/usb"
            [encryption]
            recipients = ["{RECIPIENT}"]
            "#
        );
        let err = check(&bad, &Env::default()).unwrap_err();
        let f = fields(&err);
        for want in [
            "sources[0].name",
            "sources[0].command",
            "sources[0].compression",
            "sources[0].destinations",
            "sources[1].path",
            "sources[1].exclude",
            "sources[2].name",
        ] {
            assert!(f.contains(&want), "{want} in {f:?}");
        }
        let err = check(
            "[[sources]]\nname = \"x\"\ntype = \"dir\"\npath = \"/x\"\nexlude = []\n",
            &Env::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("exlude"), "{err}");
        let err = check(
            &format!("[encryption]\nrecipients = [\"{RECIPIENT}\"]\n"),
            &Env::default(),
        )
        .unwrap_err();
        assert!(fields(&err).contains(&"source"), "{err}");
    }

    #[test]
    fn no_key_is_left_to_the_vault_but_mixing_is_refused() {
        let base = "[source]\ntype = \"folder\"\npath = \"/b\"\n[[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/c\"\n";
        let cfg = check(base, &Env::default()).unwrap();
        assert!(cfg.encryption.has_no_key());
        let mixed =
            format!("{base}[encryption]\nrecipients = [\"{RECIPIENT}\"]\npassphrase = \"p\"\n");
        let err = check(&mixed, &Env::default()).unwrap_err();
        assert_eq!(fields(&err), ["encryption.passphrase"]);
    }

    /// Issue 38: an encryption passphrase has the same minimum as sealing a key.
    #[test]
    fn a_short_encryption_passphrase_is_refused() {
        let base = "[source]\ntype = \"folder\"\npath = \"/b\"\n[[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/c\"\n";
        let short = format!("{base}[encryption]\npassphrase = \"x\"\n");
        let err = check(&short, &Env::default()).unwrap_err();
        assert_eq!(fields(&err), ["encryption.passphrase"]);
        assert!(err.to_string().contains("at least 12 characters"), "{err}");
        let long = format!("{base}[encryption]\npassphrase = \"twelve chars\"\n");
        assert!(check(&long, &Env::default()).is_ok());
    }

    /// Issue 38: a command line shown in a problem has its passwords hidden.
    #[test]
    fn a_command_line_in_a_problem_hides_its_password() {
        let t = "[source]\ntype = \"command\"\ncommand = \"pg_dump 'postgresql://u:pw-in-url@h/db\"\n\
                 [[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/c\"\n";
        let err = check(t, &Env::default()).unwrap_err().to_string();
        assert!(
            err.contains("never closed") && !err.contains("pw-in-url"),
            "{err}"
        );
    }

    #[test]
    fn notify_service_is_named_with_or_without_its_domain() {
        let base = format!(
            "[source]\ntype = \"folder\"\npath = \"/b\"\n[encryption]\nrecipients = [\"{RECIPIENT}\"]\n\
             [[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/c\"\n"
        );
        for (given, want) in [
            ("notify.mobile_app_pixel", "mobile_app_pixel"),
            (" mobile_app_pixel ", "mobile_app_pixel"),
        ] {
            let cfg = check(
                &format!("notify_service = \"{given}\"\n{base}"),
                &Env::default(),
            )
            .unwrap();
            assert_eq!(cfg.notify_service.as_deref(), Some(want));
        }
        let err = check(
            &format!("notify_service = \"Mobile App!\"\n{base}"),
            &Env::default(),
        )
        .unwrap_err();
        assert_eq!(fields(&err), ["notify_service"]);
    }

    #[test]
    fn duplicate_destination_names_are_refused() {
        let t = format!(
            "[source]\ntype = \"folder\"\npath = \"/b\"\n[encryption]\nrecipients = [\"{RECIPIENT}\"]\n\
             [[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/c\"\n\
             [[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/d\"\n"
        );
        let err = check(&t, &Env::default()).unwrap_err();
        assert_eq!(fields(&err), ["destinations[1].name"]);
    }

    #[test]
    fn supervisor_source_outside_the_addon_says_why() {
        let t = format!(
            "[source]\ntype = \"supervisor\"\n[encryption]\nrecipients = [\"{RECIPIENT}\"]\n\
             [[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/c\"\n"
        );
        let err = check(&t, &Env::default()).unwrap_err();
        assert!(err.to_string().contains("SUPERVISOR_TOKEN"));
        let ok = check(&t, &Env::from_pairs([("SUPERVISOR_TOKEN", "t")])).unwrap();
        assert!(matches!(
            ok.source,
            SourceSpec::Supervisor {
                method: SupervisorMethod::Websocket,
                ..
            }
        ));
    }
}
