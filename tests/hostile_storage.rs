//! Hostile storage (issue 38, finding 2): a destination is someone else's computer, and whoever
//! can write there can plant a manifest. On every kind of store the suite reaches, manifests whose
//! copy id or data object escape the folder in every spelling (`..`, `../x`, `/abs`, `a/../../b`,
//! `%2e%2e`, backslashes, empty, another copy's names), manifests whose parts do (or come out of
//! order, or are more than a copy has), an oversized one and a malformed one are
//! planted beside two real copies, with canaries just outside the destination's folder. Listing,
//! retention and the dashboard's Delete (a manifest fetched by its copy id, then `delete_copy`)
//! run over them. Nothing outside is touched, nothing hostile is claimed as a copy or deleted,
//! and each refusal is said.
//!
//! The real copies are signed with the home's key. Beside them are planted a manifest signed by
//! another key (forged), one changed after it was signed (altered), and an unsigned copy newer
//! than every real one. The forged and altered ones are refused wherever they are read; the
//! unsigned one is listed as unsigned, never chosen by default, never weighed or deleted by
//! retention, never drilled, and recovering it claims nothing.

use crate::support::*;
use lifeboat::config::{DestinationKind, DestinationSpec};
use lifeboat::destinations::manifest::{self, FetchError, Listed};
use lifeboat::destinations::manifest::{Manifest, Provenance};
use lifeboat::destinations::{Destination, layout};
use lifeboat::pipeline::prune::{Owner, prune};
use lifeboat::retention::Policy;
use lifeboat::signing::{SigningKey, Trusted};
use std::collections::BTreeSet;

/// Objects just outside the destination's folder, with what they hold. `x` and `b` are what
/// `../x` and `a/../../b` would reach.
const CANARIES: [(&str, &[u8]); 3] = [
    ("canary.txt", b"outside the destination"),
    ("x", b"what ../x would reach"),
    ("b", b"what a/../../b would reach"),
];

/// Another source's copy, which this source's retention must never touch.
const THEIRS: &str = "20250101T000000Z-other";
/// This source's newest copy, which `last=1` keeps.
const OURS: &str = "20260101T000000Z-ours";
/// An unsigned copy of this source, planted, newer than every real one.
const UNSIGNED: &str = "20270101T000000Z-unsigned";

/// The home's signing key, and another.
fn home_key() -> SigningKey {
    SigningKey::from_seed(&[1; 32]).unwrap()
}
fn stranger_key() -> SigningKey {
    SigningKey::from_seed(&[2; 32]).unwrap()
}

/// `json` signed with `key`.
fn signed(json: &[u8], key: &SigningKey) -> Vec<u8> {
    Manifest::parse(json).unwrap().signed(key).to_json()
}

/// Names escaping the folder, in every spelling; the last two are another copy's names.
fn spellings() -> Vec<String> {
    [
        "..",
        "../x",
        "/abs",
        "a/../../b",
        "%2e%2e",
        "..\\x",
        "\\abs",
        "",
        ".",
        "../",
        "x\0y",
        THEIRS,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([layout::data_object(THEIRS)])
    .collect()
}

/// A well-formed manifest with the given names, made at `date`, of `source`.
fn manifest_json(copy_id: &str, object: &str, source: &str, date: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "format": 1,
        "copy_id": copy_id,
        "object": object,
        "created": date,
        "lifeboat_version": "0.1.0",
        "backup": {"slug": "s1", "name": "planted", "date": date, "type": "full"},
        "plain": {"size": 4, "sha256": "00"},
        "stored": {"size": 4, "sha256": "00"},
        "encryption": {"scheme": "age", "recipients": [], "passphrase": false},
        "ha_key_fingerprint": null,
        "verified": date,
        "source": source,
    }))
    .unwrap()
}

/// A manifest of copy `id`, its own data object stored in `parts` (name, size) adding up to
/// `stored` bytes.
fn with_parts(id: &str, parts: &[(String, u64)], stored: u64, date: &str) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&manifest_json(id, &layout::data_object(id), "ha", date)).unwrap();
    v["format"] = 2.into();
    v["stored"]["size"] = stored.into();
    v["parts"] = parts
        .iter()
        .map(|(object, size)| serde_json::json!({"object": object, "size": size, "sha256": "00"}))
        .collect();
    serde_json::to_vec(&v).unwrap()
}

/// The id of the `n`th planted manifest: of Lifeboat's form, older than [`OURS`].
fn planted_id(n: usize) -> String {
    format!("2024{:02}{:02}T000000Z-h{n}", 1 + n / 28, 1 + n % 28)
}

/// What was planted inside: every object's name and bytes, and the manifest files that must be
/// refused.
struct Planted {
    objects: Vec<(String, Vec<u8>)>,
    hostile: Vec<String>,
    /// The copy ids of the forged and the altered manifests.
    forged: String,
    altered: String,
}

async fn plant(inside: &Destination, outside: &Destination) -> Planted {
    for (name, bytes) in CANARIES {
        outside
            .store
            .write_small(name, bytes.to_vec())
            .await
            .unwrap();
    }
    let date = "2024-01-01T00:00:00Z";
    let mut objects: Vec<(String, Vec<u8>)> = vec![
        (
            layout::manifest_object(THEIRS),
            signed(
                &manifest_json(
                    THEIRS,
                    &layout::data_object(THEIRS),
                    "other",
                    "2025-01-01T00:00:00Z",
                ),
                &home_key(),
            ),
        ),
        (layout::data_object(THEIRS), b"their data".to_vec()),
        (
            layout::manifest_object(OURS),
            signed(
                &manifest_json(
                    OURS,
                    &layout::data_object(OURS),
                    "ha",
                    "2026-01-01T00:00:00Z",
                ),
                &home_key(),
            ),
        ),
        (layout::data_object(OURS), b"our data".to_vec()),
        (
            layout::manifest_object(UNSIGNED),
            manifest_json(
                UNSIGNED,
                &layout::data_object(UNSIGNED),
                "ha",
                "2027-01-01T00:00:00Z",
            ),
        ),
        (layout::data_object(UNSIGNED), b"planted data".to_vec()),
    ];
    let mut hostile = Vec::new();
    let mut n = 0;
    for s in spellings() {
        // The copy id escapes (its data object looks right), then the data object does.
        for (id, object) in [
            (s.clone(), layout::data_object(&planted_id(n))),
            (planted_id(n + 1), s.clone()),
        ] {
            let file = layout::manifest_object(&planted_id(n));
            objects.push((file.clone(), manifest_json(&id, &object, "ha", date)));
            hostile.push(file);
            n += 1;
        }
        // Issue 37: its own names, but a part that escapes or is another copy's.
        let id = planted_id(n);
        let file = layout::manifest_object(&id);
        let parts = [(s.clone(), 4)];
        objects.push((file.clone(), with_parts(&id, &parts, 4, date)));
        hostile.push(file);
        n += 1;
    }
    // Parts out of order, and more parts than a copy is ever stored in (each named right).
    for many in [false, true] {
        let id = planted_id(n);
        let object = layout::data_object(&id);
        let parts: Vec<(String, u64)> = if many {
            (1..=layout::MAX_PARTS + 1)
                .map(|i| (layout::part_name(&object, i), 1))
                .collect()
        } else {
            vec![
                (layout::part_name(&object, 2), 2),
                (layout::part_name(&object, 1), 2),
            ]
        };
        let file = layout::manifest_object(&id);
        let stored = parts.iter().map(|p| p.1).sum();
        objects.push((file.clone(), with_parts(&id, &parts, stored, date)));
        hostile.push(file);
        n += 1;
    }
    // Oversized, malformed, and a manifest file whose own name holds no copy id.
    let big = layout::manifest_object(&planted_id(n));
    let mut bytes = manifest_json(
        &planted_id(n),
        &layout::data_object(&planted_id(n)),
        "ha",
        date,
    );
    bytes.resize(usize::try_from(manifest::MAX_SIZE).unwrap() + 1, b' ');
    objects.push((big.clone(), bytes));
    hostile.push(big);
    let broken = layout::manifest_object(&planted_id(n + 1));
    objects.push((
        broken.clone(),
        b"{\"format\": 1, \"copy_id\": \"..".to_vec(),
    ));
    hostile.push(broken);
    // Newer than every real copy: signed by a stranger, and one of ours changed after signing.
    let newest = "2028-01-01T00:00:00Z";
    let forged = planted_id(n + 2);
    let file = layout::manifest_object(&forged);
    let json = manifest_json(&forged, &layout::data_object(&forged), "ha", newest);
    objects.push((file.clone(), signed(&json, &stranger_key())));
    objects.push((layout::data_object(&forged), b"forged data".to_vec()));
    hostile.push(file);
    let altered = planted_id(n + 3);
    let file = layout::manifest_object(&altered);
    let json = manifest_json(&altered, &layout::data_object(&altered), "ha", newest);
    let mut v: serde_json::Value = serde_json::from_slice(&signed(&json, &home_key())).unwrap();
    v["stored"]["sha256"] = "ff".into();
    objects.push((file.clone(), serde_json::to_vec_pretty(&v).unwrap()));
    objects.push((layout::data_object(&altered), b"altered data".to_vec()));
    hostile.push(file);
    let dots = "..manifest.json".to_owned();
    objects.push((dots.clone(), manifest_json(".", "..", "ha", date)));
    hostile.push(dots);
    for (name, bytes) in &objects {
        inside.store.write_small(name, bytes.clone()).await.unwrap();
    }
    Planted {
        objects,
        hostile,
        forged,
        altered,
    }
}

/// Everything outside the destination is as planted.
async fn outside_untouched(outside: &Destination, after: &str) {
    let who = format!("{} ({}) after {after}", outside.name, outside.kind);
    let listed: BTreeSet<String> = outside.store.list().await.unwrap().into_iter().collect();
    for (name, bytes) in CANARIES {
        assert!(
            listed.contains(name),
            "{who}: {name} outside the destination is gone; the listing holds {listed:?}"
        );
        assert_eq!(
            outside.store.read_small(name, 1024).await.unwrap(),
            bytes,
            "{who}: {name} outside the destination was changed"
        );
    }
}

/// Everything planted inside is still there, byte for byte (nothing was acted on).
async fn inside_untouched(inside: &Destination, planted: &Planted, after: &str) {
    let who = format!("{} ({}) after {after}", inside.name, inside.kind);
    let listed: BTreeSet<String> = inside.store.list().await.unwrap().into_iter().collect();
    for (name, bytes) in &planted.objects {
        assert!(listed.contains(name), "{who}: {name} was deleted");
        if bytes.len() < 4096 {
            assert_eq!(
                &inside.store.read_small(name, 4096).await.unwrap(),
                bytes,
                "{who}: {name} was changed"
            );
        }
    }
}

/// Plants, lists, prunes and deletes as the dashboard does on the destination `inside`, whose
/// folder is directly inside `outside`'s.
async fn hostile_storage_holds(inside: DestinationSpec, outside: DestinationSpec) {
    let mut inside = lifeboat::destinations::open(&inside).unwrap();
    inside.trust = Trusted::keys(vec![home_key().public()]);
    let outside = lifeboat::destinations::open(&outside).unwrap();
    let who = format!("{} ({})", inside.name, inside.kind);
    let planted = plant(&inside, &outside).await;

    // Retention, keeping this source's newest copy: everything else of "ha" is up for deletion.
    let data = tempfile::tempdir().unwrap();
    let history = lifeboat::history::History::open(data.path()).unwrap();
    let owner = Owner {
        source: "ha".into(),
        first: false,
    };
    let policy = Policy::parse("last=1").unwrap();
    let report = prune(
        &inside,
        &policy,
        &owner,
        &history,
        chrono::Utc::now(),
        chrono_tz::UTC,
        false,
    )
    .await
    .unwrap();
    outside_untouched(&outside, "retention").await;
    inside_untouched(&inside, &planted, "retention").await;
    assert!(report.deleted.is_empty(), "{who}: {:?}", report.deleted);
    assert!(report.errors.is_empty(), "{who}: {:?}", report.errors);
    let weighed: Vec<&str> = report.decisions.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(weighed, [OURS], "{who}: only our real copy is weighed");
    assert_eq!(report.left_alone.len(), 1, "{who}: {:?}", report.left_alone);
    assert!(
        report.left_alone[0].starts_with(UNSIGNED) && report.left_alone[0].contains("unsigned"),
        "{who}: {:?}",
        report.left_alone
    );
    assert_eq!(
        report.unreadable.len(),
        planted.hostile.len(),
        "{who}: every planted manifest is named as refused: {:#?}",
        report.unreadable
    );
    for file in &planted.hostile {
        let said = report
            .unreadable
            .iter()
            .find(|u| u.starts_with(file.as_str()))
            .unwrap_or_else(|| panic!("{who}: {file} is not said: {:#?}", report.unreadable));
        assert!(
            said.contains("refused")
                || said.contains("not a Lifeboat manifest")
                || said.contains("more than"),
            "{who}: {said}"
        );
    }
    let (forged, altered) = (&planted.forged, &planted.altered);
    for (id, word) in [(forged, "forged"), (altered, "altered")] {
        let file = layout::manifest_object(id);
        let said = report.unreadable.iter().find(|u| u.starts_with(&file));
        assert!(
            said.is_some_and(|s| s.contains(word)),
            "{who}: {file} not refused as {word}: {said:?}"
        );
    }

    // Listing: the two real copies, and every planted manifest said as unreadable.
    let listed = manifest::list(&inside).await.unwrap();
    let mut copies: Vec<&str> = Vec::new();
    let mut refused: Vec<&str> = Vec::new();
    for l in &listed {
        match l {
            Listed::Copy(m) => copies.push(&m.copy_id),
            Listed::Unreadable { object, reason } => {
                assert!(!reason.is_empty(), "{who}: {object}");
                refused.push(object);
            }
        }
    }
    copies.sort_unstable();
    assert_eq!(
        copies,
        [THEIRS, OURS, UNSIGNED],
        "{who}: nothing planted is claimed but the unsigned copy, listed as such"
    );
    let provenance = |id: &str| {
        listed.iter().find_map(|l| match l {
            Listed::Copy(m) if m.copy_id == id => Some(m.provenance.clone()),
            _ => None,
        })
    };
    assert_eq!(provenance(UNSIGNED), Some(Provenance::Unsigned), "{who}");
    assert_eq!(
        provenance(OURS),
        Some(Provenance::Signed(home_key().public().fingerprint())),
        "{who}"
    );
    // recover and restore take the newest signed copy unless asked for one by its id.
    let chosen = manifest::choose(&listed, None).map(|m| m.copy_id.as_str());
    assert_eq!(
        chosen,
        Some(OURS),
        "{who}: the planted unsigned copy was chosen"
    );
    let asked = manifest::choose(&listed, Some(UNSIGNED)).unwrap();
    assert_eq!(asked.provenance, Provenance::Unsigned, "{who}");
    assert!(
        manifest::choose(&listed, Some(&planted.forged)).is_none(),
        "{who}"
    );
    // Recovering the unsigned copy, asked for by name: its data is checked against its own
    // manifest, and nothing is claimed or left behind.
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("backup.tar");
    let recovered = lifeboat::recovery::recover(
        &inside,
        asked,
        vec![kit().identity],
        lifeboat::recovery::Output::Tar(target.clone()),
        false,
        Vec::new(),
    )
    .await;
    assert!(recovered.is_err(), "{who}: the planted copy was recovered");
    assert!(!target.exists(), "{who}: a planted copy left {target:?}");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "{who}: recovering left files behind"
    );
    // The drill (and the dashboard's restore drill) takes only a copy the home vouches for.
    let (drilled_on, drilled) = lifeboat::pipeline::vouch::newest_vouched(
        std::slice::from_ref(&inside),
        &history,
        |m| owner.owns(m),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (drilled_on.name.as_str(), drilled.copy_id.as_str()),
        (inside.name.as_str(), OURS),
        "{who}"
    );
    for id in [UNSIGNED, planted.forged.as_str(), planted.altered.as_str()] {
        let e = lifeboat::pipeline::vouch::newest_vouched(
            std::slice::from_ref(&inside),
            &history,
            |m| owner.owns(m),
            Some(id),
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string().contains("no copy this home vouches for"),
            "{who}: {id}: {e}"
        );
    }
    refused.sort_unstable();
    let mut expected: Vec<&str> = planted.hostile.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(refused, expected, "{who}");

    // The dashboard's Delete: the manifest fetched by the copy id in the address, then the copy
    // it names deleted. Every planted manifest is refused at the fetch.
    for file in &planted.hostile {
        let id = file.strip_suffix(".manifest.json").unwrap_or(file);
        match manifest::fetch(&inside, id).await {
            Err(FetchError::Unreadable(why)) => assert!(
                why.contains("refused") || why.contains("not a Lifeboat manifest"),
                "{who}: {file}: {why}"
            ),
            Err(FetchError::Store(e)) => assert!(e.message.contains("more than"), "{who}: {e}"),
            Ok(m) => panic!(
                "{who}: {file} was fetched as copy {:?} of {:?}",
                m.copy_id, m.object
            ),
        }
    }
    // And names that reach a fetch or a delete directly are refused before anything is sent.
    for s in spellings() {
        let fetched = manifest::fetch(&inside, &s).await;
        if s != THEIRS {
            assert!(fetched.is_err(), "{who}: {s:?} was fetched");
        }
        if s != THEIRS {
            let e = manifest::delete_copy(&inside, &s, "").await.unwrap_err();
            assert!(e.to_string().contains("refused"), "{who}: {s:?}: {e}");
        }
        // (An empty data name is the copy's own default one: a deletion of our copy, not tried.)
        if !s.is_empty() {
            let e = manifest::delete_copy(&inside, OURS, &s).await.unwrap_err();
            assert!(e.to_string().contains("refused"), "{who}: {s:?}: {e}");
        }
        if lifeboat::destinations::names::single(&s).is_err() {
            let e = inside.store.delete(&s).await.unwrap_err();
            assert!(e.message.contains("refused"), "{who}: delete {s:?}: {e}");
            let e = inside.store.read_small(&s, 1024).await.unwrap_err();
            assert!(e.message.contains("refused"), "{who}: read {s:?}: {e}");
            assert!(inside.store.reader(&s).await.is_err(), "{who}: {s:?}");
            assert!(inside.store.writer(&s, None).await.is_err(), "{who}: {s:?}");
            let e = inside
                .store
                .write_small(&s, b"x".to_vec())
                .await
                .unwrap_err();
            assert!(e.message.contains("refused"), "{who}: write {s:?}: {e}");
        }
    }
    outside_untouched(&outside, "the dashboard's Delete").await;
    inside_untouched(&inside, &planted, "the dashboard's Delete").await;
}

/// `spec` moved one folder down, into `dest`: the destination, and the folder around it.
fn nested(spec: DestinationSpec) -> (DestinationSpec, DestinationSpec) {
    let mut inside = spec.clone();
    inside.name = format!("{}-inside", spec.name);
    let mut outside = spec;
    outside.name = format!("{}-outside", outside.name);
    match (&mut inside.kind, &mut outside.kind) {
        (DestinationKind::Local(LocalSpec { path }), _) => *path = path.join("dest"),
        (
            DestinationKind::S3(S3Spec { prefix, .. })
            | DestinationKind::Azure(AzureSpec { prefix, .. }),
            DestinationKind::S3(S3Spec { .. }) | DestinationKind::Azure(AzureSpec { .. }),
        ) => *prefix = format!("{prefix}dest/"),
        (
            DestinationKind::Webdav(WebdavSpec { url, .. }),
            DestinationKind::Webdav(WebdavSpec { url: around, .. }),
        ) => {
            // The spec's folder is `<server>/<unique>/HA backups`: the destination stays, and
            // the folder around it is `<unique>`.
            *around = url.join(".").unwrap();
        }
        (DestinationKind::Sftp(s), _) => s.path = format!("{}/dest", s.path),
        (DestinationKind::Smb(s), _) => s.path = format!("{}/dest", s.path),
        (DestinationKind::Rclone(r), _) => r.remote = format!("{}/dest", r.remote),
        _ => unreachable!(),
    }
    (inside, outside)
}

async fn holds(spec: DestinationSpec) {
    let (inside, outside) = nested(spec);
    hostile_storage_holds(inside, outside).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_folder_holds_against_planted_manifests() {
    let dir = tempfile::tempdir().unwrap();
    holds(local_spec("usb", &dir.path().join("backups"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_holds_against_planted_manifests() {
    holds(s3_spec("s3", &unique("hostile"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_holds_against_planted_manifests() {
    holds(azure_key_spec("azure", &unique("hostile"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_holds_against_planted_manifests() {
    holds(webdav_spec("nas", "LIFEBOAT_TEST_WEBDAV", None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_holds_against_planted_manifests() {
    holds(sftp_spec("sftp", sftp_password(), None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smb_holds_against_planted_manifests() {
    holds(smb_spec("smb", &env_or_die("LIFEBOAT_TEST_SMB_PASSWORD"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_holds_against_planted_manifests_on_local_and_webdav_remotes() {
    let dir = tempfile::tempdir().unwrap();
    let conf = rclone_conf(dir.path());
    let folder = dir.path().join("local remote");
    for (name, remote) in [
        ("rclone-local", format!("loc:{}/ha", folder.display())),
        ("rclone-dav", format!("dav:{}", unique("hostile"))),
    ] {
        holds(rclone_spec(name, &remote, &conf)).await;
    }
}
