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
