//! `lifeboat demo`: a real run on an embedded default, no Home Assistant needed. A sample backup
//! made by a real Home Assistant is placed in a source folder, an age key pair is made (the private
//! half saved as the demo's emergency kit), and the sample is encrypted, stored in a local folder,
//! read back and listed.

use super::{exit_code, output};
use anyhow::Context;
use lifeboat::config::{self, Env, options};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// A plain backup made by Home Assistant 2026.2.3 (see tests/data/README.md).
const SAMPLE: &[u8] = include_bytes!("../../tests/data/ha-core/ha-2026.2.3-plain.tar");

pub async fn run(dir: &Path) -> anyhow::Result<ExitCode> {
    let dir = std::path::absolute(dir).context("resolving the demo folder")?;
    let source = dir.join("source");
    let copies = dir.join("copies");
    std::fs::create_dir_all(&source).with_context(|| format!("creating {}", source.display()))?;
    std::fs::create_dir_all(&copies).with_context(|| format!("creating {}", copies.display()))?;
    let sample = source.join("sample-backup.tar");
    if !sample.exists() {
        std::fs::write(&sample, SAMPLE).with_context(|| format!("writing {}", sample.display()))?;
    }
    let kit = dir.join("emergency-kit-age-identity.txt");
    let recipient = identity(&kit)?;

    let opts = options::Options {
        data_dir: Some(dir.join("data")),
        source: Some(options::SourceOptions::Folder {
            path: source.clone(),
        }),
        sources: Vec::new(),
        destinations: vec![options::DestinationOptions::Local(
            lifeboat::destinations::kinds::local::LocalOptions {
                name: "demo-folder".into(),
                path: copies.clone(),
                retention: None,
            },
        )],
        encryption: options::EncryptionOptions {
            recipients: vec![recipient],
            passphrase: None,
        },
        ha_backup_keys: Vec::new(),
        notify_service: None,
        listen: None,
        retention: None,
        schedule: Default::default(),
        keep_local: None,
        stale_after_hours: None,
        min_verified: None,
        ship_new_backups: None,
        kit_check_days: None,
        alert: None,
    };
    let cfg = config::validate(opts, &Env::default(), dir.join("data"))?;
    let (runner, _) = lifeboat::daemon::build::runner(&cfg, &Env::default())?;
    println!(
        "Lifeboat demo: backing up {} to {}\n",
        sample.display(),
        copies.display()
    );
    let reports = runner.run("demo", true).await?;
    for r in &reports {
        output::print_report(r);
    }
    if let Some(c) = reports.iter().flat_map(|r| &r.copies).find(|c| c.verified) {
        println!(
            "\nThe copy is an ordinary age file. To get the Home Assistant backup back without Lifeboat:\n  \
             age -d -i {} -o restored.tar {}",
            kit.display(),
            copies.join(&c.object).display()
        );
    }
    println!(
        "\nCopies now on the destination (lifeboat list --to file://{}):",
        copies.display()
    );
    for d in &runner.destinations {
        output::print_listing(d, &lifeboat::destinations::manifest::list(d).await?);
    }
    Ok(exit_code(reports.iter().map(|r| r.status)))
}

/// The demo's key pair: made once, the identity kept in `kit` (owner-only), the recipient returned.
fn identity(kit: &Path) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(kit) {
        let line = text
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .with_context(|| format!("{} holds no AGE-SECRET-KEY line", kit.display()))?;
        let id: age::x25519::Identity = line
            .parse()
            .map_err(|e: &str| anyhow::anyhow!("{}: {e}", kit.display()))?;
        return Ok(id.to_public().to_string());
    }
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(kit)
        .with_context(|| format!("creating {}", kit.display()))?;
    use age::secrecy::ExposeSecret;
    writeln!(
        f,
        "# Lifeboat demo emergency kit: this private key decrypts the demo's copies.\n# public key: {public}\n{}",
        id.to_string().expose_secret()
    )?;
    Ok(public)
}
