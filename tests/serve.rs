//! `lifeboat serve`: the idle-but-up state on bad options, a backup asked for over the JSON API
//! going through the single-flight worker to a real copy, and who may connect: loopback, the
//! ingress proxy, peers named with `--allow`, or anyone with the password; never a whole network
//! unannounced (issue 38).

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

/// What a script sends to start a backup: JSON.
async fn post_json(router: axum::Router, uri: &str) -> (StatusCode, String) {
    let (s, _, body) = from_peer(
        router,
        None,
        "POST",
        uri,
        &[("content-type", "application/json")],
        "{}",
    )
    .await;
    (s, body)
}

/// A request from `peer` (none: in-process) with `headers` and `body`; the status, the
/// `WWW-Authenticate` header and the body.
async fn from_peer(
    router: axum::Router,
    peer: Option<[u8; 4]>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Option<String>, String) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::from(body.to_owned())).unwrap();
    if let Some(peer) = peer {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                peer, 40000,
            ))));
    }
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status();
    let asks = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, asks, String::from_utf8_lossy(&body).into_owned())
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
        current: Arc::new(lifeboat::web::Current::new(lifeboat::web::Generation {
            services: None,
            problems: Arc::new(problems),
        })),
        access,
        csrf: lifeboat::web::csrf::Token::from_bytes([1; 32]),
        shutdown: tokio_util::sync::CancellationToken::new(),
        drives: lifeboat::destinations::kinds::rclone::store::connect::Drives::in_data_dir(
            data_dir,
        ),
        setup: None,
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
        Access::any(),
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
    // "Use it as a destination" fills the rclone destination form with the remote.
    let remote: String =
        url::form_urlencoded::byte_serialize(format!("usb:{}", folder.display()).as_bytes())
            .collect();
    let use_it =
        format!("/destinations/new/rclone?name=usb&#38;remote={remote}\" id=\"use-drive\"");
    assert!(kept.body.contains(&use_it), "{use_it} in {}", kept.body);
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
        Access::any(),
    );
    for page in ["/", "/runs", "/runs/1", "/copies", "/destinations"] {
        let (s, body) = call(app(state.clone()), "GET", page).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert!(body.contains("destinations[0].bucket"), "{page}: {body}");
        assert!(body.contains("the options need fixing"), "{page}: {body}");
    }
    let (_, body) = call(app(state.clone()), "GET", "/api/health").await;
    assert!(body.contains("misconfigured"));
    let (s, _) = post_json(app(state.clone()), "/api/backup").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let (s, _) = call(app(state.clone()), "GET", "/api/progress").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let form = format!("csrf={}", state.csrf.as_str());
    let (s, _, body) = from_peer(
        app(state),
        None,
        "POST",
        "/backup",
        &[("content-type", "application/x-www-form-urlencoded")],
        &form,
    )
    .await;
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
    // Issue 38: `curl -d '' …/kit/print` (a form, no Origin, no token) printed the kit.
    let (s, _, body) = from_peer(
        app(state.clone()),
        None,
        "POST",
        "/kit/print",
        &[("content-type", "application/x-www-form-urlencoded")],
        "",
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the kit was printed: {body}");
    // The JSON API takes JSON only, and starts the backup.
    let (s, body) = call(app(state.clone()), "POST", "/api/backup").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (s, _) = post_json(app(state.clone()), "/api/backup").await;
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
    let state = idle_state(Vec::new(), Access::only(vec![SUPERVISOR_INGRESS]));
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
    let state = idle_state(Vec::new(), Access::only(vec![SUPERVISOR_INGRESS]));
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

/// Issue 38: beyond loopback, a peer gets in only when named (`--allow`) or with the password;
/// the JSON API needs the password beyond loopback and the ingress proxy, which Home Assistant
/// already signed the person in to.
#[tokio::test]
async fn beyond_loopback_a_peer_needs_to_be_named_or_give_the_password() {
    use lifeboat::secret::Secret;
    const LAN: [u8; 4] = [192, 168, 1, 20];
    const JSON: (&str, &str) = ("content-type", "application/json");
    let lan_ip = std::net::IpAddr::from(LAN);
    // Nobody told: nothing beyond loopback.
    let open = idle_state(Vec::new(), Access::any());
    let (s, _, _) = from_peer(app(open.clone()), Some(LAN), "GET", "/", &[], "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = from_peer(app(open), Some([127, 0, 0, 1]), "GET", "/", &[], "").await;
    assert_eq!(s, StatusCode::OK);

    // A password: asked of every request from elsewhere, as Basic (browsers) or Bearer.
    let pw = "correct horse battery staple";
    let guarded = idle_state(
        Vec::new(),
        Access::any().with_password(Secret::new(pw)).unwrap(),
    );
    let (s, asks, _) = from_peer(app(guarded.clone()), Some(LAN), "GET", "/kit", &[], "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(asks.is_some_and(|a| a.starts_with("Basic")));
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("ann:{pw}"))
    );
    let (s, _, _) = from_peer(
        app(guarded.clone()),
        Some(LAN),
        "GET",
        "/",
        &[("authorization", &basic)],
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let bearer = format!("Bearer {pw}");
    let (s, _, _) = from_peer(
        app(guarded.clone()),
        Some(LAN),
        "POST",
        "/api/backup",
        &[JSON],
        "{}",
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Past the door: the idle server says its options are wrong.
    let (s, _, _) = from_peer(
        app(guarded),
        Some(LAN),
        "POST",
        "/api/backup",
        &[JSON, ("authorization", &bearer)],
        "{}",
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);

    // Named with --allow and no password: the pages, not the JSON API.
    let named = idle_state(Vec::new(), Access::only(vec![lan_ip]));
    let (s, _, _) = from_peer(app(named.clone()), Some(LAN), "GET", "/", &[], "").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, body) = from_peer(app(named), Some(LAN), "POST", "/api/backup", &[JSON], "{}").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body.contains("LIFEBOAT_PASSWORD"), "{body}");

    // The add-on: the ingress proxy posts JSON with no password (the image test does).
    let addon = idle_state(Vec::new(), Access::only(vec![SUPERVISOR_INGRESS]));
    let (s, _, _) = from_peer(
        app(addon.clone()),
        Some([172, 30, 32, 2]),
        "POST",
        "/api/backup",
        &[JSON],
        "{}",
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let (s, _, _) = from_peer(
        app(addon),
        Some([172, 30, 32, 2]),
        "POST",
        "/api/backup",
        &[],
        "",
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// Issue 38: `lifeboat serve` on an address beyond loopback, with no `--allow` and no password,
/// refuses to start and says how to allow it.
#[test]
fn serve_refuses_an_open_address_and_says_how() {
    use std::process::{Command, Stdio};
    let (src, out, data) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let serve = |extra: &[&str], password: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.args(["serve", "--listen", "0.0.0.0:0", "--source"])
            .arg(format!("folder:{}", src.path().display()))
            .arg("--to")
            .arg(format!("file://{}", out.path().display()))
            .arg("--data-dir")
            .arg(data.path())
            .args(extra)
            .env_remove("LIFEBOAT_PASSWORD")
            .env_remove("SUPERVISOR_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(p) = password {
            cmd.env("LIFEBOAT_PASSWORD", p);
        }
        Serving(cmd.spawn().unwrap())
    };
    // Ended within seconds, or still serving (killed when dropped).
    let ended = |mut s: Serving, secs: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if let Some(status) = s.0.try_wait().unwrap() {
                let mut said = String::new();
                std::io::Read::read_to_string(&mut s.0.stderr.take().unwrap(), &mut said).unwrap();
                return Some((status, said));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    };
    let (status, said) = ended(serve(&[], None), 20).expect("it served on 0.0.0.0 unannounced");
    assert_eq!(status.code(), Some(2), "{said}");
    assert!(
        said.contains("--allow")
            && said.contains("LIFEBOAT_PASSWORD")
            && said.contains("127.0.0.1"),
        "{said}"
    );
    let (status, said) = ended(serve(&[], Some("short")), 20).expect("a short password was taken");
    assert_eq!(status.code(), Some(2), "{said}");
    assert!(said.contains("at least 12 characters"), "{said}");
    // Told who may connect, or given a password, it serves.
    assert!(ended(serve(&["--allow", "192.168.1.20"], None), 3).is_none());
    assert!(ended(serve(&[], Some("correct horse battery staple")), 3).is_none());
}

/// Issue 38 (DNS rebinding): a request addressed to a name the server was not told of is refused
/// with 421 and how to add the name, whoever sends it; localhost, addresses and names given with
/// --host-name pass; the ingress proxy passes whatever name the person's browser gave Home
/// Assistant (the Supervisor forwards the Host header as it came).
#[tokio::test]
async fn a_request_addressed_to_an_unknown_name_is_refused() {
    const LOOPBACK: [u8; 4] = [127, 0, 0, 1];
    let open = idle_state(Vec::new(), Access::any());
    let host = |h: &'static str| [("host", h)];
    let (s, _, body) = from_peer(
        app(open.clone()),
        Some(LOOPBACK),
        "GET",
        "/",
        &host("evil.example:8099"),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::MISDIRECTED_REQUEST, "{body}");
    assert!(
        body.contains("--host-name evil.example") && body.contains("LIFEBOAT_HOST_NAMES"),
        "{body}"
    );
    // The JSON API and the health endpoint alike.
    for (method, uri) in [
        ("GET", "/api/runs"),
        ("GET", "/api/health"),
        ("POST", "/api/backup"),
    ] {
        let (s, _, _) = from_peer(
            app(open.clone()),
            Some(LOOPBACK),
            method,
            uri,
            &host("evil.example"),
            "",
        )
        .await;
        assert_eq!(s, StatusCode::MISDIRECTED_REQUEST, "{method} {uri}");
    }
    for ok in ["localhost:8099", "127.0.0.1:8099", "[::1]:8099"] {
        let (s, _, _) = from_peer(
            app(open.clone()),
            Some(LOOPBACK),
            "GET",
            "/",
            &[("host", ok)],
            "",
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{ok}");
    }
    let named = idle_state(Vec::new(), Access::any().with_host_names(["nas.local"]));
    let (s, _, _) = from_peer(
        app(named),
        Some(LOOPBACK),
        "GET",
        "/",
        &host("nas.local:8099"),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let addon = idle_state(Vec::new(), Access::only(vec![SUPERVISOR_INGRESS]));
    // A peer that is not let in hears only that (the image test asks from 172.30.33.9).
    let (s, _, _) = from_peer(
        app(addon.clone()),
        Some([172, 30, 33, 9]),
        "GET",
        "/",
        &host("lb-test-addon:8099"),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for name in ["homeassistant.local:8123", "abcdef.ui.nabu.casa"] {
        let (s, _, body) = from_peer(
            app(addon.clone()),
            Some([172, 30, 32, 2]),
            "GET",
            "/",
            &[
                ("host", name),
                ("x-ingress-path", "/api/hassio_ingress/t0k3n"),
            ],
            "",
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{name}: {body}");
    }
}

/// The same through `lifeboat serve` on loopback, with a name given by --host-name and another
/// by LIFEBOAT_HOST_NAMES.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_loopback_answers_only_the_names_it_was_told() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let (src, out, data) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--source",
        ])
        .arg(format!("folder:{}", src.path().display()))
        .arg("--to")
        .arg(format!("file://{}", out.path().display()))
        .arg("--data-dir")
        .arg(data.path())
        .args(["--host-name", "nas.local"])
        .env("LIFEBOAT_HOST_NAMES", "lifeboat.home, backup.lan")
        .env_remove("LIFEBOAT_PASSWORD")
        .env_remove("SUPERVISOR_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut serving = Serving(child);
    let mut lines = std::io::BufReader::new(serving.0.stderr.take().unwrap()).lines();
    let said = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("serving on"));
    assert!(said.is_some(), "lifeboat serve never started serving");
    std::thread::spawn(move || lines.for_each(drop));
    let client = reqwest::Client::new();
    let get = |host: String| {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("http://127.0.0.1:{port}/"))
                .header("host", host)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = get(format!("evil.example:{port}")).await;
    assert_eq!(status, 421, "{body}");
    assert!(body.contains("--host-name evil.example"), "{body}");
    for ok in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("nas.local:{port}"),
        format!("backup.lan:{port}"),
    ] {
        assert_eq!(get(ok.clone()).await.0, 200, "{ok}");
    }
}
