//! `lifeboat drill`: the database drill of a PostgreSQL dump source — the newest copy this home
//! vouches for (or the one named) loaded into a scratch server and compared, and recorded (see
//! [`lifeboat::recovery::drills::db_drill`]); this only picks the source and prints the report.

use super::args::{Cli, DrillArgs};
use super::inspect::read_identities;
use super::load_config;
use anyhow::Context;
use lifeboat::archive::content::{DumpTool, Kind};
use lifeboat::config::Env;
use lifeboat::pipeline::run::Runner;
use lifeboat::recovery::db_drill::DbTarget;
use lifeboat::recovery::drills::db_drill;
use std::process::ExitCode;

/// The source to drill: the one named, else the first that is a PostgreSQL dump.
fn source_to_drill<'a>(
    runners: &'a [Runner],
    of: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<&'a Runner> {
    let is_pg = |r: &Runner| {
        r.source
            .content(now)
            .is_some_and(|(c, _)| c.kind == Kind::Dump && c.tool == DumpTool::Postgres)
    };
    match of {
        Some(name) => runners
            .iter()
            .find(|r| r.source_name == *name)
            .with_context(|| {
                let names: Vec<&str> = runners.iter().map(|r| r.source_name.as_str()).collect();
                format!(
                    "there is no source named {name}; the sources are {}",
                    names.join(", ")
                )
            }),
        None => runners.iter().find(|r| is_pg(r)).context(
            "no source is a PostgreSQL dump (a command: source running pg_dump or pg_dumpall)",
        ),
    }
}

pub(super) async fn run(cli: &Cli, args: &DrillArgs, env: &Env) -> anyhow::Result<ExitCode> {
    let cfg = load_config(cli, &args.inline, env)?;
    let (first, _) = lifeboat::daemon::build::runner(&cfg, env)?;
    let mut runners = lifeboat::daemon::build::other_runners(&first, &cfg)?;
    runners.insert(0, first);
    let now = chrono::Utc::now();
    let runner = source_to_drill(&runners, args.of.as_deref(), now)?;
    let ids = read_identities(&args.identity)?;
    let target = DbTarget::new(
        &args.into,
        args.psql.clone(),
        now.format("%Y%m%d%H%M%S").to_string(),
    )?;
    let report = db_drill(runner, args.copy.as_deref(), ids, target, now).await?;
    if args.json {
        let v = match &report.outcome {
            Ok(d) => serde_json::to_value(d)?,
            Err(e) => serde_json::json!({"error": e.to_string()}),
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", report.message());
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
