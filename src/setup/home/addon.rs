//! The add-on's options, kept by the Supervisor: read as stored from `GET /addons/self/info`
//! (`!secret` references kept), saved whole with `POST /addons/self/options`, confirmed with
//! `GET /addons/self/options/config` (validated, secrets resolved). Never
//! `/addons/self/options/validate`: the security middleware answers it 403 for role `backup`.
//! Every answer is capped and every request time-limited; a refusal's message is shown without
//! any secret that was sent.

use super::HomeError;
use crate::config::edit::{EditError, SECRET_FIELDS, SettingsDoc};
use crate::config::options::Options;
use crate::secret::Secret;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use url::Url;

/// The most an answer may hold: options are a few KiB.
const MAX_ANSWER: usize = 1 << 20;
/// How long one request may take.
const PATIENCE: Duration = Duration::from_secs(30);
/// The longest refusal message shown.
const MAX_MESSAGE: usize = 500;

pub(super) async fn read(
    http: &reqwest::Client,
    base: &Url,
    token: &Secret,
) -> Result<SettingsDoc, HomeError> {
    let data = call(http, base, token, Method::GET, "/addons/self/info", None).await?;
    let options = data
        .get("options")
        .filter(|o| o.is_object())
        .cloned()
        .ok_or_else(|| {
            HomeError::Unreachable("its add-on information holds no options object".into())
        })?;
    Ok(SettingsDoc::from_json(options)?)
}

pub(super) async fn write(
    http: &reqwest::Client,
    base: &Url,
    token: &Secret,
    doc: &SettingsDoc,
) -> Result<Options, HomeError> {
    let sent = doc.to_json().ok_or_else(|| {
        HomeError::Edit(EditError::Options(
            "a settings file cannot be saved as the add-on's options".into(),
        ))
    })?;
    let body = json!({ "options": sent });
    call(
        http,
        base,
        token,
        Method::POST,
        "/addons/self/options",
        Some(&body),
    )
    .await
    .map_err(|e| without_secrets(e, &sent))?;
    let got = call(
        http,
        base,
        token,
        Method::GET,
        "/addons/self/options/config",
        None,
    )
    .await?;
    if let Some(at) = first_difference(&sent, &got, "") {
        return Err(HomeError::NotConfirmed(if at.is_empty() {
            "(the whole object)".into()
        } else {
            at
        }));
    }
    Ok(SettingsDoc::from_json(got)?.options()?)
}

/// One request, its envelope unwrapped to `data`.
async fn call(
    http: &reqwest::Client,
    base: &Url,
    token: &Secret,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, HomeError> {
    let mut url = base.clone();
    url.set_path(path);
    let mut req = http
        .request(method, url)
        .bearer_auth(token.expose())
        .timeout(PATIENCE);
    if let Some(body) = body {
        req = req.json(body);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| HomeError::Unreachable(e.to_string()))?;
    let status = resp.status().as_u16();
    let bytes = capped(resp).await?;
    let envelope: Option<Value> = serde_json::from_slice(&bytes).ok();
    match envelope {
        Some(e) if e["result"] == "ok" && (200..300).contains(&status) => Ok(e["data"].clone()),
        Some(e) if e["result"] == "error" => Err(HomeError::Refused(
            e["message"]
                .as_str()
                .unwrap_or("no reason given")
                .chars()
                .take(MAX_MESSAGE)
                .collect(),
        )),
        _ if status == 401 || status == 403 => Err(HomeError::Refused(format!(
            "HTTP {status}: it does not let the add-on call {path}"
        ))),
        _ => Err(HomeError::Unreachable(format!(
            "{path} answered HTTP {status} without a Supervisor answer"
        ))),
    }
}

/// The body, read up to [`MAX_ANSWER`].
async fn capped(mut resp: reqwest::Response) -> Result<Vec<u8>, HomeError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| HomeError::Unreachable(e.to_string()))?
    {
        if out.len() + chunk.len() > MAX_ANSWER {
            return Err(HomeError::Unreachable(format!(
                "its answer is larger than {} KiB",
                MAX_ANSWER / 1024
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Where `got` first differs from `sent` (`destinations[1].bucket`), over the values sent that
/// are not `!secret` references.
fn first_difference(sent: &Value, got: &Value, at: &str) -> Option<String> {
    match sent {
        Value::String(s) if s.starts_with("!secret ") => None,
        Value::Object(m) => {
            let Some(g) = got.as_object() else {
                return Some(at.to_owned());
            };
            m.iter().find_map(|(k, v)| {
                let here = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                first_difference(v, g.get(k).unwrap_or(&Value::Null), &here)
            })
        }
        Value::Array(items) => {
            let Some(g) = got.as_array().filter(|g| g.len() == items.len()) else {
                return Some(at.to_owned());
            };
            items
                .iter()
                .zip(g)
                .enumerate()
                .find_map(|(i, (v, g))| first_difference(v, g, &format!("{at}[{i}]")))
        }
        other => (other != got).then(|| at.to_owned()),
    }
}

/// A refusal's message with every secret that was sent blotted out (the Supervisor's messages
/// may quote the options they refuse).
fn without_secrets(e: HomeError, sent: &Value) -> HomeError {
    let HomeError::Refused(mut message) = e else {
        return e;
    };
    let mut secrets = Vec::new();
    secrets_in(sent, false, &mut secrets);
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        message = message.replace(s.as_str(), "…");
    }
    HomeError::Refused(message)
}

/// Every string under a secret's key: the destinations' secrets, tokens, passphrases and Home
/// Assistant's backup keys.
fn secrets_in(v: &Value, secret: bool, out: &mut Vec<String>) {
    match v {
        Value::String(s) if secret => out.push(s.clone()),
        Value::Object(m) => {
            for (k, v) in m {
                let is = secret
                    || SECRET_FIELDS.contains(&k.as_str())
                    || matches!(
                        k.as_str(),
                        "token" | "passphrase" | "ha_backup_keys" | "environment"
                    );
                secrets_in(v, is, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| secrets_in(i, secret, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};

    /// A Supervisor that answers `info` with `info` and `options/config` with `config`, and takes
    /// every `POST /addons/self/options`.
    async fn supervisor(info: axum::Router) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, info).await.unwrap() });
        url.parse().unwrap()
    }

    fn token() -> Secret {
        Secret::new("t")
    }

    #[tokio::test]
    async fn a_huge_answer_is_refused_unread() {
        let big = "x".repeat(2 << 20);
        let url = supervisor(
            axum::Router::new().route("/addons/self/info", get(move || async move { big.clone() })),
        )
        .await;
        let err = read(&reqwest::Client::new(), &url, &token())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("larger than 1024 KiB"), "{err}");
    }

    #[tokio::test]
    async fn a_bare_403_is_a_refusal_that_names_the_call() {
        let url = supervisor(axum::Router::new().route(
            "/addons/self/info",
            get(|| async { axum::http::StatusCode::FORBIDDEN }),
        ))
        .await;
        let err = read(&reqwest::Client::new(), &url, &token())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, HomeError::Refused(m) if m.contains("HTTP 403") && m.contains("/addons/self/info")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn options_read_back_otherwise_are_not_confirmed() {
        let url = supervisor(
            axum::Router::new()
                .route(
                    "/addons/self/options",
                    post(|| async { axum::Json(json!({"result": "ok", "data": {}})) }),
                )
                .route(
                    "/addons/self/options/config",
                    get(|| async {
                        axum::Json(json!({"result": "ok", "data": {"retention": "last=1"}}))
                    }),
                ),
        )
        .await;
        let doc = SettingsDoc::from_json(json!({"retention": "last=9"})).unwrap();
        let err = write(&reqwest::Client::new(), &url, &token(), &doc)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, HomeError::NotConfirmed(at) if at == "retention"),
            "{err}"
        );
    }

    #[test]
    fn the_first_difference_is_named_and_secret_references_are_passed_over() {
        let sent = json!({"destinations": [{"name": "a", "password": "!secret nas"},
                                           {"name": "b", "bucket": "x"}], "keep_local": 3});
        let same = json!({"destinations": [{"name": "a", "password": "hunter2"},
                                           {"name": "b", "bucket": "x"}], "keep_local": 3});
        assert_eq!(first_difference(&sent, &same, ""), None);
        let other = json!({"destinations": [{"name": "a", "password": "hunter2"},
                                            {"name": "b", "bucket": "y"}], "keep_local": 3});
        assert_eq!(
            first_difference(&sent, &other, "").as_deref(),
            Some("destinations[1].bucket")
        );
        let dropped = json!({"destinations": [{"name": "a"}]});
        assert_eq!(
            first_difference(&sent, &dropped, "").as_deref(),
            Some("destinations")
        );
    }

    #[test]
    fn a_refusal_shows_no_secret_that_was_sent() {
        let sent = json!({"destinations": [{"name": "B", "secret_access_key": "s3cr3t-key"}],
                          "ha_backup_keys": ["AAAA-BBBB"], "source": {"token": "tok-123"}});
        let e = HomeError::Refused(
            "bad name. Got {'name': 'B', 'secret_access_key': 's3cr3t-key', 'k': ['AAAA-BBBB'], 't': 'tok-123'}".into(),
        );
        let shown = without_secrets(e, &sent).to_string();
        for s in ["s3cr3t-key", "AAAA-BBBB", "tok-123"] {
            assert!(!shown.contains(s), "{shown}");
        }
        assert!(shown.contains("'name': 'B'"));
    }
}
