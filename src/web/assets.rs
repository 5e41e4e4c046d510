//! The stylesheet and script, built into the binary and served with a long cache life (pages ask
//! for them with the version in the query, so an upgrade fetches them afresh).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../static/lifeboat.css");
const JS: &str = include_str!("../../static/lifeboat.js");

/// `GET /static/{file}`
pub async fn file(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "lifeboat.css" => (CSS, "text/css; charset=utf-8"),
        "lifeboat.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}
