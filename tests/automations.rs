//! Automations end to end with the real binary: `lifeboat serve` takes commands on stdin (as
//! `hassio.app_stdin` sends them) and from `lifeboat_command` events on Home Assistant's bus,
//! answers each with a `lifeboat_command_result` event, survives garbage, and a backup asked for
//! this way lands on a real S3 server.

use crate::support::ha_double::{Double, Flavor};
use crate::support::*;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn answers(d: &Double) -> Vec<Value> {
    d.inner
        .core_posts
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == "events/lifeboat_command_result")
        .map(|(_, v)| v.clone())
        .collect()
}

/// `lifeboat serve` with `cfg`, taking commands on a piped stdin, its log in `dir/stderr.log`.
fn serve(cfg: &std::path::Path, d: &Double, dir: &std::path::Path) -> Serving {
    Serving(
        Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(["--config", cfg.to_str().unwrap(), "serve"])
            .env("SUPERVISOR_TOKEN", d.token())
            .env("LIFEBOAT_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap(),
    )
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_from_stdin_and_events_are_carried_out_and_answered() {
    let d = Double::start(
        Flavor::Supervisor,
        fixture("supervisor-style/full-plain.tar"),
        None,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let p = unique("stdin");
    let cfg = supervisor_to_s3_config(dir.path(), &d.url, "s3", &p, "", false);
    let mut child = serve(&cfg, &d, dir.path());
    let mut stdin = child.0.stdin.take().unwrap();
    // Garbage, an unknown command, a line far too long, then a real backup.
    writeln!(stdin, "this is not json").unwrap();
    writeln!(stdin, r#"{{"command": "explode"}}"#).unwrap();
    writeln!(stdin, "{}", "x".repeat(100_000)).unwrap();
    let backup = json!({"command": "backup", "id": "a1", "name": "From an automation", "destinations": ["s3"],
        "partial": {"addons": ["core_mosquitto"], "folders": ["share"]}});
    writeln!(stdin, "{backup}").unwrap();
    stdin.flush().unwrap();

    let log = dir.path().join("stderr.log");
    let seen = || answers(&d).len() >= 4;
    for _ in 0..600 {
        if seen() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen(),
        "no answers; lifeboat said: {}\nthe double saw: {:?}\nposts: {:?}",
        std::fs::read_to_string(&log).unwrap_or_default(),
        d.log(),
        d.inner.core_posts.lock().unwrap()
    );
    let a = answers(&d);
    assert!(
        a[0]["error"].as_str().unwrap().contains("not JSON"),
        "{a:?}"
    );
    assert!(
        a[1]["error"].as_str().unwrap().contains("unknown command"),
        "{a:?}"
    );
    assert!(
        a[2]["error"].as_str().unwrap().contains("longer than"),
        "{a:?}"
    );
    assert_eq!(
        a[3],
        json!({"ok": true, "result": {"queued": true}, "command": "backup", "source": "stdin", "id": "a1"})
    );

    // The backup it asked for runs, under the name it gave, and lands on S3.
    let finished = || {
        d.inner
            .core_posts
            .lock()
            .unwrap()
            .iter()
            .any(|(p, v)| p == "events/lifeboat_backup_finished" && v["status"] == "success")
    };
    wait_for("the backup to finish", finished).await;
    let created = d.inner.create_requests.lock().unwrap()[0].clone();
    assert_eq!(created["name"], "From an automation");
    assert_eq!(created["addons"], json!(["core_mosquitto"]));
    assert_eq!(created["folders"], json!(["share"]));
    assert!(
        d.log().iter().any(|l| l == "POST /backups/new/partial"),
        "{:?}",
        d.log()
    );
    let s3 = open(&[s3_spec("s3", &p)]).remove(0);
    assert_eq!(
        lifeboat::destinations::manifest::list(&s3)
            .await
            .unwrap()
            .len(),
        1
    );

    // verify and prune, from stdin.
    writeln!(stdin, r#"{{"command": "verify", "id": "v1"}}"#).unwrap();
    writeln!(stdin, r#""prune""#).unwrap();
    stdin.flush().unwrap();
    wait_for("verify and prune answers", || answers(&d).len() >= 6).await;
    let a = answers(&d);
    let verify = a.iter().find(|x| x["id"] == "v1").unwrap();
    assert_eq!(verify["result"]["copies"][0]["ok"], true, "{verify}");
    // No retention policy on that destination: nothing is pruned, and the answer says so.
    let prune = &a.iter().find(|x| x["command"] == "prune").unwrap()["result"];
    assert_eq!(prune["destinations"], json!([]), "{prune}");
    assert_eq!(prune["unmanaged"], json!(["s3"]), "{prune}");

    // The event path: an automation fires lifeboat_command on Home Assistant's bus.
    wait_for("the event subscription", || {
        d.subscribers("lifeboat_command") > 0
    })
    .await;
    d.fire("lifeboat_command", json!({"command": "status", "id": "s1"}));
    d.fire("lifeboat_command", json!({"command": 42}));
    wait_for("the status answer", || {
        answers(&d).iter().any(|x| x["id"] == "s1")
    })
    .await;
    let a = answers(&d);
    let status = a.iter().find(|x| x["id"] == "s1").unwrap();
    assert_eq!(status["source"], "event");
    assert_eq!(status["result"]["state"], "idle");
    assert_eq!(status["result"]["last_backup"]["slug"], "02dc63e3");
    wait_for("the refusal", || {
        answers(&d)
            .iter()
            .any(|x| x["source"] == "event" && x["ok"] == false)
    })
    .await;
    // Still alive after all of it.
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "lifeboat serve exited"
    );
}

fn posts(d: &Double, path: &str) -> Vec<Value> {
    d.inner
        .core_posts
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, v)| v.clone())
        .collect()
}

/// The safe update as automations and the command line reach it, with the real binary: the
/// `update` command is answered when the update has ended, a `lifeboat_update_result` event says
/// how, and one that was not installed leaves a notification; `lifeboat update` lists what waits
/// and runs one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_safe_update_from_stdin_an_event_and_the_command_line() {
    use crate::support::ha_double::UpdateFixture;
    let d = home_with_updates().await;
    d.add_update(UpdateFixture::addon(
        "a0d7b954_nodered",
        "Node-RED",
        "19.0.0",
        "19.1.0",
    ));
    let dir = tempfile::tempdir().unwrap();
    let cfg = supervisor_to_s3_config(dir.path(), &d.url, "s3", &unique("update"), "", false);
    let (cfg_path, token) = (cfg.clone(), d.token().to_owned());
    let lifeboat = move |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(["--config", cfg_path.to_str().unwrap()])
            .args(args)
            .env("SUPERVISOR_TOKEN", &token)
            .env("LIFEBOAT_LOG", "warn")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // The command line: what waits, then one update.
    let listed = tokio::task::spawn_blocking({
        let lifeboat = lifeboat.clone();
        move || lifeboat(&["update"])
    })
    .await
    .unwrap();
    assert_eq!(listed.0, Some(0), "{listed:?}");
    assert!(
        listed
            .1
            .contains("update.node-red_update  Node-RED Update 19.0.0 → 19.1.0"),
        "{listed:?}"
    );
    let ran = tokio::task::spawn_blocking({
        let lifeboat = lifeboat.clone();
        move || lifeboat(&["update", "a0d7b954_nodered"])
    })
    .await
    .unwrap();
    assert_eq!(ran.0, Some(0), "{ran:?}");
    assert!(
        ran.1
            .starts_with("Installed Node-RED Update 19.0.0 → 19.1.0"),
        "{ran:?}"
    );
    assert_eq!(d.installs(), ["update.node-red_update"]);
    // Two verified copies asked of one destination: not installed, exit 1, and why.
    let refused = tokio::task::spawn_blocking(move || {
        lifeboat(&[
            "update",
            "update.home_assistant_core_update",
            "--min-verified",
            "2",
        ])
    })
    .await
    .unwrap();
    assert_eq!(refused.0, Some(1), "{refused:?}");
    assert!(
        refused
            .1
            .contains("2 verified copies were asked for, but only 1 destination is"),
        "{refused:?}"
    );
    assert_eq!(d.installs().len(), 1);
    assert_eq!(
        d.creations(),
        1,
        "a backup was made that could never be enough"
    );

    // Automations, through `lifeboat serve`.
    let mut child = serve(&cfg, &d, dir.path());
    let mut stdin = child.0.stdin.take().unwrap();
    writeln!(
        stdin,
        r#"{{"command": "update", "addon": "core_mosquitto", "id": "u1"}}"#
    )
    .unwrap();
    stdin.flush().unwrap();
    wait_for("the update's answer", || {
        answers(&d).iter().any(|x| x["id"] == "u1")
    })
    .await;
    let a = answers(&d);
    let u1 = a.iter().find(|x| x["id"] == "u1").unwrap();
    assert_eq!(u1["ok"], true, "{u1}");
    assert_eq!(u1["result"]["installed"], true, "{u1}");
    assert_eq!(u1["result"]["verified"], json!(["s3"]), "{u1}");
    let told = posts(&d, "events/lifeboat_update_result");
    assert_eq!(told[0]["installed"], true, "{told:?}");
    assert_eq!(told[0]["entity_id"], "update.mosquitto_broker_update");

    // From the bus, one that cannot be: answered with why, and a notification.
    wait_for("the event subscription", || {
        d.subscribers("lifeboat_command") > 0
    })
    .await;
    d.fire(
        "lifeboat_command",
        json!({"command": "update", "entity_id": "update.home_assistant_core_update", "min_verified": 2, "id": "u2"}),
    );
    wait_for("the second answer", || {
        answers(&d).iter().any(|x| x["id"] == "u2")
    })
    .await;
    let a = answers(&d);
    let u2 = a.iter().find(|x| x["id"] == "u2").unwrap();
    assert_eq!(u2["ok"], false, "{u2}");
    assert!(
        u2["error"].as_str().unwrap().contains("none was made"),
        "{u2}"
    );
    wait_for("the notification", || {
        posts(&d, "services/persistent_notification/create")
            .iter()
            .any(|n| n["notification_id"] == "lifeboat_update")
    })
    .await;
    assert_eq!(d.installs().len(), 2, "{:?}", d.installs());
    assert_eq!(d.creations(), 2);
}
