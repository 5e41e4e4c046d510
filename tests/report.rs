//! What Home Assistant is told, checked at the double's Core REST API: entities, events and the
//! failure notification, and the entities published again after Home Assistant forgot them.

use crate::support::ha_double::{Double, Faults, Flavor};
use crate::support::*;
use lifeboat::config::SupervisorMethod;
use lifeboat::history::RunStatus;
use lifeboat::secret::Secret;
use lifeboat::source::supervisor::SupervisorSource;
use serde_json::Value;
use std::sync::Arc;

fn posted<'a>(posts: &'a [(String, Value)], path: &str) -> Vec<&'a Value> {
    posts
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, v)| v)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_show_up_in_home_assistant_as_entities_events_and_notifications() {
    let d = Double::start(
        Flavor::Supervisor,
        fixture("supervisor-style/full-plain.tar"),
        None,
    )
    .await;
    let url: url::Url = d.url.parse().unwrap();
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let source = Arc::new(SupervisorSource::new(
        reqwest::Client::new(),
        url.clone(),
        Secret::new(d.token()),
        SupervisorMethod::Rest,
        quick(),
        lifeboat::config::SourceMode::Create,
    ));
    let mut r = runner(
        source,
        &[s3_spec("nas-1", &unique("report"))],
        &k.spec,
        data.path(),
    );
    let reporter = ha_reporter(&d, &r, Some("mobile_app_phone"));
    r.observer = reporter.clone();

    assert_eq!(
        r.run("schedule", false).await.unwrap()[0].status,
        RunStatus::Success
    );
    let posts = d.inner.core_posts.lock().unwrap().clone();
    assert_eq!(
        posted(&posts, "events/lifeboat_backup_started")[0]["trigger"],
        "schedule"
    );
    let finished = posted(&posts, "events/lifeboat_backup_finished");
    assert_eq!(finished[0]["status"], "success");
    assert_eq!(finished[0]["destinations"][0]["name"], "nas-1");
    assert_eq!(finished[0]["backup"]["slug"], "02dc63e3");
    assert_eq!(
        posted(&posts, "states/sensor.lifeboat_state")
            .last()
            .unwrap()["state"],
        "idle"
    );
    assert_eq!(
        posted(&posts, "states/binary_sensor.lifeboat_problem")
            .last()
            .unwrap()["state"],
        "off"
    );
    // The kit was never checked: due 180 days after the first verified copy, not yet overdue.
    let kit = posted(&posts, "states/binary_sensor.lifeboat_kit_check_due");
    let kit = kit.last().unwrap();
    assert_eq!(kit["state"], "off");
    assert!(kit["attributes"]["due"].is_string(), "{kit}");
    assert!(kit["attributes"]["last_checked"].is_null(), "{kit}");
    let last = posted(&posts, "states/sensor.lifeboat_last_backup");
    assert!(
        last.last().unwrap()["state"]
            .as_str()
            .unwrap()
            .starts_with("20"),
        "{last:?}"
    );
    let copy = posted(&posts, "states/sensor.lifeboat_nas_1_last_copy");
    assert!(
        copy.last().unwrap()["attributes"]["size_bytes"]
            .as_u64()
            .unwrap()
            > 3_000_000
    );
    assert!(posted(&posts, "services/persistent_notification/create").is_empty());

    // A failed backup: an event, a notification, the notify service, and a problem.
    d.set_faults(Faults {
        fail_job: Some("Not enough free space".into()),
        ..Faults::default()
    });
    d.inner.core_posts.lock().unwrap().clear();
    assert_eq!(
        r.run("schedule", false).await.unwrap()[0].status,
        RunStatus::Failed
    );
    let posts = d.inner.core_posts.lock().unwrap().clone();
    assert!(
        posted(&posts, "events/lifeboat_backup_failed")[0]["error"]
            .as_str()
            .unwrap()
            .contains("Not enough free space")
    );
    let note = posted(&posts, "services/persistent_notification/create");
    assert!(
        note[0]["message"]
            .as_str()
            .unwrap()
            .contains("Not enough free space"),
        "{note:?}"
    );
    assert_eq!(posted(&posts, "services/notify/mobile_app_phone").len(), 1);
    assert_eq!(
        posted(&posts, "states/binary_sensor.lifeboat_problem")
            .last()
            .unwrap()["state"],
        "on"
    );
    assert_eq!(
        posted(&posts, "states/sensor.lifeboat_state")
            .last()
            .unwrap()["state"],
        "failed"
    );

    // Home Assistant restarted and forgot the states: publishing rebuilds them from history.
    d.inner.core_posts.lock().unwrap().clear();
    reporter.publish().await;
    let posts = d.inner.core_posts.lock().unwrap().clone();
    for entity in [
        "sensor.lifeboat_state",
        "sensor.lifeboat_last_backup",
        "binary_sensor.lifeboat_problem",
        "binary_sensor.lifeboat_kit_check_due",
        "sensor.lifeboat_nas_1_last_copy",
    ] {
        assert_eq!(
            posted(&posts, &format!("states/{entity}")).len(),
            1,
            "{entity}"
        );
    }
}
