//! Faults on the way to real storage servers, put there by a proxy on loopback
//! ([`crate::support::fault_proxy`]): connections reset, stalled, answered 503, or slowed while a
//! backup is being uploaded. For each: the run says what happened, no copy is claimed that is not
//! complete and verified, nothing stored before is lost, and the next run recovers.

use crate::support::fault_proxy::{Fault, FaultProxy};
use crate::support::*;
use lifeboat::clock::Clock;
use lifeboat::destinations::manifest::{self, Listed};
use lifeboat::history::RunStatus;
use lifeboat::report::ProblemKind;
use lifeboat::source::folder::FolderSource;
use std::sync::Arc;

/// A runner from the folder `src` to `specs`, on a clock the test moves.
fn clocked(
    src: &std::path::Path,
    specs: &[lifeboat::config::DestinationSpec],
    k: &Kit,
    data: &std::path::Path,
) -> (lifeboat::pipeline::run::Runner, Arc<SetClock>) {
    let clock = SetClock::at("2026-11-24T03:00:00Z");
    let mut r = runner(
        Arc::new(FolderSource::new(src.into())),
        specs,
        &k.spec,
        data,
    );
    r.clock = clock.clone();
    (r, clock)
}

/// A folder source holding one synthetic backup of `mib` MiB, and its bytes.
fn source_of(mib: u32) -> (tempfile::TempDir, Vec<u8>) {
    let bytes = std::fs::read(synthetic(mib)).unwrap();
    (folder_with(&[("backup.tar", &bytes)]), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_and_503_bursts_mid_upload_are_retried_by_s3_and_azure() {
    let (s3_proxy, az_proxy, _) = through_faults_to_the_clouds("faults", |s3, azure| {
        s3.after(8 << 20, Fault::Reset);
        azure.after(8 << 20, Fault::Unavailable(3));
    })
    .await;
    assert!(
        s3_proxy.hits() > 0 && az_proxy.hits() > 0,
        "the faults happened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_back_broken_off_resumes_where_it_stopped_and_verifies() {
    // Uploads bring down only answers; 8 MiB down is the middle of reading a copy back.
    let (s3_proxy, az_proxy, down) = through_faults_to_the_clouds("faults-down", |s3, azure| {
        s3.reset_after_down(8 << 20);
        azure.reset_after_down(8 << 20);
    })
    .await;
    for (proxy, down) in [(&s3_proxy, down[0]), (&az_proxy, down[1])] {
        assert!(proxy.hits() > 0, "the read-back was broken off");
        // Read on from where it broke: the copy (24 MiB) came down once, with what was in
        // flight when the connection broke; read again from its start it would be 8 MiB more
        // than that.
        assert!(down < 32 << 20, "{down}");
    }
}

/// A 24 MiB backup to S3 and Azure, each behind a fault proxy that `arm` sets up: the run must
/// end with a verified copy on both that decrypts to the backup. Returns the proxies (S3's,
/// Azure's) and the bytes that came down through each during the run.
async fn through_faults_to_the_clouds(
    prefix: &str,
    arm: impl FnOnce(&FaultProxy, &FaultProxy),
) -> (FaultProxy, FaultProxy, [u64; 2]) {
    let (src, bytes) = source_of(24);
    let p = unique(prefix);
    let (s3_proxy, s3) = behind_proxy(s3_spec("s3", &p)).await;
    let (az_proxy, azure) = behind_proxy(azure_key_spec("azure", &p)).await;
    let specs = [s3, azure];
    let k = kit();
    let data = tempfile::tempdir().unwrap();
    let (r, _) = clocked(src.path(), &specs, &k, data.path());
    arm(&s3_proxy, &az_proxy);
    let rep = r.run("test", false).await.unwrap().remove(0);
    assert_eq!(
        rep.status,
        RunStatus::Success,
        "{:?} {:?}",
        rep.error,
        rep.copies
    );
    let down = [s3_proxy.bytes_down(), az_proxy.bytes_down()];
    for d in &r.destinations {
        assert_received(d, &k, &bytes).await;
    }
    (s3_proxy, az_proxy, down)
}

/// Puts a proxy in front of a destination's server; returns it with the settings moved to it.
async fn behind_proxy(
    mut spec: lifeboat::config::DestinationSpec,
) -> (FaultProxy, lifeboat::config::DestinationSpec) {
    use lifeboat::config::DestinationKind;
    let proxy = match &mut spec.kind {
        DestinationKind::Webdav(WebdavSpec { url, .. }) => {
            let (proxy, moved) = FaultProxy::in_front_of(url.as_str()).await;
            *url = url::Url::parse(&moved).unwrap();
            proxy
        }
        DestinationKind::Sftp(s) => {
            let proxy = FaultProxy::start(format!("{}:{}", s.host, s.port).parse().unwrap()).await;
            s.port = proxy.addr.port();
            proxy
        }
        DestinationKind::Smb(s) => {
            let proxy = FaultProxy::start(format!("{}:{}", s.host, s.port).parse().unwrap()).await;
            s.port = proxy.addr.port();
            proxy
        }
        DestinationKind::S3(S3Spec { endpoint, .. }) => {
            let (proxy, moved) = FaultProxy::in_front_of(endpoint.as_deref().unwrap()).await;
            *endpoint = Some(moved);
            proxy
        }
        DestinationKind::Azure(AzureSpec { endpoint, .. }) => {
            let (proxy, moved) = FaultProxy::in_front_of(endpoint).await;
            *endpoint = moved;
            proxy
        }
        DestinationKind::Local(LocalSpec { .. }) => panic!("a folder has no connection to break"),
        DestinationKind::Rclone(_) => panic!("an rclone remote's server is in its rclone.conf"),
    };
    (proxy, spec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mid_upload_fails_only_that_destination_and_the_retry_sends_it() {
    let (src, bytes) = source_of(24);
    let nas = tempfile::tempdir().unwrap();
    let (dav_proxy, dav) = behind_proxy(webdav_spec("dav", "LIFEBOAT_TEST_WEBDAV", None)).await;
    let (sftp_proxy, sftp) = behind_proxy(sftp_spec("sftp", sftp_password(), None)).await;
    let (smb_proxy, smb) =
        behind_proxy(smb_spec("smb", &env_or_die("LIFEBOAT_TEST_SMB_PASSWORD"))).await;
    let specs = [local_spec("nas", nas.path()), dav, sftp, smb];
    let k = kit();
    let data = tempfile::tempdir().unwrap();
    let (r, clock) = clocked(src.path(), &specs, &k, data.path());
    for p in [&dav_proxy, &sftp_proxy, &smb_proxy] {
        p.after(8 << 20, Fault::Reset);
    }
    let rep = r.run("test", false).await.unwrap().remove(0);
    assert_eq!(rep.status, RunStatus::Partial, "{:?}", rep.copies);
    for c in &rep.copies {
        if c.destination == "nas" {
            assert!(c.verified);
            continue;
        }
        let why = c.error.as_deref().unwrap();
        assert!(
            !c.verified && c.manifest.is_none(),
            "{}: {why}",
            c.destination
        );
        assert!(
            ["reset", "broke off", "Disconnected"]
                .iter()
                .any(|w| why.contains(w)),
            "{}: {why}",
            c.destination
        );
    }
    for d in &r.destinations[1..] {
        assert!(objects(d).await.is_empty(), "{}: nothing claimed", d.name);
    }
    // The connections are good again; the retry queue sends the backup where it is missing.
    clock.set(clock.now() + chrono::TimeDelta::minutes(10));
    let retried = r.retry_due().await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].status, RunStatus::Success);
    assert_eq!(retried[0].copies.len(), 3, "only where it was missing");
    for d in &r.destinations {
        assert_received(d, &k, &bytes).await;
    }
}

/// The destination holds exactly one verified copy, it decrypts to `bytes`, and no unfinished
/// upload is left beside it.
async fn assert_received(d: &lifeboat::destinations::Destination, k: &Kit, bytes: &[u8]) {
    let listed = manifest::list(d).await.unwrap();
    assert_eq!(listed.len(), 1, "{}", d.name);
    let Listed::Copy(m) = &listed[0] else {
        panic!("{}: an unreadable manifest", d.name)
    };
    assert!(
        decrypt(d, &m.object, &k.identity).await == bytes,
        "{}",
        d.name
    );
    assert!(
        d.store.unfinished().await.unwrap().is_empty(),
        "{}: an unfinished upload was left",
        d.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_destination_is_given_up_and_its_leftovers_swept_at_the_next_run() {
    let (src, bytes) = source_of(24);
    let nas = tempfile::tempdir().unwrap();
    let mut proxies = Vec::new();
    let mut specs = vec![local_spec("nas", nas.path())];
    for spec in [
        s3_spec("s3", &unique("stall")),
        webdav_spec("dav", "LIFEBOAT_TEST_WEBDAV", None),
        sftp_spec("sftp", sftp_password(), None),
        smb_spec("smb", &env_or_die("LIFEBOAT_TEST_SMB_PASSWORD")),
    ] {
        let (proxy, spec) = behind_proxy(spec).await;
        proxies.push(proxy);
        specs.push(spec);
    }
    let k = kit();
    let data = tempfile::tempdir().unwrap();
    let (mut r, clock) = clocked(src.path(), &specs, &k, data.path());
    let patience = lifeboat::destinations::Patience {
        silence: std::time::Duration::from_secs(2),
    };
    r.destinations = specs
        .iter()
        .map(|s| lifeboat::destinations::open_with(s, patience).unwrap())
        .collect();
    for p in &proxies {
        p.after(6 << 20, Fault::Stall);
    }
    let rep = r.run("test", false).await.unwrap().remove(0);
    assert_eq!(rep.status, RunStatus::Partial, "{:?}", rep.copies);
    for c in rep.copies.iter().filter(|c| c.destination != "nas") {
        let why = c.error.as_deref().unwrap();
        assert!(!c.verified && c.manifest.is_none(), "{}", c.destination);
        assert!(
            ["took no data", "timeout", "did not answer", "timed out"]
                .iter()
                .any(|w| why.contains(w)),
            "{}: {why}",
            c.destination
        );
    }
    // The stall holds until now: throwing the uploads away could not reach the servers either.
    let mut left = 0;
    for p in &proxies {
        assert!(p.stalling());
        p.heal();
    }
    for d in &r.destinations[1..] {
        assert!(objects(d).await.is_empty(), "{}: nothing claimed", d.name);
        left += d.store.unfinished().await.unwrap().len();
    }
    assert!(left > 0, "unfinished uploads were left behind");
    // The next run sweeps them away and sends the backup where it is missing.
    clock.set(clock.now() + chrono::TimeDelta::minutes(10));
    let retried = r.retry_due().await.unwrap();
    assert_eq!(
        retried[0].status,
        RunStatus::Success,
        "{:?}",
        retried[0].copies
    );
    for d in &r.destinations {
        assert_received(d, &k, &bytes).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_destination_beside_a_fast_one_both_get_verified_copies() {
    let (src, bytes) = source_of(8);
    let nas = tempfile::tempdir().unwrap();
    let (slow, dav) = behind_proxy(webdav_spec("dav", "LIFEBOAT_TEST_WEBDAV", None)).await;
    slow.after(0, Fault::Throttle(4 << 20));
    let specs = [local_spec("nas", nas.path()), dav];
    let k = kit();
    let data = tempfile::tempdir().unwrap();
    let (r, _) = clocked(src.path(), &specs, &k, data.path());
    let rep = r.run("test", false).await.unwrap().remove(0);
    assert_eq!(rep.status, RunStatus::Success, "{:?}", rep.copies);
    assert!(
        slow.bytes_up() > bytes.len() as u64,
        "all of it went the slow way"
    );
    for d in &r.destinations {
        assert_received(d, &k, &bytes).await;
    }
    // The history holds each destination's own upload time.
    let run = &r.history.recent_runs(1).await.unwrap()[0];
    assert!(run.copies.iter().all(|c| c.upload_ms.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifeboat_killed_mid_upload_leaves_nothing_claimed_and_the_next_run_cleans_and_ships() {
    let (src, bytes) = source_of(24);
    let nas = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let (proxy, dav_spec) = behind_proxy(webdav_spec("dav", "LIFEBOAT_TEST_WEBDAV", None)).await;
    let lifeboat::config::DestinationKind::Webdav(WebdavSpec { url, .. }) = &dav_spec.kind else {
        unreachable!()
    };
    let dav = format!("webdav+{url}");
    let nas_url = format!("file://{}", nas.path().display());
    let watch = open(&[local_spec("nas", nas.path()), dav_spec.clone()]);
    let args = [
        "--data-dir".to_owned(),
        data.path().display().to_string(),
        "run".into(),
        "--source".into(),
        format!("folder:{}", src.path().display()),
        "--to".into(),
        nas_url.clone(),
        "--to".into(),
        dav.clone(),
        "--recipient".into(),
        k.identity.to_public().to_string(),
    ];
    let creds = [
        ("LIFEBOAT_WEBDAV_USER", DAV_USER),
        ("LIFEBOAT_WEBDAV_PASSWORD", DAV_PASSWORD),
    ];
    // A thin uplink, so the kill lands mid-upload.
    proxy.after(0, Fault::Throttle(1 << 20));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LIFEBOAT_LOG", "warn")
        .envs(creds)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once both uploads are under way: data on its way to WebDAV, and the folder's
    // temporary file written (the folder's writer holds its first part in memory until then).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let started =
            proxy.bytes_up() >= 4 << 20 && !watch[0].store.unfinished().await.unwrap().is_empty();
        if started {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the uploads never got going"
        );
        assert!(child.try_wait().unwrap().is_none(), "lifeboat ended early");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    proxy.heal();
    for d in &watch {
        assert!(objects(d).await.is_empty(), "{}: nothing claimed", d.name);
    }
    // The folder keeps the half-written file; a WebDAV server may throw away a PUT cut short.
    assert_eq!(watch[0].store.unfinished().await.unwrap().len(), 1);
    assert!(watch[1].store.unfinished().await.unwrap().len() <= 1);
    // Lifeboat starts again and runs: the cut-off run is recorded as interrupted, its unfinished
    // uploads are swept away, and the backup is sent.
    let again: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = lifeboat(&again, &creds);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let history = lifeboat::history::History::open(data.path()).unwrap();
    let runs = history.recent_runs(5).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].status, RunStatus::Interrupted);
    assert_eq!(runs[0].status, RunStatus::Success);
    for d in &watch {
        assert_received(d, &k, &bytes).await;
    }
}

#[test]
fn a_full_data_folder_is_said_plainly_loses_nothing_and_the_next_run_recovers() {
    // A 512 KiB data folder of its own (tmpfs, in a mount namespace only this script sees).
    let dir = tempfile::tempdir().unwrap();
    let (data, nas, src) = (
        dir.path().join("data"),
        dir.path().join("nas"),
        dir.path().join("src"),
    );
    for d in [&data, &nas, &src] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(src.join("a.tar"), fixture("ha-core/ha-2026.2.3-plain.tar")).unwrap();
    let k = kit();
    let script = r#"
        set -u
        mount -t tmpfs -o size=512k tmpfs "$DATA" || { echo "cannot mount a tmpfs: run the tests as root"; exit 99; }
        run() { "$LIFEBOAT" --data-dir "$DATA" run --source "folder:$SRC" --to "file://$NAS" --recipient "$RECIPIENT"; echo "exit $?"; }
        run
        dd if=/dev/zero of="$DATA/filler" bs=64k count=100 2>/dev/null
        cp "$SECOND" "$SRC/b.tar"
        run
        echo "stored while full:"; ls "$NAS"; echo "end"
        rm "$DATA/filler"
        run
    "#;
    let o = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", script])
        .env("LIFEBOAT", env!("CARGO_BIN_EXE_lifeboat"))
        .env("LIFEBOAT_LOG", "warn")
        .env("DATA", &data)
        .env("NAS", &nas)
        .env("SRC", &src)
        .env(
            "SECOND",
            crate::support::data("supervisor-style/full-plain.tar"),
        )
        .env("RECIPIENT", k.identity.to_public().to_string())
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{out}{err}");
    let exits: Vec<&str> = out.lines().filter(|l| l.starts_with("exit ")).collect();
    assert_eq!(exits, ["exit 0", "exit 1", "exit 0"], "{out}{err}");
    assert!(
        err.contains("is full") && err.contains("free space on that disk"),
        "{err}"
    );
    assert!(!err.contains("disk I/O error"), "{err}");
    // While it was full nothing was shipped or deleted; after, the new backup went out.
    let while_full = out.split("stored while full:").nth(1).unwrap();
    let while_full = while_full.split("end").next().unwrap();
    assert_eq!(while_full.matches(".tar.age").count(), 1, "{out}");
    let mut stored: Vec<String> = std::fs::read_dir(&nas)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tar.age"))
        .collect();
    stored.sort();
    assert_eq!(stored.len(), 2, "{stored:?}");
}

/// A destination that refuses its credentials is not retried with backoff forever: its debt waits
/// for the settings to change, Home Assistant and the dashboard are told what to fix, and once the
/// options carry the right secret the retry runs at once and the copy lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_credential_is_asked_to_be_fixed_not_retried_forever() {
    let (src, bytes) = source_of(2);
    let (out, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let k = kit();
    let prefix = unique("denied");
    let wrong = s3_spec_with(
        "s3",
        &prefix,
        &env_or_die("LIFEBOAT_TEST_S3"),
        "not-the-secret",
    );
    let specs = [local_spec("nas", out.path()), wrong];
    let (r, clock) = clocked(src.path(), &specs, &k, data.path());
    let report = r.run("test", false).await.unwrap().remove(0);
    assert_eq!(report.status, RunStatus::Partial);
    let s3 = report
        .copies
        .iter()
        .find(|c| c.destination == "s3")
        .unwrap();
    assert_eq!(s3.failure, Some("denied"), "{s3:?}");
    let row = &r.history.retries().await.unwrap()[0];
    assert_eq!(row.failure.as_deref(), Some("denied"));
    assert_eq!(
        row.waits_for.as_deref(),
        Some(r.destinations[1].settings.as_str())
    );

    // Days pass: with the same settings nothing is retried, however long the wait.
    for days in [1, 3, 30] {
        clock.set(clock.now() + chrono::TimeDelta::days(days));
        assert!(
            r.retry_due().await.unwrap().is_empty(),
            "retried after {days} days"
        );
    }
    // Nor does the daemon's minute poll wake the worker for it.
    let row = r.history.retries().await.unwrap().remove(0);
    let due = lifeboat::pipeline::retry::is_due;
    assert!(!due(&row, &r.destinations, clock.now()));
    // Home Assistant's problem sensor (and the dashboard, from the same summary) says what to fix.
    let watch = lifeboat::report::Watch {
        sources: Vec::new(),
        destinations: vec!["nas".into(), "s3".into()],
        stale_after: std::time::Duration::from_secs(3650 * 86_400),
        kit_every: None,
        cautions: Vec::new(),
        clock: clock.clone(),
    };
    let summary = lifeboat::report::Summary::load(&r.history, false, &watch)
        .await
        .unwrap();
    let fix = summary
        .problems
        .iter()
        .find(|p| {
            p.kind == ProblemKind::FixSettings && p.text.starts_with("s3 refused the credentials")
        })
        .unwrap_or_else(|| panic!("{:?}", summary.problems));
    assert!(
        fix.to_string()
            .starts_with("fix settings: s3 refused the credentials"),
        "{fix}"
    );
    assert!(!fix.to_string().contains("not-the-secret"), "{fix}");

    // The options change (the add-on restarts with them): the retry is due at once and lands.
    let (mut fixed, _) = clocked(
        src.path(),
        &[local_spec("nas", out.path()), s3_spec("s3", &prefix)],
        &k,
        data.path(),
    );
    fixed.clock = clock.clone();
    assert!(due(&row, &fixed.destinations, clock.now()));
    let retried = fixed.retry_due().await.unwrap();
    assert_eq!(retried.len(), 1);
    assert!(retried[0].copies[0].verified, "{:?}", retried[0].copies);
    assert!(fixed.history.retries().await.unwrap().is_empty());
    let landed = decrypt(
        &fixed.destinations[1],
        &retried[0].copies[0].object,
        &k.identity,
    )
    .await;
    assert_eq!(landed, bytes);
    let summary = lifeboat::report::Summary::load(&fixed.history, false, &watch)
        .await
        .unwrap();
    assert!(
        !summary
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::FixSettings),
        "{:?}",
        summary.problems
    );
}

/// A connection that drops under a small request (reading a manifest, listing, deleting) costs
/// nothing on SFTP and SMB: the stores' shared frame makes a new connection and tries again, so
/// one reset does not fail a manifest read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_under_a_small_request_is_tried_again_on_sftp_and_smb() {
    let (sftp_proxy, sftp) = behind_proxy(sftp_spec("sftp", sftp_password(), None)).await;
    let (smb_proxy, smb) =
        behind_proxy(smb_spec("smb", &env_or_die("LIFEBOAT_TEST_SMB_PASSWORD"))).await;
    for (proxy, spec) in [(&sftp_proxy, sftp), (&smb_proxy, smb)] {
        small_requests_outlive_a_reset(proxy, &spec).await;
    }
}

/// The same on S3 and Azure: the one retry policy around every store tries the request again
/// (OpenDAL's own retries are kept for inside a stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_under_a_small_request_is_tried_again_on_s3_and_azure() {
    let p = unique("small-faults");
    let (s3_proxy, s3) = behind_proxy(s3_spec("s3", &p)).await;
    let (az_proxy, azure) = behind_proxy(azure_key_spec("azure", &p)).await;
    for (proxy, spec) in [(&s3_proxy, s3), (&az_proxy, azure)] {
        small_requests_outlive_a_reset(proxy, &spec).await;
    }
}

/// Writes a small object to `spec`, then reads, lists and deletes it, each with the connection
/// reset under it by `proxy`: every one succeeds.
async fn small_requests_outlive_a_reset(
    proxy: &FaultProxy,
    spec: &lifeboat::config::DestinationSpec,
) {
    let d = lifeboat::destinations::open(spec).unwrap();
    let name = format!("{}.json", unique("small"));
    d.store.write_small(&name, b"{}".to_vec()).await.unwrap();
    for step in ["read", "list", "delete"] {
        let hits = proxy.hits();
        // The next bytes of the request reset the connection it goes out on.
        proxy.after(1, Fault::Reset);
        match step {
            "read" => assert_eq!(d.store.read_small(&name, 1024).await.unwrap(), b"{}"),
            "list" => assert!(d.store.list().await.unwrap().contains(&name), "{}", d.name),
            _ => d.store.delete(&name).await.unwrap(),
        }
        assert!(
            proxy.hits() > hits,
            "{} {step}: the reset never happened",
            d.name
        );
    }
    assert!(!d.store.list().await.unwrap().contains(&name), "{}", d.name);
}
