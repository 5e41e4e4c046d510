//! Settings saved from the dashboard apply without a restart (`daemon::host`): an idle server
//! starts on its first valid settings, a change swaps the running daemon, a change during a
//! backup waits for it to end, and settings that cannot be built leave the running daemon as it
//! was.

use crate::support::*;
use lifeboat::config::{Config, Env};
use lifeboat::daemon::host::Host;
use lifeboat::setup::{Applied, Apply};
use std::path::Path;
use std::time::Duration;

/// Settings with a Supervisor source (the double at `supervisor`) and local folders named
/// `names` under `dir`, read and validated as `lifeboat serve` reads a settings file.
fn settings(d: &ha_double::Double, dir: &Path, data: &Path, names: &[&str]) -> Config {
    let supervisor = &d.url;
    let mut text = format!(
        "data_dir = \"{}\"\n[source]\ntype = \"supervisor\"\nmethod = \"rest\"\nurl = \"{supervisor}\"\n\
         [encryption]\nrecipients = [\"{}\"]\n",
        data.display(),
        kit().identity.to_public()
    );
    for n in names {
        text.push_str(&format!(
            "[[destinations]]\nname = \"{n}\"\ntype = \"local\"\npath = \"{}\"\n",
            dir.join(n).display()
        ));
    }
    let opts: lifeboat::config::options::Options = toml::from_str(&text).unwrap();
    lifeboat::config::validate(opts, &env_for(d), data.to_path_buf()).unwrap()
}

fn env_for(d: &ha_double::Double) -> Env {
    Env::from_pairs([("SUPERVISOR_TOKEN", d.token())])
}

fn served(host: &Host) -> Vec<String> {
    host.current()
        .get()
        .services
        .map(|s| s.destinations.iter().map(|d| d.name.clone()).collect())
        .unwrap_or_default()
}

async fn host(
    first: Result<&Config, Vec<String>>,
    d: &ha_double::Double,
) -> (Host, tokio_util::sync::CancellationToken) {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let host = Host::start(
        first,
        env_for(d),
        lifeboat::web::ingress::Access::any(),
        lifeboat::web::csrf::Token::from_bytes([7; 32]),
        &shutdown,
    )
    .await
    .unwrap();
    (host, shutdown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_starts_on_saved_settings_and_a_change_swaps_the_daemon() {
    let d = home_with_updates().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (host, shutdown) = host(Err(vec!["add at least one destination".into()]), &d).await;
    assert!(host.current().get().services.is_none());
    assert_eq!(
        *host.current().get().problems,
        ["add at least one destination"]
    );

    let one = settings(&d, dir.path(), &data, &["usb"]);
    assert_eq!(host.apply(one).await.unwrap(), Applied::Now);
    assert_eq!(served(&host), ["usb"]);
    assert!(host.current().get().problems.is_empty());

    let two = settings(&d, dir.path(), &data, &["usb", "nas"]);
    assert_eq!(host.apply(two).await.unwrap(), Applied::Now);
    assert_eq!(served(&host), ["usb", "nas"]);

    // Settings that cannot be built (the data folder is a file) change nothing.
    let blocked = dir.path().join("a file");
    std::fs::write(&blocked, b"not a folder").unwrap();
    let bad = settings(&d, dir.path(), &blocked, &["usb"]);
    let e = host.apply(bad).await.unwrap_err();
    assert!(
        e.to_string().contains("goes on with the ones before"),
        "{e}"
    );
    assert_eq!(served(&host), ["usb", "nas"]);

    shutdown.cancel();
    host.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_during_a_backup_waits_for_it_to_end() {
    let d = home_with_updates().await;
    d.inner.faults.lock().unwrap().slow_download = Some(Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let one = settings(&d, dir.path(), &data, &["usb"]);
    let (host, shutdown) = host(Ok(&one), &d).await;
    let first = host.current().get().services.unwrap();
    first
        .triggers
        .fire(lifeboat::pipeline::request::RunRequest {
            trigger: "test".into(),
            ..Default::default()
        })
        .unwrap();
    let mut waited = 0;
    while !first.progress.running() {
        assert!(waited < 100, "the backup did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }

    let two = settings(&d, dir.path(), &data, &["usb", "nas"]);
    assert_eq!(host.apply(two).await.unwrap(), Applied::AfterJob);
    assert_eq!(served(&host), ["usb"], "applied while the backup ran");
    let mut waited = 0;
    while served(&host) != ["usb", "nas"] {
        assert!(waited < 300, "the change was not applied after the backup");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    // The backup finished on the settings it began with: a verified copy on the one folder.
    let runs = first.history.recent_runs(5).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        runs[0].status,
        lifeboat::history::RunStatus::Success,
        "{runs:?}"
    );
    assert_eq!(
        files_ending(&dir.path().join("usb"), &[".manifest.json"]),
        1
    );
    assert!(!dir.path().join("nas").exists());

    shutdown.cancel();
    host.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_pages_saving_from_the_same_settings_the_second_is_refused_not_lost() {
    let d = home_with_updates().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("lifeboat.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = \"{}\"\n[source]\ntype = \"supervisor\"\nmethod = \"rest\"\nurl = \"{}\"\n\
             [encryption]\nrecipients = [\"{}\"]\n",
            data.display(),
            d.url,
            kit().identity.to_public()
        ),
    )
    .unwrap();
    let (host, shutdown) = host(Err(vec!["add at least one destination".into()]), &d).await;
    let setup = lifeboat::setup::Setup {
        home: lifeboat::setup::SettingsHome::File(file.clone()),
        env: env_for(&d),
        data_dir_given: None,
        default_data_dir: data.clone(),
        apply: std::sync::Arc::new(host.clone()),
    };
    let folder = |name: &str| lifeboat::config::edit::DestinationEntry {
        name: name.into(),
        kind: lifeboat::destinations::Kind::Local,
        fields: [(
            "path".to_owned(),
            lifeboat::config::edit::FieldValue::Text(dir.path().join(name).display().to_string()),
        )]
        .into(),
    };
    // Two pages opened on the same settings.
    let mut first = setup.current().await.unwrap();
    let mut second = setup.current().await.unwrap();
    first.put_destination(None, folder("usb")).unwrap();
    second.put_destination(None, folder("nas")).unwrap();
    assert_eq!(setup.save(&first).await.unwrap(), Applied::Now);
    let e = setup.save(&second).await.unwrap_err();
    assert!(
        matches!(e, lifeboat::setup::SetupError::Changed),
        "the second page overwrote the first: {e}"
    );
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("usb") && !saved.contains("nas"), "{saved}");
    assert_eq!(served(&host), ["usb"]);
    // Opened again, the second change goes in beside the first.
    let mut again = setup.current().await.unwrap();
    again.put_destination(None, folder("nas")).unwrap();
    assert_eq!(setup.save(&again).await.unwrap(), Applied::Now);
    assert_eq!(served(&host), ["usb", "nas"]);
    shutdown.cancel();
    host.join().await;
}
