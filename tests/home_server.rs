//! The home server's own data through the same verified pipeline: a real PostgreSQL (started by
//! `scripts/test-servers.sh`) dumped with `pg_dumpall` as a `command:` source and loaded back
//! into a fresh cluster with `psql`, table for table; a dump killed or cut short claims no copy;
//! a `dir:` source with odd names, empty folders, a large file and links out of the folder comes
//! back identical through `age -d | tar -x` (no Lifeboat) and `lifeboat recover --extract`; and
//! retention and the staleness alarm go by source.

use crate::support::*;
use lifeboat::clock::Clock;
use lifeboat::destinations::manifest::{self, Listed};
use lifeboat::history::RunStatus;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The tests that dump the test servers' whole cluster take turns: one dropping its database
/// while another's `pg_dumpall` lists them would fail that dump.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn cluster() -> std::sync::MutexGuard<'static, ()> {
    CLUSTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn pg_bin(tool: &str) -> String {
    format!("{}/{tool}", env_or_die("LIFEBOAT_TEST_PG_BIN"))
}

/// `psql` against `port`, database `db`, running `sql`; its output (unaligned, tuples only).
fn psql(port: &str, db: &str, sql: &str) -> String {
    let o = Command::new(pg_bin("psql"))
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", db])
        .args(["-c", sql])
        .output()
        .unwrap();
    assert!(o.status.success(), "{sql}: {}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// A PostgreSQL cluster of the test's own, stopped when dropped.
struct Fresh {
    dir: PathBuf,
    port: String,
}

impl Fresh {
    fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port().to_string()
        };
        let dir = std::env::temp_dir().join(unique("lifeboat-fresh-pg"));
        std::fs::create_dir_all(dir.join("sock")).unwrap();
        let as_postgres = |args: &[&str]| {
            let o = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success(), "{args:?}: {}", text(&o));
        };
        Command::new("chown")
            .args(["-R", "postgres", dir.to_str().unwrap()])
            .status()
            .unwrap();
        let data = dir.join("data");
        as_postgres(&[
            &pg_bin("initdb"),
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
        ]);
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            dir.join("sock").display()
        );
        as_postgres(&[
            &pg_bin("pg_ctl"),
            "-D",
            data.to_str().unwrap(),
            "-l",
            dir.join("log").to_str().unwrap(),
            "-w",
            "-o",
            &opts,
            "start",
        ]);
        Self { dir, port }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &pg_bin("pg_ctl"), "-D"])
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every table of `db`, each with the SHA-256 of its rows as `COPY … TO STDOUT` writes them in
/// primary key order.
fn table_digests(port: &str, db: &str) -> Vec<(String, String)> {
    let tables = psql(
        port,
        db,
        "SELECT table_schema || '.' || table_name FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    );
    tables
        .lines()
        .map(|t| {
            let o = Command::new(pg_bin("psql"))
                .args(["-X", "-q", "-h", "127.0.0.1", "-p", port, "-U", "postgres"])
                .args(["-d", db, "-c"])
                .arg(format!("COPY (SELECT * FROM {t} ORDER BY 1) TO STDOUT"))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", text(&o));
            (t.to_owned(), hex::encode(Sha256::digest(&o.stdout)))
        })
        .collect()
}

/// A database of the test's own on the test servers' PostgreSQL, with tables of several kinds.
fn seeded(rows: u32) -> (String, String) {
    let port = env_or_die("LIFEBOAT_TEST_PG_PORT");
    let db = unique("halo").replace('-', "_");
    psql(&port, "postgres", &format!("CREATE DATABASE {db}"));
    psql(
        &port,
        &db,
        &format!(
            "CREATE SCHEMA grafana;
             CREATE TABLE states (id bigint PRIMARY KEY, entity text, state text, at timestamptz,
                                  attrs jsonb);
             INSERT INTO states SELECT i, 'sensor.t_' || (i % 37), (i * 0.1)::text,
                    '2026-01-01'::timestamptz + i * interval '1 minute',
                    jsonb_build_object('n', i, 'odd', E'tab\\there, quote '' and ünïcode')
             FROM generate_series(1, {rows}) i;
             CREATE TABLE grafana.blobs (id int PRIMARY KEY, data bytea, note text);
             INSERT INTO grafana.blobs SELECT i, decode(md5(i::text) || md5((i+1)::text), 'hex'),
                    CASE WHEN i % 3 = 0 THEN NULL ELSE E'line\\nbreak' END
             FROM generate_series(1, 500) i;
             CREATE TABLE empty_one (id int PRIMARY KEY);"
        ),
    );
    (port, db)
}

fn age_kit(dir: &Path) -> (PathBuf, String) {
    let k = kit();
    let file = dir.join("kit.txt");
    use age::secrecy::ExposeSecret;
    std::fs::write(
        &file,
        format!("{}\n", k.identity.to_string().expose_secret()),
    )
    .unwrap();
    (file, k.identity.to_public().to_string())
}

/// `lifeboat --data-dir DATA run --source SOURCE --to TO --recipient R` and `more`.
fn run_to(
    data: &Path,
    source: &str,
    to: &str,
    recipient: &str,
    more: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "run",
        "--source",
        source,
        "--to",
        to,
        "--recipient",
        recipient,
    ];
    args.extend_from_slice(more);
    lifeboat(&args, &[])
}

/// `lifeboat inspect OBJECT --identity KIT`, which must succeed; what it printed.
fn inspect_copy(object: &Path, kit_file: &Path) -> std::process::Output {
    let o = lifeboat(
        &[
            "inspect",
            object.to_str().unwrap(),
            "--identity",
            kit_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    o
}

/// The one data object in `dir` ending in `suffix`.
fn the_object(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

/// `age -d -i KIT OBJECT | rest…` in a shell, as the kit tells a person to; its standard output.
fn age_pipe(kit: &Path, object: &Path, rest: &str) -> Vec<u8> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "age -d -i '{}' '{}' | {rest}",
            kit.display(),
            object.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    o.stdout
}

#[test]
fn a_pg_dumpall_through_lifeboat_loads_into_a_fresh_cluster_table_for_table() {
    let _turn = cluster();
    let (port, db) = seeded(20_000);
    let want = table_digests(&port, &db);
    assert_eq!(want.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    let (kit_file, recipient) = age_kit(dir.path());
    let copies = dir.path().join("copies");
    let source = format!(
        "command:{} -h 127.0.0.1 -p {port} -U postgres",
        pg_bin("pg_dumpall")
    );
    let to = format!("file://{}", copies.display());
    let data = dir.path().join("data");
    let o = run_to(&data, &source, &to, &recipient, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("1 of 1 copies stored and verified"),
        "{}",
        text(&o)
    );
    let object = the_object(&copies, ".sql.gz.age");
    // The manifest says what it is, and that the dump ended as pg_dumpall ends its dumps.
    let m = std::fs::read(
        object.with_file_name(
            object
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".sql.gz.age", ".manifest.json"),
        ),
    )
    .unwrap();
    let m = lifeboat::destinations::Manifest::parse(&m).unwrap();
    assert_eq!(m.source.as_deref(), Some("pg_dumpall"));
    let c = m.content.unwrap();
    assert_eq!(
        c.closing_line.as_deref(),
        Some("-- PostgreSQL database cluster dump complete")
    );
    // The rows of every table, counted as the dump went by.
    assert_eq!(c.tables.get(&format!("{db}/public.states")), Some(&20_000));
    assert_eq!(c.tables.get(&format!("{db}/grafana.blobs")), Some(&500));
    assert_eq!(c.tables.get(&format!("{db}/public.empty_one")), Some(&0));
    // Restored without Lifeboat: age, gunzip and psql.
    let sql = age_pipe(&kit_file, &object, "gunzip");
    assert_eq!(sql.len() as u64, c.bytes);
    let dump = dir.path().join("dump.sql");
    std::fs::write(&dump, &sql).unwrap();
    let fresh = Fresh::start();
    let o = Command::new(pg_bin("psql"))
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &fresh.port,
            "-U",
            "postgres",
        ])
        .args(["-d", "postgres", "-f", dump.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stderr);
    // A dump of a whole cluster makes the postgres role again: the one error to expect.
    for line in said.lines().filter(|l| l.contains("ERROR")) {
        assert!(line.contains(r#"role "postgres" already exists"#), "{said}");
    }
    assert_eq!(table_digests(&fresh.port, &db), want);
    // `lifeboat recover` gives the same dump, checked, and says how to load it.
    let out = dir.path().join("recovered.sql.gz");
    let o = recover_with(&to, &kit_file, &["--out", out.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("psql"), "{}", text(&o));
    let mut back = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&out).unwrap()),
        &mut back,
    )
    .unwrap();
    assert!(back == sql);
    // And `lifeboat inspect` walks the copy to its closing line.
    let o = inspect_copy(&object, &kit_file);
    assert!(text(&o).contains("cluster dump complete"), "{}", text(&o));
    psql(&port, "postgres", &format!("DROP DATABASE {db}"));
}

#[test]
fn a_dump_killed_or_cut_short_claims_no_copy() {
    let _turn = cluster();
    let (port, db) = seeded(30_000);
    let dir = tempfile::tempdir().unwrap();
    let (_, recipient) = age_kit(dir.path());
    let dumpall = format!(
        "{} -h 127.0.0.1 -p {port} -U postgres",
        pg_bin("pg_dumpall")
    );
    for (case, script, says) in [
        // Killed mid-way, once 100 kB are out.
        (
            "killed",
            format!("{dumpall} | head -c 100000; kill -9 $$"),
            "was killed",
        ),
        // Cut short but exiting 0 (a pipe's last command decides): the closing line is missing.
        ("cut", format!("{dumpall} | head -c 200000"), "cut short"),
        // Refused by the server: its error is the run's.
        (
            "refused",
            format!(
                "{} -h 127.0.0.1 -p {port} -U nobody_here",
                pg_bin("pg_dumpall")
            ),
            "nobody_here",
        ),
    ] {
        let copies = dir.path().join(case);
        let data = dir.path().join(format!("data-{case}"));
        let to = format!("file://{}", copies.display());
        let source = format!("command:sh -c '{script}'");
        let o = run_to(&data, &source, &to, &recipient, &["--json"]);
        assert_eq!(o.status.code(), Some(1), "{case}: {}", text(&o));
        let reports: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let error = reports[0]["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains(says), "{case}: {error}");
        assert_eq!(reports[0]["status"], "failed", "{case}");
        assert_eq!(
            files_ending(&copies, &[".manifest.json"]),
            0,
            "{case}: a copy was claimed"
        );
        assert_eq!(files_ending(&copies, &[".age"]), 0, "{case}: data was left");
    }
    psql(&port, "postgres", &format!("DROP DATABASE {db}"));
}

/// The tree: odd names, an empty folder, a large file, a file only its owner reads, links out of
/// the folder (one to a folder holding a secret), and files the options leave out.
fn odd_tree(root: &Path, outside: &Path) {
    std::fs::create_dir_all(outside).unwrap();
    std::fs::write(outside.join("secret.txt"), b"never in the backup").unwrap();
    let w = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w("configuration.yaml", b"homeassistant:\n  name: halo\n");
    w("node-red/flows with spaces.json", b"[]");
    w("grafana/ünïcödé ✓.ini", b"x=1");
    w("-leading-dash", b"dash");
    w("weird/new\nline", b"newline in the name");
    // A path over 255 bytes, and a name over 100: tar's long-name records.
    w(&format!("deep/{0}/{0}/{0}/f.txt", "d".repeat(90)), b"deep");
    w(
        &format!("{}.txt", "long".repeat(40)),
        b"a name over 100 bytes",
    );
    let big: Vec<u8> = (0..24u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    w("volumes/big.bin", &big);
    w("skip/me.tmp", b"excluded");
    w("cache.tmp", b"excluded");
    std::fs::create_dir_all(root.join("empty/also-empty")).unwrap();
    let private = root.join("ssl/privkey.pem");
    w("ssl/privkey.pem", b"-----BEGIN PRIVATE KEY-----");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(outside, root.join("link-to-outside-folder")).unwrap();
    std::os::unix::fs::symlink(
        "../../outside/secret.txt",
        root.join("grafana/relative-out"),
    )
    .unwrap();
    std::os::unix::fs::symlink("configuration.yaml", root.join("inside-link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dangling", root.join("dangling")).unwrap();
}

fn diff_r(a: &Path, b: &Path) {
    let o = Command::new("diff")
        .args(["-r", "--no-dereference", "-x", "*.tmp"])
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "diff -r {} {}: {}",
        a.display(),
        b.display(),
        text(&o)
    );
}

#[test]
fn a_folder_with_odd_names_and_links_out_comes_back_identical_and_nothing_outside_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("halo/configs");
    let outside = dir.path().join("halo/outside");
    odd_tree(&root, &outside);
    let (kit_file, recipient) = age_kit(dir.path());
    let copies = dir.path().join("copies");
    let config = dir.path().join("lifeboat.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            data_dir = "{data}"
            [[sources]]
            name = "configs"
            type = "dir"
            path = "{root}"
            exclude = ["*.tmp"]
            compression = "gzip"
            [[destinations]]
            type = "local"
            name = "usb"
            path = "{copies}"
            [encryption]
            recipients = ["{recipient}"]
            "#,
            data = dir.path().join("data").display(),
            root = root.display(),
            copies = copies.display(),
        ),
    )
    .unwrap();
    let o = lifeboat(&["--config", config.to_str().unwrap(), "run"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let object = the_object(&copies, ".tar.gz.age");
    // What the tar holds: the links as links, nothing from outside, nothing excluded.
    let listing = String::from_utf8(age_pipe(&kit_file, &object, "tar -tzv")).unwrap();
    assert!(
        !listing
            .lines()
            .any(|l| !l.starts_with('l') && l.contains("secret.txt")),
        "{listing}"
    );
    let tar = age_pipe(&kit_file, &object, "gunzip");
    assert!(
        !tar.windows(19).any(|w| w == b"never in the backup"),
        "the secret outside the folder was read"
    );
    assert!(!listing.lines().any(|l| l.ends_with(".tmp")), "{listing}");
    assert!(listing.contains("link-to-outside-folder -> "), "{listing}");
    assert!(!listing.contains("link-to-outside-folder/"), "{listing}");
    // Restored with age and tar alone.
    let by_tar = dir.path().join("by-tar");
    std::fs::create_dir(&by_tar).unwrap();
    age_pipe(
        &kit_file,
        &object,
        &format!("tar -xzp -C '{}'", by_tar.display()),
    );
    diff_r(&root, &by_tar);
    // And with Lifeboat, which keeps the modes and makes the links without following them.
    let by_lifeboat = dir.path().join("by-lifeboat");
    let o = recover_with(
        &format!("file://{}", copies.display()),
        &kit_file,
        &["--extract", by_lifeboat.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    diff_r(&root, &by_lifeboat);
    use std::os::unix::fs::PermissionsExt;
    for back in [&by_tar, &by_lifeboat] {
        let mode = std::fs::metadata(back.join("ssl/privkey.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", back.display());
        assert!(back.join("empty/also-empty").is_dir());
        assert_eq!(
            std::fs::read_link(back.join("link-to-outside-folder")).unwrap(),
            outside
        );
        assert!(!back.join("cache.tmp").exists());
    }
    let o = inspect_copy(&object, &kit_file);
    assert!(text(&o).contains("walked to the end"), "{}", text(&o));
}

#[tokio::test]
async fn retention_and_the_staleness_alarm_go_by_source() {
    use lifeboat::archive::content::{Compression, DumpTool};
    let dir = tempfile::tempdir().unwrap();
    let tree = folder_with(&[("a.conf", b"x=1")]);
    let usb = local_spec("usb", &dir.path().join("usb"));
    let k = kit();
    let data = dir.path().join("data");
    // A Friday: the five days of dumps span two ISO weeks and two months.
    let clock = SetClock::at("2026-10-30T02:00:00Z");
    let dump = Arc::new(lifeboat::source::command::CommandSource::new(
        "db",
        vec![
            "sh".into(),
            "-c".into(),
            "printf -- '-- PostgreSQL database dump\\n\\n-- PostgreSQL database dump complete\\n'"
                .into(),
        ],
        Vec::new(),
        Compression::Gzip,
        DumpTool::Postgres,
    ));
    let configs = Arc::new(lifeboat::source::dir::DirSource::new(
        "configs",
        tree.path().into(),
        &[],
        Compression::None,
    ));
    let mut db = runner(dump, std::slice::from_ref(&usb), &k.spec, &data);
    db.clock = clock.clone();
    db.source_name = "db".into();
    db.first_source = true;
    db.retention = Some(lifeboat::retention::Policy::parse("daily=2 weekly=2 monthly=2").unwrap());
    let mut cfg = runner(configs, std::slice::from_ref(&usb), &k.spec, &data);
    cfg.clock = clock.clone();
    cfg.source_name = "configs".into();
    cfg.first_source = false;
    for day in 0..5 {
        if day > 0 {
            clock.set(clock.now() + chrono::TimeDelta::days(1));
        }
        let r = db.run("schedule", false).await.unwrap();
        assert_eq!(r[0].status, RunStatus::Success, "{:?}", r[0]);
        assert_eq!(r[0].source, "db");
        if day < 3 {
            let r = cfg.run("schedule", false).await.unwrap();
            assert_eq!(r[0].status, RunStatus::Success, "{:?}", r[0]);
        }
    }
    let listed = manifest::list(&db.destinations[0]).await.unwrap();
    let of = |name: &str| {
        listed
            .iter()
            .filter(|l| matches!(l, Listed::Copy(m) if m.source.as_deref() == Some(name)))
            .count()
    };
    // The dump's policy: the two newest days (Tue 3 and Mon 2 November), the newest of the week
    // before (Sun 1 November) and of the month before (Sat 31 October); Fri 30 October goes.
    // The folder's copies are not the dump's to prune.
    let mut db_made: Vec<_> = listed
        .iter()
        .filter_map(|l| match l {
            Listed::Copy(m) if m.source.as_deref() == Some("db") => Some(manifest::made_at(m)),
            _ => None,
        })
        .collect();
    db_made.sort();
    let db_days: Vec<String> = db_made
        .iter()
        .map(|t| t.format("%a %d %b").to_string())
        .collect();
    assert_eq!(
        db_days,
        ["Sat 31 Oct", "Sun 01 Nov", "Mon 02 Nov", "Tue 03 Nov"]
    );
    assert_eq!((of("db"), of("configs")), (4, 3));
    // 27 hours on, the folder backed up again: only the dump is stale.
    clock.set(clock.now() + chrono::TimeDelta::hours(27));
    cfg.run("schedule", false).await.unwrap();
    let watch = lifeboat::report::Watch {
        destinations: vec!["usb".into()],
        sources: ["db", "configs"]
            .iter()
            .enumerate()
            .map(|(i, n)| lifeboat::report::WatchedSource {
                name: (*n).into(),
                first: i == 0,
                stale_after: std::time::Duration::from_secs(26 * 3600),
            })
            .collect(),
        stale_after: std::time::Duration::from_secs(26 * 3600),
        kit_every: None,
        cautions: Vec::new(),
        clock: clock.clone(),
    };
    let s = lifeboat::report::Summary::load(&db.history, false, &watch)
        .await
        .unwrap();
    let stale: Vec<String> = s
        .problems
        .iter()
        .filter(|p| p.kind == lifeboat::report::ProblemKind::Stale)
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        stale,
        ["stale: no verified copy of db for 27 hours"],
        "{:?}",
        s.problems
    );
}

/// Home Assistant beside a database dump, in one daemon: the runs, events and entities name
/// their source, a backup command picks sources by name, and the dashboard's run page says
/// which source a run backed up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_is_named_in_home_assistant_and_on_the_dashboard() {
    use crate::dashboard::get;
    use crate::support::ha_double::{Double, Flavor};
    use lifeboat::archive::content::{Compression, DumpTool};
    use lifeboat::daemon::commands::Handler;
    let d = Double::start(
        Flavor::Supervisor,
        fixture("supervisor-style/full-plain.tar"),
        None,
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let mut ha = runner(
        supervisor_source(
            &d,
            lifeboat::config::SupervisorMethod::Rest,
            lifeboat::config::SourceMode::Create,
        ),
        &[local_spec("usb", &data.path().join("usb"))],
        &k.spec,
        data.path(),
    );
    let dump = Arc::new(lifeboat::source::command::CommandSource::new(
        "db",
        vec![
            "sh".into(),
            "-c".into(),
            "printf -- '-- MariaDB dump 10.19\\nINSERT INTO t VALUES (1);\\n-- Dump completed on 2026-12-03\\n'"
                .into(),
        ],
        Vec::new(),
        Compression::Gzip,
        DumpTool::guess(&["mysqldump".into()]),
    ));
    let reporter = ha_reporter(&d, &ha, None);
    let watch = lifeboat::report::Watch {
        sources: ["home-assistant", "db"]
            .iter()
            .enumerate()
            .map(|(i, n)| lifeboat::report::WatchedSource {
                name: (*n).into(),
                first: i == 0,
                stale_after: std::time::Duration::from_secs(26 * 3600),
            })
            .collect(),
        destinations: vec!["usb".into()],
        stale_after: std::time::Duration::from_secs(26 * 3600),
        kit_every: None,
        cautions: Vec::new(),
        clock: ha.clock.clone(),
    };
    let reporter = Arc::new(lifeboat::report::HaReporter::new(
        reporter.api().clone(),
        ha.history.clone(),
        watch.clone(),
        None,
    ));
    ha.observer = reporter.clone();
    let db = lifeboat::pipeline::run::Runner {
        source: dump,
        source_name: "db".into(),
        first_source: false,
        ..ha.clone()
    };
    let mut settings = daemon_settings(&ha, Vec::new(), None);
    settings.watch = watch.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let running = lifeboat::daemon::Daemon::new(ha.clone(), settings)
        .with_other_sources(vec![db])
        .start(&stop)
        .await
        .unwrap();
    let state = running.state.clone();
    let services = state.services().unwrap();
    let handler = Handler {
        triggers: services.triggers.clone(),
        history: services.history.clone(),
        destinations: services.destinations.clone(),
        watch: watch.clone(),
        api: None,
        origin: "stdin",
        min_verified: 1,
    };
    let answer = handler
        .handle(Ok(
            serde_json::json!({"command": "backup", "sources": ["nope"]}),
        ))
        .await;
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("home-assistant, db"),
        "{answer}"
    );
    let answer = handler
        .handle(Ok(
            serde_json::json!({"command": "backup", "sources": ["home-assistant", "db"]}),
        ))
        .await;
    assert_eq!(answer["ok"], true, "{answer}");
    let mut runs = Vec::new();
    for _ in 0..300 {
        runs = services.history.recent_runs(5).await.unwrap();
        if runs.len() == 2 && runs.iter().all(|r| r.status != RunStatus::Running) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let names: Vec<Option<&str>> = runs.iter().map(|r| r.source_name.as_deref()).collect();
    assert_eq!(names, [Some("db"), Some("home-assistant")], "{runs:?}");
    // The dump has no restore-readiness report to stand in for Home Assistant's.
    let (newest, _, _) = services.history.newest_readiness().await.unwrap().unwrap();
    assert_eq!(newest, runs[1].id);
    assert!(
        runs.iter().all(|r| r.status == RunStatus::Success),
        "{runs:?}"
    );
    // The run page names the source and what it is.
    let page = get(&state, &format!("/runs/{}", runs[0].id)).await;
    assert!(page.body.contains("db (command:sh -c"), "{}", page.body);
    // Home Assistant heard of both, each by name, with an entity per source.
    let posts = d.inner.core_posts.lock().unwrap().clone();
    let finished: Vec<&serde_json::Value> = posts
        .iter()
        .filter(|(p, _)| p == "events/lifeboat_backup_finished")
        .map(|(_, v)| v)
        .collect();
    let mut told: Vec<&str> = finished
        .iter()
        .map(|f| f["source"].as_str().unwrap())
        .collect();
    told.sort_unstable();
    assert_eq!(told, ["db", "home-assistant"]);
    reporter.publish().await;
    let posts = d.inner.core_posts.lock().unwrap().clone();
    let db_sensor = posts
        .iter()
        .rev()
        .find(|(p, _)| p == "states/sensor.lifeboat_db_last_backup")
        .map(|(_, v)| v.clone())
        .expect("a sensor for the db source");
    assert!(
        db_sensor["state"].as_str().unwrap().starts_with("20"),
        "{db_sensor}"
    );
    assert_eq!(db_sensor["attributes"]["source"], "db");
    stop.cancel();
    running.join().await;
}

/// The Home server page's `lifeboat.toml` is a working configuration: it validates as written
/// (its placeholders filled in) into the sources, schedules and retention it describes.
#[test]
fn the_docs_home_server_configuration_validates_as_written() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("addon/DOCS.md"),
    )
    .unwrap();
    let page = docs.split("## Home server").nth(1).unwrap();
    let toml = page
        .split("```toml\n")
        .nth(1)
        .and_then(|t| t.split("```").next())
        .unwrap();
    let recipient = kit().identity.to_public().to_string();
    let toml = toml
        .replace("age1…", &recipient)
        .replace("\"…\"", "\"pw\"")
        .replace("https://hc-ping.com/…", "https://hc-ping.com/abc");
    let opts = lifeboat::config::parse_options(Path::new("lifeboat.toml"), &toml).unwrap();
    let cfg = lifeboat::config::validate(
        opts,
        &lifeboat::config::Env::from_pairs([("HA_TOKEN", "t")]),
        "/tmp/x".into(),
    )
    .unwrap();
    let names: Vec<&str> = cfg.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["home-assistant", "postgres", "configs", "volumes"]);
    let schedules: Vec<String> = lifeboat::daemon::build::schedules(&cfg)
        .into_iter()
        .map(|s| format!("{} {:?}", s.name, s.sources))
        .collect();
    assert_eq!(
        schedules,
        [
            "backup [\"home-assistant\"]",
            "backup:postgres [\"postgres\"]",
            "backup:configs [\"configs\"]",
            "backup:volumes [\"volumes\"]",
        ]
    );
}

/// The restore drill: the newest `pg_dumpall` copy loaded into a scratch cluster, every table's
/// rows compared with the dump's, the time recorded and shown on the overview; a scratch server
/// that already has the dump's database is refused, and that is recorded too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_drill_loads_the_newest_dump_into_a_scratch_server_and_times_it() {
    let (port, db, dir) = {
        let _turn = cluster();
        let (port, db) = seeded(5_000);
        let dir = tempfile::tempdir().unwrap();
        let (_, recipient) = age_kit(dir.path());
        let config = dir.path().join("lifeboat.toml");
        std::fs::write(
            &config,
            format!(
                r#"
                data_dir = "{data}"
                [[sources]]
                name = "postgres"
                type = "command"
                command = ["{dumpall}", "-h", "127.0.0.1", "-p", "{port}", "-U", "postgres"]
                [[destinations]]
                type = "local"
                name = "usb"
                path = "{copies}"
                [encryption]
                recipients = ["{recipient}"]
                "#,
                data = dir.path().join("data").display(),
                dumpall = pg_bin("pg_dumpall"),
                copies = dir.path().join("copies").display(),
            ),
        )
        .unwrap();
        let o = lifeboat(&["--config", config.to_str().unwrap(), "run"], &[]);
        assert!(o.status.success(), "{}", text(&o));
        psql(&port, "postgres", &format!("DROP DATABASE {db}"));
        (port, db, dir)
    };
    let _ = port;
    let config = dir.path().join("lifeboat.toml");
    let kit_file = dir.path().join("kit.txt");
    let scratch = Fresh::start();
    let into = format!("postgresql://postgres@127.0.0.1:{}/postgres", scratch.port);
    let drill = |into: &str| {
        lifeboat(
            &[
                "--config",
                config.to_str().unwrap(),
                "drill",
                "--into",
                into,
                "--identity",
                kit_file.to_str().unwrap(),
                "--psql",
                &pg_bin("psql"),
                "--json",
            ],
            &[],
        )
    };
    let o = drill(&into);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["mismatches"], serde_json::json!([]), "{report}");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert!(report["rows"].as_u64().unwrap() >= 5_500, "{report}");
    // What the drill made is gone again: the next drill finds the scratch server as it was.
    let left = psql(&scratch.port, "postgres", "SELECT datname FROM pg_database");
    assert!(!left.contains(&db), "{left}");
    // A scratch server that has the dump's database already is not loaded into.
    psql(&scratch.port, "postgres", &format!("CREATE DATABASE {db}"));
    let o = drill(&into);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("already has a database named"),
        "{}",
        text(&o)
    );
    assert!(
        psql(
            &scratch.port,
            &db,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        .trim()
            == "0",
        "the drill loaded into an existing database"
    );
    // Both drills are in the history; the overview shows the last.
    let history = lifeboat::history::History::open(&dir.path().join("data")).unwrap();
    let last = history.last_drills().await.unwrap();
    assert_eq!(last.len(), 1);
    assert!(
        !last[0].ok && last[0].detail.contains("already has"),
        "{last:?}"
    );
    drop(history);
    let r = runner(
        Arc::new(lifeboat::source::folder::FolderSource::new(
            dir.path().into(),
        )),
        &[],
        &kit().spec,
        &dir.path().join("data"),
    );
    let (state, stop, task) = dashboard(r, Vec::new()).await;
    let page = crate::dashboard::get(&state, "/").await;
    assert!(
        page.body.contains("Restore time of postgres") && page.body.contains("already has"),
        "{}",
        page.body
    );
    stop.cancel();
    task.await.unwrap();
    let o = drill("mysql://nope");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("is not a PostgreSQL address"),
        "{}",
        text(&o)
    );
}

/// `lifeboat kit` prints, for every source that is not Home Assistant, how its copies are named
/// and opened without Lifeboat (the first source too, when it is a folder or a dump).
#[test]
fn the_printed_kit_says_how_to_open_each_sources_copies() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lifeboat.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            data_dir = "{data}"
            [[sources]]
            name = "configs"
            type = "dir"
            path = "{tree}"
            [[sources]]
            name = "postgres"
            type = "command"
            command = "pg_dumpall -U postgres"
            [[destinations]]
            type = "local"
            name = "usb"
            path = "{copies}"
            [encryption]
            recipients = ["{recipient}"]
            "#,
            data = dir.path().join("data").display(),
            tree = dir.path().display(),
            copies = dir.path().join("copies").display(),
            recipient = kit().identity.to_public(),
        ),
    )
    .unwrap();
    let o = lifeboat(&["--config", config.to_str().unwrap(), "kit"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("age -d -i kit.txt <date>-configs.tar.age | tar -x -p -C"),
        "{out}"
    );
    assert!(
        out.contains(
            "age -d -i kit.txt <date>-postgres.sql.gz.age | gunzip | psql -U postgres -d postgres"
        ),
        "{out}"
    );
}

/// A one-database dump as `pg_dump` writes one, with `extra` lines after its table's data.
fn small_dump(extra: &str) -> String {
    format!(
        "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\
         CREATE TABLE public.t (x integer);\n\
         COPY public.t (x) FROM stdin;\n1\n2\n\\.\n\n{extra}\n\
         --\n-- PostgreSQL database dump complete\n--\n\n"
    )
}

/// Issue 38: a planted copy runs nothing in a drill. A manifest beside a real copy (same object,
/// same digests) naming a table `public.t; CREATE ROLE …; --` used to create that role as the
/// scratch server's superuser; a dump holding `\!` used to run a shell command on this machine.
/// Both are refused now, and the drill says why.
#[test]
fn a_drill_of_a_planted_manifest_or_dump_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (kit_file, recipient) = age_kit(dir.path());
    let dump = dir.path().join("dump.sql");
    // Named as the tool it stands for: the copies are named after it.
    let script = dir.path().join("pg_dump");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec /bin/cat '{}'\n", dump.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let copies = dir.path().join("copies");
    let config = dir.path().join("lifeboat.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            data_dir = "{data}"
            [[sources]]
            name = "postgres"
            type = "command"
            command = ["{script}"]
            [[destinations]]
            type = "local"
            name = "usb"
            path = "{copies}"
            [encryption]
            recipients = ["{recipient}"]
            "#,
            data = dir.path().join("data").display(),
            script = script.display(),
            copies = copies.display(),
        ),
    )
    .unwrap();
    let scratch = Fresh::start();
    let into = format!("postgresql://postgres@127.0.0.1:{}/postgres", scratch.port);
    let drill = || {
        let o = lifeboat(
            &[
                "--config",
                config.to_str().unwrap(),
                "drill",
                "--of",
                "postgres",
                "--into",
                &into,
                "--identity",
                kit_file.to_str().unwrap(),
                "--psql",
                &pg_bin("psql"),
            ],
            &[],
        );
        text(&o)
    };
    let backup = || {
        let o = lifeboat(&["--config", config.to_str().unwrap(), "run"], &[]);
        assert!(o.status.success(), "{}", text(&o));
    };

    // A real copy, then its manifest changed to name a table that is SQL.
    std::fs::write(&dump, small_dump("")).unwrap();
    backup();
    let said = drill();
    assert!(said.contains("every table as dumped"), "{said}");
    let role = unique("lb_planted").replace('-', "_");
    let manifest = the_object(&copies, ".manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["content"]["tables"][format!("public.t; CREATE ROLE {role} SUPERUSER; --")] =
        serde_json::json!(0);
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    // Changed after it was signed: refused before anything is read from it.
    let said = drill();
    assert!(said.contains("altered after it was signed"), "{said}");
    // The same table name from a source that signs it (a hostile database can name a table
    // anything): the drill quotes it, and refuses it as no name pg_dump writes.
    let signing = lifeboat::crypto::vault::Vault::open(&dir.path().join("data"))
        .unwrap()
        .signing_key(chrono::Utc::now(), &[0; 32])
        .unwrap();
    let resigned = lifeboat::destinations::Manifest::parse(&{
        m.as_object_mut().unwrap().remove("signature");
        serde_json::to_vec(&m).unwrap()
    })
    .unwrap()
    .signed(&signing);
    std::fs::write(&manifest, resigned.to_json()).unwrap();
    let said = drill();
    let roles = psql(
        &scratch.port,
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"),
    );
    assert_eq!(
        roles.trim(),
        "0",
        "the planted table name made a role: {said}"
    );
    assert!(
        said.contains("is not a table name as pg_dump writes one"),
        "{said}"
    );
    std::fs::remove_file(&manifest).unwrap();

    // A copy whose dump runs a shell command through psql.
    let ran = dir.path().join("ran");
    std::fs::write(
        &dump,
        small_dump(&format!("\\! /usr/bin/touch {}", ran.display())),
    )
    .unwrap();
    backup();
    let said = drill();
    assert!(!ran.exists(), "the dump's \\! ran: {said}");
    assert!(said.contains("the psql command \"\\\\!\""), "{said}");

    // One in the middle of a line passes the line check: psql's restricted mode refuses it.
    std::fs::write(
        &dump,
        small_dump(&format!("SELECT 1 \\! /usr/bin/touch {}", ran.display())),
    )
    .unwrap();
    backup();
    let said = drill();
    assert!(!ran.exists(), "the dump's \\! ran: {said}");
    assert!(said.contains("backslash commands are restricted"), "{said}");
}
