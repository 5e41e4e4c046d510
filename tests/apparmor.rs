//! The add-on's AppArmor profile (`apparmor.txt`), which Home Assistant OS enforces: it compiles
//! with AppArmor's own parser, and every access the image made in the recorded scenario of
//! `scripts/image-test.sh` is one the profile allows (rule semantics: `tests/support/apparmor.rs`).
//!
//! The record kept in the repository (`tests/data/apparmor/record.txt`) is the one image-test.sh
//! last wrote; image-test.sh checks its fresh record with these tests too, by setting
//! `LIFEBOAT_APPARMOR_TRACES` to the folder of its strace logs.

use crate::support::access_record::{Record, What};
use crate::support::apparmor::{Denial, Policy, compile};
use std::path::{Path, PathBuf};

fn root(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn profile() -> PathBuf {
    root("addon/apparmor.txt")
}

fn kept_record() -> Record {
    let text = std::fs::read_to_string(root("tests/data/apparmor/record.txt")).unwrap();
    Record::parse(&text).unwrap()
}

fn shown(denials: &[Denial]) -> String {
    denials.iter().map(|d| format!("\n  {d}")).collect()
}

/// A profile written to a file of its own, for the parser.
fn written(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let p = dir.path().join("profile");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_profile_compiles_with_apparmors_own_parser() {
    compile(&profile()).unwrap();
    // And the parser would refuse a broken one (the check is not a formality).
    let dir = tempfile::tempdir().unwrap();
    let broken = std::fs::read_to_string(profile())
        .unwrap()
        .replace("/data/** rwk,", "/data/** rwq,");
    assert!(compile(&written(&dir, &broken)).is_err());
}

#[test]
fn every_access_in_the_kept_record_is_allowed() {
    let policy = Policy::load(&profile()).unwrap();
    let kept = kept_record();
    assert!(
        kept.accesses.len() > 50,
        "the kept record is too small to prove anything"
    );
    let denials = policy.denials(&kept);
    assert!(
        denials.is_empty(),
        "Home Assistant OS would refuse:{}",
        shown(&denials)
    );
}

/// image-test.sh's fresh record: the container's own process tree (under /sbin/docker-init) and
/// each `docker exec` (the health check) recorded apart. Run by image-test.sh, which sets
/// `LIFEBOAT_APPARMOR_TRACES`; ignored in a plain `cargo test`, where there is nothing fresh.
#[test]
#[ignore = "scripts/image-test.sh runs it with LIFEBOAT_APPARMOR_TRACES set"]
fn every_access_of_the_fresh_recording_is_allowed() {
    let dir = std::env::var("LIFEBOAT_APPARMOR_TRACES")
        .expect("LIFEBOAT_APPARMOR_TRACES names the folder of image-test.sh's strace logs");
    let mut fresh = Record::default();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let root_chain = match name {
            n if n.starts_with("main") && n.ends_with(".trace") => "/sbin/docker-init",
            n if n.starts_with("exec") && n.ends_with(".trace") => "",
            _ => continue,
        };
        let log = std::fs::read_to_string(&path).unwrap();
        fresh.add_strace(&log, root_chain).unwrap();
    }
    fresh.settle_directories();
    std::fs::write(Path::new(&dir).join("record.txt"), fresh.to_text()).unwrap();
    let execs = |r: &Record, image: &str| {
        r.accesses
            .iter()
            .any(|a| a.what == What::Exec(image.to_owned()))
    };
    assert!(
        execs(&fresh, "/usr/bin/lifeboat") && execs(&fresh, "/usr/bin/rclone"),
        "the fresh record misses lifeboat or rclone: was the scenario traced?"
    );
    let policy = Policy::load(&profile()).unwrap();
    let denials = policy.denials(&fresh);
    assert!(
        denials.is_empty(),
        "Home Assistant OS would refuse (fresh record in {dir}/record.txt):{}",
        shown(&denials)
    );
}

#[test]
fn without_the_rclone_rule_rclone_is_refused() {
    let text = std::fs::read_to_string(profile()).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("/usr/bin/rclone "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, text, "the profile has no rule for /usr/bin/rclone");
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::load(&written(&dir, &without)).unwrap();
    let denials = policy.denials(&kept_record());
    assert!(
        denials
            .iter()
            .any(|d| d.access.what == What::Exec("/usr/bin/rclone".into())),
        "removing the rclone rule went unnoticed:{}",
        shown(&denials)
    );
}

/// The checker on a small profile whose verdicts are AppArmor's documented ones.
#[test]
fn the_checker_judges_as_apparmor_does() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::load(&written(
        &dir,
        "profile t {\n\
         \x20 /d/ r,\n\
         \x20 /d/* r,\n\
         \x20 /e/** rw,\n\
         \x20 /f/{a,b}.txt r,\n\
         \x20 owner /o/x rw,\n\
         \x20 /e/secret/** r,\n\
         \x20 deny /e/secret/** w,\n\
         \x20 /bin/child cx -> kid,\n\
         \x20 /bin/same ix,\n\
         \x20 /bin/free ux,\n\
         \x20 network inet stream,\n\
         \x20 deny network raw,\n\
         \x20 profile kid {\n\
         \x20   /k/** r,\n\
         \x20 }\n\
         }\n",
    ))
    .unwrap();
    let verdicts = |lines: &str| -> Vec<bool> {
        let record = Record::parse(lines).unwrap();
        let denied = policy.denials(&record);
        record
            .accesses
            .iter()
            .map(|a| !denied.iter().any(|d| &d.access == a))
            .collect()
    };
    let cases = [
        ("- r /d/", true),
        ("- r /d/x", true),
        ("- r /d/x/y", false),  // * stops at /
        ("- r /d", false),      // the folder is /d/
        ("- w /e/a/b/c", true), // ** crosses /
        ("- r /e/", false),     // /e/** does not match the folder itself
        ("- r /f/a.txt", true),
        ("- r /f/c.txt", false),
        ("- rw /o/x", true), // owner: the container's root owns what it touches
        ("- r /e/secret/k", true),
        ("- w /e/secret/k", false), // deny wins over /e/** rw
        ("- x /bin/same", true),
        ("- x /bin/other", false),
        ("- x /bin/free", false), // unconfined is refused outright
        ("/bin/same>/bin/child r /k/z", true), // cx: the child's rules apply…
        ("/bin/same>/bin/child r /d/x", false), // …and only they
        ("/bin/same>/bin/same r /d/x", true), // ix: the same profile
        ("- net inet stream", true),
        ("- net inet dgram", false),
        ("- net netlink raw", false),
    ];
    for (line, want) in cases {
        assert_eq!(verdicts(line), vec![want], "{line}");
    }
}

/// strace's `-f -y -z` log read into accesses: resolved descriptor paths, unfinished calls joined,
/// children inheriting the chain of programs at the time they were made.
#[test]
fn a_strace_log_becomes_the_accesses_the_kernel_would_check() {
    let log = "\
7 execve(\"/usr/bin/lifeboat\", [\"lifeboat\", \"serve\"], 0x7ffd /* 9 vars */) = 0
7 openat(AT_FDCWD</>, \"/data/options.json\", O_RDONLY|O_CLOEXEC) = 3</data/options.json>
7 openat(AT_FDCWD</>, \"/proc/self/mountinfo\", O_RDONLY|O_CLOEXEC) = 4</proc/7/mountinfo>
7 openat(AT_FDCWD</>, \"/data\", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 5</data>
7 mkdirat(AT_FDCWD</>, \"/share/lifeboat\", 0777) = 0
7 fcntl(6</data/history.db>, F_SETLK, {l_type=F_RDLCK, l_whence=SEEK_SET, l_start=1073741824, l_len=1}) = 0
7 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_TCP) = 8<TCP:[99]>
7 clone3({flags=CLONE_VM|CLONE_VFORK|CLONE_CLEAR_SIGHAND, exit_signal=SIGCHLD, stack=0x7f, stack_size=0x9000}, 88 <unfinished ...>
9 execve(\"/usr/bin/rclone\", [\"rclone\", \"lsjson\"], 0x7f /* 3 vars */ <unfinished ...>
7 <... clone3 resumed>) = 9
9 <... execve resumed>) = 0
9 mmap(NULL, 1921976, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_DENYWRITE, 3</usr/lib/x86_64-linux-gnu/libc.so.6>, 0x26000) = 0x7f
9 openat(AT_FDCWD</>, \"/data/rclone.conf\", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0600) = 3</data/rclone.conf>
7 renameat2(AT_FDCWD</>, \"/data/x.tmp\", AT_FDCWD</>, \"/data/x\", RENAME_NOREPLACE) = 0
7 unlinkat(5</data>, \"old\", AT_REMOVEDIR) = 0
";
    let mut record = Record::default();
    record.add_strace(log, "/sbin/docker-init").unwrap();
    record.settle_directories();
    let text = record.to_text();
    let want = "\
/sbin/docker-init x /usr/bin/lifeboat
/sbin/docker-init>/usr/bin/lifeboat k /data/history.db
/sbin/docker-init>/usr/bin/lifeboat net inet stream
/sbin/docker-init>/usr/bin/lifeboat r /data/
/sbin/docker-init>/usr/bin/lifeboat r /data/options.json
/sbin/docker-init>/usr/bin/lifeboat r /proc/7/mountinfo
/sbin/docker-init>/usr/bin/lifeboat w /data/old/
/sbin/docker-init>/usr/bin/lifeboat w /data/x
/sbin/docker-init>/usr/bin/lifeboat w /data/x.tmp
/sbin/docker-init>/usr/bin/lifeboat w /share/lifeboat/
/sbin/docker-init>/usr/bin/lifeboat x /usr/bin/rclone
/sbin/docker-init>/usr/bin/lifeboat>/usr/bin/rclone m /usr/lib/x86_64-linux-gnu/libc.so.6
/sbin/docker-init>/usr/bin/lifeboat>/usr/bin/rclone w /data/rclone.conf
";
    assert_eq!(text, want);
}
