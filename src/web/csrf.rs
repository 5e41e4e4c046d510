//! Cross-site request forgery: every state-changing request (POST) to a page must prove it came
//! from one of Lifeboat's own pages, by carrying the server's token in a `csrf` form field or an
//! `X-Lifeboat-Token` header, whatever its `Origin` says or whether it says anything (a request
//! with no `Origin` is not proof of a script: issue 38 printed the kit with `curl -d ''`). A
//! browser that says the request is cross-site is refused even with a token.
//!
//! The JSON API (`POST /api/…`) takes only `Content-Type: application/json`, which no web page
//! can send to another site without the browser asking first (and Lifeboat answers no such
//! question); who may use it is [`super::ingress`]'s to say (loopback, the ingress proxy, or the
//! password).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The header a script sends the token in.
pub const HEADER: &str = "x-lifeboat-token";
/// The form field a page sends the token in.
pub const FIELD: &str = "csrf";
/// The largest form body read.
const MAX_FORM: usize = 64 * 1024;

/// The token pages embed in their forms. Made from the operating system's randomness once per
/// process; its `Debug` does not show it.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// A token from 32 random bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(hex::encode(bytes).into())
    }

    /// A fresh random token.
    ///
    /// # Errors
    /// When the operating system has no randomness to give.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        // 0.2: the getrandom syscall itself, so the static binary needs no /dev in its root.
        getrandom::getrandom(&mut bytes)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The token's text, for a hidden form field.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in time that does not depend on where the texts differ.
    pub fn matches(&self, other: &str) -> bool {
        crate::secret::same_bytes(self.0.as_bytes(), other.as_bytes())
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn refuse(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        format!("{why} Reload Lifeboat's page and try again."),
    )
        .into_response()
}

/// Whether `headers` say the body is JSON (`application/json`, with or without a charset).
fn is_json(headers: &HeaderMap) -> bool {
    header(headers, "content-type").is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Lets through safe methods, JSON to the API, and state-changing requests that carry the token.
pub async fn guard(State(token): State<Token>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    if header(headers, "sec-fetch-site") == Some("cross-site") {
        return refuse("This request came from another site.");
    }
    if req.uri().path().starts_with("/api/") {
        return if is_json(headers) {
            next.run(req).await
        } else {
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Lifeboat's JSON API takes only JSON: send Content-Type: application/json with a \
                 body such as {}.",
            )
                .into_response()
        };
    }
    if let Some(sent) = header(headers, HEADER) {
        return if token.matches(sent) {
            next.run(req).await
        } else {
            refuse("The page's token is out of date.")
        };
    }
    let form = header(headers, "content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return refuse("This request carries no token.");
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response();
    };
    let sent = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v.into_owned());
    match sent {
        Some(s) if token.matches(&s) => {}
        Some(_) => return refuse("The page's token is out of date."),
        None => return refuse("This form carries no token."),
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt;

    fn app(token: Token) -> Router {
        Router::new()
            .route("/act", post(|body: String| async move { body }))
            .route("/api/act", post(|body: String| async move { body }))
            .layer(axum::middleware::from_fn_with_state(token, guard))
    }

    async fn send(token: &Token, headers: &[(&str, &str)], body: &str) -> (StatusCode, String) {
        send_to("/act", token, headers, body).await
    }

    async fn send_to(
        path: &str,
        token: &Token,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, String) {
        let mut req = Request::post(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = app(token.clone())
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

    #[tokio::test]
    async fn forms_need_the_token_and_keep_their_body() {
        let t = Token::from_bytes([7; 32]);
        let good = format!("csrf={}&pin=1", t.as_str());
        let origin = ("origin", "http://homeassistant.local:8123");
        let (s, body) = send(&t, &[FORM, origin], &good).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, good.as_str()));
        let (s, _) = send(&t, &[FORM, origin], "csrf=00&pin=1").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = send(&t, &[FORM, origin], "pin=1").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = send(&t, &[FORM, ("sec-fetch-site", "cross-site")], &good).await;
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "cross-site is refused even with the token"
        );
    }

    #[tokio::test]
    async fn scripts_send_the_header() {
        let t = Token::from_bytes([9; 32]);
        let js = [("origin", "http://x"), (HEADER, t.as_str())];
        assert_eq!(send(&t, &js, "").await.0, StatusCode::OK);
        let wrong = [("origin", "http://x"), (HEADER, "nope")];
        assert_eq!(send(&t, &wrong, "").await.0, StatusCode::FORBIDDEN);
        assert_eq!(
            send(&t, &[("origin", "http://evil.example")], "{}").await.0,
            StatusCode::FORBIDDEN
        );
        assert!(!format!("{t:?}").contains(t.as_str()));
    }

    /// Issue 38: `curl -d '' http://HOST:PORT/kit/print` printed the kit: a form POST with no
    /// `Origin` passed without the token. Every form POST needs it now, whatever its `Origin`.
    #[tokio::test]
    async fn a_form_without_the_token_is_refused_whatever_its_origin() {
        let t = Token::from_bytes([9; 32]);
        let (s, body) = send(&t, &[FORM], "").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "curl -d '': {body}");
        assert_eq!(send(&t, &[FORM], "a=1").await.0, StatusCode::FORBIDDEN);
        assert_eq!(send(&t, &[], "").await.0, StatusCode::FORBIDDEN, "no type");
        let good = format!("csrf={}", t.as_str());
        assert_eq!(send(&t, &[FORM], &good).await.0, StatusCode::OK);
    }

    /// The JSON API takes JSON (which a page elsewhere cannot send without asking first) and
    /// nothing else.
    #[tokio::test]
    async fn the_json_api_takes_only_json() {
        let t = Token::from_bytes([9; 32]);
        let json = ("content-type", "application/json");
        assert_eq!(
            send_to("/api/act", &t, &[json], "{}").await.0,
            StatusCode::OK
        );
        let (s, body) = send_to("/api/act", &t, &[FORM], "").await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(body.contains("Content-Type: application/json"), "{body}");
        assert_eq!(
            send_to("/api/act", &t, &[], "").await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let (s, _) = send_to(
            "/api/act",
            &t,
            &[json, ("sec-fetch-site", "cross-site")],
            "{}",
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
}
