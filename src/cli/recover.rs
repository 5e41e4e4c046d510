//! `lifeboat recover`: the family member's command. With the printed kit (its age identity) and the
//! destination's credentials, on any machine: list the copies, pick one (the newest by default),
//! and get back a Home Assistant backup tar that was checked against its manifest on the way.

use super::args::RecoverArgs;
use super::inspect::read_identities;
use super::output;
use anyhow::Context;
use lifeboat::archive::content::{Compression, ContentReport, DumpTool, Kind};
use lifeboat::archive::securetar::BackupKey;
use lifeboat::config::{self, ConfigError, urls};
use lifeboat::destinations::{self, Destination, Manifest, manifest::Listed};
use lifeboat::recovery::{Output, recover};
use lifeboat::secret::Secret;
use std::process::ExitCode;

/// Opens the destination at `from` and lists its copies.
pub(crate) async fn open_and_list(
    from: &str,
    creds: &super::args::CredentialArgs,
) -> anyhow::Result<(Destination, Vec<Listed>)> {
    let opts = urls::destinations_from_urls(&[from.to_owned()], &creds.to_credentials())
        .map_err(ConfigError::Invalid)?;
    let spec = config::validate_destinations(opts)?.remove(0);
    let dest = destinations::open(&spec).with_context(|| format!("opening {from}"))?;
    let listed = destinations::manifest::list(&dest)
        .await
        .with_context(|| format!("listing {}", dest.location))?;
    Ok((dest, listed))
}

/// The copy named `id`, or the newest.
pub(crate) fn choose<'a>(
    dest: &Destination,
    listed: &'a [Listed],
    id: Option<&str>,
) -> anyhow::Result<&'a Manifest> {
    let mut copies = listed.iter().filter_map(|l| match l {
        Listed::Copy(m) => Some(m.as_ref()),
        Listed::Unreadable { .. } => None,
    });
    match id {
        Some(id) => copies.find(|m| m.copy_id == id).with_context(|| {
            format!(
                "there is no copy {id} at {} (run `lifeboat recover --from ...` to list them)",
                dest.location
            )
        }),
        None => copies
            .next()
            .with_context(|| format!("there are no copies at {}", dest.location)),
    }
}

pub async fn run(args: &RecoverArgs) -> anyhow::Result<ExitCode> {
    let (dest, listed) = open_and_list(&args.from, &args.creds).await?;
    let (out, extract) = (args.out.clone(), args.extract.clone());
    if out.is_none() && extract.is_none() {
        output::print_listing(&dest, &listed);
        println!(
            "\nTo recover one: lifeboat recover --from {} --identity KIT-FILE --out backup.tar [--copy ID]",
            args.from
        );
        return Ok(ExitCode::SUCCESS);
    }
    let chosen = choose(&dest, &listed, args.copy.as_deref())?;
    let identity = args
        .identity
        .as_deref()
        .context("--identity is needed: the age identity file from your emergency kit")?;
    let ids = read_identities(identity)?;
    if args.remove_encryption && args.ha_keys.is_empty() && chosen.backup.protected {
        anyhow::bail!(
            "--remove-encryption needs the Home Assistant backup key: pass --ha-key from Home Assistant's emergency kit"
        );
    }
    let keys = args
        .ha_keys
        .iter()
        .map(|k| BackupKey::new(Secret::new(k.as_str())))
        .collect();
    let target = match (out, extract) {
        (Some(p), _) => Output::Tar(p),
        (None, Some(p)) => Output::Extract(p),
        (None, None) => anyhow::bail!("pass --out FILE or --extract DIR"),
    };
    match recover(&dest, chosen, ids, target, args.remove_encryption, keys).await {
        Ok(r) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "Recovered {:?} ({}, made {}) from {}\n  -> {} ({}, sha-256 checked against the manifest)",
                    chosen.backup.name,
                    chosen.backup.slug,
                    chosen.backup.date,
                    dest.location,
                    r.output.display(),
                    output::human_size(r.plain_size)
                );
                if let Some(c) = &r.content {
                    println!("  It holds {}.", c.describe());
                    println!("  {}", how_to_use(c, &r.output));
                    return Ok(ExitCode::SUCCESS);
                }
                if r.decrypted_members > 0 {
                    println!(
                        "  Home Assistant's encryption was removed from {} archives: it restores without a key.",
                        r.decrypted_members
                    );
                } else if chosen.backup.protected {
                    println!(
                        "  The backup is protected: Home Assistant will ask for its backup key when restoring."
                    );
                }
                println!(
                    "  Restore it in Home Assistant: Settings -> System -> Backups -> upload."
                );
                match (&r.readiness, &r.readiness_error) {
                    (Some(report), _) => {
                        println!("\nBefore you restore:");
                        for line in report.lines() {
                            println!("  {line}");
                        }
                    }
                    (None, Some(e)) => {
                        println!("\n(What the restore will need could not be read: {e})")
                    }
                    (None, None) => {}
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("lifeboat: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What to do with a recovered copy of a `dir:` or `command:` source.
fn how_to_use(c: &ContentReport, path: &std::path::Path) -> String {
    let at = path.display();
    let unzip = match c.compression {
        Compression::Gzip => format!("gunzip -c {at}"),
        Compression::None => format!("cat {at}"),
    };
    match (c.kind, c.tool) {
        (Kind::Folder, _) if path.is_dir() => format!("The folder is back at {at}."),
        (Kind::Folder, _) => format!("Unpack it where it belongs: {unzip} | tar -x -C /the/folder"),
        (Kind::Dump, DumpTool::Postgres) => {
            format!("Load it into PostgreSQL: {unzip} | psql -U postgres -d postgres")
        }
        (Kind::Dump, DumpTool::Mariadb) => {
            format!("Load it into MariaDB: {unzip} | mysql -u root -p")
        }
        (Kind::Dump, DumpTool::Other) => format!("The command's output: {unzip}"),
    }
}
