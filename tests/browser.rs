//! The dashboard in a real browser: headless Debian chromium, driven by playwright-core
//! (`tests/browser/main_flow.cjs`), against the real `lifeboat serve` binary behind a stand-in for
//! Home Assistant's ingress proxy, with the Supervisor test double as the source and the real S3
//! server as the destination. Screenshots land in `target/browser-artifacts/`.

use crate::support::*;
use std::process::{Command, Stdio};

/// Makes `dir`, and removes the files in it whose names `mine` picks.
fn empty_of(dir: &std::path::Path, mine: impl Fn(&str) -> bool) {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if mine(&e.file_name().to_string_lossy()) {
            let p = e.path();
            if p.is_dir() {
                std::fs::remove_dir_all(p).unwrap();
            } else {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
}

/// `lifeboat serve` on `cfg` at `port`, logging to `log`, once it answers, behind the stand-in for
/// Home Assistant's ingress proxy: the server, and the page's address through the proxy.
async fn serve_behind_ingress(
    cfg: &std::path::Path,
    token: &str,
    port: u16,
    log: &std::path::Path,
    dir: &std::path::Path,
) -> (Serving, String) {
    let server = Serving(
        Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(["--config", cfg.to_str().unwrap(), "serve"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("SUPERVISOR_TOKEN", token)
            .env("XDG_DATA_HOME", dir.join("xdg"))
            .env("LIFEBOAT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    );
    let addon = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(format!("{addon}/api/health")).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        up,
        "lifeboat serve did not start: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    (
        server,
        ingress_proxy::start(&addon, "c0ffee_T0k3n-x", "Ann").await,
    )
}

/// Runs a browser script with node; whether it passed, and all it said.
async fn node(script: &std::path::Path, modules: &str, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .env("LIFEBOAT_TEST_NODE_MODULES", modules)
        .env(
            "LIFEBOAT_TEST_CHROMIUM",
            std::env::var("LIFEBOAT_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        )
        .output()
        .await
        .expect("node runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_flow_works_through_the_ingress_path() {
    let modules = std::env::var("LIFEBOAT_TEST_NODE_MODULES")
        .expect("LIFEBOAT_TEST_NODE_MODULES is not set: run the suite with scripts/test.sh");
    let d = home_with_updates().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The first evening: no key yet; the browser makes it on the kit page.
    let prefix = unique("browser");
    let cfg = supervisor_to_s3_config(
        dir.path(),
        &d.url,
        "offsite",
        &prefix,
        "[schedule]\nbackup = \"30 3 * * *\"\njitter_minutes = 20\n",
        true,
    );
    let log = dir.path().join("stderr.log");
    let (_server, page) = serve_behind_ingress(&cfg, d.token(), port, &log, dir.path()).await;

    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    // Emptied first of this flow's pictures (the setup flow's, setup-*.png, are its own): what
    // is there afterwards, this run made.
    empty_of(&artifacts, |name| !name.starts_with("setup-"));
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/main_flow.cjs");
    let (passed, said) = node(
        &script,
        &modules,
        &[
            page.as_str(),
            artifacts.to_str().unwrap(),
            dir.path().join("usb drive").to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        passed,
        "{said}\nlifeboat said: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(said.contains("browser test passed"), "{said}");
    // The key the browser was shown once, alone, opens the copy it then made.
    let key = said
        .lines()
        .find_map(|l| l.strip_prefix("kit key: "))
        .expect("the script reports the key it was shown");
    let from = format!(
        "s3://backups/{prefix}?endpoint={}",
        env_or_die("LIFEBOAT_TEST_S3")
    );
    let creds = [
        ("AWS_ACCESS_KEY_ID", S3_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
    ];
    let back = recover_with_key(dir.path(), &from, key, &creds);
    assert!(back == fixture("supervisor-style/full-plain.tar"));
    // The remote the page connected is in the data folder's rclone.conf, for Lifeboat alone.
    {
        use std::os::unix::fs::PermissionsExt;
        let conf = dir.path().join("data/rclone.conf");
        let text = std::fs::read_to_string(&conf).unwrap();
        assert!(text.contains("[usb]\ntype = local"), "{text}");
        let mode = std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    for shot in [
        "6-drive-connected-desktop.png",
        "1-overview-new-desktop.png",
        "1-kit-sheet-print.png",
        "3-run-desktop.png",
        "4-restore-ready-desktop.png",
        "4-moving-desktop.png",
        "4-kit-ready-print.png",
        "5-overview-phone-dark.png",
        "7-updates-desktop.png",
        "7-updated-desktop.png",
    ] {
        let png = std::fs::read(artifacts.join(shot))
            .unwrap_or_else(|e| panic!("{shot} was not taken: {e}"));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
            "{shot} is not a picture"
        );
    }
    // The button installed the add-on's update, after its backup.
    assert_eq!(d.installs(), ["update.mosquitto_broker_update"]);
    // Six pages at phone width, light and dark.
    let phone = std::fs::read_dir(&artifacts)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("5-") && name.ends_with(".png")
        })
        .count();
    assert_eq!(phone, 12, "phone-width screenshots");
}

/// A new user goes from "Not protected yet" to a verified copy without the Configuration tab:
/// `lifeboat serve` on settings with a source and no destination; in the browser, Add a
/// destination → S3 (MinIO preset) on the real S3 server → Test → Save (applied at once) → the
/// key on the kit page → Back up now → the copy on the copies page (`tests/browser/setup_flow.cjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_sets_up_a_destination_and_backs_up_from_the_panel() {
    let modules = std::env::var("LIFEBOAT_TEST_NODE_MODULES")
        .expect("LIFEBOAT_TEST_NODE_MODULES is not set: run the suite with scripts/test.sh");
    let d = home_with_updates().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("lifeboat.toml");
    std::fs::write(
        &cfg,
        format!(
            "# Set up from the panel.\ndata_dir = \"{}\"\n\n[source]\ntype = \"supervisor\"\n\
             method = \"rest\"\nurl = \"{}\"\n\n[encryption]\nrecipients = []\n",
            dir.path().join("data").display(),
            d.url
        ),
    )
    .unwrap();
    let log = dir.path().join("stderr.log");
    let (_server, page) = serve_behind_ingress(&cfg, d.token(), port, &log, dir.path()).await;
    let said_by_lifeboat = || std::fs::read_to_string(&log).unwrap_or_default();
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    empty_of(&artifacts, |name| name.starts_with("setup-"));
    let prefix = unique("panel");
    let s3 = env_or_die("LIFEBOAT_TEST_S3");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/setup_flow.cjs");
    let (passed, said) = node(
        &script,
        &modules,
        &[
            page.as_str(),
            artifacts.to_str().unwrap(),
            s3.as_str(),
            prefix.as_str(),
            S3_KEY_ID,
            S3_SECRET,
        ],
    )
    .await;
    assert!(passed, "{said}\nlifeboat said: {}", said_by_lifeboat());
    assert!(said.contains("setup browser test passed"), "{said}");
    // Saved where the settings live, the comment kept; the secret typed is not in the log.
    let saved = std::fs::read_to_string(&cfg).unwrap();
    assert!(saved.starts_with("# Set up from the panel.\n"), "{saved}");
    assert!(
        saved.contains("[[destinations]]") && saved.contains(&prefix),
        "{saved}"
    );
    assert!(
        !said_by_lifeboat().contains(S3_SECRET),
        "the secret reached the log"
    );
    // The copy the browser saw listed opens with the key it was shown.
    let key = said
        .lines()
        .find_map(|l| l.strip_prefix("kit key: "))
        .expect("the script reports the key it was shown");
    let from = format!("s3://backups/{prefix}?endpoint={s3}");
    let creds = [
        ("AWS_ACCESS_KEY_ID", S3_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
    ];
    let back = recover_with_key(dir.path(), &from, key, &creds);
    assert!(back == fixture("supervisor-style/full-plain.tar"));
    for shot in [
        "setup-1-not-protected-desktop.png",
        "setup-3-tested-desktop.png",
        "setup-4-saved-desktop.png",
        "setup-5-copies-desktop.png",
        "setup-6-form-phone.png",
        "setup-6-destinations-phone.png",
    ] {
        let png = std::fs::read(artifacts.join(shot))
            .unwrap_or_else(|e| panic!("{shot} was not taken: {e}"));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
            "{shot} is not a picture"
        );
    }
}
