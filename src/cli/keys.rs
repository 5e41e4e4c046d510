//! `lifeboat kit` and `lifeboat keys`: print the emergency kit, list and import keys, and enrol a
//! new age key.

use super::args::{Cli, Inline, KeysCommand};
use super::{default_data_dir, load_config};
use anyhow::Context;
use lifeboat::config::Env;
use lifeboat::crypto::keyring::Keyring;
use lifeboat::crypto::vault::{self, Vault};
use lifeboat::history::History;
use lifeboat::secret::Secret;
use lifeboat::signing::public_keys_in;
use std::process::ExitCode;
use std::sync::Arc;

pub(super) async fn kit(
    cli: &Cli,
    inline: &Inline,
    out: Option<&std::path::Path>,
    env: &Env,
) -> anyhow::Result<ExitCode> {
    let cfg = load_config(cli, inline, env)?;
    use lifeboat::crypto::kit::{Kit, KitPlace};
    let keys = lifeboat::crypto::keyring::Keyring::new(
        Some(Arc::new(std::sync::Mutex::new(Vault::open(&cfg.data_dir)?))),
        cfg.encryption.clone(),
        cfg.ha_backup_keys.clone(),
    );
    let kit = Kit::gather(
        chrono::Utc::now(),
        &keys.ha_keys(),
        &keys.encryption(),
        &[],
        cfg.destinations.iter().map(KitPlace::from).collect(),
    )
    .with_sources(kit_sources(&cfg))
    .with_signers(&{
        // The box's signing key is made now if no copy has needed it yet: the kit must name it.
        if let Some(seed) = lifeboat::signing::fresh_seed() {
            keys.signing_key(chrono::Utc::now(), &seed);
        }
        keys.signers()
    });
    // What a restore of the newest backup needs, when this machine has made one (no history is
    // made where there is none).
    let db = cfg.data_dir.join(lifeboat::history::FILE_NAME);
    let newest = if db.exists() {
        History::open(&cfg.data_dir)?.newest_readiness().await?
    } else {
        None
    };
    let text = match newest {
        Some((_, date, r)) => kit.with_readiness(date, r.report),
        None => kit,
    }
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

pub(super) async fn keys(cli: &Cli, command: &KeysCommand, env: &Env) -> anyhow::Result<ExitCode> {
    let dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir(env));
    let mut v = Vault::open(&dir)?;
    match command {
        KeysCommand::List { json } => {
            let (ha, age, signers) = (v.list(), v.age_keys(), v.signers());
            if *json {
                let both =
                    serde_json::json!({"ha_keys": ha, "age_keys": age, "signing_keys": signers});
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
            for k in signers {
                println!(
                    "{}  signing key added {}{}  {}",
                    k.fingerprint,
                    k.added.format("%Y-%m-%d"),
                    if k.own {
                        ", this box's"
                    } else {
                        ", an earlier box's"
                    },
                    k.public
                );
            }
        }
        KeysCommand::Generate { seal } => return generate_key(&dir, v, *seal, env).await,
        KeysCommand::Import { key_or_file } => {
            let path = std::path::Path::new(key_or_file);
            let text = if path.is_file() {
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?
            } else {
                key_or_file.clone()
            };
            let (found, signers) = (vault::keys_in_kit(&text), public_keys_in(&text));
            anyhow::ensure!(
                !found.is_empty() || !signers.is_empty(),
                "no Home Assistant backup key (7 groups of 4 letters and digits, like ABCD-EFGH-…) and no signing key (lifeboat-sign:…) found in what was given"
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
            // An earlier box's signing keys, from its kit: its copies count as this home's.
            for k in signers {
                let new = v.trust_signer(k, chrono::Utc::now())?;
                println!(
                    "{}: {}",
                    k.fingerprint(),
                    if new {
                        "signing key trusted: copies it signed count as this home's"
                    } else {
                        "signing key already trusted"
                    }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `lifeboat keys generate`: shows a new key pair's private half once, and files the pair only
/// when the person types its last group back (proof they wrote it down or printed it) — the same
/// enrolment the dashboard's kit page runs.
async fn generate_key(
    dir: &std::path::Path,
    vault: Vault,
    seal: bool,
    env: &Env,
) -> anyhow::Result<ExitCode> {
    use lifeboat::crypto::enrol::{EnrolError, Enrolment};
    use lifeboat::crypto::identity::GROUP;
    let sealed_with = if seal {
        let pass = env.get("LIFEBOAT_SEAL_PASSPHRASE").context(
            "--seal takes the passphrase from LIFEBOAT_SEAL_PASSPHRASE (it never goes on the command line)",
        )?;
        Some(Secret::new(pass))
    } else {
        None
    };
    let enrolment = Enrolment::begin(sealed_with.as_ref())?;
    let pair = enrolment.pair();
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
    let keys = Keyring::new(
        Some(Arc::new(std::sync::Mutex::new(vault))),
        lifeboat::config::EncryptionSpec {
            recipients: Vec::new(),
            passphrase: None,
        },
        Vec::new(),
    );
    let history = History::open(dir)?;
    let pair = match enrolment
        .confirm(&typed, &keys, &history, chrono::Utc::now())
        .await
    {
        Ok(pair) => pair,
        Err(e @ EnrolError::WrongGroup) => {
            eprintln!("lifeboat: {e}. Run `lifeboat keys generate` again.");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
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

/// The kit's lines for the configured sources that are not Home Assistant backups.
fn kit_sources(cfg: &lifeboat::config::Config) -> Vec<lifeboat::crypto::kit::KitSource> {
    let now = chrono::Utc::now();
    cfg.sources
        .iter()
        .filter_map(|s| {
            let source = lifeboat::source::build(
                &s.spec,
                &s.name,
                reqwest::Client::new(),
                Default::default(),
            );
            lifeboat::source::kit_line(&s.name, source.as_ref(), now)
        })
        .collect()
}
