//! The destination test (`destinations::probe`) on every kind against the real test servers: a
//! passing probe, and each cause a kind can meet (a name that does not resolve, a closed port, a
//! certificate, refused credentials, no right to write, a missing bucket or share, a full quota),
//! named, with words that say what to fix.

use crate::support::*;
use lifeboat::config::{DestinationKind, DestinationSpec};
use lifeboat::destinations::probe::{Cause, Failure, probe};
use lifeboat::destinations::{Patience, open_with};
use lifeboat::secret::Secret;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// A probe of `spec` that gives the server a few seconds of silence, not minutes.
pub async fn probed(spec: &DestinationSpec) -> Result<(), Failure> {
    let patience = Patience {
        silence: Duration::from_secs(5),
    };
    let d = open_with(spec, patience).unwrap();
    let n = std::process::id().to_le_bytes();
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .to_le_bytes();
    probe(d.store.as_ref(), [n[0], n[1], t[0], t[1], t[2], t[3]]).await
}

/// Probes `spec`, which must fail with `cause`, in words that contain `fix`.
async fn fails_with(spec: &DestinationSpec, cause: Cause, fix: &str) {
    let started = std::time::Instant::now();
    let f = probed(spec)
        .await
        .expect_err(&format!("{}: the probe passed", spec.name));
    assert_eq!(f.cause, cause, "{}: {f}", spec.name);
    let words = f.to_string();
    assert!(words.contains(fix), "{}: {words}", spec.name);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{}: took {:?}",
        spec.name,
        started.elapsed()
    );
}

async fn passes(spec: &DestinationSpec) {
    if let Err(f) = probed(spec).await {
        panic!("{}: {f}", spec.name);
    }
}

const NAME: &str = "name was not found";
const REFUSED: &str = "check the port";
const CERT: &str = "pin the certificate or key";
const CREDS: &str = "check the user name, password or keys";
const NO_WRITE: &str = "give this account permission to write";
const MISSING: &str = "create it, or check its name";
const FULL: &str = "free some space";

/// A closed loopback port: nothing listens on the discard port.
const CLOSED: &str = "127.0.0.1:9";

fn s3_at(endpoint: &str, secret: &str, bucket: &str) -> DestinationSpec {
    let mut spec = s3_spec_with("s3", &unique("probe"), endpoint, secret);
    if let DestinationKind::S3(s3) = &mut spec.kind {
        s3.bucket = bucket.into();
    }
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_passes_and_names_each_cause() {
    let url = env_or_die("LIFEBOAT_TEST_S3");
    passes(&s3_at(&url, S3_SECRET, "backups")).await;
    fails_with(
        &s3_at("http://lifeboat-test.invalid:9001", S3_SECRET, "backups"),
        Cause::NameNotFound,
        NAME,
    )
    .await;
    fails_with(
        &s3_at(&format!("http://{CLOSED}"), S3_SECRET, "backups"),
        Cause::Refused,
        REFUSED,
    )
    .await;
    fails_with(
        &s3_at(&url, "not-the-secret", "backups"),
        Cause::Credentials,
        CREDS,
    )
    .await;
    fails_with(
        &s3_at(&url, S3_SECRET, "no-such-bucket-here"),
        Cause::Missing,
        MISSING,
    )
    .await;
}

fn azure_with(endpoint: &str, container: &str, credential: AzureCredential) -> DestinationSpec {
    let mut spec = azure_key_spec("azure", &unique("probe"));
    if let DestinationKind::Azure(a) = &mut spec.kind {
        a.endpoint = endpoint.into();
        a.container = container.into();
        a.credential = credential;
    }
    spec
}

fn key() -> AzureCredential {
    AzureCredential::AccountKey(Secret::new(AZURITE_KEY))
}

/// HMAC-SHA256 (RFC 2104), for signing a SAS token the way Azure does.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |b: u8| block.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// A service SAS for the container `sas-backups` with only the permissions `sp` (`rl`: read and
/// list, no write), signed with Azurite's well-known key.
fn container_sas(sp: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let expiry = (chrono::Utc::now() + chrono::TimeDelta::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (sv, sr) = ("2020-12-06", "c");
    let canonical = format!("/blob/{AZURITE_ACCOUNT}/sas-backups");
    let to_sign = format!("{sp}\n\n{expiry}\n{canonical}\n\n\n\n{sv}\n{sr}\n\n\n\n\n\n\n");
    let sig = b64.encode(hmac_sha256(
        &b64.decode(AZURITE_KEY).unwrap(),
        to_sign.as_bytes(),
    ));
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "sv={sv}&se={}&sr={sr}&sp={sp}&sig={}",
        enc(&expiry),
        enc(&sig)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_passes_and_names_each_cause() {
    let url = env_or_die("LIFEBOAT_TEST_AZURITE");
    passes(&azure_with(&url, "backups", key())).await;
    passes(&azure_with(
        &url,
        "sas-backups",
        AzureCredential::Sas(Secret::new(container_sas("racwdl"))),
    ))
    .await;
    fails_with(
        &azure_with(
            "http://lifeboat-test.invalid:10000/devstoreaccount1",
            "backups",
            key(),
        ),
        Cause::NameNotFound,
        NAME,
    )
    .await;
    fails_with(
        &azure_with(
            &format!("http://{CLOSED}/devstoreaccount1"),
            "backups",
            key(),
        ),
        Cause::Refused,
        REFUSED,
    )
    .await;
    let wrong = AzureCredential::AccountKey(Secret::new(
        "d3JvbmctYnV0LXdlbGwtZm9ybWVkLWtleS13cm9uZy1idXQtd2VsbC1mb3JtZWQta2V5LXdyb25nLWtleQ==",
    ));
    fails_with(
        &azure_with(&url, "backups", wrong),
        Cause::Credentials,
        CREDS,
    )
    .await;
    fails_with(
        &azure_with(
            &url,
            "sas-backups",
            AzureCredential::Sas(Secret::new(container_sas("rl"))),
        ),
        Cause::NoWrite,
        NO_WRITE,
    )
    .await;
    fails_with(
        &azure_with(&url, "no-such-container", key()),
        Cause::Missing,
        MISSING,
    )
    .await;
}

fn webdav_at(url: &str, password: &str, pin: Option<[u8; 32]>) -> DestinationSpec {
    let mut spec = webdav_spec("dav", "LIFEBOAT_TEST_WEBDAV", None);
    if let DestinationKind::Webdav(w) = &mut spec.kind {
        w.url = url::Url::parse(&format!("{url}/{}", unique("probe"))).unwrap();
        w.password = Secret::new(password);
        w.certificate_sha256 = pin;
    }
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_passes_and_names_each_cause() {
    let url = env_or_die("LIFEBOAT_TEST_WEBDAV");
    let tls = env_or_die("LIFEBOAT_TEST_WEBDAVS");
    let real_pin: [u8; 32] = hex::decode(env_or_die("LIFEBOAT_TEST_WEBDAVS_SHA256"))
        .unwrap()
        .try_into()
        .unwrap();
    passes(&webdav_at(&url, DAV_PASSWORD, None)).await;
    passes(&webdav_at(&tls, DAV_PASSWORD, Some(real_pin))).await;
    // The capped server refuses bodies over 4 MiB (413): a probe's few bytes fit, so it passes.
    // A 413 says one request was too large, not that the server is out of room: big copies
    // there are sent in segments, and the probe says nothing about them.
    passes(&webdav_at(
        &env_or_die("LIFEBOAT_TEST_WEBDAV_CAPPED"),
        DAV_PASSWORD,
        None,
    ))
    .await;
    fails_with(
        &webdav_at("http://lifeboat-test.invalid:9010/dav", DAV_PASSWORD, None),
        Cause::NameNotFound,
        NAME,
    )
    .await;
    fails_with(
        &webdav_at(&format!("http://{CLOSED}/dav"), DAV_PASSWORD, None),
        Cause::Refused,
        REFUSED,
    )
    .await;
    fails_with(
        &webdav_at(&tls, DAV_PASSWORD, None),
        Cause::Certificate,
        CERT,
    )
    .await;
    fails_with(
        &webdav_at(&tls, DAV_PASSWORD, Some([7u8; 32])),
        Cause::Certificate,
        CERT,
    )
    .await;
    fails_with(
        &webdav_at(&url, "not-the-dav-password", None),
        Cause::Credentials,
        CREDS,
    )
    .await;
}

/// A folder owned by root that others may read and not write (the SFTP and SMB servers reach
/// their folders as their own users).
fn read_only_folder(parent: &Path) -> String {
    let name = unique("read-only");
    let dir = parent.join(&name);
    std::fs::create_dir(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    name
}

fn sftp_with(host: &str, port: u16, auth: SftpAuth, path: Option<String>) -> DestinationSpec {
    let mut spec = sftp_spec("sftp", auth, None);
    if let DestinationKind::Sftp(s) = &mut spec.kind {
        s.host = host.into();
        s.port = port;
        s.host_key = Some(
            lifeboat::destinations::kinds::sftp::host_key::host_key_fingerprint(&env_or_die(
                "LIFEBOAT_TEST_SFTP_HOST_KEY",
            ))
            .unwrap(),
        );
        if let Some(p) = path {
            s.path = p;
        }
    }
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_passes_and_names_each_cause() {
    let at = env_or_die("LIFEBOAT_TEST_SFTP");
    let (host, port) = at.split_once(':').unwrap();
    let port: u16 = port.parse().unwrap();
    passes(&sftp_with(host, port, sftp_password(), None)).await;
    fails_with(
        &sftp_with("lifeboat-test.invalid", port, sftp_password(), None),
        Cause::NameNotFound,
        NAME,
    )
    .await;
    fails_with(
        &sftp_with("127.0.0.1", 9, sftp_password(), None),
        Cause::Refused,
        REFUSED,
    )
    .await;
    fails_with(
        &sftp_with(
            host,
            port,
            SftpAuth::Password(Secret::new("not-the-sftp-password")),
            None,
        ),
        Cause::Credentials,
        CREDS,
    )
    .await;
    let mut other_key = sftp_with(host, port, sftp_password(), None);
    if let DestinationKind::Sftp(s) = &mut other_key.kind {
        s.host_key = Some("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    }
    fails_with(&other_key, Cause::Certificate, CERT).await;
    let home = Path::new("/tmp/lifeboat-sftp/home");
    let locked = read_only_folder(home);
    fails_with(
        &sftp_with(
            host,
            port,
            sftp_password(),
            Some(format!("{locked}/ha backups")),
        ),
        Cause::NoWrite,
        NO_WRITE,
    )
    .await;
    std::fs::remove_dir_all(home.join(locked)).unwrap();
}

fn smb_with(
    host: &str,
    port: u16,
    share: &str,
    password: &str,
    path: Option<String>,
) -> DestinationSpec {
    let mut spec = smb_spec("smb", password);
    if let DestinationKind::Smb(s) = &mut spec.kind {
        s.host = host.into();
        s.port = port;
        s.share = share.into();
        if let Some(p) = path {
            s.path = p;
        }
    }
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smb_passes_and_names_each_cause() {
    let at = env_or_die("LIFEBOAT_TEST_SMB");
    let (host, port) = at.split_once(':').unwrap();
    let port: u16 = port.parse().unwrap();
    let share = env_or_die("LIFEBOAT_TEST_SMB_SHARE");
    let pass = env_or_die("LIFEBOAT_TEST_SMB_PASSWORD");
    passes(&smb_with(host, port, &share, &pass, None)).await;
    fails_with(
        &smb_with("lifeboat-test.invalid", port, &share, &pass, None),
        Cause::NameNotFound,
        NAME,
    )
    .await;
    fails_with(
        &smb_with("127.0.0.1", 9, &share, &pass, None),
        Cause::Refused,
        REFUSED,
    )
    .await;
    fails_with(
        &smb_with(host, port, &share, "not-the-smb-password", None),
        Cause::Credentials,
        CREDS,
    )
    .await;
    fails_with(
        &smb_with(host, port, "no-such-share", &pass, None),
        Cause::Missing,
        MISSING,
    )
    .await;
    let share_dir = Path::new("/tmp/lifeboat-smb/share");
    let locked = read_only_folder(share_dir);
    fails_with(
        &smb_with(
            host,
            port,
            &share,
            &pass,
            Some(format!("{locked}/ha backups")),
        ),
        Cause::NoWrite,
        NO_WRITE,
    )
    .await;
    std::fs::remove_dir_all(share_dir.join(locked)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_passes_and_says_when_it_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    passes(&local_spec("usb", &dir.path().join("backups"))).await;
    // Root writes through permissions, so the folder is made immutable instead.
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(&locked)
            .status()
            .unwrap()
            .success()
    };
    assert!(chattr("+i"), "chattr +i on {}", locked.display());
    let result = probed(&local_spec("usb", &locked)).await;
    assert!(chattr("-i"));
    let f = result.expect_err("an immutable folder took the probe");
    assert_eq!(f.cause, Cause::NoWrite, "{f}");
    assert!(f.to_string().contains(NO_WRITE), "{f}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_passes_and_names_each_cause() {
    let dir = tempfile::tempdir().unwrap();
    let conf = rclone_conf(dir.path());
    let loc = dir.path().join("drive");
    passes(&rclone_spec(
        "loc",
        &format!("loc:{}", loc.display()),
        &conf,
    ))
    .await;
    passes(&rclone_spec(
        "dav",
        &format!("dav:{}", unique("probe")),
        &conf,
    ))
    .await;
    fails_with(
        &rclone_spec("davbad", &format!("davbad:{}", unique("probe")), &conf),
        Cause::Credentials,
        CREDS,
    )
    .await;
    let full = full_dav().await;
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!(
        "\n[full]\ntype = webdav\nurl = http://{full}/dav\nvendor = nextcloud\n\
         \n[closed]\ntype = webdav\nurl = http://{CLOSED}/dav\nvendor = other\n\
         \n[nowhere]\ntype = webdav\nurl = http://lifeboat-test.invalid/dav\nvendor = other\n"
    ));
    std::fs::write(&conf, text).unwrap();
    fails_with(&rclone_spec("full", "full:HA", &conf), Cause::Full, FULL).await;
    fails_with(
        &rclone_spec("closed", "closed:HA", &conf),
        Cause::Refused,
        REFUSED,
    )
    .await;
    fails_with(
        &rclone_spec("nowhere", "nowhere:HA", &conf),
        Cause::NameNotFound,
        NAME,
    )
    .await;
}

/// A WebDAV server over quota, as Nextcloud answers: folders list (empty), every upload is 507.
async fn full_dav() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let n = c.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let (status, body) = if head.starts_with("PROPFIND") {
                    (
                        "207 Multi-Status",
                        "<?xml version=\"1.0\"?><d:multistatus xmlns:d=\"DAV:\"><d:response><d:href>/dav/HA/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>",
                    )
                } else if head.starts_with("PUT") {
                    // Read the body to its end first, so the refusal is what rclone hears.
                    let mut got = n;
                    while got < 4096 {
                        match c.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(k) => got += k,
                        }
                    }
                    (
                        "507 Insufficient Storage",
                        "<?xml version=\"1.0\"?><d:error xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\"><s:message>Insufficient space in /HA, 4096 required, 0 available</s:message></d:error>",
                    )
                } else {
                    ("201 Created", "")
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = c.write_all(answer.as_bytes()).await;
            });
        }
    });
    at
}

/// A probe object (another box's test in flight, or one cut off) is never a copy: the copies'
/// listing leaves it out, retention and the orphan sweep leave it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_object_is_never_listed_as_a_copy_nor_swept() {
    use lifeboat::destinations::{layout, manifest, probe::probe_name};
    let src = folder_with(&[("b.tar", &fixture("supervisor-style/full-v3.tar"))]);
    let (data, usb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let k = kit();
    let r = folder_runner(
        src.path(),
        &[local_spec("usb", usb.path())],
        &k.spec,
        data.path(),
    );
    r.run("test", false).await.unwrap();
    let probe = probe_name([9, 8, 7, 6, 5, 4]);
    std::fs::write(usb.path().join(&probe), b"probe").unwrap();
    let partial_dir = usb.path().join(layout::LOCAL_PARTIAL_DIR);
    std::fs::create_dir_all(&partial_dir).unwrap();
    let in_flight = layout::partial_name(&probe);
    std::fs::write(partial_dir.join(&in_flight), b"probe").unwrap();

    let d = &r.destinations[0];
    let listed = manifest::list(d).await.unwrap();
    assert_eq!(listed.len(), 1, "only the copy is listed: {listed:?}");
    let later = chrono::Utc::now() + chrono::TimeDelta::days(3);
    let swept = lifeboat::pipeline::orphans::sweep(d, &r.history, later)
        .await
        .unwrap();
    assert!(swept.is_empty(), "the probe in flight was swept: {swept:?}");
    r.prune(false).await;
    assert!(usb.path().join(&probe).exists());
    assert!(partial_dir.join(&in_flight).exists());
    let copies = r.history.latest_verified_copies().await.unwrap();
    assert_eq!(copies.len(), 1);
}

/// `rclone serve webdav` on `port`, serving `dir` to the user `u` with `password`; stopped when
/// dropped.
fn serve_webdav(port: u16, dir: &Path, password: &str) -> Serving {
    let mut child = std::process::Command::new("rclone")
        .args(["serve", "webdav", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--user", "u", "--pass", password, "--config", "/dev/null"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("rclone is installed");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Serving(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("rclone serve webdav did not listen on {port}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Issue 37's closing scenario: a backup to a WebDAV server succeeds; the server's password is
/// changed; the test asked for on the card, and the daily one once the daemon's clock has moved
/// on, both catch it, and the overview (and Home Assistant's problems) say "credentials" hours
/// before the next scheduled backup would have found it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_password_is_caught_between_runs() {
    use crate::dashboard::{get, post_form, token, wait_for_runs};
    use lifeboat::history::RunStatus;
    use lifeboat::history::probes::ProbeWhy;
    let (port, served) = (free_port(), tempfile::tempdir().unwrap());
    let server = serve_webdav(port, served.path(), "p");
    let mut spec = webdav_spec("dav", "LIFEBOAT_TEST_WEBDAV", None);
    if let DestinationKind::Webdav(w) = &mut spec.kind {
        w.url = url::Url::parse(&format!("http://127.0.0.1:{port}/ha")).unwrap();
        w.username = "u".into();
        w.password = Secret::new("p");
    }
    let src = folder_with(&[("b.tar", &fixture("ha-core/ha-2026.2.3-plain.tar"))]);
    let data = tempfile::tempdir().unwrap();
    let clock = SetClock::at("2026-12-07T09:00:00Z");
    let mut r = folder_runner(src.path(), &[spec], &kit().spec, data.path());
    r.clock = clock.clone();
    let history = r.history.clone();
    let nightly = lifeboat::schedule::Schedule {
        name: lifeboat::schedule::ScheduleName::Backup,
        sources: Vec::new(),
        cron: "30 3 * * *".parse().unwrap(),
        tz: chrono_tz::UTC,
        jitter: Duration::ZERO,
    };
    let mut settings = daemon_settings(&r, vec![nightly], None);
    settings.probes = lifeboat::pipeline::probing::ProbePlan {
        every: Duration::from_secs(6 * 3600),
        first_after: Duration::from_secs(300),
        tick: Duration::from_millis(100),
    };
    let watch = settings.watch.clone();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = lifeboat::daemon::Daemon::new(r, settings)
        .start(&shutdown)
        .await
        .unwrap();
    let state = running.state.clone();
    let t = token(&state);

    // 09:00: the backup reaches the server and is verified.
    post_form(&state, "/backup", &[("csrf", &t)]).await;
    wait_for_runs(&history, 1).await;
    let runs = history.recent_runs(1).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Success, "{:?}", runs[0]);

    // The server's password is changed.
    drop(server);
    let _server = serve_webdav(port, served.path(), "changed");

    // Asked for on the card: only with the form's token, only for a destination there is.
    let forged = post_form(&state, "/destinations/dav/probe", &[]).await;
    assert_eq!(forged.status, axum::http::StatusCode::FORBIDDEN);
    let nowhere = post_form(&state, "/destinations/nowhere/probe", &[("csrf", &t)]).await;
    assert_eq!(nowhere.status, axum::http::StatusCode::NOT_FOUND);
    assert!(
        history
            .last_probes(&["dav".into()])
            .await
            .unwrap()
            .is_empty()
    );
    // The test fails, and says why.
    let asked = post_form(&state, "/destinations/dav/probe", &[("csrf", &t)]).await;
    assert!(
        asked
            .location
            .as_deref()
            .is_some_and(|l| l.ends_with("/destinations?notice=probe-failed")),
        "{:?}",
        asked.location
    );
    let card = get(&state, "/destinations?notice=probe-failed").await;
    assert!(
        card.body.contains("failed its test")
            && card
                .body
                .contains("Failed just now: the server refused the credentials"),
        "{}",
        card.body
    );
    let last = history.last_probes(&["dav".into()]).await.unwrap();
    assert_eq!(
        (last[0].why, last[0].cause.as_deref(), last[0].ok),
        (ProbeWhy::Asked, Some("credentials"), false)
    );

    // 15:01, six hours on: the daily test runs by itself, with nothing asked.
    clock.set("2026-12-07T15:01:00Z".parse().unwrap());
    let mut daily = None;
    for _ in 0..200 {
        let l = history.last_probes(&["dav".into()]).await.unwrap();
        if l[0].why == ProbeWhy::Daily {
            daily = Some(l[0].clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let daily = daily.expect("the daily test ran");
    assert_eq!(daily.cause.as_deref(), Some("credentials"), "{daily:?}");

    // The overview, and Home Assistant's problems, say so, hours before the 03:30 backup.
    let summary = lifeboat::report::Summary::load(&history, false, &watch)
        .await
        .unwrap();
    let problem = summary
        .problems
        .iter()
        .find(|p| p.kind == lifeboat::report::ProblemKind::ProbeFailed)
        .expect("a problem for the failed test");
    println!("overview problem: {problem}");
    assert_eq!(
        problem.to_string(),
        "dav failed its destination test just now: the server refused the credentials: check \
         the user name, password or keys"
    );
    let overview = get(&state, "/").await;
    // The overview starts the line with a capital.
    assert!(
        overview
            .body
            .contains("Dav failed its destination test just now")
            && overview
                .body
                .contains("check the user name, password or keys"),
        "{}",
        overview.body
    );
    let next = overview
        .body
        .split("Next backup</dt><dd>")
        .nth(1)
        .and_then(|s| s.split("</dd>").next())
        .unwrap_or_default()
        .to_owned();
    println!("next backup: {next}");
    assert!(next.contains("in 12 hours"), "{next}");
    shutdown.cancel();
    running.join().await;
}
