//! Recovery as the family member does it: a fresh machine, the printed kit (its age identity file),
//! the destination's credentials, and the `lifeboat` binary — no Home Assistant, no history, no
//! configuration. What comes back must be the very backup, or one Home Assistant restores without
//! its old key.

use crate::support::*;
use age::secrecy::ExposeSecret;
use serde_json::Value;
use std::path::Path;

const KIT_KEY: &str = "DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044";

/// Ships `archive` to the destination URLs with a fresh kit; returns the kit file's path.
fn ship(archive: &[u8], dir: &Path, to: &[String], envs: &[(&str, &str)]) -> std::path::PathBuf {
    let src = folder_with(&[("b.tar", archive)]);
    let k = kit();
    let kit_file = dir.join("emergency-kit.txt");
    std::fs::write(
        &kit_file,
        format!(
            "# Lifeboat emergency kit\n{}\n",
            k.identity.to_string().expose_secret()
        ),
    )
    .unwrap();
    let source = format!("folder:{}", src.path().display());
    let recipient = k.identity.to_public().to_string();
    let data = dir.join("data");
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "run",
        "--source",
        &source,
        "--recipient",
        &recipient,
    ];
    for t in to {
        args.extend(["--to", t.as_str()]);
    }
    let o = lifeboat(&args, envs);
    assert!(o.status.success(), "{}", text(&o));
    kit_file
}

/// Ships `archive` to a new folder `nas` under `dir`; the folder's `file://` URL and the kit file.
pub(crate) fn ship_to_folder(archive: &[u8], dir: &Path) -> (String, std::path::PathBuf) {
    let dest = dir.join("nas");
    std::fs::create_dir(&dest).unwrap();
    let from = format!("file://{}", dest.display());
    let kit_file = ship(archive, dir, std::slice::from_ref(&from), &[]);
    (from, kit_file)
}

#[test]
fn a_family_member_recovers_from_s3_and_azure_with_only_the_kit() {
    let original = fixture("supervisor-style/full-v3.tar");
    let dir = tempfile::tempdir().unwrap();
    let p = unique("recover");
    let s3 = format!(
        "s3://backups/{p}?endpoint={}",
        std::env::var("LIFEBOAT_TEST_S3").unwrap()
    );
    let azure = format!(
        "azure://{AZURITE_ACCOUNT}/backups/{p}?endpoint={}",
        std::env::var("LIFEBOAT_TEST_AZURITE").unwrap()
    );
    let creds = [
        ("AWS_ACCESS_KEY_ID", S3_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
        ("AZURE_STORAGE_KEY", AZURITE_KEY),
    ];
    let kit_file = ship(&original, dir.path(), &[s3.clone(), azure.clone()], &creds);
    let truth: Value = serde_json::from_slice(&fixture("supervisor-style/manifest.json")).unwrap();
    for (i, from) in [s3, azure].iter().enumerate() {
        // Listing first, as a person would.
        let o = lifeboat(&["recover", "--from", from], &creds);
        assert!(
            o.status.success() && text(&o).contains("Fixture full v3"),
            "{}",
            text(&o)
        );
        // The manifest's counts: this run had no Home Assistant key, so it could not look inside.
        assert!(
            text(&o)
                .contains("restore: not looked inside (a Home Assistant backup key is missing)"),
            "{}",
            text(&o)
        );

        let out = dir.path().join(format!("restored-{i}.tar"));
        assert!(
            recover_to(from, &kit_file, &out, &creds) == original,
            "{from}: not the original backup"
        );

        // Without Home Assistant's old key: the SecureTar layer removed, every inner archive plain.
        let plain = dir.path().join(format!("unprotected-{i}.tar"));
        let o = recover_with(
            from,
            &kit_file,
            &[
                "--out",
                plain.to_str().unwrap(),
                "--remove-encryption",
                "--ha-key",
                KIT_KEY,
            ],
            &creds,
        );
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("restores without a key"), "{}", text(&o));
        // What the restore will need, read from the same stream.
        let said = text(&o);
        let before = said.split("Before you restore:").nth(1).unwrap_or_default();
        assert!(
            before.contains("Hardware to plug in:") && before.contains("/dev/ttyUSB0"),
            "{said}"
        );
        assert!(
            before.contains("Restore into: Home Assistant 2026.8.3"),
            "{said}"
        );
        let o = lifeboat(&["inspect", plain.to_str().unwrap(), "--json"], &[]);
        assert!(o.status.success(), "{}", text(&o));
        let got: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(got["backup.json"]["protected"], false);
        assert_eq!(got["backup.json"]["slug"], "b24edb2e");
        let want = truth["archives"]["full-v3.tar"]["inner"]
            .as_object()
            .unwrap();
        for (name, w) in want {
            let g = &got["inner"][name];
            assert_eq!(g["securetar"], Value::Null, "{name} is still encrypted");
            assert_eq!(g["checked"], true, "{name}");
            assert_eq!(g["gzip_sha256"], w["gzip_sha256"], "{name}");
            assert_eq!(g["files"], w["files"], "{name}");
        }
    }
}

#[test]
fn a_changed_copy_or_a_wrong_kit_gives_back_nothing() {
    let original = fixture("ha-core/ha-2026.2.3-encrypted.tar");
    let dir = tempfile::tempdir().unwrap();
    let (from, kit_file) = ship_to_folder(&original, dir.path());

    // Extraction lands the members in a new folder.
    let x = dir.path().join("extracted");
    let o = recover_with(&from, &kit_file, &["--extract", x.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(x.join("backup.json").is_file() && x.join("homeassistant.tar.gz").is_file());

    // Another kit does not open it.
    let other = dir.path().join("other-kit.txt");
    std::fs::write(
        &other,
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret(),
    )
    .unwrap();
    let out = dir.path().join("r.tar");
    let o = recover_with(&from, &other, &["--out", out.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("does not open this copy"), "{}", text(&o));
    assert!(!out.exists());

    // A copy changed on the destination is refused, and nothing is left behind.
    let copy = std::fs::read_dir(dir.path().join("nas"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.age"))
        .unwrap();
    let mut bytes = std::fs::read(&copy).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x01;
    std::fs::write(&copy, bytes).unwrap();
    let o = recover_with(&from, &kit_file, &["--out", out.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!out.exists() && !dir.path().join("r.tar.partial").exists());
}

/// Issue 38: a `<target>.partial` that was there before is someone else's: `recover` refuses,
/// says what to do, and leaves it as it was (it used to remove it); what it writes is for its
/// owner only.
#[test]
fn recover_leaves_a_partial_it_did_not_make_and_writes_for_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let original = fixture("ha-core/ha-2026.2.3-encrypted.tar");
    let dir = tempfile::tempdir().unwrap();
    let (from, kit_file) = ship_to_folder(&original, dir.path());
    for (flag, target) in [("--out", "r.tar"), ("--extract", "x")] {
        let target = dir.path().join(target);
        let theirs = dir
            .path()
            .join(format!("{}.partial", target.file_name().unwrap().display()));
        std::fs::create_dir(&theirs).unwrap();
        std::fs::write(theirs.join("keep.txt"), b"mine").unwrap();
        let o = recover_with(&from, &kit_file, &[flag, target.to_str().unwrap()], &[]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert_eq!(
            std::fs::read(theirs.join("keep.txt")).ok().as_deref(),
            Some(&b"mine"[..]),
            "{flag}: the folder that was there is gone"
        );
        assert!(
            text(&o).contains(".partial exists already") && text(&o).contains("remove it"),
            "{}",
            text(&o)
        );
        assert!(!target.exists());
        std::fs::remove_dir_all(&theirs).unwrap();
        let o = recover_with(&from, &kit_file, &[flag, target.to_str().unwrap()], &[]);
        assert!(o.status.success(), "{}", text(&o));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        if flag == "--out" {
            assert_eq!(mode(&target), 0o600, "the recovered backup");
        } else {
            assert_eq!(mode(&target), 0o700, "the extracted folder");
            assert_eq!(mode(&target.join("backup.json")), 0o600);
        }
    }
}

/// Issue 38: the printed kit names the home's signing keys, and with it `recover` tells the home's
/// copies from planted ones. Beside a real copy are planted a newer copy of the same data signed
/// by a stranger's key (forged) and a newer unsigned one. With the kit, the forged one is refused
/// and said to be; the unsigned one is listed as unsigned and never taken unless asked for by its
/// id; the real one is taken by default and said to be signed by the home's key.
#[test]
fn with_the_kit_recover_tells_the_homes_copies_from_planted_ones() {
    use lifeboat::destinations::Manifest;
    use lifeboat::signing::{SigningKey, public_keys_in};
    let plain = fixture("ha-core/ha-2026.2.3-plain.tar");
    let dir = tempfile::tempdir().unwrap();
    let (from, identity) = ship_to_folder(&plain, dir.path());
    let nas = dir.path().join("nas");
    let data = dir.path().join("data");
    let printed = dir.path().join("printed-kit.txt");
    let recipient = kit().identity.to_public().to_string();
    let o = lifeboat(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "kit",
            "--out",
            printed.to_str().unwrap(),
            "--source",
            &format!("folder:{}", dir.path().display()),
            "--to",
            &from,
            "--recipient",
            &recipient,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let kit_text = std::fs::read_to_string(&printed).unwrap();
    let home = public_keys_in(&kit_text);
    assert_eq!(home.len(), 1, "{kit_text}");

    // The real copy, and two planted beside it holding the very same data.
    let real_file = std::fs::read_dir(&nas)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".manifest.json"))
        .unwrap();
    let real = Manifest::parse(&std::fs::read(nas.join(&real_file)).unwrap()).unwrap();
    let (forged, unsigned) = ("20990101T000000Z-forged", "20980101T000000Z-unsigned");
    plant_beside(
        &nas,
        &real,
        forged,
        Some(&SigningKey::from_seed(&[9; 32]).unwrap()),
    );
    plant_beside(&nas, &real, unsigned, None);

    let kit_arg = ["--kit", printed.to_str().unwrap()];
    let o = lifeboat(&[&["recover", "--from", &from][..], &kit_arg].concat(), &[]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    let line_of = |id: &str| {
        said.lines()
            .find(|l| l.contains(id))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line_of(forged).contains("refused as forged"), "{said}");
    assert!(line_of(unsigned).contains("unsigned"), "{said}");
    assert!(
        line_of(&real.copy_id).contains(&format!("signed ({})", home[0].fingerprint())),
        "{said}"
    );

    // By default the real copy is taken, and said to be the home's.
    let out = dir.path().join("back.tar");
    let o = recover_with(
        &from,
        &identity,
        &[&["--out", out.to_str().unwrap()][..], &kit_arg].concat(),
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "Copy {} is signed by this home's key",
            real.copy_id
        )),
        "{}",
        text(&o)
    );
    assert!(std::fs::read(&out).unwrap() == plain);
    // The forged one cannot be had even by its id; the unsigned one can, and is called so.
    let o = recover_with(
        &from,
        &identity,
        &[
            &[
                "--out",
                dir.path().join("f.tar").to_str().unwrap(),
                "--copy",
                forged,
            ][..],
            &kit_arg,
        ]
        .concat(),
        &[],
    );
    assert!(
        !o.status.success() && text(&o).contains("no copy"),
        "{}",
        text(&o)
    );
    let o = recover_with(
        &from,
        &identity,
        &[
            &[
                "--out",
                dir.path().join("u.tar").to_str().unwrap(),
                "--copy",
                unsigned,
            ][..],
            &kit_arg,
        ]
        .concat(),
        &[],
    );
    assert!(
        o.status.success() && text(&o).contains("is UNSIGNED"),
        "{}",
        text(&o)
    );
    // A stranger's kit: the home's own copy is the forgery then.
    let stranger = dir.path().join("stranger.txt");
    let other = SigningKey::from_seed(&[9; 32]).unwrap().public();
    std::fs::write(&stranger, format!("{other}\n")).unwrap();
    let o = lifeboat(
        &[
            "recover",
            "--from",
            &from,
            "--kit",
            stranger.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        text(&o)
            .lines()
            .any(|l| l.contains(&real.copy_id) && l.contains("forged")),
        "{}",
        text(&o)
    );
}
