//! Fills a history with many realistic runs, for the dashboard benchmark
//! (`scripts/bench-dashboard.sh`): one run every 6 hours ending now, two destinations (`nas`, `b2`),
//! a failure now and then, a partial run now and then, a timeline per run, and retention's
//! deletions of copies older than 30 days.
//!
//!   cargo run --release --example seed_history -- <data dir> <runs>

use chrono::{TimeDelta, Utc};
use lifeboat::history::upkeep::DeletionRow;
use lifeboat::history::{CopyRecord, History, Moment, RunEnd, RunStatus};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: seed_history <data dir> <runs>");
    };
    let n: i64 = n.parse()?;
    let h = History::open(std::path::Path::new(&dir))?;
    let now = Utc::now();
    for i in 0..n {
        let started = now - TimeDelta::hours(6 * (n - i));
        let finished = started + TimeDelta::seconds(240 + i % 120);
        let id = h
            .start_run(
                started,
                if i % 4 == 0 { "dashboard" } else { "schedule" },
                "supervisor:",
            )
            .await?;
        let status = match i {
            _ if i % 17 == 5 => RunStatus::Failed,
            _ if i % 29 == 7 => RunStatus::Partial,
            _ => RunStatus::Success,
        };
        let size = 1_200_000_000 + u64::try_from(i).unwrap_or(0) * 100_000;
        let copy_id = format!("{}-seed{i}", started.format("%Y%m%dT%H%M%SZ"));
        let copies = ["nas", "b2"]
            .iter()
            .map(|d| {
                let ok =
                    status == RunStatus::Success || (status == RunStatus::Partial && *d == "nas");
                CopyRecord {
                    destination: (*d).to_owned(),
                    copy_id: copy_id.clone(),
                    object: format!("{copy_id}.tar.age"),
                    verified: ok,
                    stored_size: Some(size + 300_000),
                    stored_sha256: Some("ab".repeat(32)),
                    error: (!ok).then(|| "upload refused: connection reset".to_owned()),
                    upload_ms: Some(200_000),
                    verify_ms: Some(30_000),
                    verified_at: ok.then_some(finished),
                    failure: (!ok).then(|| "passing".to_owned()),
                }
            })
            .collect();
        let timeline = (0..6)
            .map(|k| Moment {
                at: started + TimeDelta::seconds(40 * k),
                what: format!("step {k} of the run"),
                destination: (k >= 3).then(|| "nas".to_owned()),
                failed: false,
            })
            .collect();
        let end = RunEnd {
            source_key: Some(format!("seed{i}")),
            backup_slug: Some(format!("{i:08x}")),
            backup_name: Some(format!("Automatic backup {i}")),
            backup_date: Some(started.to_rfc3339()),
            plain_size: Some(size),
            plain_sha256: Some("cd".repeat(32)),
            stored_size: Some(size + 300_000),
            stored_sha256: Some("ab".repeat(32)),
            error: (status == RunStatus::Failed).then(|| "Home Assistant is busy".to_owned()),
            warnings: Vec::new(),
            timeline,
            keys: Some(lifeboat::history::KeyLedger {
                protected: true,
                ha_key: Some("0f1e2d3c".into()),
                recipients: vec!["age1…seed".into()],
                passphrase: false,
            }),
            readiness: Some(lifeboat::history::RunReadiness {
                report: seeded_readiness(),
                news: Vec::new(),
            }),
        };
        h.finish_run(id, finished, status, end, copies).await?;
        if now - started > TimeDelta::days(30) && status != RunStatus::Failed {
            for d in ["nas", "b2"] {
                h.record_deletion(DeletionRow {
                    at: started + TimeDelta::days(30),
                    destination: d.to_owned(),
                    copy_id: copy_id.clone(),
                    made: Some(started),
                    trigger: "retention".into(),
                    reason: "older than every rule keeps".into(),
                    error: None,
                })
                .await?;
            }
        }
    }
    println!("seeded {n} runs into {dir}");
    Ok(())
}

/// A report the size of a real home's: a few sign-ins, a stick, an address.
fn seeded_readiness() -> lifeboat::archive::readiness::Readiness {
    use lifeboat::archive::readiness::{Counts, Item, Readiness};
    let item = |domain: &str, title: &str, device: Option<&str>| Item {
        domain: Some(domain.to_owned()),
        addon: None,
        title: title.to_owned(),
        why: "signed in through a browser (OAuth): sign in again if Home Assistant asks".into(),
        device: device.map(str::to_owned),
    };
    Readiness {
        looked_inside: true,
        reauth: vec![
            item("google", "Google", None),
            item("spotify", "Spotify", None),
        ],
        hardware: vec![item("zha", "ZHA", Some("/dev/serial/by-id/usb-ITead-if00"))],
        network: vec![item("hue", "Hue", Some("192.168.1.20"))],
        counts: Counts {
            integrations: Some(40),
            devices: Some(120),
            entities: Some(900),
            users: Some(3),
            long_lived_tokens: Some(2),
        },
        ..Readiness::default()
    }
}
