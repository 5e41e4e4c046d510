//! `lifeboat recover`: the family member's command. With the printed kit (its age identity) and the
//! destination's credentials, on any machine: list the copies, pick one (the newest by default),
//! and get back a Home Assistant backup tar that was checked against its manifest on the way.

use super::args::{RecoverArgs, TrustArgs};
use super::inspect::read_identities;
use super::output;
use anyhow::Context;
use lifeboat::archive::content::{Compression, ContentReport, DumpTool, Kind};
use lifeboat::archive::securetar::BackupKey;
use lifeboat::config::{self, ConfigError, urls};
use lifeboat::destinations::manifest::{Listed, Provenance};
use lifeboat::destinations::{self, Destination, Manifest};
use lifeboat::recovery::{Output, recover};
use lifeboat::secret::Secret;
use lifeboat::signing::{PublicKey, Trusted, public_keys_in};
use std::process::ExitCode;

/// The signing keys the person gave: `--trust`, and any in the `--kit` or identity file. Nobody
/// said, when there are none: copies are then checked for tampering but not for whose they are.
pub(crate) fn trusted(
    args: &TrustArgs,
    identity: Option<&std::path::Path>,
) -> anyhow::Result<Trusted> {
    let mut keys = Vec::new();
    for k in &args.keys {
        keys.push(PublicKey::parse(k.trim())?);
    }
    if let Some(kit) = &args.kit {
        let text = std::fs::read_to_string(kit)
            .with_context(|| format!("reading the kit {}", kit.display()))?;
        let found = public_keys_in(&text);
        anyhow::ensure!(
            !found.is_empty(),
            "{} holds no signing key (lifeboat-sign:…): give the emergency kit's text, or --trust KEY",
            kit.display()
        );
        keys.extend(found);
    }
    if let Some(text) = identity.and_then(|p| std::fs::read_to_string(p).ok()) {
        keys.extend(public_keys_in(&text));
    }
    Ok(if keys.is_empty() {
        Trusted::default()
    } else {
        Trusted::keys(keys)
    })
}

/// Opens the destination at `from` and lists its copies, judged by the signing keys `trust`.
pub(crate) async fn open_and_list(
    from: &str,
    creds: &super::args::CredentialArgs,
    trust: Trusted,
) -> anyhow::Result<(Destination, Vec<Listed>)> {
    let opts = urls::destinations_from_urls(&[from.to_owned()], &creds.to_credentials())
        .map_err(ConfigError::Invalid)?;
    let spec = config::validate_destinations(opts)?.remove(0);
    let mut dest = destinations::open(&spec).with_context(|| format!("opening {from}"))?;
    dest.trust = trust;
    let listed = destinations::manifest::list(&dest)
        .await
        .with_context(|| format!("listing {}", dest.location))?;
    Ok((dest, listed))
}

/// The copy named `id`, or else the newest signed one (see [`destinations::manifest::choose`]).
pub(crate) fn choose<'a>(
    dest: &Destination,
    listed: &'a [Listed],
    id: Option<&str>,
) -> anyhow::Result<&'a Manifest> {
    destinations::manifest::choose(listed, id).with_context(|| match id {
        Some(id) => format!(
            "there is no copy {id} at {} (run `lifeboat recover --from ...` to list them)",
            dest.location
        ),
        None => format!("there are no copies at {}", dest.location),
    })
}

/// What to say of the chosen copy's signature before anything is done with it.
pub(crate) fn say_provenance(m: &Manifest, trust: &Trusted) {
    match &m.provenance {
        Provenance::Signed(key) => {
            println!("Copy {} is signed by this home's key {key}.", m.copy_id)
        }
        Provenance::Unchecked(key) if !trust.is_given() => println!(
            "Copy {} is signed by {key}, but no kit was given to check that key against: pass --kit with the emergency kit's text (or --trust lifeboat-sign:…) to be sure it is your home's.",
            m.copy_id
        ),
        Provenance::Unchecked(key) => println!("Copy {} is signed by {key}.", m.copy_id),
        Provenance::Unsigned => println!(
            "Copy {} is UNSIGNED: made before Lifeboat signed its copies, or its signature was taken off. Its data is still checked against its own manifest, but nothing proves this home made it.",
            m.copy_id
        ),
    }
}

pub async fn run(args: &RecoverArgs) -> anyhow::Result<ExitCode> {
    let trust = trusted(&args.trust, args.identity.as_deref())?;
    let (dest, listed) = open_and_list(&args.from, &args.creds, trust.clone()).await?;
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
    if !args.json {
        say_provenance(chosen, &trust);
    }
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
