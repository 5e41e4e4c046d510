//! Shipping Home Assistant's own backups within seconds of its backup-manager event (the events
//! as Home Assistant 2025.4.4 sent them, `tests/data/transcripts/ws-updates-2025.4.4.json`),
//! through the daemon as the binary starts it, with no schedule at all: so nothing but the event
//! can have started the run. Also: an event during a run is shipped after it, a dropped
//! subscription is made again and catches up on what was made while it was down, and create mode
//! ships them too with `ship_new_backups`.

use crate::support::ha_double::{Double, Faults, Flavor};
use crate::support::*;
use lifeboat::config::{SourceMode, SupervisorMethod};
use lifeboat::daemon::Daemon;
use lifeboat::daemon::backup_events::Listening;
use lifeboat::history::RunStatus;
use lifeboat::secret::Secret;
use std::time::{Duration, Instant};

struct Home {
    d: Double,
    history: lifeboat::history::History,
    store: tempfile::TempDir,
    _data: tempfile::TempDir,
    state: lifeboat::web::AppState,
    /// The daemon's following of the backup events, when it follows them.
    events: Option<Listening>,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Home {
    /// A daemon shipping from the double, which holds `existing` backups (slug, date) already.
    async fn start(mode: SourceMode, ship_new: bool, existing: &[(&str, &str)]) -> Self {
        let d = Double::start(
            Flavor::Supervisor,
            fixture("supervisor-style/full-plain.tar"),
            None,
        )
        .await;
        for (slug, date) in existing {
            d.add_existing_backup(slug, date);
        }
        let store = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let source = supervisor_source(&d, SupervisorMethod::Rest, mode);
        let r = runner(
            source,
            &[local_spec("usb", store.path())],
            &kit().spec,
            data.path(),
        );
        let history = r.history.clone();
        let ws = lifeboat::ha::websocket::websocket_url(&d.url.parse().unwrap(), "/core/websocket")
            .unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let settings = daemon_settings(
            &r,
            Vec::new(),
            Some((
                ws,
                Secret::new(d.token()),
                ship_new || mode == SourceMode::Ship,
            )),
        );
        let running = Daemon::new(r, settings).start(&stop).await.unwrap();
        let state = running.state.clone();
        let events = running.backup_events.clone();
        let task = tokio::spawn(running.join());
        Self {
            d,
            history,
            store,
            _data: data,
            state,
            events,
            stop,
            task,
        }
    }

    /// Waits until the daemon follows the backup events and the run that catches up on what was
    /// there already has ended (from then on only an event ships a new backup), as the daemon
    /// says; fails the test after 30 s.
    async fn listening(&self) {
        let events = self.events.as_ref().expect("the daemon follows no events");
        let wait = Duration::from_secs(30);
        if tokio::time::timeout(wait, events.listening())
            .await
            .is_err()
        {
            panic!(
                "the daemon was not listening after {wait:?}: {:?}; the double saw {:?}",
                *events.watch().borrow(),
                self.d.log()
            );
        }
        assert_eq!(self.d.backup_subscribers(), 1);
    }

    /// The backups (source keys) shipped by successful runs.
    async fn shipped(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .history
            .shipped_source_keys()
            .await
            .unwrap()
            .into_iter()
            .collect();
        keys.sort();
        keys
    }

    async fn wait_shipped(&self, key: &str) {
        let key = format!("supervisor:{key}");
        for _ in 0..400 {
            if self.shipped().await.contains(&key) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{key} was not shipped; shipped: {:?}; the double saw {:?}",
            self.shipped().await,
            self.d.log()
        );
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..400 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// More than age's header (written as soon as an upload opens, before the backup's first byte
/// is read): a copy this long holds bytes of the backup.
const AGE_HEADER_AT_MOST: u64 = 4096;

/// The first moment a file other than the pre-flight probe holds bytes of the backup in `dir` or
/// a folder in it (an upload under way), polled every millisecond.
async fn first_write(dir: &std::path::Path, since: Instant) -> Duration {
    fn files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |d| {
            d.filter_map(Result::ok)
                .map(|e| {
                    if e.path().is_dir() {
                        files(&e.path())
                    } else {
                        usize::from(
                            e.file_name() != lifeboat::pipeline::plan::PROBE
                                && e.metadata().is_ok_and(|m| m.len() > AGE_HEADER_AT_MOST),
                        )
                    }
                })
                .sum()
        })
    }
    loop {
        if files(dir) > 0 {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(30), "nothing written");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_mode_ships_a_new_backup_within_seconds_of_home_assistants_event() {
    let home = Home::start(
        SourceMode::Ship,
        false,
        &[("0a1b2c3d", "2026-11-20T04:00:00+00:00")],
    )
    .await;
    home.listening().await;
    // On subscribing it caught up with what was there.
    home.wait_shipped("0a1b2c3d").await;
    let moved = home.store.path().with_extension("before");
    std::fs::rename(home.store.path(), &moved).unwrap();
    std::fs::create_dir(home.store.path()).unwrap();
    let made = Instant::now();
    home.d.ha_makes_backup("4e5f6a7b");
    let to_write = first_write(home.store.path(), made).await;
    home.wait_shipped("4e5f6a7b").await;
    let to_download = home.d.announced_to_download().unwrap();
    // The figure the closing note quotes; the goal (under 2 s) is a benchmark's business, but it
    // must be far below any schedule's minute to have been the event's doing.
    println!(
        "ship latency: completed event → download began {to_download:?}, → first backup bytes on \
         the destination {to_write:?}"
    );
    assert!(to_write < Duration::from_secs(30), "{to_write:?}");
    std::fs::remove_dir_all(moved).unwrap();
    home.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_announced_during_a_run_is_shipped_after_it() {
    let home = Home::start(SourceMode::Ship, false, &[]).await;
    home.listening().await;
    home.d.set_faults(Faults {
        slow_download: Some(Duration::from_millis(800)),
        ..Faults::default()
    });
    home.d.ha_makes_backup("11111111");
    // The run for the first is under way (its download waits) when the second is announced.
    wait_until("the first download", || {
        home.d
            .log()
            .iter()
            .any(|l| l == "GET /backups/11111111/download")
    })
    .await;
    home.d.ha_makes_backup("22222222");
    home.wait_shipped("11111111").await;
    home.wait_shipped("22222222").await;
    let runs = home.history.recent_runs(10).await.unwrap();
    assert!(
        runs.iter()
            .filter(|r| r.status == RunStatus::Success && r.trigger == "ha-backup")
            .count()
            >= 2,
        "{runs:?}"
    );
    home.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscription_is_made_again_and_catches_up() {
    let home = Home::start(SourceMode::Ship, false, &[]).await;
    home.listening().await;
    home.d.drop_backup_subscribers();
    wait_until("the drop", || home.d.backup_subscribers() == 0).await;
    // Made while nobody listened: no event reaches Lifeboat for it.
    home.d.ha_makes_backup("33333333");
    wait_until("the new subscription", || home.d.backup_subscribers() == 1).await;
    home.wait_shipped("33333333").await;
    // And the new subscription hears the next one.
    home.d.ha_makes_backup("44444444");
    home.wait_shipped("44444444").await;
    home.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_mode_ships_home_assistants_own_backups_with_the_option() {
    let home = Home::start(SourceMode::Create, true, &[]).await;
    home.listening().await;
    home.d.ha_makes_backup("55555555");
    home.wait_shipped("55555555").await;
    // Shipping them made no backup of Lifeboat's own.
    assert_eq!(home.d.creations(), 0);
    home.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_updates_page_lists_what_waits_and_its_button_backs_up_then_installs() {
    use crate::dashboard::{get, post_form, token};
    use crate::support::ha_double::UpdateFixture;
    let home = Home::start(SourceMode::Create, false, &[]).await;
    home.d
        .add_update(UpdateFixture::core("2026.2.3", "2026.3.0"));
    home.d.add_update(UpdateFixture::addon(
        "core_mosquitto",
        "Mosquitto broker",
        "6.4.0",
        "6.5.0",
    ));
    home.d.add_update(UpdateFixture::addon(
        "a0d7b954_nodered",
        "Node-RED",
        "19.0.0",
        "19.0.0",
    ));
    let page = get(&home.state, "/updates").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Home Assistant Core Update"),
        "{}",
        page.body
    );
    assert!(page.body.contains("2026.2.3 → 2026.3.0"));
    assert!(page.body.contains("the add-on alone (core_mosquitto)"));
    assert!(page.body.contains("everything (a full backup)"));
    assert!(
        !page.body.contains("Node-RED"),
        "an update not waiting was listed"
    );
    assert_eq!(
        page.body
            .matches("Back up off-site, then update</button>")
            .count(),
        2
    );
    let t = token(&home.state);
    let done = post_form(
        &home.state,
        "/updates/install",
        &[
            ("csrf", t.as_str()),
            ("entity_id", "update.mosquitto_broker_update"),
        ],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap().ends_with("/?notice=update-started"));
    wait_until("the install", || !home.d.installs().is_empty()).await;
    assert_eq!(home.d.installs(), ["update.mosquitto_broker_update"]);
    assert_eq!(home.d.creations(), 1, "one backup, made before the install");
    let runs = home.history.recent_runs(1).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Success);
    assert_eq!(runs[0].trigger, "dashboard");
    // Without the form's token nothing is started.
    let refused = post_form(
        &home.state,
        "/updates/install",
        &[("entity_id", "update.home_assistant_core_update")],
    )
    .await;
    assert_eq!(refused.status, 403);
    home.stop().await;
}
