//! What Home Assistant must accept, judged by a real Home Assistant Core (2025.4.4, started and
//! onboarded on 127.0.0.1 by `scripts/test-servers.sh`): a protected backup it made itself, and one
//! made by Home Assistant 2026.2.3, each shipped, recovered with `--remove-encryption`, uploaded
//! through `/api/backup/upload` and then listed by Home Assistant as an unprotected backup; and the
//! restore-readiness report read from a backup it made, its counts checked against its own files.

use crate::support::*;
use lifeboat::ha::websocket::{WsClient, websocket_url};
use lifeboat::secret::Secret;
use serde_json::{Value, json};
use std::time::Duration;

const PASSWORD: &str = "lifeboat-core-test-password";

struct Core {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Core {
    fn from_env() -> Self {
        Self {
            url: env_or_die("LIFEBOAT_TEST_HA_CORE"),
            token: env_or_die("LIFEBOAT_TEST_HA_CORE_TOKEN"),
            http: reqwest::Client::new(),
        }
    }

    async fn ws(&self) -> WsClient {
        let url = websocket_url(&self.url.parse().unwrap(), "/api/websocket").unwrap();
        WsClient::connect(
            &url,
            &Secret::new(self.token.clone()),
            Duration::from_secs(60),
        )
        .await
        .unwrap()
    }

    async fn backups(&self) -> Vec<Value> {
        let info = self
            .ws()
            .await
            .call(json!({"type": "backup/info"}))
            .await
            .unwrap();
        info["backups"].as_array().unwrap().clone()
    }

    /// Asks Home Assistant for a protected backup and waits until it lists it.
    async fn make_protected_backup(&self, name: &str) -> String {
        self.make_backup(name, Some(PASSWORD)).await
    }

    /// Asks Home Assistant for a backup (with `password`, protected) and waits until it lists it.
    async fn make_backup(&self, name: &str, password: Option<&str>) -> String {
        let mut ws = self.ws().await;
        // Right after start the backup manager may still say it is blocked.
        for _ in 0..120 {
            let r = ws
                .call(json!({
                    "type": "backup/generate",
                    "agent_ids": ["backup.local"],
                    "name": name,
                    "password": password,
                    "include_database": true,
                }))
                .await;
            match r {
                Ok(_) => break,
                Err(e) => {
                    eprintln!("backup/generate: {e}; again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        for _ in 0..240 {
            if let Some(b) = self.backups().await.into_iter().find(|b| b["name"] == name) {
                return b["backup_id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("Home Assistant did not list the backup {name}");
    }

    async fn download(&self, id: &str) -> Vec<u8> {
        let r = self
            .http
            .get(format!(
                "{}/api/backup/download/{id}?agent_id=backup.local",
                self.url
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "download {id}");
        r.bytes().await.unwrap().to_vec()
    }

    async fn delete(&self, id: &str) {
        self.ws()
            .await
            .call(json!({"type": "backup/delete", "backup_id": id}))
            .await
            .unwrap();
    }

    /// Hands a backup to Home Assistant as the "Upload backup" button does; its HTTP status.
    async fn upload(&self, tar: Vec<u8>) -> u16 {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(tar).file_name("backup.tar"),
        );
        self.http
            .post(format!(
                "{}/api/backup/upload?agent_id=backup.local",
                self.url
            ))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// Ships `protected` to a folder and recovers it with `--remove-encryption`; the rewritten tar.
fn ship_and_strip(protected: &[u8], key: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (from, kit_file) = crate::recover::ship_to_folder(protected, dir.path());
    let out = dir.path().join("unprotected.tar");
    let o = recover_with(
        &from,
        &kit_file,
        &[
            "--out",
            out.to_str().unwrap(),
            "--remove-encryption",
            "--ha-key",
            key,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read(out).unwrap()
}

/// The same tar with `./backup.json` renamed `backup.json`, as the rewrite used to write it.
fn renamed_backup_json(tar_bytes: &[u8]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for entry in tar::Archive::new(tar_bytes).entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut h = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        out.append_data(&mut h, path, &mut entry).unwrap();
    }
    out.into_inner().unwrap()
}

async fn listed_unprotected(core: &Core, id: &str) {
    let b = core
        .backups()
        .await
        .into_iter()
        .find(|b| b["backup_id"] == id)
        .unwrap_or_else(|| panic!("Home Assistant does not list {id}"));
    assert_eq!(b["agents"]["backup.local"]["protected"], false, "{b}");
}

#[tokio::test]
async fn home_assistant_takes_back_a_backup_lifeboat_unprotected() {
    let core = Core::from_env();

    // A backup this Home Assistant made itself, with a password.
    let id = core.make_protected_backup("lifeboat protected").await;
    let original = core.download(&id).await;
    let plain = tokio::task::spawn_blocking(move || ship_and_strip(&original, PASSWORD))
        .await
        .unwrap();
    core.delete(&id).await;
    assert!(!core.backups().await.iter().any(|b| b["backup_id"] == id));

    // Home Assistant opens `./backup.json` by that name: a rewrite that drops the `./` is refused.
    let status = core.upload(renamed_backup_json(&plain)).await;
    assert!(
        status >= 400,
        "a backup without ./backup.json was taken: {status}"
    );
    assert!(!core.backups().await.iter().any(|b| b["backup_id"] == id));

    assert_eq!(
        core.upload(plain).await,
        201,
        "the unprotected backup was refused"
    );
    listed_unprotected(&core, &id).await;

    // One made by Home Assistant 2026.2.3 (SecureTar v2), recovered the same way.
    let plain = tokio::task::spawn_blocking(|| {
        ship_and_strip(
            &fixture("ha-core/ha-2026.2.3-encrypted.tar"),
            "backup-password-123",
        )
    })
    .await
    .unwrap();
    assert_eq!(core.upload(plain).await, 201);
    listed_unprotected(&core, "f73270d6").await;
}

/// Counts from the `.storage` files in an unprotected backup's `homeassistant.tar.gz`, read here
/// with the tar and gzip crates: config entries (not ignored), devices, entities, users (not
/// system-made), long-lived tokens; null for a file the backup does not hold (Home Assistant
/// writes its registries lazily).
fn counts_in_backup(backup: &[u8]) -> Value {
    let mut outer = tar::Archive::new(backup);
    let mut files = std::collections::HashMap::new();
    for entry in outer.entries().unwrap() {
        let entry = entry.unwrap();
        if entry
            .path()
            .unwrap()
            .to_string_lossy()
            .ends_with("homeassistant.tar.gz")
        {
            let mut inner = tar::Archive::new(flate2::read::GzDecoder::new(entry));
            for f in inner.entries().unwrap() {
                let mut f = f.unwrap();
                let name = f.path().unwrap().to_string_lossy().into_owned();
                let store = name.trim_start_matches("./").strip_prefix("data/.storage/");
                if let Some(store) = store.filter(|_| f.header().entry_type().is_file()) {
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
                    files.insert(
                        store.to_owned(),
                        serde_json::from_slice::<Value>(&bytes).unwrap(),
                    );
                }
            }
        }
    }
    let count = |name: &str, key: &str, keep: &dyn Fn(&Value) -> bool| {
        files.get(name).map(|v| {
            v["data"][key]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| keep(v))
                .count()
        })
    };
    json!({
        "integrations": count("core.config_entries", "entries", &|e| e["source"] != "ignore"),
        "devices": count("core.device_registry", "devices", &|_| true),
        "entities": count("core.entity_registry", "entities", &|_| true),
        "users": count("auth", "users", &|u| u["system_generated"] != true),
        "long_lived_tokens": count("auth", "refresh_tokens", &|t| t["token_type"] == "long_lived_access_token"),
    })
}

#[tokio::test]
async fn the_readiness_report_reads_a_backup_home_assistant_made_itself() {
    let core = Core::from_env();
    let id = core.make_backup("lifeboat readiness", None).await;
    let backup = core.download(&id).await;
    core.delete(&id).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ha.tar");
    std::fs::write(&path, &backup).unwrap();
    let o = lifeboat(&["inspect", path.to_str().unwrap(), "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let r = serde_json::from_slice::<Value>(&o.stdout).unwrap()["readiness"].clone();
    assert_eq!(r["looked_inside"], true, "{r:#}");
    assert_eq!(
        r["unread"],
        json!([]),
        "every file Home Assistant wrote was read: {r:#}"
    );
    assert_eq!(r["restore_into"]["homeassistant"], "2025.4.4");
    // What Home Assistant keeps in its own files, counted by the report from the backup.
    assert_eq!(r["counts"], counts_in_backup(&backup), "{r:#}");
    assert!(r["counts"]["integrations"].as_u64().unwrap() >= 1, "{r:#}");
    // Onboarding's integrations (Shopping list, Google Translate, Radio Browser, Backup) are known
    // and need nothing after a restore.
    for section in ["reauth", "hardware", "network", "unknown"] {
        assert_eq!(r[section], json!([]), "{section}: {r:#}");
    }
}

/// A Core source for the real Home Assistant, in `mode`.
fn core_source(
    core: &Core,
    mode: lifeboat::config::SourceMode,
) -> std::sync::Arc<lifeboat::source::core::CoreSource> {
    std::sync::Arc::new(lifeboat::source::core::CoreSource::new(
        reqwest::Client::new(),
        core.url.parse().unwrap(),
        Secret::new(core.token.clone()),
        None,
        quick(),
        mode,
    ))
}

/// The safe update against the real thing: the demo integration's update entities (what Home
/// Assistant 2025.4.4 itself says of them, and how its `update.install` answers). A full backup
/// made by Home Assistant is shipped and verified before the install is asked for, the install
/// runs (with progress) to the new version, and an entity that cannot be installed is refused
/// before Home Assistant is asked for any backup.
#[tokio::test]
async fn a_safe_update_backs_up_off_site_before_home_assistant_installs() {
    use lifeboat::ha::updates::UpdateClient;
    use lifeboat::pipeline::safe_update::{Stage, UpdateAsk, safe_update};
    let core = Core::from_env();
    let store = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let r = runner(
        core_source(&core, lifeboat::config::SourceMode::Create),
        &[local_spec("usb", store.path())],
        &kit().spec,
        data.path(),
    );
    let ws = websocket_url(&core.url.parse().unwrap(), "/api/websocket").unwrap();
    let ha = UpdateClient {
        poll: Duration::from_millis(200),
        ..UpdateClient::new(ws, Secret::new(core.token.clone()))
    };
    let ask = |target: &str| UpdateAsk {
        target: target.into(),
        min_verified: 1,
        trigger: "test".into(),
    };
    // Refused before any backup: the demo's entity without the install feature. (Other tests
    // make backups on this Home Assistant at the same time: count by name.)
    let named = |name: String| {
        let core = &core;
        async move {
            core.backups()
                .await
                .iter()
                .filter(|b| b["name"].as_str().is_some_and(|n| n.starts_with(&name)))
                .count()
        }
    };
    let refused = safe_update(&r, &ha, &ask("update.demo_update_no_install"))
        .await
        .unwrap();
    assert_eq!(refused.stopped_at, Some(Stage::Lookup));
    assert!(
        refused.message().contains("cannot be installed"),
        "{}",
        refused.message()
    );
    assert_eq!(
        named("Before updating Demo Update No Install".into()).await,
        0,
        "a backup was made for nothing"
    );
    // One of the demo's installable updates still waiting (each run of this test installs one;
    // the one "with decimal progress" is left alone: the demo takes minutes over it).
    let waiting = ha.list().await.unwrap();
    let entity = [
        "update.demo_update_with_progress",
        "update.demo_add_on",
        "update.demo_living_room_bulb_update",
    ]
    .into_iter()
    .find(|id| {
        waiting
            .iter()
            .any(|e| e.entity_id == *id && e.available && e.installable)
    })
    .expect("the demo has no installable update left: restart the test servers");
    let report = safe_update(&r, &ha, &ask(entity)).await.unwrap();
    assert!(report.installed, "{}", report.message());
    assert_eq!(report.verified, ["usb"]);
    let after = ha.find(entity).await.unwrap();
    assert!(!after.available, "{after:?}");
    assert_eq!(report.version_now, after.installed);
    // The backup Home Assistant made for it was listed before the install, and shipped whole.
    let runs = r.history.recent_runs(1).await.unwrap();
    assert_eq!(runs[0].status, lifeboat::history::RunStatus::Success);
    let v = runs[0].versions.clone().unwrap();
    assert_eq!(v.backup.core.as_deref(), Some("2025.4.4"));
    assert_eq!(v.host.unwrap().core.as_deref(), Some("2025.4.4"));
    // The backup Home Assistant holds is the one Lifeboat asked for, named for the update.
    let label = report.entity.as_ref().unwrap().label();
    assert_eq!(
        named(format!("Before updating {label}")).await,
        1,
        "{label}"
    );
}

/// Ship mode against the real thing: a backup Home Assistant makes is shipped as soon as its
/// backup manager says `completed`, with no schedule at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistants_own_backup_is_shipped_on_its_event() {
    use lifeboat::daemon::Daemon;
    let core = Core::from_env();
    let store = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let r = runner(
        core_source(&core, lifeboat::config::SourceMode::Ship),
        &[local_spec("usb", store.path())],
        &kit().spec,
        data.path(),
    );
    let history = r.history.clone();
    let ws = websocket_url(&core.url.parse().unwrap(), "/api/websocket").unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let settings = daemon_settings(
        &r,
        Vec::new(),
        Some((ws, Secret::new(core.token.clone()), true)),
    );
    let running = Daemon::new(r, settings).start(&stop).await.unwrap();
    let events = running.backup_events.clone().unwrap();
    let task = tokio::spawn(running.join());
    // Subscribed, and caught up with what is there already (as the daemon says): from here on
    // only the event can ship a new backup.
    let wait = Duration::from_secs(60);
    if tokio::time::timeout(wait, events.listening())
        .await
        .is_err()
    {
        panic!(
            "the daemon did not follow Home Assistant's backup events within {wait:?}: {:?}",
            *events.watch().borrow()
        );
    }
    let name = format!("Made by Home Assistant {}", unique("event"));
    let id = core.make_backup(&name, None).await;
    let key = format!("core:{id}");
    let mut shipped = false;
    for _ in 0..200 {
        if history.shipped_source_keys().await.unwrap().contains(&key) {
            shipped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    task.await.unwrap();
    assert!(
        shipped,
        "{key} was not shipped within 20 s of Home Assistant making it"
    );
    let runs = history.recent_runs(5).await.unwrap();
    assert!(
        runs.iter()
            .any(|r| r.trigger == "ha-backup" && r.status == lifeboat::history::RunStatus::Success)
    );
}
