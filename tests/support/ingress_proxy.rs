//! A stand-in for Home Assistant's ingress proxy (HOME_ASSISTANT.md, "Ingress"): it serves the
//! add-on under `/api/hassio_ingress/<token>/`, forwards each request to the add-on with the prefix
//! stripped, adds `X-Ingress-Path`, `X-Hass-Source` and the signed-in person's
//! `X-Remote-User-*` headers (dropping any the client sent), and streams the answer back
//! unbuffered, as ingress does for server-sent events.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

struct Upstream {
    addon: String,
    prefix: String,
    user: String,
    http: reqwest::Client,
}

/// Starts the proxy in front of `addon` (e.g. `http://127.0.0.1:8099`); returns the page's URL,
/// `http://127.0.0.1:<port>/api/hassio_ingress/<token>/`.
pub async fn start(addon: &str, token: &str, user: &str) -> String {
    let up = Arc::new(Upstream {
        addon: addon.trim_end_matches('/').to_owned(),
        prefix: format!("/api/hassio_ingress/{token}"),
        user: user.to_owned(),
        // Redirects go back to the browser, as a proxy's must.
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let url = format!("{base}{}/", up.prefix);
    let app = Router::new().fallback(forward).with_state(up);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    url
}

async fn forward(State(up): State<Arc<Upstream>>, req: Request) -> Response {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let Some(rest) = path_and_query.strip_prefix(&up.prefix) else {
        return (StatusCode::NOT_FOUND, "not an ingress path").into_response();
    };
    let rest = if rest.is_empty() || rest.starts_with('?') {
        format!("/{rest}")
    } else {
        rest.to_owned()
    };
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 16 << 20).await.unwrap_or_default();
    let mut out = up
        .http
        .request(parts.method.clone(), format!("{}{rest}", up.addon))
        .body(body);
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if matches!(n, "host" | "content-length" | "connection")
            || n.starts_with("x-remote-user")
            || n.starts_with("x-ingress")
        {
            continue;
        }
        out = out.header(name, value);
    }
    out = out
        .header("x-ingress-path", &up.prefix)
        .header("x-hass-source", "core.ingress")
        .header("x-remote-user-display-name", &up.user)
        .header("x-remote-user-name", up.user.to_lowercase());
    let resp = match out.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let mut back = Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        if matches!(
            name.as_str(),
            "transfer-encoding" | "connection" | "content-length"
        ) {
            continue;
        }
        if let Ok(n) = HeaderName::from_bytes(name.as_str().as_bytes()) {
            back = back.header(n, value.as_bytes());
        }
    }
    back.body(Body::from_stream(resp.bytes_stream()))
        .unwrap_or_else(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())
}
