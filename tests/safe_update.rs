//! The safe update ("back up off-site, then update") against the Home Assistant/Supervisor double,
//! whose update entities, `update.install` answers and backup-manager events are those recorded
//! from a real Home Assistant 2025.4.4 (`tests/data/transcripts/ws-updates-2025.4.4.json`), with
//! copies going to the real S3 server and a local folder: the backup covers what the update
//! touches, nothing is installed unless enough destinations hold a verified copy, a failed install
//! keeps (pins) the copy; Home Assistant's own backups are shipped within seconds of its event,
//! also when the event comes during a run or after the subscription dropped; and a disk too full
//! for the backup is said before Home Assistant is asked for one.

use crate::support::ha_double::{Double, Faults, UpdateFixture};
use crate::support::*;
use lifeboat::config::{SourceMode, SupervisorMethod};
use lifeboat::ha::updates::UpdateClient;
use lifeboat::history::RunStatus;
use lifeboat::pipeline::run::Runner;
use lifeboat::pipeline::safe_update::{Stage, UpdateAsk, UpdateReport, safe_update};
use lifeboat::secret::Secret;
use std::time::Duration;

fn ha(d: &Double) -> UpdateClient {
    let url =
        lifeboat::ha::websocket::websocket_url(&d.url.parse().unwrap(), "/core/websocket").unwrap();
    UpdateClient {
        install: Duration::from_secs(10),
        poll: Duration::from_millis(50),
        ..UpdateClient::new(url, Secret::new(d.token()))
    }
}

fn ask(target: &str, min_verified: usize) -> UpdateAsk {
    UpdateAsk {
        target: target.into(),
        min_verified,
        trigger: "test".into(),
    }
}

struct Setup {
    d: Double,
    r: Runner,
    _dirs: Vec<tempfile::TempDir>,
}

async fn setup(
    method: SupervisorMethod,
    specs: impl FnOnce(&std::path::Path) -> Vec<lifeboat::config::DestinationSpec>,
) -> Setup {
    let d = home_with_updates().await;
    let store = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let r = runner(
        supervisor_source(&d, method, SourceMode::Create),
        &specs(store.path()),
        &kit().spec,
        data.path(),
    );
    Setup {
        d,
        r,
        _dirs: vec![store, data],
    }
}

fn two_good(dir: &std::path::Path) -> Vec<lifeboat::config::DestinationSpec> {
    vec![
        local_spec("usb", dir),
        s3_spec("s3", &unique("safe-update")),
    ]
}

/// The real S3 server, with a secret it refuses: no copy is ever stored there.
fn refusing_s3() -> lifeboat::config::DestinationSpec {
    s3_spec_with(
        "s3",
        &unique("safe-update"),
        &env_or_die("LIFEBOAT_TEST_S3"),
        "not-the-secret",
    )
}

/// Where in the double's log `what` first shows.
fn at(d: &Double, what: &str) -> usize {
    d.log()
        .iter()
        .position(|l| l.starts_with(what))
        .unwrap_or_else(|| panic!("{what} never happened: {:?}", d.log()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_update_is_installed_only_after_a_full_backup_is_verified_off_site() {
    let s = setup(SupervisorMethod::Rest, two_good).await;
    let report = safe_update(
        &s.r,
        &ha(&s.d),
        &ask("update.home_assistant_core_update", 2),
    )
    .await
    .unwrap();
    assert!(report.installed, "{}", report.message());
    // Core restarts to install: the answer never came, the new version was read after.
    assert_eq!(report.version_now.as_deref(), Some("2026.3.0"));
    let mut verified = report.verified.clone();
    verified.sort();
    assert_eq!(verified, ["s3", "usb"]);
    // A full backup (not Home Assistant's own `backup: true`), made and read back before the
    // install was asked for.
    assert!(at(&s.d, "POST /backups/new/full") < at(&s.d, "ws call_service"));
    assert_eq!(s.d.installs(), ["update.home_assistant_core_update"]);
    let runs = s.r.history.recent_runs(1).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Success);
    // The double's archive is a fixture; the name asked for is what shows the intent.
    let asked = s.d.inner.create_requests.lock().unwrap()[0]["name"].clone();
    assert_eq!(
        asked,
        "Before updating Home Assistant Core Update 2026.2.3 → 2026.3.0"
    );
    // The run knows what it restores to and what ran.
    let v = runs[0].versions.clone().unwrap();
    assert_eq!(v.host.unwrap().os.as_deref(), Some("16.3"));
    assert!(
        report
            .message()
            .starts_with("Installed Home Assistant Core Update")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_add_on_update_backs_up_the_add_on_alone_then_installs_it() {
    let s = setup(SupervisorMethod::Websocket, two_good).await;
    // Named by its slug, as an automation may.
    let report = safe_update(&s.r, &ha(&s.d), &ask("core_mosquitto", 1))
        .await
        .unwrap();
    assert!(report.installed, "{}", report.message());
    let asked = s.d.inner.create_requests.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0]["include_addons"],
        serde_json::json!(["core_mosquitto"])
    );
    assert_eq!(asked[0]["include_homeassistant"], false);
    assert_eq!(
        s.d.update("update.mosquitto_broker_update")
            .unwrap()
            .installed,
        "6.5.0"
    );
    assert!(at(&s.d, "ws backup/generate") < at(&s.d, "ws call_service"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_backup_fails_nothing_is_installed() {
    let s = setup(SupervisorMethod::Rest, two_good).await;
    s.d.set_faults(Faults {
        fail_job: Some("Backup failed: not enough free space".into()),
        ..Faults::default()
    });
    let report = safe_update(
        &s.r,
        &ha(&s.d),
        &ask("update.home_assistant_core_update", 1),
    )
    .await
    .unwrap();
    assert!(!report.installed);
    assert_eq!(report.stopped_at, Some(Stage::Backup));
    assert!(s.d.installs().is_empty(), "installed anyway");
    assert!(
        report.message().contains("not enough free space"),
        "{}",
        report.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_no_destination_verifies_nothing_is_installed() {
    // Two destinations, neither of which takes a copy: S3 refuses the key, and the folder is a
    // file.
    let s = setup(SupervisorMethod::Rest, |dir| {
        let file = dir.join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        vec![local_spec("usb", &file), refusing_s3()]
    })
    .await;
    let report = safe_update(&s.r, &ha(&s.d), &ask("core_mosquitto", 1))
        .await
        .unwrap();
    assert!(!report.installed);
    assert_eq!(report.stopped_at, Some(Stage::Backup));
    assert!(report.verified.is_empty());
    assert!(s.d.installs().is_empty(), "installed anyway");
    let said = report.message();
    assert!(said.contains("0 of 2 destinations"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_verified_copy_is_not_enough_when_two_are_asked_for() {
    let s = setup(SupervisorMethod::Rest, |dir| {
        vec![local_spec("usb", dir), refusing_s3()]
    })
    .await;
    let report = safe_update(&s.r, &ha(&s.d), &ask("core_mosquitto", 2))
        .await
        .unwrap();
    assert!(!report.installed);
    assert_eq!(report.verified, ["usb"]);
    assert!(
        report.message().contains("1 of 2 destinations"),
        "{}",
        report.message()
    );
    assert!(s.d.installs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_install_is_told_and_its_copies_are_kept() {
    let s = setup(SupervisorMethod::Rest, two_good).await;
    let mut mosquitto = s.d.update("update.mosquitto_broker_update").unwrap();
    mosquitto.install_fails = Some("Can't install core_mosquitto 6.5.0: docker pull failed".into());
    s.d.add_update(mosquitto.clone());
    s.d.inner
        .updates
        .lock()
        .unwrap()
        .retain(|u| u.entity_id != mosquitto.entity_id || u.install_fails.is_some());
    let report: UpdateReport = safe_update(&s.r, &ha(&s.d), &ask("core_mosquitto", 1))
        .await
        .unwrap();
    assert!(!report.installed);
    assert_eq!(report.stopped_at, Some(Stage::Install));
    let said = report.message();
    assert!(
        said.contains("docker pull failed") && said.contains("pinned"),
        "{said}"
    );
    // Every verified copy of the backup is pinned: retention will not take the way back.
    let runs = s.r.history.recent_runs(1).await.unwrap();
    let mut held: Vec<&str> = runs[0]
        .copies
        .iter()
        .map(|c| c.destination.as_str())
        .collect();
    held.sort_unstable();
    assert_eq!(
        held,
        ["s3", "usb"],
        "the update's backup has a copy on each"
    );
    for c in &runs[0].copies {
        assert!(c.verified);
        let pins = s.r.history.pins(&c.destination).await.unwrap();
        assert!(pins.contains(&c.copy_id), "{} not pinned", c.destination);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_installed_is_refused_before_any_backup() {
    let s = setup(SupervisorMethod::Rest, two_good).await;
    let mut current = UpdateFixture::addon("a0d7b954_nodered", "Node-RED", "19.0.0", "19.0.0");
    current.supported_features = 27;
    s.d.add_update(current);
    let mut firmware = UpdateFixture::addon("x", "Bulb firmware", "1.0", "1.1");
    firmware.platform = "demo".into();
    firmware.supported_features = 0;
    s.d.add_update(firmware);
    for (target, says) in [
        ("update.nothing_like_it", "has no update entity or add-on"),
        ("core_nothing", "update.home_assistant_core_update"),
        (
            "a0d7b954_nodered",
            "has no update waiting (installed: 19.0.0)",
        ),
        (
            "update.bulb_firmware_update",
            "cannot be installed from Home Assistant",
        ),
    ] {
        let report = safe_update(&s.r, &ha(&s.d), &ask(target, 1)).await.unwrap();
        assert_eq!(report.stopped_at, Some(Stage::Lookup), "{target}");
        assert!(
            report.message().contains(says),
            "{target}: {}",
            report.message()
        );
    }
    assert_eq!(s.d.creations(), 0, "a backup was made for nothing");
    assert!(s.d.installs().is_empty());
    // Ship mode makes no backups: it cannot make the one an update needs.
    let data = tempfile::tempdir().unwrap();
    let ship = runner(
        supervisor_source(&s.d, SupervisorMethod::Rest, SourceMode::Ship),
        &[local_spec("usb", s._dirs[0].path())],
        &kit().spec,
        data.path(),
    );
    let report = safe_update(&ship, &ha(&s.d), &ask("core_mosquitto", 1))
        .await
        .unwrap();
    assert!(
        report.message().contains("ship mode"),
        "{}",
        report.message()
    );
    assert_eq!(s.d.creations(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_too_full_for_the_backup_is_said_before_anything_is_written() {
    let s = setup(SupervisorMethod::Rest, two_good).await;
    *s.d.inner.disk_free_gib.lock().unwrap() = 0.8;
    let reports = s.r.run("test", false).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].status, RunStatus::Failed);
    let said = reports[0].error.clone().unwrap();
    assert!(
        said.contains("Home Assistant's disk has 819.2 MiB free") && said.contains("1 GiB"),
        "{said}"
    );
    assert_eq!(
        s.d.creations(),
        0,
        "Home Assistant was asked for a backup anyway"
    );
    assert!(
        std::fs::read_dir(s._dirs[0].path())
            .unwrap()
            .next()
            .is_none(),
        "something was written to the destination"
    );
    // With room, the same run goes ahead.
    *s.d.inner.disk_free_gib.lock().unwrap() = 12.5;
    let reports = s.r.run("test", false).await.unwrap();
    assert_eq!(reports[0].status, RunStatus::Success);
}
