//! A client for Home Assistant Core's websocket API (directly, or through the Supervisor's proxy at
//! `ws://supervisor/core/websocket`).
//!
//! Protocol facts it keeps: the server speaks first (`auth_required`); the token goes in an `auth`
//! message; after `auth_ok` every message carries an id that strictly increases per connection;
//! results come as `{"id","type":"result","success",…}`; events of a subscription carry the
//! subscription's id and may arrive before its result; `ping` is answered by `pong`.

use crate::secret::Secret;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

/// A websocket failure.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("cannot connect to Home Assistant at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("Home Assistant refused the access token ({0}); create a new long-lived token")]
    AuthInvalid(String),
    #[error("Home Assistant answered {code}: {message}")]
    Command { code: String, message: String },
    #[error("the websocket closed unexpectedly")]
    Closed,
    #[error("Home Assistant sent something unexpected: {0}")]
    Protocol(String),
    #[error("no answer from Home Assistant within {0:?}")]
    Timeout(Duration),
}

impl WsError {
    /// Whether trying again later may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Connect { .. } | Self::Closed | Self::Timeout(_))
    }

    /// The command error code, if this is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Command { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// An authenticated websocket connection.
pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Event messages read while waiting for something else.
    queued: VecDeque<Value>,
    /// Time limit for any single answer.
    timeout: Duration,
    pub ha_version: String,
}

/// The websocket URL for a Home Assistant base URL (`http://host:8123` → `ws://host:8123/api/websocket`).
///
/// # Errors
/// [`WsError::Connect`] for a scheme other than http/https.
pub fn websocket_url(base: &Url, path: &str) -> Result<Url, WsError> {
    let mut url = base.clone();
    let scheme = match base.scheme() {
        "http" => "ws",
        "https" => "wss",
        other => {
            return Err(WsError::Connect {
                url: base.to_string(),
                reason: format!("{other}:// is not http:// or https://"),
            });
        }
    };
    url.set_scheme(scheme).map_err(|()| WsError::Connect {
        url: base.to_string(),
        reason: "cannot form the websocket URL".into(),
    })?;
    url.set_path(path);
    Ok(url)
}

impl WsClient {
    /// Connects and authenticates.
    ///
    /// # Errors
    /// [`WsError::Connect`], [`WsError::AuthInvalid`], [`WsError::Timeout`] or [`WsError::Protocol`].
    pub async fn connect(url: &Url, token: &Secret, timeout: Duration) -> Result<Self, WsError> {
        if url.scheme() == "wss" {
            return Err(WsError::Connect {
                url: url.to_string(),
                reason: "https (wss) is not supported yet: use Home Assistant's plain http address on your network".into(),
            });
        }
        let connect = tokio_tungstenite::connect_async(url.as_str());
        let (ws, _) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| WsError::Timeout(timeout))?
            .map_err(|e| WsError::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let mut client = Self {
            ws,
            next_id: 1,
            queued: VecDeque::new(),
            timeout,
            ha_version: String::new(),
        };
        let hello = client.recv().await?;
        if hello["type"] != "auth_required" {
            return Err(WsError::Protocol(format!(
                "expected auth_required, got {hello}"
            )));
        }
        client
            .send(json!({"type": "auth", "access_token": token.expose()}))
            .await?;
        let answer = client.recv().await?;
        match answer["type"].as_str() {
            Some("auth_ok") => {
                client.ha_version = answer["ha_version"].as_str().unwrap_or_default().to_owned();
                Ok(client)
            }
            Some("auth_invalid") => Err(WsError::AuthInvalid(
                answer["message"]
                    .as_str()
                    .unwrap_or("invalid access")
                    .to_owned(),
            )),
            _ => Err(WsError::Protocol(format!("expected auth_ok, got {answer}"))),
        }
    }

    async fn send(&mut self, msg: Value) -> Result<(), WsError> {
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .map_err(|_| WsError::Closed)
    }

    async fn recv(&mut self) -> Result<Value, WsError> {
        let limit = self.timeout;
        self.recv_until(tokio::time::Instant::now() + limit, limit)
            .await
    }

    /// The next text message, or [`WsError::Timeout`] (reporting `limit`) at `deadline`.
    async fn recv_until(
        &mut self,
        deadline: tokio::time::Instant,
        limit: Duration,
    ) -> Result<Value, WsError> {
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| WsError::Timeout(limit))?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|e| WsError::Protocol(format!("not JSON: {e}")));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(WsError::Closed),
                // Pings are answered by the library; binary frames are not part of the protocol.
                Some(Ok(_)) => {}
            }
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends a command (its fields without `id`) and returns its `result`.
    ///
    /// # Errors
    /// [`WsError::Command`] when Home Assistant answers with an error, or a transport error.
    pub async fn call(&mut self, mut msg: Value) -> Result<Value, WsError> {
        let id = self.take_id();
        msg["id"] = json!(id);
        self.send(msg).await?;
        self.await_result(id).await
    }

    /// As [`Self::call`], waiting up to `limit` for the answer (a service call that runs for
    /// minutes, such as installing an update).
    ///
    /// # Errors
    /// As [`Self::call`].
    pub async fn call_within(&mut self, msg: Value, limit: Duration) -> Result<Value, WsError> {
        let usual = std::mem::replace(&mut self.timeout, limit);
        let answer = self.call(msg).await;
        self.timeout = usual;
        answer
    }

    async fn await_result(&mut self, id: u64) -> Result<Value, WsError> {
        loop {
            let msg = self.recv().await?;
            if msg["type"] == "event" {
                self.queued.push_back(msg);
                continue;
            }
            if msg["id"].as_u64() != Some(id) {
                continue;
            }
            return match msg["type"].as_str() {
                Some("pong") => Ok(Value::Null),
                Some("result") if msg["success"] == true => Ok(msg["result"].clone()),
                Some("result") => Err(WsError::Command {
                    code: msg["error"]["code"]
                        .as_str()
                        .unwrap_or("unknown_error")
                        .to_owned(),
                    message: msg["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                }),
                _ => Err(WsError::Protocol(format!("unexpected answer {msg}"))),
            };
        }
    }

    /// Starts a subscription and returns its id; its events are read with [`Self::next_event`].
    ///
    /// # Errors
    /// As [`Self::call`].
    pub async fn subscribe(&mut self, msg: Value) -> Result<u64, WsError> {
        let id = self.next_id;
        self.call(msg).await?;
        Ok(id)
    }

    /// The next event of subscription `sub`, waiting at most `wait`.
    ///
    /// # Errors
    /// [`WsError::Timeout`] when none arrives in time, or a transport error.
    pub async fn next_event(&mut self, sub: u64, wait: Duration) -> Result<Value, WsError> {
        if let Some(pos) = self
            .queued
            .iter()
            .position(|m| m["id"].as_u64() == Some(sub))
            && let Some(m) = self.queued.remove(pos)
        {
            return Ok(m["event"].clone());
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = self.recv_until(deadline, wait).await?;
            if msg["type"] == "event" && msg["id"].as_u64() == Some(sub) {
                return Ok(msg["event"].clone());
            }
        }
    }

    /// Checks the connection is alive.
    ///
    /// # Errors
    /// A transport error.
    pub async fn ping(&mut self) -> Result<(), WsError> {
        self.call(json!({"type": "ping"})).await.map(drop)
    }
}
