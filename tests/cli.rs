//! The `lifeboat` binary as a person uses it: URLs instead of a config file, exit codes, messages
//! that say what to fix, and no secret ever printed.

use crate::support::*;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lifeboat");

#[test]
fn a_one_off_run_needs_no_config_and_list_shows_the_copy() {
    let src = folder_with(&[("b.tar", &fixture("ha-core/ha-2026.2.3-plain.tar"))]);
    let dest = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let recipient = k.identity.to_public().to_string();
    let s3 = format!(
        "s3://backups/{}?endpoint={}",
        unique("cli"),
        std::env::var("LIFEBOAT_TEST_S3").unwrap()
    );
    let file = format!("file://{}", dest.path().display());
    // Behind the proxy that caps requests at 4 MiB, in 1 MiB pieces.
    let dav = format!(
        "webdav+{}/{}?segment_mb=1",
        std::env::var("LIFEBOAT_TEST_WEBDAV_CAPPED").unwrap(),
        unique("cli")
    );
    let smb = format!(
        "smb://{}@{}/{}/{}",
        std::env::var("LIFEBOAT_TEST_SMB_USER").unwrap(),
        std::env::var("LIFEBOAT_TEST_SMB").unwrap(),
        std::env::var("LIFEBOAT_TEST_SMB_SHARE").unwrap(),
        unique("cli")
    );
    let smb_password = std::env::var("LIFEBOAT_TEST_SMB_PASSWORD").unwrap();
    let creds = [
        ("AWS_ACCESS_KEY_ID", S3_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
        ("LIFEBOAT_WEBDAV_USER", DAV_USER),
        ("LIFEBOAT_WEBDAV_PASSWORD", DAV_PASSWORD),
        ("LIFEBOAT_SMB_PASSWORD", &smb_password),
    ];
    let o = lifeboat(
        &[
            "--data-dir",
            data.path().to_str().unwrap(),
            "run",
            "--source",
            &format!("folder:{}", src.path().display()),
            "--to",
            &file,
            "--to",
            &s3,
            "--to",
            &dav,
            "--to",
            &smb,
            "--recipient",
            &recipient,
        ],
        &creds,
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("4 of 4 copies stored and verified"), "{out}");
    assert!(out.contains("manifest:"), "{out}");
    for secret in [S3_SECRET, DAV_PASSWORD, &smb_password] {
        assert!(!out.contains(secret), "{out}");
    }

    let o = lifeboat(
        &[
            "list", "--to", &file, "--to", &s3, "--to", &dav, "--to", &smb, "--json",
        ],
        &creds,
    );
    assert!(o.status.success(), "{}", text(&o));
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for name in ["local", "s3", "webdav", "smb"] {
        assert_eq!(listed[name][0]["backup"]["slug"], "a80ca3b9", "{listed}");
    }
    // A second run has nothing new to do.
    let o = lifeboat(
        &[
            "--data-dir",
            data.path().to_str().unwrap(),
            "run",
            "--source",
            &format!("folder:{}", src.path().display()),
            "--to",
            &file,
            "--recipient",
            &recipient,
        ],
        &[],
    );
    assert!(o.status.success());
    assert!(text(&o).contains("Nothing new"), "{}", text(&o));
}

#[test]
fn a_partial_run_exits_3_and_a_failed_one_1_without_printing_secrets() {
    let src = folder_with(&[("b.tar", &fixture("ha-core/ha-2026.2.3-plain.tar"))]);
    let dest = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recipient = kit().identity.to_public().to_string();
    let s3 = format!(
        "s3://backups/{}?endpoint={}",
        unique("cli"),
        std::env::var("LIFEBOAT_TEST_S3").unwrap()
    );
    let secret = "very-wrong-secret-0xdeadbeef";
    let args = [
        "--data-dir",
        data.path().to_str().unwrap(),
        "run",
        "--source",
    ];
    let source = format!("folder:{}", src.path().display());
    let file = format!("file://{}", dest.path().display());
    let o = lifeboat(
        &[
            &args[..],
            &[
                source.as_str(),
                "--to",
                &file,
                "--to",
                &s3,
                "--recipient",
                &recipient,
            ],
        ]
        .concat(),
        &[
            ("AWS_ACCESS_KEY_ID", S3_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("FAIL  s3"), "{}", text(&o));
    assert!(!text(&o).contains(secret));

    std::fs::write(
        src.path().join("c.tar"),
        &fixture("ha-core/ha-2026.2.3-plain.tar")[..20000],
    )
    .unwrap();
    let o = lifeboat(
        &[
            &args[..],
            &[source.as_str(), "--to", &file, "--recipient", &recipient],
        ]
        .concat(),
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("truncated"), "{}", text(&o));
}

#[test]
fn bad_input_exits_2_and_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    // No config and no URLs.
    let o = Command::new(BIN)
        .arg("run")
        .current_dir(dir.path())
        .env_remove("LIFEBOAT_CONFIG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--source"), "{}", text(&o));
    // A config file with problems: every one named by its field.
    let cfg = dir.path().join("lifeboat.toml");
    std::fs::write(&cfg, "[source]\ntype = \"folder\"\npath = \"/x\"\n[[destinations]]\ntype = \"s3\"\nname = \"b2\"\nbucket = \"\"\naccess_key_id = \"k\"\nsecret_access_key = \"s3cr3t-value\"\n").unwrap();
    let o = lifeboat(&["--config", cfg.to_str().unwrap(), "run"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(t.contains("destinations[0].bucket"), "{t}");
    assert!(!t.contains("s3cr3t-value"));
    // Options JSON with a typo names the key.
    let json = dir.path().join("options.json");
    std::fs::write(
        &json,
        r#"{"source":{"type":"folder","path":"/x"},"destinatons":[]}"#,
    )
    .unwrap();
    let o = lifeboat(&["--config", json.to_str().unwrap(), "run"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("destinatons"), "{}", text(&o));
    // A URL with a secret in it is refused.
    let o = lifeboat(&["list", "--to", "s3://b/p?secret_access_key=x"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("never in the URL"), "{}", text(&o));
}

/// The promise of the kit: a copy restores with the `age` tool alone (Debian's `age` package).
#[test]
fn the_age_cli_decrypts_a_copy_byte_identically() {
    let original = fixture("supervisor-style/full-v3.tar");
    let src = folder_with(&[("b.tar", &original)]);
    let dest = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let o = lifeboat(
        &[
            "--data-dir",
            data.path().to_str().unwrap(),
            "run",
            "--source",
            &format!("folder:{}", src.path().display()),
            "--to",
            &format!("file://{}", dest.path().display()),
            "--recipient",
            &k.identity.to_public().to_string(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let copy = std::fs::read_dir(dest.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.age"))
        .unwrap();
    let kit_file = dest.path().join("kit.txt");
    use age::secrecy::ExposeSecret;
    std::fs::write(
        &kit_file,
        format!("{}\n", k.identity.to_string().expose_secret()),
    )
    .unwrap();
    let restored = dest.path().join("restored.tar");
    let age = Command::new("age")
        .args([
            "-d",
            "-i",
            kit_file.to_str().unwrap(),
            "-o",
            restored.to_str().unwrap(),
            copy.to_str().unwrap(),
        ])
        .output()
        .expect("the age CLI is installed by scripts/test-servers.sh install");
    assert!(
        age.status.success(),
        "{}",
        String::from_utf8_lossy(&age.stderr)
    );
    assert!(
        std::fs::read(&restored).unwrap() == original,
        "age did not give back the original backup"
    );
}

/// The vault: a key imported from Home Assistant's emergency kit opens protected backups on every
/// later run; the key never shows, only its fingerprint.
#[test]
fn keys_imported_from_the_kit_check_protected_backups() {
    let src = folder_with(&[("b.tar", &fixture("supervisor-style/full-v3.tar"))]);
    let dest = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let kit_file = data.path().join("home_assistant_backup_emergency_kit.txt");
    std::fs::write(&kit_file, "Home Assistant backup emergency kit\nEncryption key:\nDDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044\n").unwrap();
    let o = lifeboat(
        &[
            "--data-dir",
            d,
            "keys",
            "import",
            kit_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = lifeboat(&["--data-dir", d, "keys", "list"], &[]);
    assert!(
        text(&o).contains("ha:") && text(&o).contains("import"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("DDTV"), "the key itself was printed");
    let o = lifeboat(&["--data-dir", d, "keys", "import", "not-a-key"], &[]);
    assert_eq!(o.status.code(), Some(1));

    let recipient = kit().identity.to_public().to_string();
    let source = format!("folder:{}", src.path().display());
    let to = format!("file://{}", dest.path().display());
    let o = lifeboat(
        &[
            "--data-dir",
            d,
            "run",
            "--source",
            &source,
            "--to",
            &to,
            "--recipient",
            &recipient,
            "--json",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let reports: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        reports[0]["warnings"],
        serde_json::json!([]),
        "the vault's key was not used"
    );
    let manifest = std::fs::read_dir(dest.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".manifest.json"))
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    assert!(m["ha_key_fingerprint"].as_str().unwrap().starts_with("ha:"));
}

/// `keys generate` in a terminal-like exchange: the key is printed, the person types its last
/// group back. Returns the printed private key, or `None` when the answer was refused.
fn generate_key(data_dir: &str, answer: impl Fn(&str) -> String) -> (Option<String>, String) {
    use std::io::{BufRead, Write};
    let mut child = Command::new(BIN)
        .args(["--data-dir", data_dir, "keys", "generate"])
        .env("LIFEBOAT_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut shown = String::new();
    let mut key = None;
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "no prompt: {shown}");
        shown.push_str(&line);
        if let Some(k) = line.trim().strip_prefix("AGE-SECRET-KEY-1") {
            key.get_or_insert(format!("AGE-SECRET-KEY-1{k}"));
        }
        if line.starts_with("Type its last group") {
            break;
        }
    }
    let key = key.expect("the private key was not shown");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", answer(&key)).unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let all = format!("{shown}{rest}{}", String::from_utf8_lossy(&o.stderr));
    (o.status.success().then_some(key), all)
}

#[test]
fn a_key_made_by_lifeboat_is_kept_only_once_confirmed_and_opens_the_copies() {
    let plain = fixture("ha-core/ha-2026.2.3-plain.tar");
    let src = folder_with(&[("b.tar", &plain)]);
    let dest = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let source = format!("folder:{}", src.path().display());
    let to = format!("file://{}", dest.path().display());
    let run = || {
        lifeboat(
            &["--data-dir", d, "run", "--source", &source, "--to", &to],
            &[],
        )
    };

    // No key anywhere: the run refuses, and says how to get one.
    let o = run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("keys generate"), "{}", text(&o));

    // A wrong last group keeps nothing.
    let (kept, said) = generate_key(d, |_| "QQQQQQ".into());
    assert!(
        kept.is_none() && said.contains("nothing was kept"),
        "{said}"
    );
    let o = lifeboat(&["--data-dir", d, "keys", "list", "--json"], &[]);
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed["age_keys"], serde_json::json!([]));

    // The right one keeps the public half only.
    let (kept, said) = generate_key(d, |k| {
        k.chars()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    });
    let key = kept.unwrap_or_else(|| panic!("{said}"));
    let o = lifeboat(&["--data-dir", d, "keys", "list", "--json"], &[]);
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed["age_keys"].as_array().unwrap().len(), 1);
    for f in std::fs::read_dir(data.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&key),
            "the private key stayed on disk"
        );
    }

    // Now runs encrypt to it, and the printed key alone opens the copy.
    let o = run();
    assert!(o.status.success(), "{}", text(&o));
    let back = recover_with_key(data.path(), &to, &key, &[]);
    assert!(back == plain, "not byte-identical");
}

/// Issue 38: a WebDAV password bound over http:// for another machine is a warning on stderr, from
/// a URL on the command line and from a config file alike; a loopback address is not.
#[test]
fn a_webdav_password_over_http_is_warned_about() {
    let creds = ["--webdav-user", "ann", "--webdav-password", "s3cr3t-dav"];
    let list = |to: &str| {
        let mut args = vec!["list", "--to", to];
        args.extend(creds);
        lifeboat(&args, &[])
    };
    let o = list("webdav+http://nas.invalid/backups");
    let t = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        t.contains("warning:") && t.contains("password in the clear to nas.invalid"),
        "{t}"
    );
    assert!(t.contains("https://") && !t.contains("s3cr3t"), "{t}");
    let o = list("webdav+http://127.0.0.1:9/backups");
    let t = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!t.contains("in the clear"), "{t}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lifeboat.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n[source]\ntype = \"folder\"\npath = \"/x\"\n[[destinations]]\n\
             type = \"webdav\"\nname = \"nas\"\nurl = \"http://nas.invalid/dav\"\n\
             username = \"ann\"\npassword = \"s3cr3t-dav\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let o = lifeboat(&["--config", cfg.to_str().unwrap(), "list"], &[]);
    let t = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        t.contains("the WebDAV destination nas sends its password in the clear"),
        "{t}"
    );
}
