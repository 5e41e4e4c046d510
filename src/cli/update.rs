//! `lifeboat update`: lists the updates Home Assistant has waiting, or backs one up off-site and
//! installs it (see [`lifeboat::pipeline::safe_update`]), printing the report.

use super::args::{Cli, UpdateArgs};
use super::load_config;
use lifeboat::config::Env;
use lifeboat::pipeline::safe_update::{UpdateAsk, safe_update};
use std::process::ExitCode;

pub(super) async fn run(cli: &Cli, args: &UpdateArgs, env: &Env) -> anyhow::Result<ExitCode> {
    let cfg = load_config(cli, &args.inline, env)?;
    let Some((url, token)) = lifeboat::daemon::build::ha_websocket(&cfg, env) else {
        anyhow::bail!(
            "updates are installed through Home Assistant: use a core: or supervisor: source"
        );
    };
    let ha = lifeboat::ha::updates::UpdateClient::new(url, token);
    let Some(target) = &args.target else {
        let waiting: Vec<_> = ha
            .list()
            .await?
            .into_iter()
            .filter(|e| e.available)
            .collect();
        if args.json {
            println!("{}", serde_json::to_string_pretty(&waiting)?);
        } else if waiting.is_empty() {
            println!("Home Assistant has no update waiting.");
        } else {
            for e in &waiting {
                println!("{}  {}", e.entity_id, e.label());
            }
            println!("Back one up and install it with: lifeboat update ENTITY");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let (runner, _) = lifeboat::daemon::build::runner(&cfg, env)?;
    runner.history.mark_interrupted(chrono::Utc::now()).await?;
    let ask = UpdateAsk {
        target: target.clone(),
        min_verified: args.min_verified.unwrap_or(cfg.min_verified),
        trigger: "cli".into(),
    };
    let report = safe_update(&runner, &ha, &ask).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.message());
    }
    Ok(if report.installed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
