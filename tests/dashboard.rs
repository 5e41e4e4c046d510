//! The dashboard through its router, without a socket, always under an ingress prefix: every page
//! (empty install and after real runs to real local folders), every action (back up, verify, pin,
//! unpin, delete after its confirmation), the form token, the live-progress stream, and that
//! links never leave the prefix and secrets never reach the HTML.

use crate::support::*;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use lifeboat::history::RunStatus;
use lifeboat::secret::Secret;
use lifeboat::source::folder::FolderSource;
use lifeboat::web::{AppState, app};
use std::sync::Arc;
use tower::ServiceExt;

pub(crate) const PREFIX: &str = "/api/hassio_ingress/Tok3n_x";
const HA_KEY: &str = "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG";

pub(crate) struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub cache_control: Option<String>,
    pub body: String,
}

async fn send(state: &AppState, req: Request<Body>) -> Page {
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (location, cache_control) = (header("location"), header("cache-control"));
    let body = to_bytes(resp.into_body(), 4 << 20).await.unwrap();
    Page {
        status,
        location,
        cache_control,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub(crate) async fn get(state: &AppState, path: &str) -> Page {
    let req = Request::get(path)
        .header("x-ingress-path", PREFIX)
        .header("x-remote-user-display-name", "Ann")
        .body(Body::empty())
        .unwrap();
    send(state, req).await
}

/// A form post as a browser sends it: with an Origin, and the token unless `token` is None.
async fn post(state: &AppState, path: &str, token: Option<&str>) -> Page {
    let fields: Vec<(&str, &str)> = token.map(|t| ("csrf", t)).into_iter().collect();
    post_form(state, path, &fields).await
}

/// A form post with these fields (the token among them when wanted), as a browser sends it.
pub(crate) async fn post_form(state: &AppState, path: &str, fields: &[(&str, &str)]) -> Page {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let req = Request::post(path)
        .header("x-ingress-path", PREFIX)
        .header("x-remote-user-display-name", "Ann")
        .header("origin", "http://homeassistant.local:8123")
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send(state, req).await
}

pub(crate) fn token(state: &AppState) -> String {
    state.csrf.as_str().to_owned()
}

/// Every link, form and asset stays under the ingress prefix.
pub(crate) fn assert_prefixed(path: &str, html: &str) {
    let re = regex::Regex::new(r#"(?:href|action|src)="([^"]*)""#).unwrap();
    for cap in re.captures_iter(html) {
        let url = &cap[1];
        assert!(
            url.starts_with(PREFIX) || url == "#main" || url == "data:,",
            "{path}: {url} leaves the ingress prefix"
        );
    }
}

pub(crate) async fn wait_for_runs(h: &lifeboat::history::History, n: usize) {
    for _ in 0..400 {
        let runs = h.recent_runs(n).await.unwrap();
        if runs.len() == n && runs.iter().all(|r| r.status != RunStatus::Running) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("runs did not finish");
}

/// A runner shipping the sample backup from a folder to a local folder per name, and the temporary
/// folders it uses (dropped at the end of the test).
fn sample(names: &[&str]) -> (Vec<tempfile::TempDir>, lifeboat::pipeline::run::Runner) {
    let src = folder_with(&[("b.tar", &fixture("ha-core/ha-2026.2.3-plain.tar"))]);
    let data = tempfile::tempdir().unwrap();
    let outs: Vec<tempfile::TempDir> = names.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let specs: Vec<_> = names
        .iter()
        .zip(&outs)
        .map(|(n, d)| local_spec(n, d.path()))
        .collect();
    let r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &specs,
        &kit().spec,
        data.path(),
    );
    let mut dirs = vec![src, data];
    dirs.extend(outs);
    (dirs, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_install_says_what_to_do_on_every_page() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &[local_spec("nas", out.path())],
        &kit().spec,
        data.path(),
    );
    let cron: croner::Cron = "30 3 * * *".parse().unwrap();
    let plan = lifeboat::schedule::Schedule {
        name: lifeboat::schedule::ScheduleName::Backup,
        sources: Vec::new(),
        cron,
        tz: chrono_tz::UTC,
        jitter: std::time::Duration::from_secs(1200),
    };
    let (state, shutdown, task) = dashboard(r, vec![plan]).await;
    let overview = get(&state, "/").await;
    assert_eq!(overview.status, StatusCode::OK);
    for want in [
        "Not protected yet",
        "Back up now",
        "No copy yet",
        "No runs yet",
        "up to 20 min later)",
        ">Ann<",
    ] {
        assert!(overview.body.contains(want), "{want}: {}", overview.body);
    }
    assert!(
        !overview.body.contains("What needs attention"),
        "the headline says it"
    );
    for path in [
        "/",
        "/runs",
        "/copies",
        "/destinations",
        "/kit",
        "/runs?status=failed",
    ] {
        let p = get(&state, path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        assert_prefixed(path, &p.body);
    }
    assert!(get(&state, "/runs").await.body.contains("No runs yet"));
    assert!(
        get(&state, "/copies")
            .await
            .body
            .contains("No copy here yet")
    );
    let d = get(&state, "/destinations").await;
    assert!(
        d.body.contains("Never tried yet") && d.body.contains("No finished run yet"),
        "{}",
        d.body
    );
    let missing = get(&state, "/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_prefixed("404", &missing.body);
    let css = get(&state, "/static/lifeboat.css").await;
    assert!(css.body.contains("prefers-color-scheme: dark"));
    assert_eq!(
        get(&state, "/static/x.css").await.status,
        StatusCode::NOT_FOUND
    );
    shutdown.cancel();
    task.await.unwrap();
}

/// Issue 38: a WebDAV destination reached over http:// at another machine sends its password in
/// the clear; the overview says so among its problems (a new install too), with the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webdav_password_over_http_is_on_the_overview() {
    let (_dirs, r) = sample(&["nas"]);
    let dav = lifeboat::config::urls::destinations_from_urls(
        &["webdav+http://nas.example:5005/backups?name=dav".to_owned()],
        &lifeboat::config::urls::Credentials {
            webdav_username: Some("ann".into()),
            webdav_password: Some(Secret::new("s3cr3t-dav")),
            ..Default::default()
        },
    )
    .unwrap();
    let specs = lifeboat::config::validate_destinations(dav).unwrap();
    let mut settings = daemon_settings(&r, Vec::new(), None);
    settings.watch.cautions = lifeboat::config::cautions(&specs);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = lifeboat::daemon::Daemon::new(r, settings)
        .start(&shutdown)
        .await
        .unwrap();
    let overview = get(&running.state, "/").await;
    assert_eq!(overview.status, StatusCode::OK);
    for want in [
        "What needs attention",
        "In the clear",
        "dav sends its password in the clear to nas.example",
        "https://",
    ] {
        assert!(overview.body.contains(want), "{want}: {}", overview.body);
    }
    assert!(!overview.body.contains("s3cr3t"));
    shutdown.cancel();
    running.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_from_back_up_to_delete() {
    let (_dirs, mut r) = sample(&["nas", "usb"]);
    r.keys.options_ha_keys = vec![Secret::new(HA_KEY)];
    let history = r.history.clone();
    let (state, shutdown, task) = dashboard(r, Vec::new()).await;
    let t = token(&state);

    // The button: refused without the token, queued with it.
    assert_eq!(
        post(&state, "/backup", None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&state, "/backup", Some("0000")).await.status,
        StatusCode::FORBIDDEN
    );
    let started = post(&state, "/backup", Some(&t)).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    assert_eq!(
        started.location.as_deref(),
        Some(format!("{PREFIX}/?notice=started").as_str())
    );
    wait_for_runs(&history, 1).await;
    let overview = get(&state, "/?notice=started").await;
    assert!(
        overview.body.contains("Your home is protected")
            && overview.body.contains("on 2 of 2 destinations")
            && overview.body.contains("Backup started"),
        "{}",
        overview.body
    );
    // The run is recorded a moment before the progress view is told it ended.
    let mut progress = get(&state, "/api/progress").await;
    for _ in 0..100 {
        if progress.body.contains("\"outcome\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        progress = get(&state, "/api/progress").await;
    }
    assert!(
        progress.body.contains("\"outcome\":\"success\"") && progress.body.contains("Uploaded"),
        "{}",
        progress.body
    );

    // Runs: the list, filters, one run with its timeline and checksums.
    let runs = get(&state, "/runs").await;
    assert!(
        runs.body.contains("#1") && runs.body.contains("dashboard"),
        "{}",
        runs.body
    );
    assert!(
        get(&state, "/runs?status=problems")
            .await
            .body
            .contains("No run matches")
    );
    assert!(
        get(&state, "/runs?trigger=dashboard&destination=usb&page=1")
            .await
            .body
            .contains("#1")
    );
    let run = get(&state, "/runs/1").await;
    for want in [
        "Verified everywhere",
        "Custom backup 2026.2.3",
        "SHA-256 of the backup",
        "Read back in",
        "Uploaded",
        "every archive inside checked",
    ] {
        assert!(run.body.contains(want), "{want}: {}", run.body);
    }
    assert_eq!(get(&state, "/runs/99").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&state, "/runs/x'").await.status, StatusCode::NOT_FOUND);

    // Copies: listed from the manifests, with their actions.
    let copies = get(&state, "/copies?destination=nas").await;
    let id = history.recent_runs(1).await.unwrap()[0].copies[0]
        .copy_id
        .clone();
    assert!(
        copies.body.contains(&id) && copies.body.contains("Verified when stored"),
        "{}",
        copies.body
    );
    assert!(
        !copies.body.contains("id=\"dest-usb\""),
        "filtered to one destination"
    );
    let base = format!("/copies/nas/{id}");
    let verify = post(&state, &format!("{base}/verify"), Some(&t)).await;
    assert_eq!(verify.status, StatusCode::SEE_OTHER);
    for _ in 0..200 {
        if history
            .last_checks()
            .await
            .unwrap()
            .contains_key(&("nas".to_owned(), id.clone()))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let check = &history.last_checks().await.unwrap()[&("nas".to_owned(), id.clone())];
    assert!(check.ok, "{:?}", check.error);

    let pin = post(&state, &format!("{base}/pin"), Some(&t)).await;
    assert_eq!(pin.status, StatusCode::SEE_OTHER);
    assert!(
        get(&state, "/copies?destination=nas&notice=pinned")
            .await
            .body
            .contains("Pinned")
    );
    let refused = post(&state, &format!("{base}/delete"), Some(&t)).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        get(&state, &format!("{base}/delete"))
            .await
            .body
            .contains("is pinned")
    );
    assert_eq!(
        post(&state, &format!("{base}/unpin"), Some(&t))
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    // Delete: the question names what is lost; the answer deletes and records it.
    let ask = get(&state, &format!("{base}/delete")).await;
    for want in [
        "Delete this copy from nas?",
        "This is the newest copy on nas",
        "nas will hold no copy at all.",
        "This backup is also stored on usb.",
    ] {
        assert!(ask.body.contains(want), "{want}: {}", ask.body);
    }
    assert_prefixed("delete", &ask.body);
    assert_eq!(
        get(&state, &format!("{base}/pin")).await.status,
        StatusCode::NOT_FOUND,
        "only deleting has a page"
    );
    assert_eq!(
        post(&state, &format!("{base}/delete"), None).await.status,
        StatusCode::FORBIDDEN
    );
    let gone = post(&state, &format!("{base}/delete"), Some(&t)).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
    assert!(
        gone.location
            .as_deref()
            .is_some_and(|l| l.ends_with("notice=deleted")),
        "{:?}",
        gone.location
    );
    assert!(
        get(&state, "/copies?destination=nas")
            .await
            .body
            .contains("No copy here yet")
    );
    let deletions = history.deletions(10).await.unwrap();
    assert_eq!(deletions[0].trigger, "dashboard");
    assert!(deletions[0].reason.contains("Ann"), "{:?}", deletions[0]);
    assert_eq!(
        post(&state, &format!("{base}/verify"), Some(&t))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "a deleted copy is not found"
    );

    // Bad paths are not found, never reach a store.
    for path in [
        "/copies/nowhere/x/pin",
        "/copies/nas/..%2F..%2Fetc/pin",
        "/copies/nas/a%20b/delete",
    ] {
        assert_eq!(
            post(&state, path, Some(&t)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    // Destinations: history's view, with both charts.
    let d = get(&state, "/destinations").await;
    for want in ["<svg", "Space used", "How long runs took", "Succeeded"] {
        assert!(d.body.contains(want), "{want}: {}", d.body);
    }

    // No page shows the Home Assistant key or the form token of another process.
    for path in ["/", "/runs", "/runs/1", "/copies", "/destinations"] {
        let p = get(&state, path).await;
        assert!(!p.body.contains(HA_KEY), "{path} shows the HA key");
        assert_prefixed(path, &p.body);
    }
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_progress_streams_and_a_page_opened_later_joins_it() {
    let (_dirs, r) = sample(&["nas"]);
    let history = r.history.clone();
    let (state, shutdown, task) = dashboard(r, Vec::new()).await;
    let resp = app(state.clone())
        .oneshot(
            Request::get("/api/live")
                .header("x-ingress-path", PREFIX)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut stream = resp.into_body().into_data_stream();
    let first = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(
        first.starts_with("event: progress") && first.contains("\"running\":false"),
        "{first}"
    );
    let started = post(&state, "/backup", Some(&token(&state))).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    // The stream follows the run to its end.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains("\"outcome\":\"success\"") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the stream went quiet")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"running\":true"), "{seen}");
    wait_for_runs(&history, 1).await;
    // Shutdown ends the stream.
    shutdown.cancel();
    let rest = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while stream.next().await.is_some() {}
    })
    .await;
    assert!(rest.is_ok(), "the stream did not end at shutdown");
    task.await.unwrap();
}

/// Where Home Assistant was updated between two runs, the Runs page says so, and each run and copy
/// names the Core version its backup restores to (from the backup's own `backup.json`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_page_marks_an_update_between_two_runs() {
    use lifeboat::history::{RunVersions, Versions};
    let (_dirs, r) = sample(&["usb"]);
    let first = r.run("test", false).await.unwrap().remove(0).run_id;
    let second = r.run("test", true).await.unwrap().remove(0).run_id;
    let recorded = r
        .history
        .run(second)
        .await
        .unwrap()
        .unwrap()
        .versions
        .unwrap();
    assert_eq!(recorded.backup.core.as_deref(), Some("2026.2.3"));
    let running = |core: &str| RunVersions {
        backup: recorded.backup.clone(),
        host: Some(Versions {
            core: Some(core.into()),
            ..Versions::default()
        }),
    };
    r.history
        .set_versions(first, &running("2026.2.3"))
        .await
        .unwrap();
    r.history
        .set_versions(second, &running("2026.3.0"))
        .await
        .unwrap();
    let (state, shutdown, task) = dashboard(r, Vec::new()).await;
    let runs = get(&state, "/runs").await;
    assert_eq!(
        runs.body
            .matches("Updated between these runs: Core 2026.2.3 → 2026.3.0")
            .count(),
        1,
        "{}",
        runs.body
    );
    assert!(
        runs.body.contains("restores to Core 2026.2.3"),
        "{}",
        runs.body
    );
    let copies = get(&state, "/copies").await;
    assert!(
        copies
            .body
            .contains("restores to Home Assistant Core 2026.2.3"),
        "{}",
        copies.body
    );
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copies_page_keeps_its_listing_until_copies_change_or_it_is_asked_to_list_again() {
    let (dirs, r) = sample(&["nas"]);
    let nas = dirs[2].path().to_owned();
    let history = r.history.clone();
    let (state, shutdown, task) = dashboard(r, Vec::new()).await;
    let t = token(&state);
    assert_eq!(
        post(&state, "/backup", Some(&t)).await.status,
        StatusCode::SEE_OTHER
    );
    wait_for_runs(&history, 1).await;
    let first = history.recent_runs(1).await.unwrap()[0].copies[0]
        .copy_id
        .clone();
    let page = get(&state, "/copies").await;
    assert!(
        page.body.contains(&first)
            && page.body.contains("Listed ")
            && page.body.contains("List again"),
        "{}",
        page.body
    );
    assert_prefixed("/copies", &page.body);

    // Emptied behind Lifeboat's back: the kept listing is shown, not listed again.
    for entry in std::fs::read_dir(&nas).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }
    assert!(get(&state, "/copies").await.body.contains(&first));

    // "List again": refused without the form's token, then listed anew.
    assert_eq!(
        post(&state, "/copies/list-again", None).await.status,
        StatusCode::FORBIDDEN
    );
    let again = post_form(
        &state,
        "/copies/list-again",
        &[("csrf", &t), ("destination", "nas")],
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let to = again.location.unwrap();
    assert_eq!(to, format!("{PREFIX}/copies?destination=nas&again=1"));
    let listed = get(&state, to.trim_start_matches(PREFIX)).await;
    assert!(
        !listed.body.contains(&first) && listed.body.contains("No copy here yet"),
        "{}",
        listed.body
    );
    // A destination the options do not name is not echoed back.
    let odd = post_form(
        &state,
        "/copies/list-again",
        &[("csrf", &t), ("destination", "../x")],
    )
    .await;
    assert_eq!(
        odd.location.as_deref(),
        Some(format!("{PREFIX}/copies?again=1").as_str())
    );

    // A new run's copy shows on the next load, with no asking.
    std::fs::write(
        dirs[0].path().join("c.tar"),
        fixture("ha-core/ha-2026.2.3-plain.tar"),
    )
    .unwrap();
    assert_eq!(
        post(&state, "/backup", Some(&t)).await.status,
        StatusCode::SEE_OTHER
    );
    wait_for_runs(&history, 2).await;
    let second = history.recent_runs(1).await.unwrap()[0].copies[0]
        .copy_id
        .clone();
    assert_ne!(first, second);
    assert!(get(&state, "/copies").await.body.contains(&second));
    shutdown.cancel();
    task.await.unwrap();
}

/// Issue 38: the copies page says who vouches for each copy. The home's own copy is "signed"; an
/// unsigned copy planted beside it (the same data, newer) is marked Unsigned and said to be left
/// alone; one signed by a stranger's key and one changed after signing are among the manifests
/// that cannot be read, saying why; and neither can be opened for deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copies_page_says_which_copies_are_signed_and_refuses_forged_ones() {
    use lifeboat::destinations::{Manifest, layout};
    use lifeboat::signing::SigningKey;
    let (dirs, r) = sample(&["nas"]);
    let nas = dirs[2].path().to_owned();
    let history = r.history.clone();
    let (state, shutdown, task) = dashboard(r, Vec::new()).await;
    let t = token(&state);
    assert_eq!(
        post(&state, "/backup", Some(&t)).await.status,
        StatusCode::SEE_OTHER
    );
    wait_for_runs(&history, 1).await;
    let real_id = history.recent_runs(1).await.unwrap()[0].copies[0]
        .copy_id
        .clone();
    let real =
        Manifest::parse(&std::fs::read(nas.join(layout::manifest_object(&real_id))).unwrap())
            .unwrap();
    let stranger = SigningKey::from_seed(&[9; 32]).unwrap();
    plant_beside(&nas, &real, "20990101T000000Z-unsigned", None);
    plant_beside(&nas, &real, "20990102T000000Z-forged", Some(&stranger));
    // Signed with the home's key (the real manifest's), then changed.
    let mut altered = real.clone();
    altered.copy_id = "20990103T000000Z-altered".into();
    altered.object = layout::data_object(&altered.copy_id);
    let mut json: serde_json::Value = serde_json::from_slice(&real.to_json()).unwrap();
    json["copy_id"] = altered.copy_id.clone().into();
    json["object"] = altered.object.clone().into();
    std::fs::write(
        nas.join(layout::manifest_object(&altered.copy_id)),
        serde_json::to_vec(&json).unwrap(),
    )
    .unwrap();

    let listed = post_form(
        &state,
        "/copies/list-again",
        &[("csrf", &t), ("destination", "nas")],
    )
    .await;
    let page = get(&state, listed.location.unwrap().trim_start_matches(PREFIX)).await;
    let row = |id: &str| {
        page.body
            .split("<tr")
            .find(|r| r.contains(id))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(row(&real_id).contains("signed (sign:"), "{}", row(&real_id));
    assert!(!row(&real_id).contains(">Unsigned<"), "{}", row(&real_id));
    let unsigned = row("20990101T000000Z-unsigned");
    assert!(
        unsigned.contains(">Unsigned<") && unsigned.contains("not counted or deleted by retention"),
        "{unsigned}"
    );
    assert!(page.body.contains("refused as forged"), "{}", page.body);
    assert!(
        page.body.contains("altered after it was signed"),
        "{}",
        page.body
    );
    for id in ["20990102T000000Z-forged", "20990103T000000Z-altered"] {
        let del = get(&state, &format!("/copies/nas/{id}/delete")).await;
        assert_eq!(del.status, StatusCode::NOT_FOUND, "{id}: {}", del.body);
        assert!(del.body.contains("refused"), "{id}: {}", del.body);
    }

    // Moved from an earlier box: its key, pasted from its kit on the kit page, is trusted at once.
    let kit = get(&state, "/kit").await;
    assert!(
        kit.body.contains("Signing keys") && kit.body.contains("this box"),
        "{}",
        kit.body
    );
    let refused = post_form(
        &state,
        "/kit/trust",
        &[("csrf", &t), ("keys", "AGE-SECRET-KEY-1")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("No signing key was found"),
        "{}",
        refused.body
    );
    let pasted = format!("Signing keys\n   {}  (an earlier box)\n", stranger.public());
    let trusted = post_form(&state, "/kit/trust", &[("csrf", &t), ("keys", &pasted)]).await;
    assert_eq!(trusted.status, StatusCode::SEE_OTHER, "{}", trusted.body);
    assert!(get(&state, "/kit").await.body.contains("an earlier box"));
    let listed = post_form(
        &state,
        "/copies/list-again",
        &[("csrf", &t), ("destination", "nas")],
    )
    .await;
    let page = get(&state, listed.location.unwrap().trim_start_matches(PREFIX)).await;
    assert!(!page.body.contains("refused as forged"), "{}", page.body);
    let forged_row = page
        .body
        .split("<tr")
        .find(|r| r.contains("20990102T000000Z-forged"))
        .unwrap_or_default();
    assert!(
        forged_row.contains(&format!("signed ({})", stranger.public().fingerprint())),
        "{forged_row}"
    );
    shutdown.cancel();
    task.await.unwrap();
}
