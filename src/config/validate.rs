//! Options → [`Config`]: every problem collected (not just the first), each naming its field.
//! Sources are checked in [`sources`]; each destination's kind checks its own settings
//! ([`crate::destinations::kinds`]), and its name and retention are checked here.

mod sources;

use super::options::{
    AlertOptions, DestinationOptions, EncryptionOptions, Options, ScheduleOptions,
};
use super::{
    AlertKind, AlertSpec, Config, ConfigError, DestinationSpec, EncryptionSpec, Env, Problem,
    ScheduleSpec,
};
use crate::destinations::kinds::{http_url, non_empty_secret, problem};
use crate::retention::Policy;
use std::collections::HashSet;
use std::path::PathBuf;

/// What the options say when they name no destination (a new install's only problem).
pub const NO_DESTINATION: &str =
    "add at least one destination (a folder, an S3 bucket or an Azure container)";

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
        d.kind.settings_mut().in_data_dir(&data_dir);
    }
    let sources = sources::sources(opts.source, opts.sources, env, &destinations, &mut problems);
    let source = sources.first().map(|s| s.spec.clone());
    let schedule = schedule(opts.schedule, env, &mut problems);
    let alert = opts.alert.and_then(|a| alert(a, &mut problems));
    let not_home_assistant = source.as_ref().is_some_and(|s| !s.is_home_assistant());
    let numbers = Numbers::check(
        &Written {
            keep_local: opts.keep_local,
            min_verified: opts.min_verified,
            ship_new_backups: opts.ship_new_backups,
            stale_after_hours: opts.stale_after_hours,
            kit_check_days: opts.kit_check_days,
        },
        not_home_assistant,
        destinations.len(),
        &mut problems,
    );
    let encryption = encryption(opts.encryption, &mut problems);
    let notify_service = notify_service(opts.notify_service.as_deref(), &mut problems);
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
            stale_after: numbers.stale_after,
            min_verified: numbers.min_verified,
            ship_new_backups: opts.ship_new_backups.unwrap_or(false),
            kit_check_every: numbers.kit_check_every,
            alert,
        }),
        _ => Err(ConfigError::Invalid(problems)),
    }
}

/// The plain numbers and switches of the options, as written.
struct Written {
    keep_local: Option<u32>,
    min_verified: Option<u32>,
    ship_new_backups: Option<bool>,
    stale_after_hours: Option<u32>,
    kit_check_days: Option<u32>,
}

/// The numbers, checked: how long before a destination is stale, how many verified copies a
/// safe update waits for, how often the kit check is due.
struct Numbers {
    stale_after: std::time::Duration,
    min_verified: usize,
    kit_check_every: Option<std::time::Duration>,
}

impl Numbers {
    /// `not_home_assistant`: the first source is not Home Assistant, so what only applies to it
    /// is a problem; `destinations` is how many there are.
    fn check(
        w: &Written,
        not_home_assistant: bool,
        destinations: usize,
        problems: &mut Vec<Problem>,
    ) -> Self {
        if w.keep_local.is_some() && not_home_assistant {
            problems.push(problem(
                "keep_local",
                "applies to the supervisor and core sources only: Lifeboat does not delete files \
                 from a folder source",
            ));
        }
        let min_verified = w.min_verified.unwrap_or(1) as usize;
        if min_verified == 0 {
            problems.push(problem(
                "min_verified",
                "must be at least 1: a safe update waits for a verified copy before it installs",
            ));
        } else if destinations != 0 && min_verified > destinations {
            problems.push(problem(
                "min_verified",
                &format!(
                    "is {min_verified}, but only {destinations} destinations are configured: no \
                     safe update could ever install"
                ),
            ));
        }
        if w.ship_new_backups == Some(true) && not_home_assistant {
            problems.push(problem(
                "ship_new_backups",
                "applies to the supervisor and core sources only: a folder source ships every new \
                 file on each run",
            ));
        }
        let stale_hours = w.stale_after_hours.unwrap_or(super::DEFAULT_STALE_HOURS);
        if stale_hours == 0 {
            problems.push(problem(
                "stale_after_hours",
                "must be at least 1 (hours without a verified copy before Lifeboat says so)",
            ));
        }
        Self {
            stale_after: std::time::Duration::from_secs(u64::from(stale_hours) * 3600),
            min_verified,
            kit_check_every: match w.kit_check_days.unwrap_or(super::DEFAULT_KIT_CHECK_DAYS) {
                0 => None,
                days => Some(std::time::Duration::from_secs(u64::from(days) * 86_400)),
            },
        }
    }
}

/// The `notify` service, without its domain: `notify.mobile_app_x` and `mobile_app_x` both name
/// the service `mobile_app_x`.
fn notify_service(raw: Option<&str>, problems: &mut Vec<Problem>) -> Option<String> {
    let service = raw
        .map(|s| s.trim().trim_start_matches("notify.").to_owned())
        .filter(|s| !s.is_empty());
    if let Some(service) = &service
        && !service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        problems.push(problem(
            "notify_service",
            &format!("{service:?} is not a notify service name like mobile_app_my_phone"),
        ));
    }
    service
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

/// Settings that work but put something at risk, each with its kind ([`super::Caution`]): today a
/// WebDAV destination whose address is `http://` to another machine (see each kind's
/// [`crate::destinations::kinds::Settings::caution`]).
pub fn cautions(destinations: &[DestinationSpec]) -> Vec<super::Caution> {
    destinations
        .iter()
        .filter_map(DestinationSpec::caution)
        .collect()
}

fn destinations(
    opts: Vec<DestinationOptions>,
    default_policy: Policy,
    problems: &mut Vec<Problem>,
) -> Vec<DestinationSpec> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    if opts.is_empty() {
        problems.push(problem("destinations", NO_DESTINATION));
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

/// Names show up in object paths, history and entity ids: keep them short and plain.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// One destination: its kind checks its own settings; its name and retention are checked here.
/// `default_policy` is the top-level `retention`, for destinations that name none.
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
    let (name, kind) = opts.validate(at, problems)?;
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
mod tests;
