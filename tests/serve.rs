//! `lifeboat serve`: the idle-but-up state on bad options, a backup asked for over the JSON API
//! going through the single-flight worker to a real copy, and who may connect.

use crate::support::*;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use lifeboat::history::RunStatus;
use lifeboat::source::folder::FolderSource;
use lifeboat::web::ingress::{Access, SUPERVISOR_INGRESS};
use lifeboat::web::{AppState, app};
use std::sync::Arc;
use tower::ServiceExt;

async fn call(router: axum::Router, method: &str, uri: &str) -> (StatusCode, String) {
    let resp = router
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status();
    let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn idle_state(problems: Vec<String>, access: Access) -> AppState {
    idle_with_drives(
        problems,
        access,
        &std::env::temp_dir().join(unique("drives")),
    )
}

fn idle_with_drives(problems: Vec<String>, access: Access, data_dir: &std::path::Path) -> AppState {
    AppState {
        services: None,
        problems: Arc::new(problems),
        access,
        csrf: lifeboat::web::csrf::Token::from_bytes([1; 32]),
        shutdown: tokio_util::sync::CancellationToken::new(),
        drives: lifeboat::destinations::rclone::connect::Drives::in_data_dir(data_dir),
    }
}

/// "Add a cloud drive" works before the options do (connecting a drive often comes first): a
/// remote whose check fails is not kept and its secret is not shown; one that lists is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_drive_can_be_connected_while_the_options_are_invalid() {
    use crate::dashboard::{get, post_form};
    let dir = tempfile::tempdir().unwrap();
    let state = idle_with_drives(
        vec!["destinations: add at least one destination".into()],
        Access::Any,
        dir.path(),
    );
    let page = get(&state, "/drives").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("rclone authorize &#34;onedrive&#34;"),
        "{}",
        page.body
    );
    let csrf = state.csrf.as_str().to_owned();
    // An SFTP server that is not there: rclone cannot list, and nothing is kept.
    let refused = post_form(
        &state,
        "/drives/import",
        &[
            ("csrf", &csrf),
            ("section", "[nas]\ntype = sftp\nhost = 127.0.0.1\nport = 1\nuser = ha\npass = PASTED-SECRET-9\n"),
            ("folder", "backups"),
        ],
    )
    .await;
    assert!(refused.body.contains("Not connected"), "{}", refused.body);
    assert!(
        !refused.body.contains("PASTED-SECRET-9"),
        "{}",
        refused.body
    );
    let conf = dir.path().join("rclone.conf");
    assert!(!conf.exists(), "a remote that did not list was kept");
    let folder = dir.path().join("usb");
    let kept = post_form(
        &state,
        "/drives/import",
        &[
            ("csrf", &csrf),
            ("section", "[usb]\ntype = local\n"),
            ("folder", folder.to_str().unwrap()),
        ],
    )
    .await;
    assert!(kept.body.contains("Connected: usb"), "{}", kept.body);
    assert!(std::fs::read_to_string(&conf).unwrap().contains("[usb]"));
    // The token the page carries is still required.
    let forged = post_form(
        &state,
        "/drives/import",
        &[("section", "[x]\ntype = local\n")],
    )
    .await;
    assert_ne!(forged.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_options_keep_the_server_up_and_say_why() {
    let state = idle_state(
        vec!["destinations[0].bucket: name the bucket".into()],
        Access::Any,
    );
    for page in ["/", "/runs", "/runs/1", "/copies", "/destinations"] {
        let (s, body) = call(app(state.clone()), "GET", page).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert!(body.contains("destinations[0].bucket"), "{page}: {body}");
        assert!(body.contains("the options need fixing"), "{page}: {body}");
    }
    let (_, body) = call(app(state.clone()), "GET", "/api/health").await;
    assert!(body.contains("misconfigured"));
    let (s, _) = call(app(state.clone()), "POST", "/api/backup").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let (s, _) = call(app(state.clone()), "GET", "/api/progress").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let (s, body) = call(app(state), "POST", "/backup").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("the options need fixing"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_requested_over_the_json_api_lands_and_shows_on_the_page() {
    let src = folder_with(&[("b.tar", &fixture("ha-core/ha-2026.2.3-plain.tar"))]);
    let out = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let runner = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &[local_spec("usb", out.path())],
        &k.spec,
        data.path(),
    );
    let history = runner.history.clone();
    let (state, shutdown, task) = dashboard(runner, Vec::new()).await;

    let (_, page) = call(app(state.clone()), "GET", "/").await;
    assert!(page.contains("Not protected yet"), "{page}");
    let (s, _) = call(app(state.clone()), "POST", "/api/backup").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let mut done = false;
    for _ in 0..200 {
        let runs = history.recent_runs(1).await.unwrap();
        if runs.first().is_some_and(|r| r.status != RunStatus::Running) {
            assert_eq!(runs[0].status, RunStatus::Success, "{:?}", runs[0].error);
            done = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(done, "the triggered run did not finish");
    let (_, page) = call(app(state.clone()), "GET", "/").await;
    assert!(
        page.contains("Your home is protected") && page.contains("Custom backup 2026.2.3"),
        "{page}"
    );
    let (_, runs) = call(app(state), "GET", "/api/runs").await;
    assert!(runs.contains("\"status\":\"success\""), "{runs}");
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn only_the_ingress_proxy_gets_in_and_links_follow_its_path() {
    let state = idle_state(Vec::new(), Access::Only(Arc::new(vec![SUPERVISOR_INGRESS])));
    let request = |peer: [u8; 4]| {
        let mut req = Request::builder()
            .uri("/")
            .header("X-Ingress-Path", "/api/hassio_ingress/t0k3n")
            .header("X-Remote-User-Display-Name", "Ann")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                peer, 40000,
            ))));
        req
    };
    let refused = app(state.clone())
        .oneshot(request([127, 0, 0, 1]))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let ok = app(state).oneshot(request([172, 30, 32, 2])).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let html =
        String::from_utf8(to_bytes(ok.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(
        html.contains("/api/hassio_ingress/t0k3n/static/lifeboat.css") && html.contains(">Ann<"),
        "{html}"
    );
}

/// Through a real socket: the server sees the peer's address (loopback here), so a policy that
/// admits only the ingress proxy refuses its pages; the health endpoint answers loopback (the
/// image's HEALTHCHECK asks from inside the container).
#[tokio::test]
async fn a_real_connection_from_elsewhere_is_refused() {
    let state = idle_state(Vec::new(), Access::Only(Arc::new(vec![SUPERVISOR_INGRESS])));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    for refused in ["/", "/api/runs", "/kit", "/api/health/../runs"] {
        let r = reqwest::get(format!("http://{addr}{refused}"))
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{refused}");
    }
    let r = reqwest::get(format!("http://{addr}/api/health"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The Supervisor stops an add-on with SIGTERM and kills it 10 s later; the add-on's stdin stays
/// open all along (`stdin: true`). `lifeboat serve` must end well inside that, not hang on the
/// read of stdin that is still pending.
#[test]
fn serve_ends_at_sigterm_though_its_stdin_stays_open() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let (src, out, data) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(["serve", "--listen", "127.0.0.1:0", "--source"])
        .arg(format!("folder:{}", src.path().display()))
        .arg("--to")
        .arg(format!("file://{}", out.path().display()))
        .arg("--data-dir")
        .arg(data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut serving = Serving(child);
    let _held_open = serving.0.stdin.take();
    let stderr = serving.0.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let said = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("serving on"));
    assert!(said.is_some(), "lifeboat serve never started serving");
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let pid = serving.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let status = loop {
        if let Some(s) = serving.0.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let status = status.expect("still running 8 s after SIGTERM: the Supervisor would kill it");
    assert!(status.success(), "{status}");
}
