//! Sources → [`NamedSource`]s: the shorthand `source` and the `sources` list, each entry's name,
//! schedule, retention and destinations, and each kind of source's own settings.

use super::{cron, policy};
use crate::archive::content::{Compression, DumpTool};
use crate::config::options::{CommandLine, SourceEntry, SourceOptions};
use crate::config::{
    DestinationSpec, Env, NamedSource, Problem, SUPERVISOR_URL, SourceMode, SourceSpec,
    SupervisorMethod,
};
use crate::destinations::kinds::{http_url, non_empty_secret, problem};
use crate::retention::Policy;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every source: the shorthand `source` and the `sources` list, Home Assistant's first.
pub(super) fn sources(
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
    if let Some(spec) = shorthand.and_then(|s| source(s, "source", env, problems)) {
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
        let checked = named(
            entry,
            &format!("sources[{i}]"),
            &out,
            env,
            destinations,
            problems,
        );
        out.extend(checked);
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

/// One entry of the `sources` list, at `at` (`sources[1]`); `earlier` are the entries before it.
fn named(
    entry: SourceEntry,
    at: &str,
    earlier: &[NamedSource],
    env: &Env,
    destinations: &[DestinationSpec],
    problems: &mut Vec<Problem>,
) -> Option<NamedSource> {
    let field = |f: &str| format!("{at}.{f}");
    let name = entry.name.trim().to_owned();
    entry_name(&name, &field("name"), earlier, problems);
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
    let spec = source(entry.source, at, env, problems);
    Some(NamedSource {
        name,
        spec: spec?,
        destinations: entry.destinations,
        schedule,
        retention,
        stale_after: entry
            .stale_after_hours
            .map(|h| std::time::Duration::from_secs(u64::from(h) * 3600)),
    })
}

/// A source's name: short, plain, and its own.
fn entry_name(name: &str, field: &str, earlier: &[NamedSource], problems: &mut Vec<Problem>) {
    if name.is_empty()
        || name.len() > 40
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        problems.push(problem(
            field,
            &format!(
                "{name:?} is not a source name: use up to 40 lowercase letters, digits, - and _ \
                 (like postgres or configs)"
            ),
        ));
    }
    if earlier.iter().any(|s| s.name == name) {
        problems.push(problem(
            field,
            &format!("{name:?} names two sources: give each its own name"),
        ));
    }
}

/// One source's own settings, each problem on `<at>.<field>` (`source.url`, `sources[1].url`).
pub(super) fn source(
    opts: SourceOptions,
    at: &str,
    env: &Env,
    problems: &mut Vec<Problem>,
) -> Option<SourceSpec> {
    let mut own = Vec::new();
    let spec = settings(opts, env, &mut own);
    problems.extend(own.into_iter().map(|mut p| {
        p.field = format!("{at}.{}", p.field);
        p
    }));
    spec
}

/// One source's own settings, each problem on the field's own name (`url`).
fn settings(opts: SourceOptions, env: &Env, problems: &mut Vec<Problem>) -> Option<SourceSpec> {
    match opts {
        SourceOptions::Dir {
            path,
            exclude,
            compression,
        } => Some(dir(path, exclude, compression.as_deref(), problems)),
        SourceOptions::Command {
            command,
            environment,
            compression,
            dump,
        } => Some(command_source(
            command,
            environment,
            compression.as_deref(),
            dump.as_deref(),
            problems,
        )),
        SourceOptions::Folder { path } => folder(path, problems),
        SourceOptions::Core {
            url,
            token,
            agent_id,
            mode,
        } => core(&url, token, agent_id, mode.as_deref(), env, problems),
        SourceOptions::Supervisor {
            method,
            url,
            token,
            mode,
        } => supervisor(
            method.as_deref(),
            url,
            token,
            mode.as_deref(),
            env,
            problems,
        ),
    }
}

/// A `dir` source: a folder's full path, globs to leave out, and a compression.
fn dir(
    path: PathBuf,
    exclude: Vec<String>,
    compression: Option<&str>,
    problems: &mut Vec<Problem>,
) -> SourceSpec {
    if path.as_os_str().is_empty() || !path.is_absolute() {
        problems.push(problem(
            "path",
            &format!(
                "{:?} must be a folder's full path, like /share or /opt/halo/configs",
                path.display()
            ),
        ));
    }
    for g in &exclude {
        if let Err(e) = glob::Pattern::new(g) {
            problems.push(problem(
                "exclude",
                &format!("{g:?} is not a glob ({e}); write *.tmp or cache/*"),
            ));
        }
    }
    let compression = compression_of(compression, Compression::None, problems);
    SourceSpec::Dir {
        path,
        exclude,
        compression,
    }
}

/// A `command` source: its words, its environment's names, its compression and dump tool.
fn command_source(
    command: CommandLine,
    environment: BTreeMap<String, Secret>,
    compression: Option<&str>,
    dump: Option<&str>,
    problems: &mut Vec<Problem>,
) -> SourceSpec {
    let argv = words(command, problems);
    for name in environment.keys() {
        let ok = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            problems.push(problem(
                "environment",
                &format!("{name:?} is not a variable name like PGPASSWORD"),
            ));
        }
    }
    let compression = compression_of(compression, Compression::Gzip, problems);
    let tool = match dump.map(DumpTool::parse) {
        None => DumpTool::guess(&argv),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            problems.push(problem("dump", &e));
            DumpTool::Other
        }
    };
    SourceSpec::Command {
        argv,
        environment: environment.into_iter().collect(),
        compression,
        tool,
    }
}

/// A command line's words (a line is split as a shell would, without running one).
fn words(command: CommandLine, problems: &mut Vec<Problem>) -> Vec<String> {
    let argv = match command {
        CommandLine::Words(w) => w,
        CommandLine::Line(l) => shlex::split(&l).unwrap_or_else(|| {
            problems.push(problem(
                "command",
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
            "command",
            "name the command to run, like [\"pg_dumpall\", \"-U\", \"postgres\"]",
        ));
    }
    argv
}

/// A `folder` source: the folder that holds the backup tars.
fn folder(path: PathBuf, problems: &mut Vec<Problem>) -> Option<SourceSpec> {
    if path.as_os_str().is_empty() {
        problems.push(problem(
            "path",
            "name the folder that holds the backup tars",
        ));
        return None;
    }
    Some(SourceSpec::Folder { path })
}

/// A `core` source: Home Assistant's address and a long-lived token.
fn core(
    url: &str,
    token: Option<Secret>,
    agent_id: Option<String>,
    mode: Option<&str>,
    env: &Env,
    problems: &mut Vec<Problem>,
) -> Option<SourceSpec> {
    let mode = source_mode(mode, problems);
    let url = http_url(url, "url", problems);
    let token = non_empty_secret(token).or_else(|| env.get("HA_TOKEN").map(Secret::new));
    if token.is_none() {
        problems.push(problem(
            "token",
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

/// A `supervisor` source: how backups are made, and the add-on's token.
fn supervisor(
    method: Option<&str>,
    url: Option<String>,
    token: Option<Secret>,
    mode: Option<&str>,
    env: &Env,
    problems: &mut Vec<Problem>,
) -> Option<SourceSpec> {
    let mode = source_mode(mode, problems);
    let method = match method {
        None | Some("websocket") => Some(SupervisorMethod::Websocket),
        Some("rest") => Some(SupervisorMethod::Rest),
        Some(other) => {
            problems.push(problem(
                "method",
                &format!("{other:?} is not a method; use \"websocket\" or \"rest\""),
            ));
            None
        }
    };
    let url = http_url(url.as_deref().unwrap_or(SUPERVISOR_URL), "url", problems);
    let token = non_empty_secret(token).or_else(|| env.get("SUPERVISOR_TOKEN").map(Secret::new));
    if token.is_none() {
        problems.push(problem(
            "token",
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

fn compression_of(
    raw: Option<&str>,
    default: Compression,
    problems: &mut Vec<Problem>,
) -> Compression {
    match raw.map(Compression::parse) {
        None => default,
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            problems.push(problem("compression", &e));
            default
        }
    }
}

fn source_mode(mode: Option<&str>, problems: &mut Vec<Problem>) -> Option<SourceMode> {
    match mode.map(str::trim) {
        None | Some("" | "create") => Some(SourceMode::Create),
        Some("ship") => Some(SourceMode::Ship),
        Some(other) => {
            problems.push(problem(
                "mode",
                &format!(
                    "{other:?} is not a mode; use \"create\" (Lifeboat asks for backups) or \"ship\" \
                     (Lifeboat ships the backups Home Assistant makes)"
                ),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{RECIPIENT, check, fields};
    use super::*;

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
