//! Keeping copies over time, on real storage servers: a year of daily runs under retention,
//! re-verification catching changed and vanished copies, the retry queue across a restart, and
//! alerts received by a real HTTP listener outside Home Assistant.

use crate::support::*;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use lifeboat::clock::Clock;
use lifeboat::config::{AlertKind, AlertSpec};
use lifeboat::history::RunStatus;
use lifeboat::pipeline::run::Runner;
use lifeboat::report::ProblemKind;
use lifeboat::retention::{self, Candidate, Policy};
use lifeboat::source::{Asked, Opened, Pending, Source, SourceError};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Home Assistant as a source that makes one backup dated "now" whenever asked.
struct Daily {
    fail: AtomicBool,
}

#[async_trait]
impl Source for Daily {
    fn describe(&self) -> String {
        "daily:test".into()
    }

    async fn pending(
        &self,
        _: &HashSet<String>,
        now: DateTime<Utc>,
        _: &Asked<'_>,
    ) -> Result<Vec<Pending>, SourceError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(SourceError::BackupFailed("the disk is full".into()));
        }
        Ok(vec![Pending {
            key: format!("daily:{}", now.to_rfc3339()),
            hint: format!("d{}", now.format("%m%d")),
            locator: now.to_rfc3339(),
            warnings: Vec::new(),
            ha_key: None,
            content: None,
        }])
    }

    async fn open(&self, p: &Pending) -> Result<Opened, SourceError> {
        let bytes = backup_tar(&p.hint, &p.locator);
        Ok(Opened {
            size: Some(bytes.len() as u64),
            stream: Box::new(std::io::Cursor::new(bytes)),
            notes: None,
        })
    }
}

fn with_policy(
    mut spec: lifeboat::config::DestinationSpec,
    p: &str,
) -> lifeboat::config::DestinationSpec {
    spec.retention = Policy::parse(p).unwrap();
    spec
}

async fn listed_ids(d: &lifeboat::destinations::Destination) -> BTreeSet<String> {
    lifeboat::destinations::manifest::list(d)
        .await
        .unwrap()
        .into_iter()
        .map(|l| match l {
            lifeboat::destinations::manifest::Listed::Copy(m) => m.copy_id,
            lifeboat::destinations::manifest::Listed::Unreadable { object, reason } => {
                panic!("{object}: {reason}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_of_daily_runs_ends_with_exactly_the_copies_the_policy_names() {
    let folder = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let local_policy = "daily=7 weekly=4 monthly=12 yearly=2";
    let s3_policy = "last=2 monthly=3";
    let specs = [
        with_policy(local_spec("nas", folder.path()), local_policy),
        with_policy(s3_spec("b2", &unique("year")), s3_policy),
    ];
    let source = Arc::new(Daily {
        fail: AtomicBool::new(false),
    });
    let clock = SetClock::at("2026-01-01T03:30:00Z");
    let mut runner: Runner = runner(source.clone(), &specs, &k.spec, data.path());
    runner.clock = clock.clone();
    runner.tz = chrono_tz::Europe::Berlin;
    let start: DateTime<Utc> = clock.now();
    let mut made = Vec::new();
    let mut pinned = None;
    for day in 0..365 {
        // Irregular times of day, as a real schedule with jitter and slow days gives.
        let t = start + TimeDelta::days(day) + TimeDelta::minutes((day * 37) % 300);
        clock.set(t);
        if day == 200 {
            // A failed run: nothing may be deleted until a backup succeeds again.
            source.fail.store(true, Ordering::SeqCst);
            let r = runner.run("schedule", false).await.unwrap();
            assert_eq!(r[0].status, RunStatus::Failed);
            let held = runner.prune(false).await;
            assert!(
                held.iter()
                    .all(|p| p.held.is_some() && p.deleted.is_empty())
            );
            source.fail.store(false, Ordering::SeqCst);
            continue;
        }
        let reports = runner.run("schedule", false).await.unwrap();
        assert_eq!(reports.len(), 1);
        let r = &reports[0];
        assert_eq!(r.status, RunStatus::Success, "day {day}: {:?}", r.error);
        let id = r.copies[0].copy_id.clone();
        made.push((id.clone(), t));
        if day == 40 {
            // Pinned on the NAS only.
            runner.history.pin("nas", &id, t).await.unwrap();
            pinned = Some(id);
        }
    }
    let now = clock.now();
    for (d, policy) in runner.destinations.iter().zip([local_policy, s3_policy]) {
        let candidates: Vec<Candidate> = made
            .iter()
            .map(|(id, t)| Candidate {
                id: id.clone(),
                made: *t,
                pinned: d.name == "nas" && pinned.as_ref() == Some(id),
            })
            .collect();
        let expect: BTreeSet<String> = retention::apply(
            &Policy::parse(policy).unwrap(),
            &candidates,
            now,
            chrono_tz::Europe::Berlin,
        )
        .into_iter()
        .filter(|x| x.keep)
        .map(|x| x.id)
        .collect();
        let have = listed_ids(d).await;
        assert_eq!(have, expect, "{}", d.name);
        // No orphans: every data object left has its manifest.
        let objects = objects(d).await;
        assert_eq!(objects.len(), have.len() * 2, "{}: {objects:?}", d.name);
    }
    assert!(
        listed_ids(&runner.destinations[0])
            .await
            .contains(pinned.as_ref().unwrap())
    );
    // Every deletion is in history, with its reason, and nothing else was deleted.
    let deletions = runner.history.deletions(10_000).await.unwrap();
    for d in &runner.destinations {
        let gone: Vec<_> = deletions
            .iter()
            .filter(|x| x.destination == d.name)
            .collect();
        assert_eq!(gone.len() + listed_ids(d).await.len(), made.len());
        for x in gone {
            assert!(x.error.is_none(), "{x:?}");
            assert!(x.reason.starts_with("outside the policy"), "{x:?}");
            assert_eq!(x.trigger, "retention");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_verification_catches_a_changed_and_a_vanished_copy() {
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let source = Arc::new(Daily {
        fail: AtomicBool::new(false),
    });
    let clock = SetClock::at("2026-05-01T03:00:00Z");
    let mut runner = runner(
        source,
        &[s3_spec("b2", &unique("reverify"))],
        &k.spec,
        data.path(),
    );
    runner.clock = clock.clone();
    let mut ids = Vec::new();
    for day in 0..3 {
        clock.set(
            DateTime::parse_from_rfc3339("2026-05-01T03:00:00Z")
                .unwrap()
                .to_utc()
                + TimeDelta::days(day),
        );
        ids.push(
            runner.run("schedule", false).await.unwrap()[0].copies[0]
                .copy_id
                .clone(),
        );
    }
    let d = &runner.destinations[0];
    let check = |per: usize| {
        lifeboat::pipeline::reverify::reverify(
            &runner.destinations,
            &runner.history,
            clock.as_ref(),
            1 << 30,
            lifeboat::pipeline::reverify::Pick::LongestUnchecked(per),
        )
    };
    // Oldest-verified first, a bounded number per pass.
    let first = check(1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].copy_id, ids[0]);
    assert!(first[0].ok);
    // Someone changes one stored object and deletes another copy entirely.
    let object = lifeboat::destinations::layout::data_object(&ids[1]);
    d.store
        .write_small(&object, b"not what was stored".to_vec())
        .await
        .unwrap();
    lifeboat::destinations::manifest::delete_copy(d, &ids[2], "")
        .await
        .unwrap();
    clock.set(clock.now() + TimeDelta::hours(1));
    let all = check(0).await.unwrap();
    let by_id = |id: &str| all.iter().find(|c| c.copy_id == id).unwrap().clone();
    assert!(by_id(&ids[0]).ok);
    assert!(by_id(&ids[1]).error.unwrap().starts_with("changed"));
    assert!(by_id(&ids[2]).error.unwrap().starts_with("vanished"));
    let checks = runner.history.last_checks().await.unwrap();
    assert!(!checks[&("b2".to_owned(), ids[1].clone())].ok);
    // What Home Assistant and the status command are told.
    let watch = lifeboat::report::Watch {
        sources: Vec::new(),
        destinations: vec!["b2".into()],
        stale_after: std::time::Duration::from_secs(26 * 3600),
        kit_every: Some(std::time::Duration::from_secs(180 * 86_400)),
        cautions: Vec::new(),
        clock: clock.clone(),
    };
    let s = lifeboat::report::Summary::load(&runner.history, false, &watch)
        .await
        .unwrap();
    let damaged: Vec<_> = s
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Damaged)
        .collect();
    assert_eq!(damaged.len(), 2, "{:?}", s.problems);
    // Two days later without a new copy, the destination is stale as well.
    clock.set(clock.now() + TimeDelta::hours(48));
    let s = lifeboat::report::Summary::load(&runner.history, false, &watch)
        .await
        .unwrap();
    assert!(
        s.problems.iter().any(|p| p.kind == ProblemKind::Stale
            && p.text.starts_with("the newest verified copy on b2")),
        "{:?}",
        s.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_missed_a_backup_gets_it_after_a_restart() {
    let src = folder_with(&[
        ("one.tar", &fixture("ha-core/ha-2026.2.3-plain.tar")),
        ("two.tar", &fixture("supervisor-style/full-plain.tar")),
    ]);
    let nas = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let prefix = unique("retry");
    let clock = SetClock::at("2026-02-01T03:00:00Z");
    let source = Arc::new(lifeboat::source::folder::FolderSource::new(
        src.path().into(),
    ));
    {
        // The cloud is unreachable today (nothing listens on that port).
        let mut r = runner(
            source.clone(),
            &[
                local_spec("nas", nas.path()),
                s3_spec_with("b2", &prefix, "http://127.0.0.1:9", S3_SECRET),
            ],
            &k.spec,
            data.path(),
        );
        r.clock = clock.clone();
        let reports = r.run("schedule", false).await.unwrap();
        assert!(reports.iter().all(|x| x.status == RunStatus::Partial));
        let queue = r.history.retries().await.unwrap();
        assert_eq!(queue.len(), 2);
        assert!(
            queue
                .iter()
                .all(|q| q.destination == "b2" && q.last_error.is_some())
        );
        // Not due yet: nothing happens.
        assert!(r.retry_due().await.unwrap().is_empty());
    }
    // One backup disappears from the source before the retry.
    std::fs::remove_file(src.path().join("two.tar")).unwrap();
    // Lifeboat restarts (new process: history reopened), the cloud is back.
    let mut r = runner(
        source,
        &[local_spec("nas", nas.path()), s3_spec("b2", &prefix)],
        &k.spec,
        data.path(),
    );
    r.clock = clock.clone();
    clock.set(clock.now() + TimeDelta::minutes(6));
    let reports = r.retry_due().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].status, RunStatus::Success);
    assert_eq!(
        reports[0].copies.len(),
        1,
        "only the destination that was owed it"
    );
    assert_eq!(reports[0].copies[0].destination, "b2");
    // Delivered, or given up because the source no longer has it: the queue is empty.
    assert!(r.history.retries().await.unwrap().is_empty());
    let on_b2 = listed_ids(&r.destinations[1]).await;
    assert_eq!(on_b2.len(), 1);
    let plain = decrypt(
        &r.destinations[1],
        &lifeboat::destinations::layout::data_object(on_b2.iter().next().unwrap()),
        &k.identity,
    )
    .await;
    assert_eq!(plain, fixture("ha-core/ha-2026.2.3-plain.tar"));
}

/// A local HTTP listener that keeps what it receives.
async fn listener() -> (
    url::Url,
    Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap, String)>>>,
) {
    use axum::extract::{Request, State};
    type Seen = Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap, String)>>>;
    let seen: Seen = Arc::default();
    async fn keep(State(seen): State<Seen>, req: Request) -> &'static str {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        seen.lock().unwrap().push((
            parts.uri.path().to_owned(),
            parts.headers,
            String::from_utf8_lossy(&body).into_owned(),
        ));
        "OK"
    }
    let app = axum::Router::new().fallback(keep).with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (url::Url::parse(&format!("http://{addr}/")).unwrap(), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_outside_home_assistant_reach_a_listener() {
    let (base, seen) = listener().await;
    let src = folder_with(&[("one.tar", &fixture("ha-core/ha-2026.2.3-plain.tar"))]);
    let good = tempfile::tempdir().unwrap();
    let k = kit();
    let alerter = |kind, path: &str, on_success| {
        Arc::new(lifeboat::alert::Alerter::new(
            reqwest::Client::new(),
            AlertSpec {
                url: base.join(path).unwrap(),
                kind,
                on_success,
            },
        ))
    };
    for (kind, path, dests, expect_path) in [
        (
            AlertKind::Webhook,
            "hook",
            vec![s3_spec_with(
                "b2",
                &unique("alert"),
                "http://127.0.0.1:9",
                S3_SECRET,
            )],
            "/hook",
        ),
        (
            AlertKind::Ntfy,
            "lifeboat-topic",
            vec![s3_spec_with(
                "b2",
                &unique("alert"),
                "http://127.0.0.1:9",
                S3_SECRET,
            )],
            "/lifeboat-topic",
        ),
        (
            AlertKind::Healthchecks,
            "ping/abc",
            vec![s3_spec_with(
                "b2",
                &unique("alert"),
                "http://127.0.0.1:9",
                S3_SECRET,
            )],
            "/ping/abc/fail",
        ),
        (
            AlertKind::Healthchecks,
            "ping/abc",
            vec![local_spec("nas", good.path())],
            "/ping/abc",
        ),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut r = runner(
            Arc::new(lifeboat::source::folder::FolderSource::new(
                src.path().into(),
            )),
            &dests,
            &k.spec,
            data.path(),
        );
        r.observer = alerter(kind, path, false);
        let status = r.run("schedule", false).await.unwrap()[0].status;
        let got = seen.lock().unwrap().pop().expect("an alert");
        assert_eq!(got.0, expect_path, "{kind:?}");
        match kind {
            AlertKind::Webhook => {
                assert_eq!(status, RunStatus::Failed);
                let v: serde_json::Value = serde_json::from_str(&got.2).unwrap();
                assert_eq!(v["event"], "lifeboat_backup_failed");
                // Unreachable before anything was made: the pre-flight check says so.
                let error = v["error"].as_str().unwrap();
                assert!(error.contains("pre-flight") && error.contains("b2"), "{v}");
                assert!(v["message"].as_str().unwrap().contains("b2:"));
            }
            AlertKind::Ntfy => {
                assert_eq!(got.1["title"], "Lifeboat: backup failed");
                assert_eq!(got.1["priority"], "high");
                assert!(got.2.contains("b2:"));
            }
            AlertKind::Healthchecks => {}
        }
    }
    // A webhook that only wants failures hears nothing of a success.
    let data = tempfile::tempdir().unwrap();
    let nas = tempfile::tempdir().unwrap();
    let mut r = runner(
        Arc::new(lifeboat::source::folder::FolderSource::new(
            src.path().into(),
        )),
        &[local_spec("nas", nas.path())],
        &k.spec,
        data.path(),
    );
    r.observer = alerter(AlertKind::Webhook, "hook", false);
    assert_eq!(
        r.run("schedule", false).await.unwrap()[0].status,
        RunStatus::Success
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn the_cli_prunes_previews_pins_and_re_verifies() {
    let src = folder_with(&[
        ("one.tar", &fixture("ha-core/ha-2026.2.3-plain.tar")),
        ("two.tar", &fixture("supervisor-style/full-plain.tar")),
    ]);
    let out = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recipient = kit().identity.to_public().to_string();
    let source = format!("folder:{}", src.path().display());
    let keep_all = format!("file://{}", out.path().display());
    let keep_one = format!("{keep_all}?keep=last=1");
    let dd = data.path().to_str().unwrap();
    let with = |extra: &[&str], to: &str| {
        let mut a = vec!["--data-dir", dd];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--source", &source, "--to", to, "--recipient", &recipient]);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let stored = || files_ending(out.path(), &[".tar.age", ".manifest.json"]);
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        lifeboat(&refs, &[])
    };
    // Both backups shipped, every copy kept.
    let o = run(with(&["run"], &keep_all));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(with(&["prune", "--dry-run", "--json"], &keep_one));
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let decisions = v[0]["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2);
    let doomed = decisions.iter().find(|d| d["keep"] == false).unwrap();
    assert_eq!(doomed["reasons"][0], "outside the policy last=1");
    let doomed = doomed["id"].as_str().unwrap().to_owned();
    assert_eq!(stored(), 4, "a dry run deletes nothing");
    // Pinned, it survives the policy; unpinned, it goes.
    let o = lifeboat(
        &["--data-dir", dd, "pin", "--destination", "local", &doomed],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(with(&["prune"], &keep_one));
    assert!(text(&o).contains("deleted 0 of 2"), "{}", text(&o));
    let o = lifeboat(
        &["--data-dir", dd, "unpin", "--destination", "local", &doomed],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(with(&["prune"], &keep_one));
    assert!(text(&o).contains("deleted 1 of 2"), "{}", text(&o));
    assert_eq!(stored(), 2);
    // Re-verification: intact, then a flipped byte is caught and the exit code says so.
    let o = run(with(&["verify"], &keep_all));
    assert!(
        o.status.success() && text(&o).contains("intact"),
        "{}",
        text(&o)
    );
    let data_file = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.age"))
        .unwrap();
    let mut bytes = std::fs::read(&data_file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&data_file, bytes).unwrap();
    let o = run(with(&["verify"], &keep_all));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("FAILED — changed"), "{}", text(&o));
    // A policy it cannot read is a clear error naming it.
    let o = run(with(&["prune"], &format!("{keep_all}?keep=daily=seven")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("retention") && text(&o).contains("whole number"),
        "{}",
        text(&o)
    );
}

/// `lifeboat serve` runs the schedule: a backup every two seconds (croner's optional seconds
/// field) lands in the folder without anybody asking, and retention keeps the folder trimmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_scheduled_backups_by_itself() {
    let src = folder_with(&[("one.tar", &fixture("ha-core/ha-2026.2.3-plain.tar"))]);
    let out = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lifeboat.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{data}\"\nlisten = \"127.0.0.1:0\"\n\
             [source]\ntype = \"folder\"\npath = \"{src}\"\n\
             [schedule]\nbackup = \"*/2 * * * * *\"\n\
             [encryption]\nrecipients = [\"{recipient}\"]\n\
             [[destinations]]\ntype = \"local\"\nname = \"nas\"\npath = \"{out}\"\n",
            data = dir.path().join("data").display(),
            src = src.path().display(),
            out = out.path().display(),
            recipient = kit().identity.to_public(),
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .env("LIFEBOAT_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let manifests = || files_ending(out.path(), &[".manifest.json"]);
    // The manifest is written before the run is recorded: wait for the record too.
    let recorded = || async {
        let Ok(h) = lifeboat::history::History::open(&dir.path().join("data")) else {
            return false;
        };
        h.recent_runs(10).await.is_ok_and(|runs| {
            runs.iter()
                .any(|r| r.trigger == "schedule" && r.status == RunStatus::Success)
        })
    };
    for _ in 0..300 {
        if manifests() > 0 && recorded().await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert_eq!(
        manifests(),
        1,
        "no scheduled backup landed; lifeboat said: {log}"
    );
    assert!(log.contains("next scheduled backup"), "{log}");
    let h = lifeboat::history::History::open(&dir.path().join("data")).unwrap();
    let runs = h.recent_runs(10).await.unwrap();
    assert!(
        runs.iter()
            .any(|r| r.trigger == "schedule" && r.status == RunStatus::Success)
    );
}
