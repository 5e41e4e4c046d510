//! Shared test support: fixtures, the real storage servers started by `scripts/test-servers.sh`,
//! destination settings for them, and a runner wired like the real one.

pub mod access_record;
pub mod apparmor;
pub mod fault_proxy;
pub mod ha_double;
pub mod ingress_proxy;
pub mod supervisor_rules;

use lifeboat::clock::SystemClock;
use lifeboat::config::{DestinationKind, DestinationSpec, EncryptionSpec};
pub use lifeboat::destinations::kinds::azure::{AzureCredential, AzureSpec};
pub use lifeboat::destinations::kinds::local::LocalSpec;
pub use lifeboat::destinations::kinds::rclone::RcloneSpec;
pub use lifeboat::destinations::kinds::s3::S3Spec;
pub use lifeboat::destinations::kinds::sftp::{SftpAuth, SftpSpec};
pub use lifeboat::destinations::kinds::smb::SmbSpec;
pub use lifeboat::destinations::kinds::webdav::WebdavSpec;
use lifeboat::destinations::{self, Destination};
use lifeboat::history::History;
use lifeboat::pipeline::run::Runner;
use lifeboat::secret::Secret;
use lifeboat::source::{Patience, Source};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;

pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const S3_KEY_ID: &str = "AKTEST";
pub const S3_SECRET: &str = "SKTESTSECRET";

pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

pub fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(data(rel)).unwrap()
}

/// Every fixture archive made by real Home Assistant or the securetar library.
pub const FIXTURES: [&str; 7] = [
    "ha-core/ha-2026.2.3-plain.tar",
    "ha-core/ha-2026.2.3-encrypted.tar",
    "ha-core/ha-2026.2.3-encrypted.decrypted-by-ha.tar",
    "ha-core/ha-2024.3.3-legacy.tar",
    "supervisor-style/full-plain.tar",
    "supervisor-style/full-v2.tar",
    "supervisor-style/full-v3.tar",
];

pub fn env_or_die(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| {
        panic!(
            "{key} is not set: run the suite with scripts/test.sh, which starts the storage servers"
        )
    })
}

/// A prefix no other test uses.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn s3_spec(name: &str, prefix: &str) -> DestinationSpec {
    s3_spec_with(name, prefix, &env_or_die("LIFEBOAT_TEST_S3"), S3_SECRET)
}

pub fn s3_spec_with(name: &str, prefix: &str, endpoint: &str, secret: &str) -> DestinationSpec {
    DestinationSpec {
        name: name.into(),
        retention: Default::default(),
        kind: DestinationKind::S3(S3Spec {
            bucket: "backups".into(),
            prefix: format!("{prefix}/"),
            endpoint: Some(endpoint.into()),
            region: "us-east-1".into(),
            access_key_id: S3_KEY_ID.into(),
            secret_access_key: Secret::new(secret),
            path_style: true,
        }),
    }
}

pub fn azure_key_spec(name: &str, prefix: &str) -> DestinationSpec {
    DestinationSpec {
        name: name.into(),
        retention: Default::default(),
        kind: DestinationKind::Azure(AzureSpec {
            account: AZURITE_ACCOUNT.into(),
            container: "backups".into(),
            prefix: format!("{prefix}/"),
            endpoint: env_or_die("LIFEBOAT_TEST_AZURITE"),
            credential: AzureCredential::AccountKey(Secret::new(AZURITE_KEY)),
        }),
    }
}

pub fn azure_sas_spec(name: &str, prefix: &str) -> DestinationSpec {
    DestinationSpec {
        name: name.into(),
        retention: Default::default(),
        kind: DestinationKind::Azure(AzureSpec {
            account: AZURITE_ACCOUNT.into(),
            container: "sas-backups".into(),
            prefix: format!("{prefix}/"),
            endpoint: env_or_die("LIFEBOAT_TEST_AZURITE"),
            credential: AzureCredential::Sas(Secret::new(env_or_die("LIFEBOAT_TEST_AZURITE_SAS"))),
        }),
    }
}

pub const DAV_USER: &str = "davuser";
pub const DAV_PASSWORD: &str = "davpass";

/// A WebDAV destination in a fresh folder (two levels deep, so its parents get made) under the
/// server at `env_url` (an environment variable that `scripts/test-servers.sh` sets).
pub fn webdav_spec(name: &str, env_url: &str, segment_mb: Option<u64>) -> DestinationSpec {
    let url = format!("{}/{}/HA backups", env_or_die(env_url), unique("dav"));
    DestinationSpec {
        name: name.into(),
        retention: Default::default(),
        kind: DestinationKind::Webdav(WebdavSpec {
            url: url::Url::parse(&url).unwrap(),
            username: DAV_USER.into(),
            password: Secret::new(DAV_PASSWORD),
            segment: segment_mb.map(|m| m << 20),
            certificate_sha256: None,
        }),
    }
}

/// An SFTP destination in a fresh folder under the test account's home, signing in with `auth`,
/// remembering host keys in `known_hosts`.
pub fn sftp_spec(name: &str, auth: SftpAuth, known_hosts: Option<&Path>) -> DestinationSpec {
    let at = env_or_die("LIFEBOAT_TEST_SFTP");
    let (host, port) = at.split_once(':').unwrap();
    DestinationSpec {
        name: name.into(),
        retention: Default::default(),
        kind: DestinationKind::Sftp(SftpSpec {
            host: host.into(),
            port: port.parse().unwrap(),
            username: env_or_die("LIFEBOAT_TEST_SFTP_USER"),
            auth,
            path: format!("{}/ha backups", unique("sftp")),
            host_key: None,
            known_hosts: known_hosts.map(Path::to_owned),
        }),
    }
}

pub fn sftp_password() -> SftpAuth {
    SftpAuth::Password(Secret::new(env_or_die("LIFEBOAT_TEST_SFTP_PASSWORD")))
}

/// An SMB destination in a fresh folder (two levels deep) in the test share, signing in with
/// `password`.
pub fn smb_spec(name: &str, password: &str) -> DestinationSpec {
    let at = env_or_die("LIFEBOAT_TEST_SMB");
    let (host, port) = at.split_once(':').unwrap();
    DestinationSpec {
        name: name.into(),
        retention: Default::default(),
        kind: DestinationKind::Smb(SmbSpec {
            host: host.into(),
            port: port.parse().unwrap(),
            share: env_or_die("LIFEBOAT_TEST_SMB_SHARE"),
            path: format!("{}/ha backups", unique("smb")),
            username: env_or_die("LIFEBOAT_TEST_SMB_USER"),
            password: Secret::new(password),
            domain: String::new(),
        }),
    }
}

/// `password` as rclone.conf holds it (`rclone obscure`).
pub fn rclone_obscure(password: &str) -> String {
    let out = std::process::Command::new("rclone")
        .args(["obscure", password])
        .output()
        .expect("rclone is installed (scripts/test-servers.sh install)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An rclone.conf in `dir` with one remote on each test server, as a person would configure
/// them: `loc` (type local), `s3` (s3s-fs), `dav` (wsgidav) and `sftp` (sshd, password), and
/// `s3bad`, `davbad`, `sftpbad` with wrong secrets. Give an S3 remote a bucket of its own
/// (`s3:<bucket>`), not a folder in one: rclone HEADs a folder's key to see whether it is a file,
/// s3s-fs answers 500 where S3 answers 404 once objects are under it, and rclone retries that
/// for a minute.
pub fn rclone_conf(dir: &Path) -> PathBuf {
    let s3 = env_or_die("LIFEBOAT_TEST_S3");
    let dav = env_or_die("LIFEBOAT_TEST_WEBDAV");
    let sftp = env_or_die("LIFEBOAT_TEST_SFTP");
    let (host, port) = sftp.split_once(':').unwrap();
    let user = env_or_die("LIFEBOAT_TEST_SFTP_USER");
    let mut text = String::from("[loc]\ntype = local\n");
    for (name, secret) in [("s3", S3_SECRET), ("s3bad", "wrong-secret-123")] {
        text.push_str(&format!(
            "\n[{name}]\ntype = s3\nprovider = Other\naccess_key_id = {S3_KEY_ID}\n\
             secret_access_key = {secret}\nendpoint = {s3}\nforce_path_style = true\n"
        ));
    }
    for (name, pass) in [("dav", DAV_PASSWORD), ("davbad", "not-the-dav-password")] {
        text.push_str(&format!(
            "\n[{name}]\ntype = webdav\nurl = {dav}\nvendor = other\nuser = {DAV_USER}\npass = {}\n",
            rclone_obscure(pass)
        ));
    }
    let good = env_or_die("LIFEBOAT_TEST_SFTP_PASSWORD");
    for (name, pass) in [
        ("sftp", good.as_str()),
        ("sftpbad", "not-the-sftp-password"),
    ] {
        text.push_str(&format!(
            "\n[{name}]\ntype = sftp\nhost = {host}\nport = {port}\nuser = {user}\npass = {}\n",
            rclone_obscure(pass)
        ));
    }
    let path = dir.join("rclone.conf");
    std::fs::write(&path, text).unwrap();
    path
}

/// A destination on the rclone remote `remote` (`name:folder`) of the file `conf`.
pub fn rclone_spec(name: &str, remote: &str, conf: &Path) -> DestinationSpec {
    DestinationSpec {
        name: name.into(),
        retention: Default::default(),
        kind: DestinationKind::Rclone(RcloneSpec {
            remote: remote.into(),
            config: Some(conf.to_owned()),
            program: "rclone".into(),
        }),
    }
}

pub fn local_spec(name: &str, dir: &Path) -> DestinationSpec {
    DestinationSpec {
        name: name.into(),
        retention: Default::default(),
        kind: DestinationKind::Local(LocalSpec {
            path: dir.to_owned(),
        }),
    }
}

pub fn open(specs: &[DestinationSpec]) -> Vec<Destination> {
    specs
        .iter()
        .map(|s| destinations::open(s).unwrap())
        .collect()
}

/// Short waits so tests of retries and polling do not wait for real.
pub fn quick() -> Patience {
    Patience {
        answer: Duration::from_secs(10),
        poll: Duration::from_millis(20),
        busy_retry: Duration::from_millis(20),
        busy_attempts: 5,
        backup: Duration::from_secs(30),
    }
}

pub struct Kit {
    pub identity: age::x25519::Identity,
    pub spec: EncryptionSpec,
}

pub fn kit() -> Kit {
    let identity = age::x25519::Identity::generate();
    let spec = EncryptionSpec {
        recipients: vec![identity.to_public()],
        passphrase: None,
    };
    Kit { identity, spec }
}

pub fn runner(
    source: Arc<dyn Source>,
    specs: &[DestinationSpec],
    enc: &EncryptionSpec,
    data_dir: &Path,
) -> Runner {
    // A vault in the data folder, as the add-on has: copies are signed, and read back as such.
    let keys = lifeboat::crypto::keyring::Keyring::new(
        Some(Arc::new(std::sync::Mutex::new(
            lifeboat::crypto::vault::Vault::open(data_dir).unwrap(),
        ))),
        enc.clone(),
        Vec::new(),
    );
    let destinations = open(specs)
        .into_iter()
        .map(|mut d| {
            d.trust = keys.trusted.clone();
            d
        })
        .collect();
    Runner {
        source,
        destinations,
        keys,
        history: History::open(data_dir).unwrap(),
        clock: Arc::new(SystemClock),
        observer: Arc::new(lifeboat::pipeline::run::Quiet),
        tz: chrono_tz::UTC,
        keep_local: None,
        progress: Arc::default(),
        source_name: "home-assistant".into(),
        first_source: true,
        retention: None,
    }
}

/// The Supervisor double backing up the full plain fixture, with the usual updates waiting (see
/// [`ha_double::Double::add_usual_updates`]).
pub async fn home_with_updates() -> ha_double::Double {
    let d = ha_double::Double::start(
        ha_double::Flavor::Supervisor,
        fixture("supervisor-style/full-plain.tar"),
        None,
    )
    .await;
    d.add_usual_updates();
    d
}

/// A Supervisor source for the double `d`, impatient (see [`quick`]).
pub fn supervisor_source(
    d: &ha_double::Double,
    method: lifeboat::config::SupervisorMethod,
    mode: lifeboat::config::SourceMode,
) -> Arc<lifeboat::source::supervisor::SupervisorSource> {
    Arc::new(lifeboat::source::supervisor::SupervisorSource::new(
        reqwest::Client::new(),
        d.url.parse().unwrap(),
        Secret::new(d.token()),
        method,
        quick(),
        mode,
    ))
}

/// Reads an object back and decrypts it with the kit's identity.
pub async fn decrypt(d: &Destination, object: &str, identity: &age::x25519::Identity) -> Vec<u8> {
    let mut r = d.store.reader(object).await.unwrap();
    let mut stored = Vec::new();
    r.read_to_end(&mut stored).await.unwrap();
    let dec = age::Decryptor::new(&stored[..]).unwrap();
    let mut plain = Vec::new();
    dec.decrypt(std::iter::once(identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    plain
}

/// Objects on a destination (names directly under its prefix).
pub async fn objects(d: &Destination) -> Vec<String> {
    let mut v = d.store.list().await.unwrap();
    v.sort();
    v
}

/// A temporary folder holding the given files (a folder source).
pub fn folder_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

/// Runs the `lifeboat` binary as on a fresh machine: an empty environment but for `PATH`, `HOME`
/// and `envs`.
pub fn lifeboat(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("LIFEBOAT_LOG", "warn");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// What a command printed, stdout then stderr.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `lifeboat recover --from FROM --identity KIT` followed by `rest`, with `envs` for credentials.
pub fn recover_with(
    from: &str,
    kit_file: &Path,
    rest: &[&str],
    envs: &[(&str, &str)],
) -> std::process::Output {
    let mut args = vec![
        "recover",
        "--from",
        from,
        "--identity",
        kit_file.to_str().unwrap(),
    ];
    args.extend_from_slice(rest);
    lifeboat(&args, envs)
}

/// `lifeboat recover --from FROM --identity KIT --out OUT` with `envs` for credentials, as a person
/// with the printed kit would; asserts it worked and returns the recovered bytes.
pub fn recover_to(from: &str, kit_file: &Path, out: &Path, envs: &[(&str, &str)]) -> Vec<u8> {
    let o = recover_with(from, kit_file, &["--out", out.to_str().unwrap()], envs);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read(out).unwrap()
}

/// [`recover_to`] with the private `key` alone, written as `dir/kit.txt`.
pub fn recover_with_key(dir: &Path, from: &str, key: &str, envs: &[(&str, &str)]) -> Vec<u8> {
    let kit_file = dir.join("kit.txt");
    std::fs::write(&kit_file, format!("{key}\n")).unwrap();
    recover_to(from, &kit_file, &dir.join("recovered.tar"), envs)
}

/// A small but complete Home Assistant backup made at `date`: `backup.json` and a real gzip'd
/// inner tar, as the deep check wants.
pub fn backup_tar(slug: &str, date: &str) -> Vec<u8> {
    use std::io::Write;
    let mut inner = tar::Builder::new(Vec::new());
    let config = format!("homeassistant:\n  name: Home {date}\n");
    let mut h = tar::Header::new_gnu();
    h.set_size(config.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    inner
        .append_data(&mut h, "data/configuration.yaml", config.as_bytes())
        .unwrap();
    let inner = inner.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&inner).unwrap();
    let gz = gz.finish().unwrap();
    let json = serde_json::json!({
        "slug": slug, "name": format!("Daily {date}"), "date": date, "type": "partial",
        "version": 2, "protected": false, "compressed": true,
        "homeassistant": {"version": "2026.11.1", "exclude_database": false, "size": 0.0},
        "folders": [], "addons": [], "repositories": [],
    })
    .to_string();
    let mut outer = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("./backup.json", json.as_bytes()),
        ("./homeassistant.tar.gz", &gz[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        outer.append_data(&mut h, name, data).unwrap();
    }
    outer.into_inner().unwrap()
}

/// A clock the test sets.
pub struct SetClock(pub std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl SetClock {
    pub fn at(t: &str) -> Arc<Self> {
        Arc::new(Self(std::sync::Mutex::new(
            chrono::DateTime::parse_from_rfc3339(t).unwrap().into(),
        )))
    }

    pub fn set(&self, t: chrono::DateTime<chrono::Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl lifeboat::clock::Clock for SetClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

/// How many files in `dir` end in one of `suffixes` (0 when it cannot be read yet).
pub fn files_ending(dir: &Path, suffixes: &[&str]) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                suffixes.iter().any(|s| n.ends_with(s))
            })
            .count()
    })
}

/// The daemon around `runner`, started as the binary starts it (worker, schedules, retry poll),
/// with no Home Assistant, no stdin commands, every peer allowed and a fixed form token. Cancel the
/// returned token and await the task to stop it: the task ends when every daemon task has.
pub async fn dashboard(
    runner: Runner,
    schedules: Vec<lifeboat::schedule::Schedule>,
) -> (
    lifeboat::web::AppState,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    use lifeboat::daemon::Daemon;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let settings = daemon_settings(&runner, schedules, None);
    let running = Daemon::new(runner, settings)
        .start(&shutdown)
        .await
        .unwrap();
    let state = running.state.clone();
    (state, shutdown, tokio::spawn(running.join()))
}

/// The daemon's settings as tests give them: every destination of `runner` watched (stale after
/// 26 hours, the kit due every 180 days), no Home Assistant to report to, no stdin commands, every
/// peer allowed and a fixed form token; with `events`, Home Assistant's websocket for commands,
/// safe updates and (when `ship_on_events`) its backup events.
pub fn daemon_settings(
    runner: &Runner,
    schedules: Vec<lifeboat::schedule::Schedule>,
    events: Option<(url::Url, Secret, bool)>,
) -> lifeboat::daemon::Settings {
    use lifeboat::web::{csrf, ingress::Access};
    let ship_on_events = events.as_ref().is_some_and(|e| e.2);
    lifeboat::daemon::Settings {
        verify_rate: 1 << 30,
        schedules,
        watch: lifeboat::report::Watch {
            sources: Vec::new(),
            destinations: runner.destinations.iter().map(|d| d.name.clone()).collect(),
            stale_after: std::time::Duration::from_secs(26 * 3600),
            kit_every: Some(std::time::Duration::from_secs(180 * 86_400)),
            cautions: Vec::new(),
            clock: runner.clock.clone(),
        },
        restore_into: None,
        reporter: None,
        stdin_commands: false,
        events: events.map(|(url, token, _)| (url, token)),
        access: Access::any(),
        csrf: csrf::Token::from_bytes([42; 32]),
        drives: lifeboat::destinations::kinds::rclone::store::connect::Drives::in_data_dir(
            &std::env::temp_dir().join(unique("drives")),
        ),
        min_verified: 1,
        ship_on_events,
        probes: lifeboat::pipeline::probing::ProbePlan::default(),
    }
}

/// A child process killed (and reaped) when dropped, so a failing test leaves no server behind.
pub struct Serving(pub std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes `dir/lifeboat.toml`: back up the Supervisor double at `supervisor` (REST) to the real S3
/// server as destination `name` under `prefix`, encrypted to a fresh kit (or, with `keyless`, to
/// no key until one is made on the kit page), history in `dir/data`, then the TOML tables in
/// `extra`. Returns the file's path.
pub fn supervisor_to_s3_config(
    dir: &Path,
    supervisor: &str,
    name: &str,
    prefix: &str,
    extra: &str,
    keyless: bool,
) -> std::path::PathBuf {
    let cfg = dir.join("lifeboat.toml");
    let recipients = if keyless {
        String::new()
    } else {
        format!("\"{}\"", kit().identity.to_public())
    };
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{data}\"\nlisten = \"127.0.0.1:0\"\n\
             [source]\ntype = \"supervisor\"\nmethod = \"rest\"\nurl = \"{supervisor}\"\n\
             [encryption]\nrecipients = [{recipients}]\n\
             [[destinations]]\ntype = \"s3\"\nname = \"{name}\"\nbucket = \"backups\"\nprefix = \"{prefix}\"\n\
             endpoint = \"{s3}\"\naccess_key_id = \"{S3_KEY_ID}\"\nsecret_access_key = \"{S3_SECRET}\"\n\
             {extra}",
            data = dir.join("data").display(),
            s3 = env_or_die("LIFEBOAT_TEST_S3"),
        ),
    )
    .unwrap();
    cfg
}

/// A synthetic Home Assistant backup of about `mib` MiB (made once per size by
/// `scripts/synthetic_backup.py`, random content so nothing compresses it away).
pub fn synthetic(mib: u32) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-synthetic");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("synthetic-{mib}.tar"));
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap();
    if !out.exists() {
        let partial = dir.join(format!("synthetic-{mib}.tar.partial"));
        let made = std::process::Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/synthetic_backup.py"))
            .arg(mib.to_string())
            .arg(&partial)
            .status()
            .unwrap();
        assert!(made.success(), "scripts/synthetic_backup.py failed");
        std::fs::rename(&partial, &out).unwrap();
    }
    out
}

/// A reporter telling the double `d` about `r`'s runs, through the Supervisor's proxy, watching
/// every destination of `r` (stale after 26 hours, the kit due every 180 days).
pub fn ha_reporter(
    d: &ha_double::Double,
    r: &Runner,
    notify: Option<&str>,
) -> Arc<lifeboat::report::HaReporter> {
    let url: url::Url = d.url.parse().unwrap();
    Arc::new(lifeboat::report::HaReporter::new(
        lifeboat::ha::core_api::HaApi::via_supervisor(
            reqwest::Client::new(),
            &url,
            Secret::new(d.token()),
        ),
        r.history.clone(),
        lifeboat::report::Watch {
            sources: Vec::new(),
            destinations: r.destinations.iter().map(|d| d.name.clone()).collect(),
            stale_after: std::time::Duration::from_secs(26 * 3600),
            kit_every: Some(std::time::Duration::from_secs(180 * 86_400)),
            cautions: Vec::new(),
            clock: Arc::new(SystemClock),
        },
        notify.map(str::to_owned),
    ))
}

/// A runner shipping the newest tar in the folder `src`.
pub fn folder_runner(
    src: &Path,
    specs: &[DestinationSpec],
    enc: &EncryptionSpec,
    data: &Path,
) -> Runner {
    runner(
        Arc::new(lifeboat::source::folder::FolderSource::new(src.into())),
        specs,
        enc,
        data,
    )
}

/// Plants beside `real` (a copy in the folder `dir`) a copy of the same data under the id `id`,
/// made in 2099 (newer than any real one), signed with `key` or unsigned; its manifest.
pub fn plant_beside(
    dir: &Path,
    real: &lifeboat::destinations::Manifest,
    id: &str,
    key: Option<&lifeboat::signing::SigningKey>,
) -> lifeboat::destinations::Manifest {
    use lifeboat::destinations::layout;
    let mut m = real.clone();
    m.copy_id = id.to_owned();
    m.object = layout::data_object(id);
    m.created = "2099-01-01T00:00:00Z".parse().unwrap();
    m.signature = None;
    let m = match key {
        Some(k) => m.signed(k),
        None => m,
    };
    std::fs::copy(dir.join(&real.object), dir.join(&m.object)).unwrap();
    std::fs::write(dir.join(layout::manifest_object(id)), m.to_json()).unwrap();
    m
}
