//! The restore-readiness report, read from the backup itself: `lifeboat inspect --json` on backups
//! with realistic `.storage` contents (OAuth entries for Google, Spotify and Netatmo, ZHA on a by-id
//! path, Z-Wave JS and Zigbee2MQTT add-ons with devices, Bluetooth by address, Met and Shopping
//! List needing nothing), plain and sealed with SecureTar v2 and v3 by the real securetar library;
//! partial and database-excluded backups; hostile `.storage` files; and the real Home Assistant
//! backups in tests/data.

use crate::support::*;
use lifeboat::clock::Clock;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::Command;

const KEY: &str = "DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044";
/// Every secret the test homes hold (tokens, passwords, keys): none may reach a report or a page.
const SECRETS: [&str; 15] = [
    "SECRET-ACCESS",
    "SECRET-REFRESH",
    "SECRET-HUE",
    "SECRET-RING",
    "SECRET-GITHUB",
    "SECRET-S0",
    "SECRET-MQTT",
    "SECRET-TUNNEL",
    "SECRET-ADDON",
    "SECRET-SMTP",
    "SECRET-T1",
    "SECRET-J1",
    "SECRET-T2",
    "SECRET-URL",
    "SECRET-QUERY",
];

/// What goes into a test backup.
struct Home {
    full: bool,
    exclude_database: bool,
    /// Replaces `.storage/core.config_entries` (hostile contents).
    config_entries: Option<Vec<u8>>,
    folders: Vec<&'static str>,
    addons: Vec<&'static str>,
    slug: &'static str,
    /// Config entries added to the usual ones.
    more_entries: Vec<Value>,
}

impl Default for Home {
    fn default() -> Self {
        Self {
            full: true,
            exclude_database: false,
            config_entries: None,
            folders: vec!["share", "ssl", "media"],
            addons: vec![
                "core_zwave_js",
                "45df7312_zigbee2mqtt",
                "9074a9fa_cloudflared",
                "core_mosquitto",
            ],
            slug: "aa11bb22",
            more_entries: Vec::new(),
        }
    }
}

fn entry(domain: &str, title: &str, data: Value) -> Value {
    json!({"entry_id": format!("id-{domain}"), "domain": domain, "title": title, "data": data,
           "options": {}, "source": "user", "unique_id": null, "disabled_by": null, "version": 1})
}

fn config_entries(more: &[Value]) -> Vec<u8> {
    let token = json!({"access_token": "SECRET-ACCESS", "refresh_token": "SECRET-REFRESH",
                       "expires_at": 1.7e9, "token_type": "Bearer"});
    let mut bt = entry("bluetooth", "hci0 (00:1A:7D:DA:71:13)", json!({}));
    bt["unique_id"] = json!("00:1A:7D:DA:71:13");
    let entries = json!([
        entry(
            "google",
            "me@example.com",
            json!({"auth_implementation": "google", "token": token})
        ),
        entry(
            "spotify",
            "Living room Spotify",
            json!({"auth_implementation": "spotify", "token": token, "id": "u1"})
        ),
        entry(
            "netatmo",
            "Netatmo",
            json!({"auth_implementation": "cloud", "token": token})
        ),
        entry(
            "zha",
            "Sonoff Zigbee 3.0",
            json!({"device": {"path": "/dev/serial/by-id/usb-ITead_Sonoff_Zigbee_3.0_USB_Dongle_Plus-if00-port0", "baudrate": 115200}, "radio_type": "znp"})
        ),
        entry(
            "zwave_js",
            "Z-Wave JS",
            json!({"url": "ws://core-zwave-js:3000", "use_addon": true, "usb_path": null})
        ),
        bt,
        entry(
            "hue",
            "Hue Bridge <script>alert(1)</script>",
            json!({"host": "192.168.1.20", "api_key": "SECRET-HUE"})
        ),
        entry(
            "ring",
            "Ring",
            json!({"username": "me@example.com", "password": "SECRET-RING"})
        ),
        entry("met", "Home", json!({"latitude": 52.3, "longitude": 4.9})),
        entry(
            "kodi",
            "Living room Kodi",
            json!({"url": "http://kodi:SECRET-URL@192.168.1.40:8080/jsonrpc?token=SECRET-QUERY"})
        ),
        entry("shopping_list", "Shopping list", json!({})),
        entry("hacs", "HACS", json!({"token": "SECRET-GITHUB"})),
        entry("my_custom", "Something custom", json!({})),
        entry("tplink", "Ignored plug", json!({})),
    ]);
    let mut entries = entries;
    entries[13]["source"] = json!("ignore");
    entries.as_array_mut().unwrap().extend(more.iter().cloned());
    json!({"version": 1, "minor_version": 5, "key": "core.config_entries", "data": {"entries": entries}})
        .to_string()
        .into_bytes()
}

fn storage(key: &str, data: Value) -> Vec<u8> {
    json!({"version": 1, "minor_version": 1, "key": key, "data": data})
        .to_string()
        .into_bytes()
}

fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn addon_json(slug: &str) -> (Value, &'static str) {
    match slug {
        "core_zwave_js" => (
            json!({"device": "/dev/serial/by-id/usb-0658_0200-if00", "s0_legacy_key": "SECRET-S0"}),
            "Z-Wave JS",
        ),
        "45df7312_zigbee2mqtt" => (
            json!({"serial": {"port": "/dev/ttyACM0", "adapter": "ember"}, "mqtt": {"password": "SECRET-MQTT"}}),
            "Zigbee2MQTT",
        ),
        "9074a9fa_cloudflared" => (
            json!({"external_hostname": "ha.example.com", "tunnel_token": "SECRET-TUNNEL"}),
            "Cloudflared",
        ),
        _ => (json!({"logins": []}), "Mosquitto broker"),
    }
}

fn home_backup(home: &Home) -> Vec<u8> {
    let users = json!([
        {"id": "1", "name": "Owner", "is_owner": true, "system_generated": false},
        {"id": "2", "name": "Kid", "system_generated": false},
        {"id": "3", "name": "Supervisor", "system_generated": true}
    ]);
    let tokens = json!([
        {"id": "a", "token_type": "normal", "token": "SECRET-T1", "jwt_key": "SECRET-J1"},
        {"id": "b", "token_type": "long_lived_access_token", "token": "SECRET-T2"},
        {"id": "c", "token_type": "system", "token": "SECRET-T3"}
    ]);
    let devices: Vec<Value> = (0..7)
        .map(|i| json!({"id": i, "name": format!("d{i}")}))
        .collect();
    let entities: Vec<Value> = (0..23)
        .map(|i| json!({"entity_id": format!("sensor.s{i}")}))
        .collect();
    let mut files = vec![
        ("data/.HA_VERSION", b"2026.11.2".to_vec()),
        (
            "data/.storage/core.config_entries",
            home
                .config_entries
                .clone()
                .unwrap_or_else(|| config_entries(&home.more_entries)),
        ),
        (
            "data/.storage/core.device_registry",
            storage("core.device_registry", json!({"devices": devices, "deleted_devices": []})),
        ),
        (
            "data/.storage/core.entity_registry",
            storage("core.entity_registry", json!({"entities": entities})),
        ),
        (
            "data/.storage/auth",
            storage("auth", json!({"users": users, "groups": [], "credentials": [], "refresh_tokens": tokens})),
        ),
        (
            "data/configuration.yaml",
            b"default_config:\nhttp:\n  ssl_certificate: /ssl/fullchain.pem\n  ssl_key: /ssl/privkey.pem\n\
              mqtt_statestream:\n  base_topic: !secret statestream_topic\nnotify:\n  - platform: smtp\n    password: !secret smtp_password\n"
                .to_vec(),
        ),
        ("data/secrets.yaml", b"smtp_password: SECRET-SMTP\n".to_vec()),
        ("data/custom_components/hacs/manifest.json", b"{\"domain\": \"hacs\"}".to_vec()),
    ];
    if !home.exclude_database {
        files.push(("data/home-assistant_v2.db", vec![7u8; 4096]));
    }
    let mut outer: Vec<(String, Vec<u8>)> =
        vec![("./homeassistant.tar.gz".into(), gz(&tar_of(&files)))];
    for slug in &home.addons {
        let (options, name) = addon_json(slug);
        let mut system = json!({"name": name, "slug": slug, "version": "1.0.0"});
        if *slug == "45df7312_zigbee2mqtt" {
            system["uart"] = json!(true);
        }
        if *slug == "core_zwave_js" {
            system["devices"] = json!(["/dev/ttyUSB0"]);
        }
        let addon = json!({"user": {"options": options, "access_token": "SECRET-ADDON"},
                           "system": system, "version": "1.0.0", "state": "started"});
        let inner = tar_of(&[("./addon.json", addon.to_string().into_bytes())]);
        outer.push((format!("./{slug}.tar.gz"), gz(&inner)));
    }
    for folder in &home.folders {
        outer.push((
            format!("./{folder}.tar.gz"),
            gz(&tar_of(&[("./x", b"x".to_vec())])),
        ));
    }
    let addons: Vec<Value> = home
        .addons
        .iter()
        .map(|s| json!({"slug": s, "name": addon_json(s).1, "version": "1.0.0", "size": 0.1}))
        .collect();
    let backup = json!({
        "slug": home.slug, "name": "Test home", "date": "2026-11-30T03:00:00+00:00",
        "type": if home.full { "full" } else { "partial" }, "version": 2, "protected": false,
        "compressed": true, "supervisor_version": "2026.11.0",
        "homeassistant": {"version": "2026.11.2", "exclude_database": home.exclude_database, "size": 0.1},
        "folders": home.folders, "addons": addons, "repositories": [], "extra": {}
    });
    // backup.json goes last, as the Supervisor writes it.
    outer.push(("./backup.json".into(), backup.to_string().into_bytes()));
    let files: Vec<(&str, Vec<u8>)> = outer.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    tar_of(&files)
}

fn readiness_of(path: &Path, key: Option<&str>) -> Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    c.arg("inspect")
        .arg(path)
        .arg("--json")
        .env_remove("LIFEBOAT_HA_KEY");
    if let Some(k) = key {
        c.args(["--ha-key", k]);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains("SECRET"),
        "a secret reached the report: {out}"
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["readiness"].clone()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn with<'a>(section: &'a Value, field: &str, value: &str) -> Option<&'a Value> {
    section.as_array()?.iter().find(|i| i[field] == value)
}

fn assert_home(r: &Value) {
    assert_eq!(r["looked_inside"], true, "{r:#}");
    let reauth = &r["reauth"];
    for domain in ["google", "spotify", "netatmo", "ring"] {
        let i = with(reauth, "domain", domain).unwrap_or_else(|| panic!("{domain} in {reauth:#}"));
        assert!(!i["why"].as_str().unwrap().is_empty());
    }
    for domain in ["met", "shopping_list", "zha", "hue", "tplink"] {
        assert!(
            with(reauth, "domain", domain).is_none(),
            "{domain} needs no sign-in: {reauth:#}"
        );
    }
    let hw = &r["hardware"];
    let zha = with(hw, "domain", "zha").unwrap();
    assert_eq!(
        zha["device"],
        "/dev/serial/by-id/usb-ITead_Sonoff_Zigbee_3.0_USB_Dongle_Plus-if00-port0"
    );
    assert!(zha["why"].as_str().unwrap().contains("by-id"));
    assert_eq!(
        with(hw, "domain", "bluetooth").unwrap()["device"],
        "00:1A:7D:DA:71:13"
    );
    let zwave: Vec<&Value> = hw
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["addon"] == "core_zwave_js")
        .collect();
    let zwave_devices: Vec<&str> = zwave
        .iter()
        .map(|i| i["device"].as_str().unwrap())
        .collect();
    assert_eq!(
        zwave_devices,
        ["/dev/serial/by-id/usb-0658_0200-if00", "/dev/ttyUSB0"]
    );
    let z2m = with(hw, "addon", "45df7312_zigbee2mqtt").unwrap();
    assert_eq!(z2m["device"], "/dev/ttyACM0");
    assert!(z2m["why"].as_str().unwrap().contains("serial.port"));
    assert!(with(hw, "addon", "core_mosquitto").is_none());
    let net = &r["network"];
    assert_eq!(
        with(net, "domain", "hue").unwrap()["device"],
        "192.168.1.20"
    );
    assert_eq!(
        with(net, "domain", "kodi").unwrap()["device"],
        "http://192.168.1.40:8080",
        "the address without its password, path or query"
    );
    assert!(
        with(net, "addon", "9074a9fa_cloudflared").is_some(),
        "{net:#}"
    );
    assert!(
        with(net, "domain", "zwave_js").is_none(),
        "the add-on's own host is not the home network"
    );
    let unknown = &r["unknown"];
    assert!(
        with(unknown, "domain", "hacs").unwrap()["why"]
            .as_str()
            .unwrap()
            .contains("its code is in this backup")
    );
    assert!(
        with(unknown, "domain", "my_custom").unwrap()["why"]
            .as_str()
            .unwrap()
            .contains("not in")
    );
    let secrets = with(&r["missing"], "title", "secrets").unwrap();
    assert!(
        secrets["why"]
            .as_str()
            .unwrap()
            .contains("statestream_topic"),
        "{secrets}"
    );
    assert!(!secrets["why"].as_str().unwrap().contains("smtp_password"));
    assert_eq!(r["restore_into"]["homeassistant"], "2026.11.2");
    assert_eq!(r["restore_into"]["supervisor"], "2026.11.0");
    assert_eq!(
        r["counts"],
        json!({"integrations": 13, "devices": 7, "entities": 23, "users": 2, "long_lived_tokens": 1})
    );
}

#[test]
fn inspect_reports_what_a_restore_of_a_realistic_home_needs() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "home.tar", &home_backup(&Home::default()));
    let r = readiness_of(&plain, None);
    assert_home(&r);
    assert!(
        with(&r["missing"], "title", "the recorder database").is_none(),
        "{r:#}"
    );
    assert_eq!(r["unread"], json!([]));
    // The text form names them too.
    let o = lifeboat(&["inspect", plain.to_str().unwrap()], &[]);
    let t = text(&o);
    assert!(
        t.contains("Before you restore:") && t.contains("Sign in again:") && t.contains("Spotify"),
        "{t}"
    );
}

#[test]
fn the_same_home_sealed_with_securetar_v2_and_v3_reads_the_same_with_the_key_and_says_so_without() {
    let Ok(python) = std::env::var("LIFEBOAT_TEST_SECURETAR_PYTHON") else {
        panic!(
            "LIFEBOAT_TEST_SECURETAR_PYTHON is not set: run scripts/test-servers.sh install and source its env"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "home.tar", &home_backup(&Home::default()));
    let plain_report = readiness_of(&plain, None);
    for version in ["2", "3"] {
        let sealed = dir.path().join(format!("home-v{version}.tar"));
        let o = Command::new(&python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/securetar_peer.py"
            ))
            .args([
                "protect",
                plain.to_str().unwrap(),
                sealed.to_str().unwrap(),
                KEY,
                version,
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let r = readiness_of(&sealed, Some(KEY));
        assert_home(&r);
        assert_eq!(r, plain_report, "v{version} reads as the plain backup does");
        let blind = readiness_of(&sealed, None);
        assert_eq!(blind["looked_inside"], false);
        assert!(
            blind["notes"][0].as_str().unwrap().contains("backup key"),
            "{blind:#}"
        );
        assert_eq!(blind["reauth"], json!([]));
        assert_eq!(blind["restore_into"]["homeassistant"], "2026.11.2");
    }
}

#[test]
fn a_database_excluded_or_partial_backup_says_what_it_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let excluded = Home {
        exclude_database: true,
        ..Home::default()
    };
    let r = readiness_of(
        &write(dir.path(), "nodb.tar", &home_backup(&excluded)),
        None,
    );
    let db = with(&r["missing"], "title", "the recorder database").unwrap();
    assert!(
        db["why"].as_str().unwrap().contains("without the database"),
        "{db}"
    );

    let partial = Home {
        full: false,
        folders: vec!["media"],
        addons: vec!["core_mosquitto"],
        ..Home::default()
    };
    let r = readiness_of(
        &write(dir.path(), "partial.tar", &home_backup(&partial)),
        None,
    );
    let missing: Vec<&str> = r["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert!(
        missing.contains(&"the ssl folder") && missing.contains(&"the share folder"),
        "{missing:?}"
    );
    assert!(!missing.contains(&"the media folder"), "{missing:?}");
    let ssl = with(&r["missing"], "title", "the ssl folder").unwrap();
    assert!(ssl["why"].as_str().unwrap().contains("/ssl/fullchain.pem"));
    assert!(
        with(&r["hardware"], "addon", "core_zwave_js").is_none(),
        "not in this backup"
    );
}

#[test]
fn hostile_storage_files_are_named_unread_and_the_backup_still_checks() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        "{{\"data\":{{\"entries\":[{{\"domain\":\"x\",\"data\":{{\"a\":{}0{}}}}}]}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("huge", vec![b' '; 9 << 20], "larger than"),
        (
            "html",
            b"<html><body>not json</body></html>".to_vec(),
            "not the JSON",
        ),
        ("deep", deep.into_bytes(), "recursion"),
    ];
    for (name, bytes, why) in cases {
        let home = Home {
            config_entries: Some(bytes),
            ..Home::default()
        };
        let r = readiness_of(
            &write(dir.path(), &format!("{name}.tar"), &home_backup(&home)),
            None,
        );
        let unread = &r["unread"][0];
        assert_eq!(
            unread["file"], ".storage/core.config_entries",
            "{name}: {r:#}"
        );
        assert!(
            unread["why"].as_str().unwrap().contains(why),
            "{name}: {unread}"
        );
        assert_eq!(
            r["counts"]["integrations"],
            Value::Null,
            "{name}: not counted as zero"
        );
        assert_eq!(
            r["counts"]["devices"], 7,
            "{name}: the other files are still read"
        );
    }
}

#[test]
fn real_home_assistant_backups_give_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "ha.tar",
        &fixture("ha-core/ha-2026.2.3-plain.tar"),
    );
    let r = readiness_of(&p, None);
    assert_eq!(r["looked_inside"], true, "{r:#}");
    assert_eq!(r["restore_into"]["homeassistant"], "2026.2.3");
    let sealed = write(
        dir.path(),
        "enc.tar",
        &fixture("ha-core/ha-2026.2.3-encrypted.tar"),
    );
    assert_eq!(
        readiness_of(&sealed, Some("backup-password-123"))["looked_inside"],
        true
    );
    assert_eq!(readiness_of(&sealed, None)["looked_inside"], false);
    let full = write(
        dir.path(),
        "full-v3.tar",
        &fixture("supervisor-style/full-v3.tar"),
    );
    let r = readiness_of(&full, Some(KEY));
    assert!(with(&r["hardware"], "domain", "zha").is_some(), "{r:#}");
    assert!(with(&r["reauth"], "domain", "met").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_between_backups_is_news_in_the_run_and_one_home_assistant_notification() {
    use crate::support::ha_double::{Double, Flavor};
    use lifeboat::destinations::manifest::{self, Listed};

    let d = Double::start(
        Flavor::Supervisor,
        fixture("supervisor-style/full-plain.tar"),
        None,
    )
    .await;
    let src = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let mut r = folder_runner(
        src.path(),
        &[local_spec("usb", store.path())],
        &k.spec,
        data.path(),
    );
    let clock = SetClock::at("2026-12-01T03:00:00Z");
    r.clock = clock.clone();
    r.observer = ha_reporter(&d, &r, None);
    std::fs::write(src.path().join("a.tar"), home_backup(&Home::default())).unwrap();
    let first = r.run("schedule", false).await.unwrap();
    assert!(
        first[0].readiness_news.is_empty(),
        "nothing to compare with"
    );

    // A week later: Withings signed in, the database left out.
    clock.set(clock.now() + chrono::TimeDelta::weeks(1));
    let later = Home {
        slug: "cc33dd44",
        exclude_database: true,
        more_entries: vec![entry(
            "withings",
            "Withings",
            json!({"auth_implementation": "withings", "token": {"refresh_token": "SECRET-W"}}),
        )],
        ..Home::default()
    };
    std::fs::write(src.path().join("b.tar"), home_backup(&later)).unwrap();
    let second = r.run("schedule", false).await.unwrap();
    let news = &second[0].readiness_news;
    assert_eq!(news.len(), 2, "{news:?}");
    assert!(
        news[0].contains("Withings") && news[1].contains("recorder database"),
        "{news:?}"
    );
    let posts = d.inner.core_posts.lock().unwrap().clone();
    let notes: Vec<&Value> = posts
        .iter()
        .filter(|(p, v)| {
            p == "services/persistent_notification/create"
                && v["notification_id"] == "lifeboat_readiness"
        })
        .map(|(_, v)| v)
        .collect();
    assert_eq!(notes.len(), 1, "one notification, for the second run only");
    assert!(notes[0]["message"].as_str().unwrap().contains("Withings"));
    let event = posts
        .iter()
        .rfind(|(p, _)| p == "events/lifeboat_backup_finished")
        .unwrap();
    assert_eq!(event.1["readiness_news"].as_array().unwrap().len(), 2);

    // The copy's manifest carries the counts; the history keeps the report and the news.
    let dest = &r.destinations[0];
    let listed = manifest::list(dest).await.unwrap();
    let newest = listed
        .iter()
        .filter_map(|l| match l {
            Listed::Copy(m) => Some(m),
            _ => None,
        })
        .find(|m| m.backup.slug == "cc33dd44")
        .unwrap();
    // Verified at the run clock's time, a week on, not the machine's.
    assert_eq!(newest.created, clock.now());
    let digest = newest.readiness.unwrap();
    assert_eq!(
        (digest.reauth, digest.hardware, digest.looked_inside),
        (5, 5, true),
        "{digest:?}"
    );
    let (_, kept) = r
        .history
        .readiness_of_copy("usb", &newest.copy_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.news, *news);
    assert_eq!(kept.report.reauth.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_and_the_moving_page_show_the_report_with_hostile_titles_as_text() {
    use crate::dashboard::get;
    let src = folder_with(&[("home.tar", &home_backup(&Home::default()))]);
    let store = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let r = folder_runner(
        src.path(),
        &[local_spec("usb", store.path())],
        &kit().spec,
        data.path(),
    );
    let (state, shutdown, task) = dashboard(r, Vec::new()).await;
    // Before any backup, the moving page says what it will show.
    let empty = get(&state, "/moving").await;
    assert!(
        empty.body.contains("No verified backup has been read yet"),
        "{}",
        empty.body
    );
    let token = state.csrf.as_str().to_owned();
    let started = crate::dashboard::post_form(&state, "/backup", &[("csrf", &token)]).await;
    assert!(started.status.is_redirection(), "{}", started.body);
    let mut copies = String::new();
    for _ in 0..300 {
        copies = get(&state, "/copies").await.body;
        if copies.contains("Restore:") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        copies.contains("Restore: 4 to sign in again, 5 devices to plug in"),
        "{copies}"
    );
    let href = copies
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.ends_with("/restore"))
        .unwrap()
        .trim_start_matches(crate::dashboard::PREFIX)
        .to_owned();
    let run = get(&state, "/runs/1").await.body;
    assert!(
        run.contains("What a restore will need") && run.contains("4 to sign in again"),
        "{run}"
    );
    assert!(run.contains("Restores into") && run.contains("Home Assistant 2026.11.2 or newer"));
    for page in [get(&state, &href).await, get(&state, "/moving").await] {
        let body = &page.body;
        assert!(
            !body.contains("<script>alert(1)"),
            "a title came through as HTML"
        );
        assert!(
            body.contains("Hue Bridge &#60;script&#62;")
                || body.contains("Hue Bridge &lt;script&gt;"),
            "{body}"
        );
        assert!(
            body.contains(
                "/dev/serial/by-id/usb-ITead_Sonoff_Zigbee_3.0_USB_Dongle_Plus-if00-port0"
            )
        );
        assert!(body.contains("Living room Spotify"));
        for secret in SECRETS {
            assert!(!body.contains(secret), "{secret} reached the page");
        }
    }
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_backup_names_the_installed_add_ons_it_leaves_out() {
    use crate::support::ha_double::{Double, Flavor};
    use lifeboat::config::{SourceMode, SupervisorMethod};
    use lifeboat::secret::Secret;
    use lifeboat::source::supervisor::SupervisorSource;
    let partial = Home {
        full: false,
        addons: vec!["core_mosquitto"],
        ..Home::default()
    };
    let d = Double::start(Flavor::Supervisor, home_backup(&partial), None).await;
    *d.inner.installed_addons.lock().unwrap() = vec![
        ("core_mosquitto".into(), "Mosquitto broker".into()),
        ("core_zwave_js".into(), "Z-Wave JS".into()),
    ];
    let store = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let source = std::sync::Arc::new(SupervisorSource::new(
        reqwest::Client::new(),
        d.url.parse().unwrap(),
        Secret::new(d.token()),
        SupervisorMethod::Rest,
        quick(),
        SourceMode::Create,
    ));
    let r = runner(
        source,
        &[local_spec("usb", store.path())],
        &kit().spec,
        data.path(),
    );
    let report = r.run("test", false).await.unwrap().remove(0);
    assert!(report.copies[0].verified, "{:?}", report.copies);
    let kept = r
        .history
        .readiness(report.run_id)
        .await
        .unwrap()
        .unwrap()
        .report;
    let left_out: Vec<&str> = kept
        .missing
        .iter()
        .filter_map(|i| i.addon.as_deref())
        .collect();
    assert_eq!(left_out, ["core_zwave_js"], "{:#?}", kept.missing);
    assert!(
        kept.missing
            .iter()
            .any(|i| i.title == "the add-on Z-Wave JS")
    );
    assert!(
        d.inner
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "GET /supervisor/info")
    );
}
