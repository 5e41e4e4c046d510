//! The Home Assistant sources against the test double, shipping to a real S3 server: Core
//! (current and legacy API), the Supervisor over its websocket proxy and over REST jobs, and the
//! errors and races real systems produce.

use crate::support::ha_double::{Double, Faults, Flavor};
use crate::support::*;
use lifeboat::config::SupervisorMethod;
use lifeboat::history::RunStatus;
use lifeboat::pipeline::record::RunReport;
use lifeboat::secret::Secret;
use lifeboat::source::Source;
use lifeboat::source::core::CoreSource;
use lifeboat::source::supervisor::SupervisorSource;
use std::sync::Arc;

fn core(d: &Double, token: &str) -> Arc<dyn Source> {
    Arc::new(CoreSource::new(
        reqwest::Client::new(),
        d.url.parse().unwrap(),
        Secret::new(token),
        None,
        quick(),
        lifeboat::config::SourceMode::Create,
    ))
}

fn supervisor(d: &Double, method: SupervisorMethod) -> Arc<dyn Source> {
    supervisor_source(d, method, lifeboat::config::SourceMode::Create)
}

/// Runs once to a fresh S3 prefix; returns the report and, for a verified copy, its plaintext.
async fn ship(source: Arc<dyn Source>) -> (RunReport, Option<Vec<u8>>) {
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let r = runner(
        source,
        &[s3_spec("s3", &unique("source"))],
        &k.spec,
        data.path(),
    );
    let mut reps = r.run("test", false).await.unwrap();
    assert_eq!(reps.len(), 1);
    let rep = reps.remove(0);
    let plain = match rep.copies.first() {
        Some(c) if c.verified => Some(decrypt(&r.destinations[0], &c.object, &k.identity).await),
        _ => None,
    };
    (rep, plain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_install_backup_is_created_with_the_ha_key_and_shipped() {
    let fx = fixture("ha-core/ha-2026.2.3-encrypted.tar");
    let d = Double::start(Flavor::Core, fx.clone(), Some("backup-password-123")).await;
    let (rep, plain) = ship(core(&d, d.token())).await;
    assert_eq!(rep.status, RunStatus::Success, "{:?}", rep.error);
    assert_eq!(plain.unwrap(), fx);
    let req = d.inner.create_requests.lock().unwrap()[0].clone();
    assert_eq!(req["agent_ids"], serde_json::json!(["backup.local"]));
    assert_eq!(req["password"], "backup-password-123");
    assert!(
        d.log()
            .iter()
            .any(|l| l.contains("/api/backup/download/") && l.ends_with("agent_id=backup.local"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_job_id_that_is_not_the_backup_id_still_finds_the_backup() {
    let fx = fixture("ha-core/ha-2026.2.3-plain.tar");
    let d = Double::start(Flavor::Core, fx.clone(), None).await;
    d.set_faults(Faults {
        job_id_differs: true,
        ..Faults::default()
    });
    let (rep, plain) = ship(core(&d, d.token())).await;
    assert_eq!(rep.status, RunStatus::Success, "{:?}", rep.error);
    assert_eq!(plain.unwrap(), fx);
    assert!(
        d.inner.create_requests.lock().unwrap()[0]
            .get("password")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_core_api_is_understood() {
    let fx = fixture("ha-core/ha-2024.3.3-legacy.tar");
    let d = Double::start(Flavor::LegacyCore, fx.clone(), None).await;
    let (rep, plain) = ship(core(&d, d.token())).await;
    assert_eq!(rep.status, RunStatus::Success, "{:?}", rep.error);
    assert_eq!(plain.unwrap(), fx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_blocked_backup_managers_are_waited_for() {
    let fx = fixture("ha-core/ha-2026.2.3-plain.tar");
    let d = Double::start(Flavor::Core, fx, None).await;
    d.set_faults(Faults {
        blocked: 1,
        busy: 2,
        ..Faults::default()
    });
    let (rep, _) = ship(core(&d, d.token())).await;
    assert_eq!(rep.status, RunStatus::Success, "{:?}", rep.error);
    assert_eq!(d.inner.create_requests.lock().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_home_assistant_fails_is_a_failed_run_with_its_reason() {
    let d = Double::start(Flavor::Core, fixture("ha-core/ha-2026.2.3-plain.tar"), None).await;
    d.set_faults(Faults {
        fail_job: Some("Disk full".into()),
        ..Faults::default()
    });
    let (rep, _) = ship(core(&d, d.token())).await;
    assert_eq!(rep.status, RunStatus::Failed);
    assert!(
        rep.error.as_deref().unwrap().contains("Disk full"),
        "{:?}",
        rep.error
    );
    assert!(rep.copies.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_says_so_and_never_prints_it() {
    let d = Double::start(Flavor::Core, fixture("ha-core/ha-2026.2.3-plain.tar"), None).await;
    let (rep, _) = ship(core(&d, "wrong-token-abcdef")).await;
    assert_eq!(rep.status, RunStatus::Failed);
    let e = rep.error.unwrap();
    assert!(e.contains("refused the access token"), "{e}");
    assert!(!e.contains("wrong-token-abcdef"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_unreachable_is_a_failed_run() {
    let d = Double::start(Flavor::Core, Vec::new(), None).await;
    let mut url: url::Url = d.url.parse().unwrap();
    url.set_port(Some(9)).unwrap();
    let src = Arc::new(CoreSource::new(
        reqwest::Client::new(),
        url,
        Secret::new("t"),
        None,
        quick(),
        lifeboat::config::SourceMode::Create,
    ));
    let (rep, _) = ship(src).await;
    assert_eq!(rep.status, RunStatus::Failed);
    assert!(rep.error.unwrap().contains("cannot connect"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_over_the_websocket_proxy_backs_up_everything() {
    let fx = fixture("supervisor-style/full-v3.tar");
    let d = Double::start(
        Flavor::Supervisor,
        fx.clone(),
        Some("DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044"),
    )
    .await;
    let (rep, plain) = ship(supervisor(&d, SupervisorMethod::Websocket)).await;
    assert_eq!(rep.status, RunStatus::Success, "{:?}", rep.error);
    assert_eq!(plain.unwrap(), fx);
    let req = d.inner.create_requests.lock().unwrap()[0].clone();
    assert_eq!(req["agent_ids"], serde_json::json!(["hassio.local"]));
    assert_eq!(req["include_all_addons"], true);
    // The key Home Assistant used came with the backup: every inner archive was checked with it.
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    assert!(
        d.log()
            .iter()
            .any(|l| l.starts_with("GET /backups/") && l.ends_with("/download"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_rest_jobs_are_followed_and_child_errors_become_warnings() {
    let fx = fixture("supervisor-style/full-v2.tar");
    let d = Double::start(Flavor::Supervisor, fx.clone(), None).await;
    d.set_faults(Faults {
        busy: 1,
        child_error: Some("Can't backup add-on core_mosquitto".into()),
        ..Faults::default()
    });
    let (rep, plain) = ship(supervisor(&d, SupervisorMethod::Rest)).await;
    assert_eq!(rep.status, RunStatus::Success, "{:?}", rep.error);
    assert_eq!(plain.unwrap(), fx);
    assert!(
        rep.warnings.iter().any(|w| w.contains("core_mosquitto")),
        "{:?}",
        rep.warnings
    );
    let log = d.log();
    assert_eq!(
        log.iter()
            .filter(|l| *l == "POST /backups/new/full")
            .count(),
        2,
        "busy is retried"
    );
    assert!(log.iter().any(|l| l == "GET /jobs/info"));
    assert!(d.inner.create_requests.lock().unwrap()[0]["background"] == true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_job_failure_and_truncated_download_claim_no_copy() {
    let d = Double::start(
        Flavor::Supervisor,
        fixture("supervisor-style/full-plain.tar"),
        None,
    )
    .await;
    d.set_faults(Faults {
        fail_job: Some("Backup was aborted".into()),
        ..Faults::default()
    });
    let (rep, _) = ship(supervisor(&d, SupervisorMethod::Rest)).await;
    assert_eq!(rep.status, RunStatus::Failed);
    assert!(
        rep.error.as_deref().unwrap().contains("Backup was aborted"),
        "{:?}",
        rep.error
    );

    let d = Double::start(
        Flavor::Supervisor,
        fixture("supervisor-style/full-plain.tar"),
        None,
    )
    .await;
    d.set_faults(Faults {
        truncate_download: Some(1_000_000),
        ..Faults::default()
    });
    let (rep, _) = ship(supervisor(&d, SupervisorMethod::Rest)).await;
    assert_eq!(rep.status, RunStatus::Failed);
    assert!(
        rep.error.as_deref().unwrap().contains("truncated"),
        "{:?}",
        rep.error
    );
    assert!(rep.copies.iter().all(|c| !c.verified));
}

/// The key Home Assistant makes its backups with is kept in the vault, so the backups it protects
/// stay checkable and restorable after Home Assistant's key is rotated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistants_key_is_kept_in_the_vault() {
    use lifeboat::crypto::vault::Vault;
    let key = "DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044";
    let d = Double::start(
        Flavor::Supervisor,
        fixture("supervisor-style/full-v3.tar"),
        Some(key),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let mut r = runner(
        supervisor(&d, SupervisorMethod::Websocket),
        &[s3_spec("s3", &unique("vault"))],
        &k.spec,
        data.path(),
    );
    r.keys.vault = Some(Arc::new(std::sync::Mutex::new(
        Vault::open(data.path()).unwrap(),
    )));
    let rep = r.run("test", false).await.unwrap().remove(0);
    assert_eq!(rep.status, RunStatus::Success, "{:?}", rep.error);
    let listed = Vault::open(data.path()).unwrap().list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].origin, "home-assistant");
    assert_eq!(
        listed[0].fingerprint,
        lifeboat::archive::securetar::ha_key_fingerprint(key)
    );
}

/// Ship mode: Lifeboat creates nothing and ships what Home Assistant made — at first only the
/// newest, then every one newer than the last shipped, oldest first — through the Supervisor's
/// list or Core's backup manager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_mode_ships_what_home_assistant_made_itself() {
    use lifeboat::config::SourceMode;
    let fx = fixture("ha-core/ha-2026.2.3-plain.tar");
    for flavor in [Flavor::Supervisor, Flavor::Core] {
        let d = Double::start(flavor, fx.clone(), None).await;
        d.add_existing_backup("old00001", "2026-11-01T04:45:00.000000+00:00");
        d.add_existing_backup("old00002", "2026-11-02T04:45:00.000000+00:00");
        let source: Arc<dyn Source> = match flavor {
            Flavor::Supervisor => Arc::new(SupervisorSource::new(
                reqwest::Client::new(),
                d.url.parse().unwrap(),
                Secret::new(d.token()),
                SupervisorMethod::Websocket,
                quick(),
                SourceMode::Ship,
            )),
            _ => Arc::new(CoreSource::new(
                reqwest::Client::new(),
                d.url.parse().unwrap(),
                Secret::new(d.token()),
                None,
                quick(),
                SourceMode::Ship,
            )),
        };
        assert!(!source.creates_backups());
        let data = tempfile::tempdir().unwrap();
        let k = kit();
        let r = runner(
            source,
            &[s3_spec("s3", &unique("ship"))],
            &k.spec,
            data.path(),
        );
        let slugs = |reps: &[RunReport]| -> Vec<String> {
            reps.iter()
                .map(|r| {
                    assert_eq!(r.status, RunStatus::Success, "{:?}", r.error);
                    r.copies[0].copy_id.rsplit('-').next().unwrap().to_owned()
                })
                .collect()
        };
        // Turning ship mode on sends the newest existing backup, not the whole history.
        assert_eq!(
            slugs(&r.run("schedule", false).await.unwrap()),
            ["old00002"]
        );
        // Home Assistant makes two more (an automatic one, one before an update).
        d.add_existing_backup("new00004", "2026-11-04T04:45:00.000000+00:00");
        d.add_existing_backup("new00003", "2026-11-03T12:00:00.000000+00:00");
        assert_eq!(
            slugs(&r.run("schedule", false).await.unwrap()),
            ["new00003", "new00004"],
            "{flavor:?}"
        );
        assert!(r.run("schedule", false).await.unwrap().is_empty());
        assert_eq!(d.creations(), 0, "ship mode never asks for a backup");
        // A name or partial backup cannot be asked of ship mode, and it says why.
        let reps = r
            .run_request(&lifeboat::pipeline::run::RunRequest {
                name: Some("Before upgrade".into()),
                ..lifeboat::pipeline::run::RunRequest::new("stdin")
            })
            .await
            .unwrap();
        assert!(reps[0].error.as_ref().unwrap().contains("ship mode"));
    }
}

/// Pre-flight: a destination that refuses credentials is left out before anything is made; when
/// none passes, Home Assistant is not asked for a backup at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_flight_leaves_out_a_refusing_destination_and_makes_nothing_when_none_passes() {
    let fx = fixture("ha-core/ha-2026.2.3-plain.tar");
    let d = Double::start(Flavor::Supervisor, fx, None).await;
    let data = tempfile::tempdir().unwrap();
    let nas = tempfile::tempdir().unwrap();
    let k = kit();
    let endpoint = std::env::var("LIFEBOAT_TEST_S3").unwrap();
    let wrong = s3_spec_with("b2", &unique("preflight"), &endpoint, "not-the-secret");
    let r = runner(
        supervisor(&d, SupervisorMethod::Rest),
        std::slice::from_ref(&wrong),
        &k.spec,
        data.path(),
    );
    let rep = r.run("schedule", false).await.unwrap().remove(0);
    assert_eq!(rep.status, RunStatus::Failed);
    let e = rep.error.unwrap();
    assert!(e.contains("pre-flight") && e.contains("b2"), "{e}");
    assert_eq!(
        d.creations(),
        0,
        "no backup is made when no destination can take it"
    );

    let r = runner(
        supervisor(&d, SupervisorMethod::Rest),
        &[local_spec("nas", nas.path()), wrong],
        &k.spec,
        data.path(),
    );
    let rep = r.run("schedule", false).await.unwrap().remove(0);
    assert_eq!(rep.status, RunStatus::Partial);
    assert_eq!(d.creations(), 1);
    assert!(rep.copies[0].verified);
    assert!(
        rep.copies[1]
            .error
            .as_ref()
            .unwrap()
            .starts_with("pre-flight: cannot list")
    );
    // Owed to b2, with the reason.
    let q = r.history.retries().await.unwrap();
    assert_eq!(q.len(), 1);
    assert!(q[0].last_error.as_ref().unwrap().contains("pre-flight"));
    // The probe object is gone again.
    assert!(
        !objects(&r.destinations[0])
            .await
            .iter()
            .any(|o| o.contains("preflight"))
    );
    // A folder without room for a backup the size of the last one is refused too.
    let need = Some(u64::MAX / 4);
    let why = lifeboat::pipeline::plan::check(&r.destinations[0], need, true)
        .await
        .unwrap_err();
    assert_eq!(why.kind(), lifeboat::destinations::StoreErrorKind::Full);
    assert!(why.to_string().contains("MiB free"), "{why}");
}

/// keep_local: Home Assistant keeps the newest N backups; older ones go once they are off-site on
/// every destination, and never before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_local_removes_only_backups_that_are_off_site_everywhere() {
    let fx = fixture("ha-core/ha-2026.2.3-plain.tar");
    for flavor in [Flavor::Supervisor, Flavor::Core] {
        let d = Double::start(flavor, fx.clone(), None).await;
        // Made by Home Assistant before Lifeboat: never shipped, so never deleted.
        d.add_existing_backup("before01", "2026-10-01T04:45:00.000000+00:00");
        let data = tempfile::tempdir().unwrap();
        let nas = tempfile::tempdir().unwrap();
        let k = kit();
        let source = match flavor {
            Flavor::Supervisor => supervisor(&d, SupervisorMethod::Rest),
            _ => core(&d, d.token()),
        };
        let mut r = runner(
            source,
            &[
                local_spec("nas", nas.path()),
                s3_spec("s3", &unique("keep")),
            ],
            &k.spec,
            data.path(),
        );
        r.keep_local = Some(1);
        let mut made = Vec::new();
        for _ in 0..3 {
            let rep = r.run("schedule", false).await.unwrap().remove(0);
            assert_eq!(rep.status, RunStatus::Success, "{:?}", rep.error);
            // The slug Home Assistant gave it (the copy id ends with it).
            made.push(rep.copies[0].copy_id.rsplit('-').next().unwrap().to_owned());
        }
        // The newest stays; the two older Lifeboat shipped everywhere are gone; the one never
        // shipped stays.
        let mut left = d.backups();
        left.sort();
        let mut want = vec!["before01".to_owned(), made[2].clone()];
        want.sort();
        assert_eq!(left, want, "{flavor:?}");
        let gone = r.history.deletions(10).await.unwrap();
        assert_eq!(gone.len(), 2);
        assert!(gone.iter().all(|g| g.destination == "home-assistant"
            && g.trigger == "keep_local"
            && g.reason.contains("verified copy on every destination")));
        if flavor == Flavor::Supervisor {
            assert!(
                d.log()
                    .iter()
                    .any(|l| l.starts_with("DELETE /backups/") && l.contains(".local"))
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_dropped_mid_backup_is_rejoined_and_the_backup_followed_to_its_end() {
    let fx = fixture("ha-core/ha-2026.2.3-plain.tar");
    for method in [None, Some(SupervisorMethod::Websocket)] {
        for fails in [false, true] {
            let flavor = if method.is_some() {
                Flavor::Supervisor
            } else {
                Flavor::Core
            };
            let d = Double::start(flavor, fx.clone(), None).await;
            d.set_faults(Faults {
                drop_mid_backup: true,
                fail_job: fails.then(|| "Backup failed: disk full".to_owned()),
                ..Faults::default()
            });
            let src = match method {
                None => core(&d, d.token()),
                Some(m) => supervisor(&d, m),
            };
            let (rep, plain) = ship(src).await;
            if fails {
                assert_eq!(rep.status, RunStatus::Failed, "{flavor:?}");
                let why = rep.error.unwrap();
                assert!(why.contains("dropped") && why.contains("failed"), "{why}");
                assert!(d.backups().is_empty());
            } else {
                assert_eq!(
                    rep.status,
                    RunStatus::Success,
                    "{flavor:?}: {:?}",
                    rep.error
                );
                assert_eq!(plain.unwrap(), fx);
                assert_eq!(
                    d.creations(),
                    1,
                    "the backup Home Assistant went on to make"
                );
                assert_eq!(d.backups().len(), 1);
            }
        }
    }
}
