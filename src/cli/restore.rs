//! `lifeboat restore`: a copy from any destination back into Home Assistant's backup list.

use super::args::RestoreArgs;
use super::inspect::read_identities;
use super::recover::{choose, open_and_list, say_provenance, trusted};
use anyhow::Context;
use lifeboat::config::Env;
use lifeboat::ha::supervisor::SupervisorClient;
use lifeboat::recovery::restore::{HaTarget, restore_into_ha};
use lifeboat::secret::Secret;
use std::process::ExitCode;
use url::Url;

fn target(into: &str, env: &Env) -> anyhow::Result<HaTarget> {
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let (kind, rest) = into
        .split_once(':')
        .context("--into takes supervisor: or core:http://host:8123")?;
    match kind {
        "supervisor" => {
            let token = env
                .get("SUPERVISOR_TOKEN")
                .context("SUPERVISOR_TOKEN is not set: supervisor: works inside the add-on only")?;
            let base: Url = if rest.is_empty() {
                lifeboat::config::SUPERVISOR_URL
            } else {
                rest
            }
            .parse()
            .context("--into supervisor: takes an http:// address after the colon, or nothing")?;
            Ok(HaTarget::Supervisor(SupervisorClient::new(
                http,
                base,
                Secret::new(token),
            )))
        }
        "core" => {
            let token = env
                .get("HA_TOKEN")
                .context("HA_TOKEN is not set: create a long-lived access token in your Home Assistant profile")?;
            let base: Url = rest
                .parse()
                .with_context(|| format!("{rest:?} is not an http:// address"))?;
            Ok(HaTarget::Core {
                http,
                base,
                token: Secret::new(token),
            })
        }
        other => anyhow::bail!(
            "{other:?} is not a Home Assistant kind: use supervisor: or core:http://host:8123"
        ),
    }
}

pub async fn run(args: &RestoreArgs, env: &Env) -> anyhow::Result<ExitCode> {
    let target = target(&args.into, env)?;
    let ids = read_identities(&args.identity)?;
    let trust = trusted(&args.trust, Some(&args.identity))?;
    let (dest, listed) = open_and_list(&args.from, &args.creds, trust.clone()).await?;
    let chosen = choose(&dest, &listed, args.copy.as_deref())?;
    if !args.json {
        say_provenance(chosen, &trust);
    }
    match restore_into_ha(&dest, chosen, ids, &target).await {
        Ok(r) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "Restored {:?} ({}) from {} into Home Assistant as backup {}.\n  \
                     It is in Settings -> System -> Backups, ready to restore{}.",
                    chosen.backup.name,
                    chosen.copy_id,
                    dest.location,
                    r.backup_id,
                    if chosen.backup.protected {
                        " with its Home Assistant backup key"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("lifeboat: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
