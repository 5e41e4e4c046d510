//! Home Assistant ingress: who may talk to the server, and where its pages live.
//!
//! Inside the add-on only the Supervisor's ingress proxy (172.30.32.2) may connect, and the
//! container's own loopback may ask [`HEALTH_PATH`] (the image's HEALTHCHECK runs in the container;
//! nothing outside it reaches its loopback); standalone, any address may (the server then listens on
//! loopback by default). Every link, form and asset URL is
//! prefixed with the `X-Ingress-Path` the proxy sends, and the signed-in person's display name from
//! `X-Remote-User-Display-Name` is shown (the Supervisor strips client-supplied copies).

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The Supervisor's address on the add-on network, the only ingress peer.
pub const SUPERVISOR_INGRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 30, 32, 2));

/// Which peers may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Any peer (standalone use).
    Any,
    /// Only these addresses (the add-on: [`SUPERVISOR_INGRESS`]).
    Only(Arc<Vec<IpAddr>>),
}

impl Access {
    /// Whether `peer` may connect.
    pub fn allows(&self, peer: IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::Only(list) => list
                .iter()
                .any(|a| *a == peer || a.to_canonical() == peer.to_canonical()),
        }
    }
}

/// The health endpoint, which a peer on loopback may always ask.
pub const HEALTH_PATH: &str = "/api/health";

/// Refuses requests from peers the policy does not allow.
pub async fn guard(State(access): State<Access>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match peer {
        Some(ip) if access.allows(ip) => next.run(req).await,
        Some(ip) if ip.to_canonical().is_loopback() && req.uri().path() == HEALTH_PATH => {
            next.run(req).await
        }
        _ if access == Access::Any => next.run(req).await,
        _ => (
            StatusCode::FORBIDDEN,
            "Lifeboat answers only Home Assistant's ingress proxy: open it from the Home Assistant sidebar.",
        )
            .into_response(),
    }
}

/// Where the page is served from and who is looking at it.
#[derive(Debug, Clone, Default)]
pub struct Ingress {
    /// The path prefix for every URL (empty when not behind ingress).
    pub prefix: String,
    /// The signed-in person's display name, when the proxy says.
    pub user: Option<String>,
}

/// Accepts an ingress path only in the shape Home Assistant makes (`/api/hassio_ingress/<token>`),
/// so a forged header cannot point links elsewhere or break out of an HTML attribute.
fn clean_prefix(raw: &str) -> String {
    let ok = raw.starts_with('/')
        && raw.len() <= 256
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'))
        && !raw.contains("//")
        && !raw.split('/').any(|seg| seg == "..");
    if ok {
        raw.trim_end_matches('/').to_owned()
    } else {
        String::new()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ingress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Self {
            prefix: header("x-ingress-path")
                .map(|p| clean_prefix(&p))
                .unwrap_or_default(),
            user: header("x-remote-user-display-name").filter(|u| !u.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_taken_only_in_home_assistants_shape() {
        assert_eq!(
            clean_prefix("/api/hassio_ingress/AbC-12_x/"),
            "/api/hassio_ingress/AbC-12_x"
        );
        for bad in [
            "javascript:alert(1)",
            "//evil.example/x",
            "/a\"><script>",
            "/a/../b",
            "relative",
        ] {
            assert_eq!(clean_prefix(bad), "", "{bad}");
        }
    }

    #[test]
    fn only_the_listed_peers_pass() {
        let a = Access::Only(Arc::new(vec![SUPERVISOR_INGRESS]));
        assert!(a.allows(SUPERVISOR_INGRESS));
        assert!(a.allows("::ffff:172.30.32.2".parse().unwrap()));
        assert!(!a.allows("172.30.32.3".parse().unwrap()));
        assert!(!a.allows("127.0.0.1".parse().unwrap()));
        assert!(Access::Any.allows("10.0.0.1".parse().unwrap()));
    }
}
