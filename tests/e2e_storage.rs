//! End to end on real storage servers: every fixture through a run to Azurite (account key and
//! SAS) and an S3 server that checks signatures, read back and decrypted byte-identical; failures
//! of one destination not failing the others; broken archives claiming no copy.

use crate::support::*;
use lifeboat::destinations::manifest::{self, Listed};
use lifeboat::history::RunStatus;
use lifeboat::source::folder::FolderSource;
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_round_trips_through_azurite_and_s3() {
    for fx in FIXTURES {
        let bytes = fixture(fx);
        let src = folder_with(&[("backup.tar", &bytes)]);
        let data = tempfile::tempdir().unwrap();
        let p = unique("fixture");
        let specs = [
            azure_key_spec("azure", &p),
            azure_sas_spec("azure-sas", &p),
            s3_spec("s3", &p),
        ];
        let k = kit();
        let r = runner(
            Arc::new(FolderSource::new(src.path().into())),
            &specs,
            &k.spec,
            data.path(),
        );
        let reports = r.run("test", false).await.unwrap();
        assert_eq!(reports.len(), 1, "{fx}");
        let rep = &reports[0];
        assert_eq!(
            rep.status,
            RunStatus::Success,
            "{fx}: {:?} {:?}",
            rep.error,
            rep.copies
        );
        assert_eq!(
            rep.plain_sha256.as_deref(),
            Some(hex::encode(Sha256::digest(&bytes)).as_str())
        );
        for d in &r.destinations {
            let listed = manifest::list(d).await.unwrap();
            assert_eq!(listed.len(), 1, "{fx} on {}", d.name);
            let Listed::Copy(m) = &listed[0] else {
                panic!("{fx}: unreadable manifest on {}", d.name)
            };
            assert_eq!(m.plain.size, bytes.len() as u64);
            assert_eq!(m.plain.sha256, hex::encode(Sha256::digest(&bytes)));
            assert_eq!(m.encryption.recipients.len(), 1);
            let plain = decrypt(d, &m.object, &k.identity).await;
            assert!(
                plain == bytes,
                "{fx}: copy on {} does not decrypt to the original",
                d.name
            );
            assert_eq!(
                objects(d).await,
                [format!("{}.manifest.json", m.copy_id), m.object.clone()]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_destination_does_not_fail_the_others() {
    let bytes = fixture("supervisor-style/full-v3.tar");
    let src = folder_with(&[("b.tar", &bytes)]);
    let data = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let p = unique("partial");
    let s3_url = std::env::var("LIFEBOAT_TEST_S3").unwrap();
    let specs = [
        s3_spec_with("wrong-key", &p, &s3_url, "not-the-secret"),
        s3_spec_with("unreachable", &p, "http://127.0.0.1:9", S3_SECRET),
        local_spec("usb", local.path()),
        azure_key_spec("azure", &p),
    ];
    let k = kit();
    let r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &specs,
        &k.spec,
        data.path(),
    );
    let rep = r.run("test", false).await.unwrap().remove(0);
    assert_eq!(rep.status, RunStatus::Partial);
    let by_name = |n: &str| rep.copies.iter().find(|c| c.destination == n).unwrap();
    assert!(by_name("usb").verified && by_name("azure").verified);
    let wrong = by_name("wrong-key");
    assert!(!wrong.verified);
    assert!(
        wrong.error.as_deref().unwrap().contains("credentials"),
        "{:?}",
        wrong.error
    );
    assert!(!wrong.error.as_deref().unwrap().contains("not-the-secret"));
    assert!(!by_name("unreachable").verified);
    // The good copies are complete and decrypt.
    assert_eq!(
        decrypt(&r.destinations[2], &by_name("usb").object, &k.identity).await,
        bytes
    );
    // Nothing claimed where it failed: look with the right key.
    let honest = open(&[s3_spec("s3", &p)]).remove(0);
    assert!(objects(&honest).await.is_empty());
    // History says partial, with a record for every destination.
    let runs = r.history.recent_runs(5).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Partial);
    assert_eq!(runs[0].copies.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_archive_fails_and_claims_no_copy() {
    let bytes = fixture("supervisor-style/full-plain.tar");
    // Cut mid-member, and at a 512-byte boundary past the last member (only the end marker lost).
    for cut in [bytes.len() / 2, bytes.len() - 10240] {
        let src = folder_with(&[("b.tar", &bytes[..cut])]);
        let data = tempfile::tempdir().unwrap();
        let local = tempfile::tempdir().unwrap();
        let p = unique("truncated");
        let specs = [
            s3_spec("s3", &p),
            azure_key_spec("azure", &p),
            local_spec("usb", local.path()),
        ];
        let k = kit();
        let r = runner(
            Arc::new(FolderSource::new(src.path().into())),
            &specs,
            &k.spec,
            data.path(),
        );
        let rep = r.run("test", false).await.unwrap().remove(0);
        assert_eq!(rep.status, RunStatus::Failed, "cut at {cut}");
        assert!(
            rep.error.as_deref().unwrap().contains("truncated"),
            "{:?}",
            rep.error
        );
        assert!(
            rep.copies
                .iter()
                .all(|c| !c.verified && c.manifest.is_none())
        );
        for d in &r.destinations {
            assert!(
                objects(d).await.is_empty(),
                "cut at {cut}: {} holds {:?}",
                d.name,
                objects(d).await
            );
        }
        assert!(r.history.shipped_source_keys().await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_new_backups_are_shipped_and_not_a_backup_is_refused() {
    let src = folder_with(&[("a.tar", &fixture("ha-core/ha-2026.2.3-plain.tar"))]);
    let data = tempfile::tempdir().unwrap();
    let p = unique("incremental");
    let k = kit();
    let r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &[s3_spec("s3", &p)],
        &k.spec,
        data.path(),
    );
    assert_eq!(r.run("test", false).await.unwrap().len(), 1);
    assert!(r.run("test", false).await.unwrap().is_empty());
    std::fs::write(
        src.path().join("b.tar"),
        fixture("ha-core/ha-2024.3.3-legacy.tar"),
    )
    .unwrap();
    // A tar that is not a Home Assistant backup.
    let mut junk = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_cksum();
    junk.append_data(&mut h, "notes.txt", &b"abc"[..]).unwrap();
    std::fs::write(src.path().join("c.tar"), junk.into_inner().unwrap()).unwrap();
    let reps = r.run("test", false).await.unwrap();
    assert_eq!(reps.len(), 2);
    let ok = reps
        .iter()
        .find(|r| r.status == RunStatus::Success)
        .unwrap();
    assert_eq!(ok.backup.as_ref().unwrap().slug, "be3a0233");
    let bad = reps.iter().find(|r| r.status == RunStatus::Failed).unwrap();
    assert!(
        bad.error
            .as_deref()
            .unwrap()
            .contains("not a Home Assistant backup"),
        "{:?}",
        bad.error
    );
    assert_eq!(manifest::list(&r.destinations[0]).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sas_token_never_reaches_messages_or_history() {
    let src = folder_with(&[("b.tar", &fixture("ha-core/ha-2026.2.3-plain.tar"))]);
    let data = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let p = unique("sas");
    // The test SAS token is signed for the container `sas-backups` only.
    let mut wrong = azure_sas_spec("azure-sas", &p);
    if let lifeboat::config::DestinationKind::Azure(AzureSpec { container, .. }) = &mut wrong.kind {
        *container = "backups".into();
    }
    let sas = std::env::var("LIFEBOAT_TEST_AZURITE_SAS").unwrap();
    let sig = sas
        .split('&')
        .find_map(|kv| kv.strip_prefix("sig="))
        .unwrap()
        .to_owned();
    let k = kit();
    let r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &[wrong, local_spec("usb", local.path())],
        &k.spec,
        data.path(),
    );
    let rep = r.run("test", false).await.unwrap().remove(0);
    assert_eq!(rep.status, RunStatus::Partial);
    let err = rep.copies[0].error.clone().unwrap();
    assert!(!err.contains(&sig) && !err.contains(&sas), "{err}");
    let db = std::fs::read(data.path().join(lifeboat::history::FILE_NAME)).unwrap();
    let wal = std::fs::read(
        data.path()
            .join(format!("{}-wal", lifeboat::history::FILE_NAME)),
    )
    .unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&sig),
            "the SAS signature reached history"
        );
    }
}

/// The deep check in the single pass: protected backups are opened with the Home Assistant key and
/// every inner archive is walked to its end; one that would not restore fails the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inner_archives_are_opened_and_walked_before_a_copy_is_claimed() {
    const KIT_KEY: &str = "DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044";
    let run = |bytes: Vec<u8>, keys: Vec<&'static str>| async move {
        let src = folder_with(&[("b.tar", &bytes)]);
        let data = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let k = kit();
        let mut r = runner(
            Arc::new(FolderSource::new(src.path().into())),
            &[local_spec("usb", out.path())],
            &k.spec,
            data.path(),
        );
        r.keys.options_ha_keys = keys
            .into_iter()
            .map(lifeboat::secret::Secret::new)
            .collect();
        let rep = r.run("test", false).await.unwrap().remove(0);
        let listed = manifest::list(&r.destinations[0]).await.unwrap();
        let watch = lifeboat::report::Watch {
            sources: Vec::new(),
            destinations: vec!["usb".into()],
            stale_after: std::time::Duration::from_secs(3600),
            kit_every: None,
            cautions: Vec::new(),
            clock: Arc::new(lifeboat::clock::SystemClock),
        };
        let problems = lifeboat::report::Summary::load(&r.history, false, &watch)
            .await
            .unwrap()
            .problems;
        (rep, listed, problems)
    };
    for file in [
        "supervisor-style/full-v2.tar",
        "supervisor-style/full-v3.tar",
    ] {
        // With the key: checked to the end, no warning, the key's fingerprint in the manifest.
        let (rep, listed, problems) = run(
            fixture(file),
            vec!["WRNG-KEYY-0000-0000-0000-0000-0000", KIT_KEY],
        )
        .await;
        assert_eq!(rep.status, RunStatus::Success, "{file}: {:?}", rep.error);
        assert!(rep.warnings.is_empty(), "{file}: {:?}", rep.warnings);
        assert!(problems.is_empty(), "{file}: {problems:?}");
        let Listed::Copy(m) = &listed[0] else {
            panic!()
        };
        assert!(
            m.ha_key_fingerprint
                .as_deref()
                .is_some_and(|f| f.starts_with("ha:")),
            "{file}"
        );
        // Without a key: shipped, but said loudly, and a problem for as long as it is the newest.
        let (rep, _, problems) = run(fixture(file), vec![]).await;
        assert_eq!(rep.status, RunStatus::Success);
        assert!(
            problems
                .iter()
                .any(|p| p.kind == lifeboat::report::ProblemKind::Keys),
            "{file}: {problems:?}"
        );
        assert!(
            rep.warnings
                .iter()
                .any(|w| w.contains("could not be checked")),
            "{file}: {:?}",
            rep.warnings
        );
        // With only a wrong key: it would not restore with what we hold.
        let (rep, listed, _) = run(fixture(file), vec!["WRNG-KEYY-0000-0000-0000-0000-0000"]).await;
        assert_eq!(rep.status, RunStatus::Failed, "{file}");
        assert!(
            rep.error
                .as_deref()
                .unwrap()
                .contains("any known Home Assistant backup key"),
            "{:?}",
            rep.error
        );
        assert!(listed.is_empty());
    }
    // A damaged inner gzip (one flipped byte) fails the run: no copy claimed.
    let mut bytes = fixture("supervisor-style/full-plain.tar");
    bytes[1_000_000] ^= 0x20;
    let (rep, listed, _) = run(bytes, vec![]).await;
    assert_eq!(rep.status, RunStatus::Failed);
    assert!(
        rep.error.as_deref().unwrap().contains("would not restore"),
        "{:?}",
        rep.error
    );
    assert!(listed.is_empty());
}

/// A USB disk that is not plugged in, or a network share that dropped, is never stood in for by a
/// new folder on Home Assistant's own disk: the run says which folder is missing and writes
/// nothing, and the other destinations still get their copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_is_not_mounted_is_not_replaced_by_a_new_folder() {
    let bytes = fixture("ha-core/ha-2026.2.3-plain.tar");
    let src = folder_with(&[("one.tar", &bytes)]);
    let data = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let k = kit();
    let unplugged = root.path().join("usb").join("ha-backups");
    let share = root.path().join("nas");
    std::fs::create_dir(&share).unwrap();
    let specs = [
        local_spec("usb", &unplugged),
        local_spec("nas", &share),
        s3_spec("s3", &unique("unmounted")),
    ];
    let r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &specs,
        &k.spec,
        data.path(),
    );
    let rep = r.run("test", false).await.unwrap().remove(0);
    assert_eq!(rep.status, RunStatus::Partial, "{:?}", rep.copies);
    let usb = rep.copies.iter().find(|c| c.destination == "usb").unwrap();
    let why = usb.error.as_deref().unwrap();
    assert!(why.contains("usb does not exist"), "{why}");
    assert!(!root.path().join("usb").exists(), "nothing was made");
    assert!(rep.copies.iter().filter(|c| c.verified).count() == 2);

    // The share held a copy; unmounted, its folder is gone, and is not made again.
    std::fs::remove_dir_all(&share).unwrap();
    std::fs::write(src.path().join("two.tar"), &bytes).unwrap();
    let rep = r.run("test", false).await.unwrap().remove(0);
    let nas = rep.copies.iter().find(|c| c.destination == "nas").unwrap();
    let why = nas.error.as_deref().unwrap();
    assert!(why.contains("though copies were stored there"), "{why}");
    assert!(!share.exists(), "nothing was made");
    assert!(
        rep.copies
            .iter()
            .any(|c| c.destination == "s3" && c.verified)
    );
}
