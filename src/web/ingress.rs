//! Home Assistant ingress and who else may talk to the server, and where its pages live.
//!
//! Inside the add-on only the Supervisor's ingress proxy (172.30.32.2) may connect, and the
//! container's own loopback may ask [`HEALTH_PATH`] (the image's HEALTHCHECK runs in the container;
//! nothing outside it reaches its loopback). Standalone, the server answers loopback; beyond it
//! only when told who may connect (`--allow`) or given a password ([`Access::with_password`]):
//! `lifeboat serve` refuses to listen anywhere else ([`Access::check_listen`]), and the guard
//! refuses any peer it was not told of all the same.
//!
//! Loopback and the ingress proxy (Home Assistant signed the person in) are trusted. Any other
//! peer gives the password when one is set, on every request (a browser asks for it: HTTP Basic,
//! any user name; a script sends `Authorization: Bearer <password>`); without one, a peer named
//! by `--allow` sees the pages but may not use the JSON API, which needs the password beyond
//! loopback.
//!
//! Whatever the peer, the name a request is addressed to (its `Host`) must be one the server
//! answers for: `localhost` (and `*.localhost`), an address typed as digits, or a name given with
//! `--host-name` ([`Access::with_host_names`]); any other name is refused with 421 and how to add
//! it. A web page elsewhere can point a name of its own at 127.0.0.1 once the browser has loaded it
//! (DNS rebinding) and then read the dashboard as its own; the `Host` it sends is that name. Only
//! the ingress proxy is spared: it forwards the `Host` the person's browser gave Home Assistant,
//! and nothing but the proxy reaches the add-on.
//!
//! Every link, form and asset URL is prefixed with the `X-Ingress-Path` the proxy sends, and the
//! signed-in person's display name from `X-Remote-User-Display-Name` is shown (the Supervisor
//! strips client-supplied copies).

use crate::secret::Secret;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The Supervisor's address on the add-on network, the only ingress peer.
pub const SUPERVISOR_INGRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 30, 32, 2));

/// Which peers may connect, and the password any other peer gives.
#[derive(Debug, Clone)]
pub struct Access {
    /// The peers named (`None`: not named, so loopback, and others only with the password).
    only: Option<Arc<Vec<IpAddr>>>,
    /// Set by the person (`LIFEBOAT_PASSWORD`); its `Debug` does not show it.
    password: Option<Secret>,
    /// Names besides `localhost` the server answers for (`--host-name`), lower case.
    host_names: Arc<Vec<String>>,
}

/// The shortest password taken, as for passphrases.
pub const MIN_PASSWORD: usize = crate::secret::MIN_PASSPHRASE;

/// Why `lifeboat serve` will not start as asked.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(
        "lifeboat serve will not listen on {0}: anyone who reaches that address could use the \
         dashboard (and print the emergency kit). Listen on 127.0.0.1 to keep it on this machine, \
         or say who may connect with --allow ADDRESS (repeatable, for example --allow \
         192.168.1.20), or set a password in the LIFEBOAT_PASSWORD environment variable (at \
         least {MIN_PASSWORD} characters: browsers then ask for it, scripts send it as \
         Authorization: Bearer <password>)"
    )]
    Open(IpAddr),
    #[error(
        "the password in LIFEBOAT_PASSWORD is too short: use at least {MIN_PASSWORD} characters"
    )]
    WeakPassword,
}

impl Access {
    /// Any peer on loopback (standalone use on 127.0.0.1).
    pub fn any() -> Self {
        Self {
            only: None,
            password: None,
            host_names: Arc::default(),
        }
    }

    /// Only these addresses (the add-on: [`SUPERVISOR_INGRESS`]).
    pub fn only(peers: Vec<IpAddr>) -> Self {
        Self {
            only: Some(Arc::new(peers)),
            password: None,
            host_names: Arc::default(),
        }
    }

    /// The same, answering requests addressed to these names too (`nas.local`, `lifeboat.home`;
    /// a port given with one is ignored), besides `localhost` and addresses.
    #[must_use]
    pub fn with_host_names<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        let names: Vec<String> = names
            .into_iter()
            .filter_map(|n| host_of(n.as_ref().trim()).map(|(h, _)| h))
            .filter(|h| !h.is_empty())
            .collect();
        self.host_names = Arc::new(names);
        self
    }

    /// Whether a request addressed to `host` (its `Host` header or its URL's authority, port and
    /// all; `None` when it names none) is one this server answers.
    pub fn answers_for(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            // No browser leaves it out, so no page can use its absence (HTTP/1.0 tools do).
            return true;
        };
        match host_of(host) {
            None => false,
            Some((_, true)) => true,
            Some((name, false)) => {
                name == "localhost"
                    || name.ends_with(".localhost")
                    || self.host_names.contains(&name)
            }
        }
    }

    /// Whether `peer` is Home Assistant's ingress proxy, named as the only way in.
    fn is_ingress(&self, peer: IpAddr) -> bool {
        peer.to_canonical() == SUPERVISOR_INGRESS
            && self
                .only
                .as_ref()
                .is_some_and(|l| l.iter().any(|a| a.to_canonical() == SUPERVISOR_INGRESS))
    }

    /// The same, with a password any peer but loopback and the ingress proxy gives.
    ///
    /// # Errors
    /// [`AccessError::WeakPassword`] when it is shorter than [`MIN_PASSWORD`].
    pub fn with_password(mut self, password: Secret) -> Result<Self, AccessError> {
        if password.expose().chars().count() < MIN_PASSWORD {
            return Err(AccessError::WeakPassword);
        }
        self.password = Some(password);
        Ok(self)
    }

    /// Whether `peer` may connect at all.
    pub fn allows(&self, peer: IpAddr) -> bool {
        match &self.only {
            Some(list) => list.iter().any(|a| a.to_canonical() == peer.to_canonical()),
            None => peer.to_canonical().is_loopback() || self.password.is_some(),
        }
    }

    /// Whether `peer` needs no password: loopback, and Home Assistant's ingress proxy where it
    /// is named (Home Assistant signed the person in).
    fn trusts(&self, peer: IpAddr) -> bool {
        peer.to_canonical().is_loopback() || self.is_ingress(peer)
    }

    /// Checks that listening on `addr` answers no one unannounced: loopback, or peers named, or
    /// a password set.
    ///
    /// # Errors
    /// [`AccessError::Open`] saying how to allow it.
    pub fn check_listen(&self, addr: IpAddr) -> Result<(), AccessError> {
        if addr.to_canonical().is_loopback() || self.only.is_some() || self.password.is_some() {
            Ok(())
        } else {
            Err(AccessError::Open(addr))
        }
    }

    /// Whether `headers` carry the password (`Bearer` or HTTP Basic with any user name).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(password) = &self.password else {
            return false;
        };
        let Some(given) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let (scheme, value) = given.trim().split_once(' ').unwrap_or((given, ""));
        let sent = if scheme.eq_ignore_ascii_case("bearer") {
            value.trim().to_owned()
        } else if scheme.eq_ignore_ascii_case("basic") {
            use base64::Engine as _;
            let Some(pair) = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            else {
                return false;
            };
            match pair.split_once(':') {
                Some((_, p)) => p.to_owned(),
                None => return false,
            }
        } else {
            return false;
        };
        crate::secret::same_bytes(sent.as_bytes(), password.expose().as_bytes())
    }
}

/// The host of a `Host` value (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`), lower case
/// without a final dot, and whether it is an address; `None` when it is not a host at all.
fn host_of(raw: &str) -> Option<(String, bool)> {
    if let Some(rest) = raw.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        return (port_ok && inside.parse::<std::net::Ipv6Addr>().is_ok())
            .then(|| (inside.to_ascii_lowercase(), true));
    }
    let host = match raw.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return None,
        None => raw,
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let name_like = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !name_like {
        return None;
    }
    let address = host.parse::<Ipv4Addr>().is_ok();
    Some((host, address))
}

/// The answer to a request addressed to a name the server does not answer for.
fn misdirected(host: Option<&str>) -> Response {
    let name = host.and_then(host_of).map(|(h, _)| h);
    let shown = name.as_deref().unwrap_or("this name");
    let add = name
        .as_deref()
        .map_or_else(|| "NAME".to_owned(), str::to_owned);
    (
        StatusCode::MISDIRECTED_REQUEST,
        format!(
            "Lifeboat does not answer for {shown}: open it as http://localhost:PORT or by its \
             address (http://192.168.1.5:PORT). To reach it by this name, start it with \
             --host-name {add} (repeatable), or set LIFEBOAT_HOST_NAMES={add} (names separated \
             by commas). A name Lifeboat was not told of is refused because a web page can point \
             a name of its own at this machine to read the dashboard (DNS rebinding)."
        ),
    )
        .into_response()
}

/// The health endpoint, which a peer on loopback may always ask.
pub const HEALTH_PATH: &str = "/api/health";

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (status, why).into_response()
}

/// Refuses requests from peers the policy does not allow, and asks any peer that must give the
/// password for it.
pub async fn guard(State(access): State<Access>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // The name the request is addressed to, checked for every peer let in (it says nothing to
    // one that is not): but the ingress proxy passes on the one the person's browser gave Home
    // Assistant.
    let host = match req.headers().get(axum::http::header::HOST) {
        Some(v) => Some(v.to_str().unwrap_or("\u{0}")),
        None => req
            .uri()
            .authority()
            .map(axum::http::uri::Authority::as_str),
    };
    let misaddressed = !peer.is_some_and(|p| access.is_ingress(p)) && !access.answers_for(host);
    // In-process (tests, no socket): only an open policy passes.
    let Some(peer) = peer else {
        return if access.only.is_some() {
            refuse(
                StatusCode::FORBIDDEN,
                "Lifeboat answers only Home Assistant's ingress proxy: open it from the Home Assistant sidebar.",
            )
        } else if misaddressed {
            misdirected(host)
        } else {
            next.run(req).await
        };
    };
    let health = peer.to_canonical().is_loopback() && req.uri().path() == HEALTH_PATH;
    if !health && !access.allows(peer) {
        return refuse(
            StatusCode::FORBIDDEN,
            if access.only.is_some() {
                "Lifeboat answers only the addresses it was told of (Home Assistant's ingress \
                 proxy in the add-on: open it from the Home Assistant sidebar)."
            } else {
                "Lifeboat answers only this machine: start it with --allow naming your address, \
                 or with a password in LIFEBOAT_PASSWORD."
            },
        );
    }
    if misaddressed {
        return misdirected(host);
    }
    if health {
        return next.run(req).await;
    }
    if access.trusts(peer) || access.authorized(req.headers()) {
        return next.run(req).await;
    }
    if access.password.is_some() {
        let mut resp = refuse(
            StatusCode::UNAUTHORIZED,
            "Lifeboat asks for its password (LIFEBOAT_PASSWORD): a browser asks for it, any user \
             name; a script sends Authorization: Bearer <password>.",
        );
        resp.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Basic realm=\"Lifeboat\", charset=\"UTF-8\""),
        );
        return resp;
    }
    // A peer named by --allow, with no password set: the pages, not the JSON API.
    if *req.method() != Method::GET
        && *req.method() != Method::HEAD
        && req.uri().path().starts_with("/api/")
    {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "The JSON API answers other machines only with a password: set LIFEBOAT_PASSWORD \
             where Lifeboat runs, and send Authorization: Bearer <password>.",
        );
    }
    next.run(req).await
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
        let a = Access::only(vec![SUPERVISOR_INGRESS]);
        assert!(a.allows(SUPERVISOR_INGRESS));
        assert!(a.allows("::ffff:172.30.32.2".parse().unwrap()));
        assert!(!a.allows("172.30.32.3".parse().unwrap()));
        assert!(!a.allows("127.0.0.1".parse().unwrap()));
        assert!(Access::any().allows("127.0.0.1".parse().unwrap()));
        assert!(Access::any().allows("::1".parse().unwrap()));
    }

    /// Issue 38: with no --allow and no password, no peer beyond loopback gets in, and serve
    /// will not listen beyond loopback, saying how to allow it.
    #[test]
    fn no_one_beyond_loopback_gets_in_unannounced() {
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        assert!(!Access::any().allows(lan));
        let e = Access::any()
            .check_listen("0.0.0.0".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--allow") && e.contains("LIFEBOAT_PASSWORD") && e.contains("127.0.0.1"),
            "{e}"
        );
        assert!(
            Access::any()
                .check_listen("127.0.0.1".parse().unwrap())
                .is_ok()
        );
        assert!(Access::any().check_listen("::1".parse().unwrap()).is_ok());
        assert!(
            Access::only(vec![lan])
                .check_listen("0.0.0.0".parse().unwrap())
                .is_ok()
        );
        let pw = Access::any()
            .with_password(Secret::new("correct horse battery"))
            .unwrap();
        assert!(pw.check_listen("0.0.0.0".parse().unwrap()).is_ok());
        assert!(pw.allows(lan));
        assert!(Access::any().with_password(Secret::new("short")).is_err());
    }

    /// Issue 38 (DNS rebinding): a request is answered when addressed to localhost, an address
    /// or a name given with --host-name, and refused when addressed to any other name.
    #[test]
    fn only_requests_addressed_to_known_names_are_answered() {
        let a = Access::any();
        for ok in [
            None,
            Some("localhost"),
            Some("localhost:8099"),
            Some("LocalHost.:8099"),
            Some("lifeboat.localhost:8099"),
            Some("127.0.0.1:8099"),
            Some("127.0.0.2"),
            Some("192.168.1.5:8099"),
            Some("[::1]:8099"),
            Some("[::1]"),
        ] {
            assert!(a.answers_for(ok), "{ok:?}");
        }
        for refused in [
            "evil.example",
            "evil.example:8099",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "nas.local:8099",
            "",
            "[::1",
            "[nope]:80",
            "a b",
            "localhost:x",
        ] {
            assert!(!a.answers_for(Some(refused)), "{refused:?}");
        }
        let named = Access::any().with_host_names(["NAS.local", "lifeboat.home:8099", " "]);
        assert!(named.answers_for(Some("nas.local:8099")));
        assert!(named.answers_for(Some("lifeboat.home")));
        assert!(!named.answers_for(Some("evil.example")));
    }

    #[test]
    fn the_password_comes_as_bearer_or_basic() {
        use base64::Engine as _;
        let a = Access::any()
            .with_password(Secret::new("correct horse battery"))
            .unwrap();
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("authorization", v.parse().unwrap());
            a.authorized(&h)
        };
        assert!(with("Bearer correct horse battery"));
        let basic =
            base64::engine::general_purpose::STANDARD.encode("anyone:correct horse battery");
        assert!(with(&format!("Basic {basic}")));
        assert!(!with("Bearer correct horse batter"));
        assert!(!a.authorized(&HeaderMap::new()));
        assert!(!format!("{a:?}").contains("horse"));
    }
}
