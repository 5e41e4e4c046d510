//! Secrets stay secret, against the real binary: `lifeboat serve` with a wrong password for every
//! kind of destination (so every error path runs), debug logging, a backup asked for over the API,
//! then every page and API answer, the log and every file in the data folder are scanned for the
//! secrets it was given. The history and the vault are readable by their owner only. Then what
//! child programs see and say: a `command:` source, rclone and a drill's psql (issue 38).

use crate::support::*;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

const SECRETS: [&str; 7] = [
    "s3-secret-9f1c7a2e",
    "YXp1cmUta2V5LTNlOGQ1YjZhNGMyZg==",
    "dav-secret-5d2e8b71",
    "sftp-secret-c4a91f03",
    "smb-secret-7b3e6d29",
    "QWER-TYUI-OPAS-DFGH-JKLZ-XCVB-NM12",
    "pass-phrase-6e0f4d8a",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_the_pages_the_api_or_the_data_folder() {
    let src = folder_with(&[("b.tar", &fixture("ha-core/ha-2026.2.3-plain.tar"))]);
    let dir = tempfile::tempdir().unwrap();
    let (data, nas) = (dir.path().join("data"), dir.path().join("nas"));
    let (sftp_host, sftp_port) = env_or_die("LIFEBOAT_TEST_SFTP")
        .split_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let (smb_host, smb_port) = env_or_die("LIFEBOAT_TEST_SMB")
        .split_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let [s3, azure, dav, sftp, smb, ha_key, passphrase] = SECRETS;
    let config = format!(
        r#"
data_dir = "{data}"
ha_backup_keys = ["{ha_key}"]
[source]
type = "folder"
path = "{src}"
[encryption]
passphrase = "{passphrase}"
[[destinations]]
type = "local"
name = "nas"
path = "{nas}"
[[destinations]]
type = "s3"
name = "s3"
bucket = "backups"
prefix = "{prefix}"
endpoint = "{s3_url}"
access_key_id = "{S3_KEY_ID}"
secret_access_key = "{s3}"
[[destinations]]
type = "azure"
name = "azure"
account = "{AZURITE_ACCOUNT}"
container = "backups"
prefix = "{prefix}"
endpoint = "{azure_url}"
account_key = "{azure}"
[[destinations]]
type = "webdav"
name = "dav"
url = "{dav_url}/{prefix}"
username = "{DAV_USER}"
password = "{dav}"
[[destinations]]
type = "sftp"
name = "sftp"
host = "{sftp_host}"
port = {sftp_port}
username = "{sftp_user}"
password = "{sftp}"
path = "{prefix}"
[[destinations]]
type = "smb"
name = "smb"
host = "{smb_host}"
port = {smb_port}
share = "{share}"
username = "{smb_user}"
password = "{smb}"
path = "{prefix}"
"#,
        data = data.display(),
        src = src.path().display(),
        nas = nas.display(),
        prefix = unique("secrets"),
        s3_url = env_or_die("LIFEBOAT_TEST_S3"),
        azure_url = env_or_die("LIFEBOAT_TEST_AZURITE"),
        dav_url = env_or_die("LIFEBOAT_TEST_WEBDAV"),
        sftp_user = env_or_die("LIFEBOAT_TEST_SFTP_USER"),
        share = env_or_die("LIFEBOAT_TEST_SMB_SHARE"),
        smb_user = env_or_die("LIFEBOAT_TEST_SMB_USER"),
    );
    let config_path = dir.path().join("lifeboat.toml");
    std::fs::write(&config_path, config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = dir.path().join("stderr.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args([
            "--config",
            config_path.to_str().unwrap(),
            "serve",
            "--listen",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LIFEBOAT_LOG", "trace,lifeboat=trace")
        .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(format!("{base}/api/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "lifeboat serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let asked = http
        .post(format!("{base}/api/backup"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    // Wait for the run to end: every destination but the folder refuses its password.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let runs: serde_json::Value = http
            .get(format!("{base}/api/runs"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if runs[0]["status"].as_str().is_some_and(|s| s != "running") {
            assert_eq!(runs[0]["status"], "partial", "{runs}");
            break;
        }
        assert!(Instant::now() < deadline, "the run did not end: {runs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut seen = Vec::new();
    for page in [
        "/",
        "/runs",
        "/runs/1",
        "/copies",
        "/destinations",
        "/kit",
        "/api/runs",
        "/api/progress",
        "/api/health",
    ] {
        let body = http.get(format!("{base}{page}")).send().await.unwrap();
        seen.push((page.to_owned(), body.text().await.unwrap()));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("TRACE"),
        "every crate logged at its most verbose"
    );
    seen.push(("the log".into(), log));
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let mut raw = Vec::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_end(&mut raw)
            .unwrap();
        seen.push((
            path.display().to_string(),
            String::from_utf8_lossy(&raw).into_owned(),
        ));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
    }
    // The refusals were recorded (the errors ran), and said why without the secret.
    let runs = &seen.iter().find(|(p, _)| p == "/api/runs").unwrap().1;
    assert!(
        runs.contains("credentials") || runs.contains("refused"),
        "{runs}"
    );
    for (place, text) in &seen {
        for secret in SECRETS {
            let line = text.lines().find(|l| l.contains(secret));
            assert!(line.is_none(), "{secret} appears in {place}: {line:?}");
        }
    }
}

#[tokio::test]
async fn oversized_inputs_are_refused_without_being_read_whole() {
    // An archive whose backup.json says it is 2 GiB: refused from its header.
    let mut header = tar::Header::new_ustar();
    header.set_path("backup.json").unwrap();
    header.set_size(2 << 30);
    header.set_cksum();
    let mut archive = header.as_bytes().to_vec();
    archive.extend_from_slice(&[b'{'; 4096]);
    let started = Instant::now();
    let refused = lifeboat::archive::inspect::inspect(&archive[..], &[], false).unwrap_err();
    assert!(
        refused.to_string().contains("2147483648 bytes"),
        "{refused}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // A 64 MiB "manifest" on a destination: listed as unreadable, not loaded.
    let nas = tempfile::tempdir().unwrap();
    let big = std::fs::File::create(nas.path().join("20261124T030000Z-x.manifest.json")).unwrap();
    big.set_len(64 << 20).unwrap();
    let d = open(&[local_spec("nas", nas.path())]).remove(0);
    let listed = lifeboat::destinations::manifest::list(&d).await.unwrap();
    assert!(
        matches!(
            &listed[..],
            [lifeboat::destinations::manifest::Listed::Unreadable { .. }]
        ),
        "{listed:?}"
    );

    // A 1 MiB form: 413 before any handler sees it.
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let r = runner(
        std::sync::Arc::new(lifeboat::source::folder::FolderSource::new(
            nas.path().into(),
        )),
        &[local_spec("nas", nas.path())],
        &k.spec,
        data.path(),
    );
    let (state, _shutdown, _task) = dashboard(r, Vec::new()).await;
    let resp = tower::ServiceExt::oneshot(
        lifeboat::web::app(state),
        axum::http::Request::post("/kit/register")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "http://127.0.0.1:8099")
            .body(axum::body::Body::from(vec![b'a'; 1 << 20]))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 413);
}

/// Issue 38: what child programs see and say. A `command:` source with a password in its URL,
/// in its environment and in what it says; an rclone that complains with a token in its words;
/// a drill whose psql fails. Lifeboat itself holds Home Assistant's token. Nothing of it reaches
/// the run's output and log, `lifeboat list`, the printed kit, the data folder or the drill's
/// report, and no child program is given the token.
#[test]
fn no_secret_from_a_command_source_rclone_or_a_drill_reaches_any_output() {
    use std::os::unix::fs::PermissionsExt;
    const HA_TOKEN: &str = "ha-token-3c9e1b7d";
    const URL_PW: &str = "cmd-url-pw-8a2f";
    const ENV_PW: &str = "cmd-env-pw-5b1e";
    const SAID_PW: &str = "cmd-said-pw-0d4c";
    const RCLONE_SAID: &str = "rclone-said-tok-7e2a";
    const DRILL_PW: &str = "drill-url-pw-9f3b";
    let secrets = [HA_TOKEN, URL_PW, ENV_PW, SAID_PW, RCLONE_SAID, DRILL_PW];
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let script = |name: &str, text: &str| {
        let path = bin.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    // A dump program: a small PostgreSQL dump on its output; on its error, a warning with a
    // password in it, its own password variable and whatever Home Assistant token it was given.
    let pg_dump = script(
        "pg_dump",
        &format!(
            "#!/bin/sh\n\
             echo \"pg_dump: warning: connecting with password={SAID_PW} pw=$PGPASSWORD ha=$HA_TOKEN\" >&2\n\
             printf -- '--\\n-- PostgreSQL database dump\\n--\\n\\nCREATE TABLE public.t (a integer);\\n\\n\
             COPY public.t (a) FROM stdin;\\n1\\n2\\n\\\\.\\n\\n--\\n-- PostgreSQL database dump complete\\n--\\n\\n'\n"
        ),
    );
    // rclone as it might complain: a token in its words, and whatever token it was given.
    script(
        "rclone",
        &format!(
            "#!/bin/sh\n\
             echo \"2026/12/02 21:33:31 ERROR : token = {{\\\"access_token\\\":\\\"{RCLONE_SAID}\\\"}} ha=$HA_TOKEN\" >&2\n\
             echo \"2026/12/02 21:33:31 Failed to lsjson: refused (ha=$HA_TOKEN)\" >&2\n\
             exit 1\n"
        ),
    );
    // psql that fails, saying whatever token it was given.
    let psql = script(
        "psql",
        "#!/bin/sh\necho \"psql: error: connection refused (ha=$HA_TOKEN)\" >&2\nexit 2\n",
    );
    let (kit_file, recipient) = {
        let k = kit();
        use age::secrecy::ExposeSecret;
        let file = dir.path().join("kit.txt");
        std::fs::write(
            &file,
            format!("{}\n", k.identity.to_string().expose_secret()),
        )
        .unwrap();
        (file, k.identity.to_public().to_string())
    };
    let data = dir.path().join("data");
    let rclone_conf = dir.path().join("rclone.conf");
    std::fs::write(&rclone_conf, "[gdrive]\ntype = drive\n").unwrap();
    let config = dir.path().join("lifeboat.toml");
    std::fs::write(
        &config,
        format!(
            r#"
data_dir = "{data}"
[[sources]]
name = "postgres"
type = "command"
command = ["{pg_dump}", "--dbname=postgresql://backup:{URL_PW}@127.0.0.1:1/app"]
dump = "postgres"
environment = {{ PGPASSWORD = "{ENV_PW}" }}
[[destinations]]
type = "local"
name = "usb"
path = "{usb}"
[[destinations]]
type = "rclone"
name = "drive"
remote = "gdrive:lifeboat"
rclone_config = "{rclone_conf}"
[encryption]
recipients = ["{recipient}"]
"#,
            data = data.display(),
            pg_dump = pg_dump.display(),
            usb = dir.path().join("usb").display(),
            rclone_conf = rclone_conf.display(),
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let envs = [
        ("PATH", path.as_str()),
        ("HA_TOKEN", HA_TOKEN),
        ("LIFEBOAT_LOG", "debug"),
    ];
    let config = config.to_str().unwrap();
    let mut seen = Vec::new();
    let run = lifeboat(&["--config", config, "run"], &envs);
    let said = text(&run);
    // The copy landed on the folder; rclone's refusal was recorded.
    assert_eq!(run.status.code(), Some(3), "{said}");
    seen.push(("lifeboat run".to_owned(), said));
    let list = lifeboat(&["--config", config, "list"], &envs);
    seen.push(("lifeboat list".to_owned(), text(&list)));
    let kit_out = dir.path().join("printed-kit.txt");
    let printed = lifeboat(
        &[
            "--config",
            config,
            "kit",
            "--out",
            kit_out.to_str().unwrap(),
        ],
        &envs,
    );
    seen.push(("lifeboat kit".to_owned(), text(&printed)));
    seen.push((
        "the printed kit".to_owned(),
        std::fs::read_to_string(&kit_out).unwrap_or_default(),
    ));
    let into = format!("postgresql://postgres:{DRILL_PW}@127.0.0.1:1/postgres");
    let drill = lifeboat(
        &[
            "--config",
            config,
            "drill",
            "--into",
            &into,
            "--identity",
            kit_file.to_str().unwrap(),
            "--psql",
            psql.to_str().unwrap(),
        ],
        &envs,
    );
    // It got as far as psql, which said what it was given.
    assert!(
        !drill.status.success() && text(&drill).contains("psql: error"),
        "{}",
        text(&drill)
    );
    seen.push(("lifeboat drill".to_owned(), text(&drill)));
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let raw = std::fs::read(&path).unwrap();
            seen.push((
                path.display().to_string(),
                String::from_utf8_lossy(&raw).into_owned(),
            ));
        }
    }
    // The errors ran: what was said reached the run, scanned.
    let run_said = &seen[0].1;
    assert!(
        run_said.contains("pg_dump: warning") && run_said.contains("Failed to lsjson"),
        "{run_said}"
    );
    for (place, text) in &seen {
        for secret in secrets {
            let line = text.lines().find(|l| l.contains(secret));
            assert!(line.is_none(), "{secret} appears in {place}: {line:?}");
        }
    }
}
