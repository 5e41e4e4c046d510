//! The destination conformance suite: the one contract of `destinations::Store` (see its module
//! docs), checked on every kind against a real server, and then one real run through the pipeline
//! to it. A kind that passes here gives a user the same experience as S3.

use crate::support::*;
use bytes::Bytes;
use lifeboat::config::{DestinationKind, DestinationSpec};
use lifeboat::destinations::{Destination, StoreErrorKind};
use lifeboat::history::RunStatus;
use lifeboat::secret::Secret;
use lifeboat::source::folder::FolderSource;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// Bytes that do not compress or repeat, so a short or shuffled read-back cannot pass.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn read_all(d: &Destination, path: &str) -> Vec<u8> {
    let mut r = d.store.reader(path).await.unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.unwrap();
    out
}

/// Checks every promise of the store contract on `spec`, whose prefix must be fresh.
pub async fn store_contract(spec: &DestinationSpec) {
    let d = lifeboat::destinations::open(spec).unwrap();
    let who = format!("{} ({})", d.name, d.kind);
    assert!(
        objects(&d).await.is_empty(),
        "{who}: a fresh prefix lists empty"
    );

    // A streamed object in uneven chunks, bigger than one multipart part.
    let body = noise(9 * 1024 * 1024 + 12_345, 7);
    let mut w = d
        .store
        .writer("a.tar.age", Some(body.len() as u64))
        .await
        .unwrap();
    for piece in body.chunks(1_000_003) {
        w.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    assert!(
        !objects(&d).await.contains(&"a.tar.age".to_owned()),
        "{who}: an unfinished upload is not listed"
    );
    w.finish().await.unwrap();
    assert_eq!(objects(&d).await, ["a.tar.age"], "{who}");
    assert!(
        read_all(&d, "a.tar.age").await == body,
        "{who}: the object reads back byte for byte"
    );

    // Aborted and dropped uploads leave nothing that looks like an object.
    let mut w = d.store.writer("b.tar.age", None).await.unwrap();
    w.write(Bytes::from(noise(3 << 20, 9))).await.unwrap();
    w.abort().await.unwrap();
    let mut w = d.store.writer("c.tar.age", None).await.unwrap();
    w.write(Bytes::from(noise(1 << 20, 11))).await.unwrap();
    drop(w);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        objects(&d).await,
        ["a.tar.age"],
        "{who}: aborted or dropped uploads are invisible"
    );

    // Small objects, and the limit on reading them.
    d.store
        .write_small("a.manifest.json", b"{\"format\":1}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        d.store.read_small("a.manifest.json", 1024).await.unwrap(),
        b"{\"format\":1}"
    );
    let too_big = d.store.read_small("a.tar.age", 1024).await.unwrap_err();
    assert!(too_big.message.contains("more than"), "{who}: {too_big}");
    // Overwriting replaces.
    d.store
        .write_small("a.manifest.json", b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        d.store.read_small("a.manifest.json", 1024).await.unwrap(),
        b"{}"
    );
    assert_eq!(objects(&d).await, ["a.manifest.json", "a.tar.age"], "{who}");

    // Missing objects.
    let missing = match d.store.reader("nothing.tar.age").await {
        Err(e) => e,
        Ok(_) => panic!("{who}: a missing object opened"),
    };
    assert_eq!(missing.kind, StoreErrorKind::NotFound, "{who}: {missing}");
    assert!(!missing.is_retryable(), "{who}");
    let missing = d.store.read_small("nothing.json", 10).await.unwrap_err();
    assert_eq!(missing.kind, StoreErrorKind::NotFound, "{who}: {missing}");

    // Deleting: present, then missing again (not an error).
    d.store.delete("a.tar.age").await.unwrap();
    d.store.delete("a.tar.age").await.unwrap();
    d.store.delete("a.manifest.json").await.unwrap();
    assert!(
        objects(&d).await.is_empty(),
        "{who}: {:?}",
        objects(&d).await
    );
}

/// Refused credentials are a permanent `Denied` that never quotes the secret.
pub async fn refuses_wrong_credentials(spec: &DestinationSpec, secret: &str) {
    let d = lifeboat::destinations::open(spec).unwrap();
    let e = match d.store.writer("x.tar.age", None).await {
        Err(e) => e,
        Ok(mut w) => match w.write(Bytes::from_static(b"x")).await {
            Err(e) => e,
            Ok(()) => w.finish().await.unwrap_err(),
        },
    };
    assert_eq!(e.kind, StoreErrorKind::Denied, "{}: {e}", d.name);
    assert!(!e.is_retryable(), "{}: {e}", d.name);
    assert!(!e.message.contains(secret), "{}: {e}", d.name);
    let listed = d.store.list().await.unwrap_err();
    assert_eq!(listed.kind, StoreErrorKind::Denied, "{}: {listed}", d.name);
}

/// One real run of a Supervisor-made fixture to the destination, read back and decrypted.
pub async fn run_round_trip(spec: DestinationSpec) {
    let bytes = fixture("supervisor-style/full-v3.tar");
    let src = folder_with(&[("b.tar", &bytes)]);
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        std::slice::from_ref(&spec),
        &k.spec,
        data.path(),
    );
    let rep = r.run("test", false).await.unwrap().remove(0);
    assert_eq!(
        rep.status,
        RunStatus::Success,
        "{}: {:?} {:?}",
        spec.name,
        rep.error,
        rep.copies
    );
    let d = &r.destinations[0];
    let object = &rep.copies[0].object;
    assert!(
        decrypt(d, object, &k.identity).await == bytes,
        "{}",
        spec.name
    );
    let listed = lifeboat::destinations::manifest::list(d).await.unwrap();
    assert_eq!(listed.len(), 1, "{}", spec.name);
}

async fn conforms(spec: DestinationSpec) {
    store_contract(&spec).await;
    run_round_trip(spec).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_conforms() {
    conforms(s3_spec("s3", &unique("conform"))).await;
    let p = unique("conform");
    let s3 = env_or_die("LIFEBOAT_TEST_S3");
    refuses_wrong_credentials(
        &s3_spec_with("s3", &p, &s3, "wrong-secret-123"),
        "wrong-secret-123",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_conforms() {
    conforms(azure_key_spec("azure", &unique("conform"))).await;
    conforms(azure_sas_spec("azure-sas", &unique("conform"))).await;
    let mut wrong = azure_key_spec("azure", &unique("conform"));
    let other_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    if let lifeboat::config::DestinationKind::Azure(AzureSpec { credential, .. }) = &mut wrong.kind
    {
        *credential = AzureCredential::AccountKey(lifeboat::secret::Secret::new(other_key));
    }
    refuses_wrong_credentials(&wrong, other_key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_folder_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conforms(local_spec("usb", &dir.path().join("backups"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_conforms() {
    conforms(webdav_spec("nas", "LIFEBOAT_TEST_WEBDAV", None)).await;
    let mut wrong = webdav_spec("nas", "LIFEBOAT_TEST_WEBDAV", None);
    if let DestinationKind::Webdav(WebdavSpec { password, .. }) = &mut wrong.kind {
        *password = Secret::new("not-the-dav-password");
    }
    refuses_wrong_credentials(&wrong, "not-the-dav-password").await;
}

/// A proxy that caps request size (nginx, 4 MiB, as Nextcloud setups often have): a plain upload
/// fails saying what to set, and with `segment_mb` everything works as anywhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_behind_a_size_cap_uploads_in_segments() {
    let capped = webdav_spec("nextcloud", "LIFEBOAT_TEST_WEBDAV_CAPPED", None);
    let d = lifeboat::destinations::open(&capped).unwrap();
    let mut w = d.store.writer("big.tar.age", None).await.unwrap();
    let mut failure = None;
    for piece in noise(8 << 20, 3).chunks(1 << 20) {
        if let Err(e) = w.write(Bytes::copy_from_slice(piece)).await {
            failure = Some(e);
            break;
        }
    }
    let e = match failure {
        Some(e) => e,
        None => w.finish().await.unwrap_err(),
    };
    assert!(e.message.contains("segment_mb"), "{e}");
    assert!(!e.is_retryable(), "{e}");
    assert!(objects(&d).await.is_empty(), "{:?}", objects(&d).await);

    conforms(webdav_spec(
        "nextcloud",
        "LIFEBOAT_TEST_WEBDAV_CAPPED",
        Some(1),
    ))
    .await;
}

/// A home server's self-signed certificate is refused, unless its SHA-256 is pinned; a different
/// certificate under the same name is refused even then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_over_https_trusts_only_a_pinned_certificate() {
    let pin = env_or_die("LIFEBOAT_TEST_WEBDAVS_SHA256");
    let with_pin = |pin: Option<&str>| {
        let mut spec = webdav_spec("nas-tls", "LIFEBOAT_TEST_WEBDAVS", None);
        if let DestinationKind::Webdav(WebdavSpec {
            certificate_sha256, ..
        }) = &mut spec.kind
        {
            *certificate_sha256 = pin.map(|p| lifeboat::config::fingerprint(p).unwrap());
        }
        spec
    };
    let unpinned = lifeboat::destinations::open(&with_pin(None)).unwrap();
    let e = unpinned.store.list().await.unwrap_err();
    assert!(e.message.contains("certificate"), "{e}");
    let other = "00".repeat(32);
    let wrong = lifeboat::destinations::open(&with_pin(Some(&other))).unwrap();
    let e = wrong.store.list().await.unwrap_err();
    assert!(e.message.contains("not the pinned one"), "{e}");
    conforms(with_pin(Some(&pin))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_conforms_with_a_password_and_with_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("sftp_known_hosts");
    conforms(sftp_spec("nas", sftp_password(), Some(&known))).await;
    let key = SftpAuth::Key {
        path: env_or_die("LIFEBOAT_TEST_SFTP_KEY").into(),
        passphrase: None,
    };
    conforms(sftp_spec("pi", key, Some(&known))).await;
    refuses_wrong_credentials(
        &sftp_spec(
            "nas",
            SftpAuth::Password(Secret::new("not-the-sftp-password")),
            Some(&known),
        ),
        "not-the-sftp-password",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smb_conforms() {
    let password = env_or_die("LIFEBOAT_TEST_SMB_PASSWORD");
    conforms(smb_spec("nas", &password)).await;
    refuses_wrong_credentials(
        &smb_spec("nas", "not-the-smb-password"),
        "not-the-smb-password",
    )
    .await;
}

/// A share name that does not exist is a settings problem that says so, not a passing failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smb_names_a_missing_share() {
    let mut spec = smb_spec("nas", &env_or_die("LIFEBOAT_TEST_SMB_PASSWORD"));
    if let DestinationKind::Smb(smb) = &mut spec.kind {
        smb.share = "no-such-share".into();
    }
    let d = lifeboat::destinations::open(&spec).unwrap();
    let e = d.store.list().await.unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Config, "{e}");
    assert!(!e.is_retryable(), "{e}");
    assert!(
        e.message.contains("no share named \"no-such-share\""),
        "{e}"
    );
}

/// Trust on first use, then enforced; a pinned key is enforced from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_host_keys_are_trusted_once_then_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("sftp_known_hosts");
    let real = lifeboat::destinations::kinds::sftp::host_key::host_key_fingerprint(&env_or_die(
        "LIFEBOAT_TEST_SFTP_HOST_KEY",
    ))
    .unwrap();

    // First use: accepted and written down.
    let spec = sftp_spec("nas", sftp_password(), Some(&known));
    let d = lifeboat::destinations::open(&spec).unwrap();
    assert!(d.store.list().await.unwrap().is_empty());
    let remembered = std::fs::read_to_string(&known).unwrap();
    assert!(remembered.contains(&real), "{remembered}");
    // The panel's destinations page shows which key was trusted, and how to pin it.
    let said = d.store.trust().unwrap();
    assert!(
        said.contains(&real) && said.contains("trusted on first use"),
        "{said}"
    );

    // The server "changes" its key: what was remembered no longer matches, and nothing is sent.
    let endpoint = env_or_die("LIFEBOAT_TEST_SFTP");
    let fake = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    std::fs::write(&known, format!("{endpoint} {fake}\n")).unwrap();
    let d = lifeboat::destinations::open(&spec).unwrap();
    let e = d.store.writer("x.tar.age", None).await.err().unwrap();
    assert_eq!(e.kind, StoreErrorKind::Config, "{e}");
    assert!(e.message.contains("changed from"), "{e}");
    assert!(e.message.contains(&real), "{e}");

    // Pinned: the right key works with no known-hosts file at all; a wrong one is refused.
    let mut pinned = sftp_spec("nas", sftp_password(), None);
    if let DestinationKind::Sftp(sftp) = &mut pinned.kind {
        sftp.host_key = Some(real.clone());
    }
    let d = lifeboat::destinations::open(&pinned).unwrap();
    assert!(d.store.list().await.unwrap().is_empty());
    assert_eq!(
        d.store.trust().unwrap(),
        format!("Host key {real} (pinned)")
    );
    if let DestinationKind::Sftp(sftp) = &mut pinned.kind {
        sftp.host_key = Some(fake.into());
    }
    let d = lifeboat::destinations::open(&pinned).unwrap();
    let e = d.store.list().await.unwrap_err();
    assert!(e.message.contains("not the pinned"), "{e}");
}

/// rclone as people use it: the real `rclone` program on remotes of four kinds, each on a real
/// server (a folder, s3s-fs, wsgidav, sshd), keeps the same contract as the native stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_conforms_on_local_s3_webdav_and_sftp_remotes() {
    let dir = tempfile::tempdir().unwrap();
    let conf = rclone_conf(dir.path());
    let folder = dir.path().join("local remote");
    for (name, remote) in [
        (
            "rclone-local",
            format!("loc:{}/ha backups", folder.display()),
        ),
        ("rclone-s3", format!("s3:{}", unique("rclone"))),
        ("rclone-dav", format!("dav:{}/HA backups", unique("rclone"))),
        (
            "rclone-sftp",
            format!("sftp:{}/ha backups", unique("rclone")),
        ),
    ] {
        conforms(rclone_spec(name, &remote, &conf)).await;
    }
    for (remote, secret) in [
        ("s3bad:backups/x", "wrong-secret-123"),
        ("davbad:x", "not-the-dav-password"),
        ("sftpbad:x", "not-the-sftp-password"),
    ] {
        refuses_wrong_credentials(&rclone_spec("rclone-bad", remote, &conf), secret).await;
    }
}
