//! `lifeboat inspect`: reproduces the recorded truth of every supervisor-style fixture exactly, opens
//! a Lifeboat copy with the kit's identity, and refuses wrong keys and identities clearly.

use crate::support::*;
use serde_json::Value;
use std::io::Write;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lifeboat");
const KIT_KEY: &str = "DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044";

fn inspect(args: &[&str]) -> (Option<i32>, Value, String) {
    let o = Command::new(BIN)
        .arg("inspect")
        .args(args)
        .env_remove("LIFEBOAT_HA_KEY")
        .output()
        .unwrap();
    let json = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (
        o.status.code(),
        json,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn reproduces_the_recorded_truth_of_every_fixture() {
    let truth: Value = serde_json::from_slice(&fixture("supervisor-style/manifest.json")).unwrap();
    for file in ["full-plain.tar", "full-v2.tar", "full-v3.tar"] {
        let path = data(&format!("supervisor-style/{file}"));
        let (code, got, err) = inspect(&[path.to_str().unwrap(), "--ha-key", KIT_KEY, "--json"]);
        assert_eq!(code, Some(0), "{file}: {err}");
        let want = &truth["archives"][file];
        assert_eq!(got["backup.json"], want["backup.json"], "{file}");
        assert_eq!(got["sha256"], want["sha256"], "{file}");
        assert_eq!(got["size"], want["size"], "{file}");
        let inner = want["inner"].as_object().unwrap();
        assert_eq!(
            got["inner"].as_object().unwrap().len(),
            inner.len(),
            "{file}"
        );
        for (name, w) in inner {
            for field in ["gzip_sha256", "gzip_size", "files"] {
                assert_eq!(got["inner"][name][field], w[field], "{file}/{name}/{field}");
            }
        }
    }
}

#[test]
fn opens_a_lifeboat_copy_with_the_kit_identity_only() {
    let k = kit();
    let plain = fixture("supervisor-style/full-v3.tar");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.tar.age");
    let enc = age::Encryptor::with_recipients(std::iter::once(
        &k.identity.to_public() as &dyn age::Recipient
    ))
    .unwrap();
    let mut w = enc
        .wrap_output(std::fs::File::create(&copy).unwrap())
        .unwrap();
    w.write_all(&plain).unwrap();
    w.finish().unwrap();
    let kit_file = dir.path().join("kit.txt");
    use age::secrecy::ExposeSecret;
    std::fs::write(
        &kit_file,
        format!("# kit\n{}\n", k.identity.to_string().expose_secret()),
    )
    .unwrap();

    let (code, got, err) = inspect(&[
        copy.to_str().unwrap(),
        "--identity",
        kit_file.to_str().unwrap(),
        "--ha-key",
        KIT_KEY,
        "--json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let truth: Value = serde_json::from_slice(&fixture("supervisor-style/manifest.json")).unwrap();
    assert_eq!(got["sha256"], truth["archives"]["full-v3.tar"]["sha256"]);

    let other = dir.path().join("other.txt");
    std::fs::write(
        &other,
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret(),
    )
    .unwrap();
    let (code, _, err) = inspect(&[
        copy.to_str().unwrap(),
        "--identity",
        other.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("does not open this copy"), "{err}");
}

#[test]
fn wrong_keys_and_missing_keys_are_said_plainly() {
    let v2 = data("supervisor-style/full-v2.tar");
    let (code, _, err) = inspect(&[
        v2.to_str().unwrap(),
        "--ha-key",
        "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-0000",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot be opened with any known Home Assistant backup key"),
        "{err}"
    );
    let (code, got, _) = inspect(&[v2.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0));
    assert_eq!(got["inner"]["homeassistant.tar.gz"]["checked"], false);
    assert!(
        got["warnings"][0]
            .as_str()
            .unwrap()
            .contains("could not be checked")
    );
}

/// A gzip bomb for the tar walkers: an inner `.tar.gz` whose first entry is a GNU long name of
/// 256 MiB (a few hundred KB compressed), then a plain file.
fn long_name_bomb() -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let len: u64 = 256 << 20;
    let mut h = tar::Header::new_gnu();
    h.set_path("././@LongLink").unwrap();
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(len);
    h.set_mode(0o644);
    h.set_cksum();
    gz.write_all(h.as_bytes()).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..len >> 20 {
        gz.write_all(&chunk).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_path("data/x").unwrap();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    gz.write_all(h.as_bytes()).unwrap();
    gz.write_all(&[0; 1024]).unwrap();
    gz.finish().unwrap()
}

/// Issue 38: a backup whose `homeassistant.tar.gz` holds a 256 MiB long name is refused with a
/// clear message, within a few MiB (the `tar` crate used to read the name whole, 256 MiB and
/// more, and then call the backup fine). The child's peak memory is read by `getrusage` in a
/// small python3 wrapper, after it has exited.
#[test]
fn a_long_name_bomb_is_refused_within_a_few_mib() {
    let bomb = long_name_bomb();
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let plain = fixture("supervisor-style/full-plain.tar");
    let mut b = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(&plain[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        if e.path().unwrap().to_str() == Some("homeassistant.tar.gz") {
            h.set_size(bomb.len() as u64);
            h.set_cksum();
            b.append(&h, &bomb[..]).unwrap();
        } else {
            b.append(&h, &mut e).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bomb.tar");
    std::fs::write(&file, b.into_inner().unwrap()).unwrap();
    let wrapper = "import json, resource, subprocess, sys\n\
        p = subprocess.run(sys.argv[1:], capture_output=True)\n\
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n\
        print(json.dumps({'code': p.returncode, 'peak_kib': peak,\n\
        'out': p.stdout.decode(errors='replace') + p.stderr.decode(errors='replace')}))\n";
    let o = Command::new("python3")
        .args(["-c", wrapper, BIN, "inspect", file.to_str().unwrap()])
        .env_remove("LIFEBOAT_HA_KEY")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Value = serde_json::from_slice(&o.stdout).unwrap();
    let said = got["out"].as_str().unwrap();
    let peak_mib = got["peak_kib"].as_u64().unwrap() / 1024;
    assert_ne!(
        got["code"], 0,
        "the backup was called fine, at a peak of {peak_mib} MiB: {said}"
    );
    assert!(
        said.contains("homeassistant.tar.gz")
            && said.contains("long name of 268435456 bytes")
            && said.contains("refused"),
        "{said}"
    );
    assert!(
        peak_mib < 64,
        "lifeboat inspect peaked at {peak_mib} MiB: {said}"
    );
}
