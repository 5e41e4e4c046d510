//! Cross-site request forgery: every state-changing request (POST) must prove it came from one of
//! Lifeboat's own pages, by carrying the server's token in a `csrf` form field or an
//! `X-Lifeboat-Token` header. A browser that says the request is cross-site is refused even with a
//! token. A request with no browser markers at all (no `Origin`, no `Sec-Fetch-Site`: curl, a
//! script on the box) cannot be forged by a web page, and passes without one.

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
        let (a, b) = (self.0.as_bytes(), other.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

/// Lets through safe methods, and state-changing ones that carry the token (or come from no
/// browser at all).
pub async fn guard(State(token): State<Token>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    if header(headers, "sec-fetch-site") == Some("cross-site") {
        return refuse("This request came from another site.");
    }
    if let Some(sent) = header(headers, HEADER) {
        return if token.matches(sent) {
            next.run(req).await
        } else {
            refuse("The page's token is out of date.")
        };
    }
    let browser = headers.contains_key("origin") || headers.contains_key("sec-fetch-site");
    let form = header(headers, "content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return if browser {
            refuse("This request carries no token.")
        } else {
            next.run(req).await
        };
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
        None if browser => return refuse("This form carries no token."),
        None => {}
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
            .layer(axum::middleware::from_fn_with_state(token, guard))
    }

    async fn send(token: &Token, headers: &[(&str, &str)], body: &str) -> (StatusCode, String) {
        let mut req = Request::post("/act");
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
    async fn scripts_send_the_header_and_non_browsers_pass() {
        let t = Token::from_bytes([9; 32]);
        let js = [("origin", "http://x"), (HEADER, t.as_str())];
        assert_eq!(send(&t, &js, "").await.0, StatusCode::OK);
        let wrong = [("origin", "http://x"), (HEADER, "nope")];
        assert_eq!(send(&t, &wrong, "").await.0, StatusCode::FORBIDDEN);
        assert_eq!(
            send(&t, &[("origin", "http://evil.example")], "{}").await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(send(&t, &[], "").await.0, StatusCode::OK, "curl");
        assert_eq!(send(&t, &[FORM], "a=1").await.0, StatusCode::OK, "curl -d");
        assert!(!format!("{t:?}").contains(t.as_str()));
    }
}
