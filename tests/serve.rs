//! `lifeboat serve`: the router without a socket, the idle-but-up state on bad options, and a
//! backup triggered over HTTP going through the single-flight worker to a real copy.

use crate::support::*;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use lifeboat::history::RunStatus;
use lifeboat::source::folder::FolderSource;
use lifeboat::web::{AppState, app, worker};
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

#[tokio::test]
async fn bad_options_keep_the_server_up_and_say_why() {
    let state = AppState {
        history: None,
        triggers: None,
        problems: Arc::new(vec!["destinations[0].bucket: name the bucket".into()]),
    };
    let (s, body) = call(app(state.clone()), "GET", "/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("destinations[0].bucket"), "{body}");
    let (_, body) = call(app(state.clone()), "GET", "/api/health").await;
    assert!(body.contains("misconfigured"));
    let (s, _) = call(app(state), "POST", "/api/backup").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_requested_over_http_lands_and_shows_on_the_page() {
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
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (triggers, task) = worker::spawn(runner, shutdown.clone());
    let state = AppState {
        history: Some(history.clone()),
        triggers: Some(triggers),
        problems: Arc::new(Vec::new()),
    };

    let (_, page) = call(app(state.clone()), "GET", "/").await;
    assert!(page.contains("Nothing is protected yet"));
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
        page.contains("Last verified backup") && page.contains("Custom backup 2026.2.3"),
        "{page}"
    );
    let (_, runs) = call(app(state), "GET", "/api/runs").await;
    assert!(runs.contains("\"status\":\"success\""), "{runs}");
    shutdown.cancel();
    task.await.unwrap();
}
