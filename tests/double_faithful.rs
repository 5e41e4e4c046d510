//! Keeps the test double honest: what it answers is checked against the real transcripts and the
//! facts of HOME_ASSISTANT.md, so the sources are tested against what Home Assistant really says.

use crate::support::ha_double::{Double, Flavor};
use crate::support::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn connect(
    d: &Double,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = d.url.replace("http://", "ws://") + "/api/websocket";
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn next(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

#[tokio::test]
async fn error_shapes_match_the_real_transcript() {
    let transcript: Vec<Value> = serde_json::from_slice(
        &std::fs::read(data("transcripts/ws-error-probes-2026.2.3.json")).unwrap(),
    )
    .unwrap();
    let d = Double::start(Flavor::Core, Vec::new(), None).await;

    // A wrong token: auth_invalid, then the socket closes.
    let mut ws = connect(&d).await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "auth_required");
    ws.send(Message::Text(
        json!({"type": "auth", "access_token": "nope"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let real = &transcript[2]["msg"];
    let got = next(&mut ws).await.unwrap();
    assert_eq!(got, *real);
    assert!(
        next(&mut ws).await.is_none(),
        "the socket must close after auth_invalid"
    );

    // After auth, replay the real probes the double implements and compare answers.
    let mut ws = connect(&d).await;
    next(&mut ws).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "auth", "access_token": d.token()})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut ws).await.unwrap()["type"], "auth_ok");
    let probes = transcript
        .iter()
        .skip_while(|m| m["msg"]["type"] != "auth_ok")
        .skip(1);
    let mut pending: Option<Value> = None;
    let mut compared = 0;
    for m in probes {
        let msg = &m["msg"];
        match m["dir"].as_str() {
            Some("->") => pending = Some(msg.clone()),
            Some("<-") => {
                let Some(sent) = pending.take() else { continue };
                let t = sent["type"].as_str().unwrap_or_default();
                if !(t.starts_with("backup/") || t == "ping" || t == "no/such_command") {
                    continue;
                }
                ws.send(Message::Text(sent.to_string().into()))
                    .await
                    .unwrap();
                let got = next(&mut ws).await.unwrap();
                assert_eq!(got["type"], msg["type"], "{sent}");
                assert_eq!(got["success"], msg["success"], "{sent}");
                assert_eq!(got["error"]["code"], msg["error"]["code"], "{sent}");
                if msg["error"]["code"] != "home_assistant_error" {
                    assert_eq!(got["error"]["message"], msg["error"]["message"], "{sent}");
                }
                compared += 1;
            }
            _ => {}
        }
    }
    assert!(compared >= 5, "only {compared} probes compared");
}

#[tokio::test]
async fn supervisor_auth_and_roles_behave_like_the_real_one() {
    let d = Double::start(Flavor::Supervisor, Vec::new(), None).await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", d.url));
    // No token: a bare 401 without a JSON body.
    let r = get("/backups").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().is_empty());
    // All three header variants are accepted.
    for (h, v) in [
        ("X-Supervisor-Token", d.token().to_owned()),
        ("X-Hassio-Key", d.token().to_owned()),
        ("Authorization", format!("Bearer {}", d.token())),
    ] {
        let r = get("/backups").header(h, v).send().await.unwrap();
        assert_eq!(r.status(), 200, "{h}");
        assert_eq!(r.json::<Value>().await.unwrap()["result"], "ok");
    }
    // Role backup may read /jobs/info but not /jobs/{uuid}.
    let auth = ("Authorization", format!("Bearer {}", d.token()));
    assert_eq!(
        get("/jobs/info")
            .header(auth.0, &auth.1)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get("/jobs/abc")
            .header(auth.0, &auth.1)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // Role backup reads any …/info (the Supervisor's ROLE_BACKUP rule: `^(?:|/.+/info|/backups.*)$`),
    // so the installed add-ons come from /supervisor/info; /addons is refused.
    let role_backup = |path: &str| {
        path.starts_with("/backups") || (path.ends_with("/info") && path.len() > "/info".len())
    };
    for (path, status) in [("/supervisor/info", 200), ("/addons", 403)] {
        assert_eq!(role_backup(path), status == 200, "{path}");
        let r = get(path).header(auth.0, &auth.1).send().await.unwrap();
        assert_eq!(r.status(), status, "{path}");
        if status == 200 {
            let info: Value = r.json().await.unwrap();
            assert!(info["data"]["addons"].is_array(), "{info}");
        }
    }
    // One backup job at a time.
    let start = || {
        http.post(format!("{}/backups/new/full", d.url))
            .header(auth.0, &auth.1)
            .json(&json!({"name": "x", "background": true}))
    };
    let first: Value = start().send().await.unwrap().json().await.unwrap();
    assert!(first["data"]["job_id"].as_str().unwrap().len() == 32);
    let second = start().send().await.unwrap();
    assert_eq!(second.status(), 400);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["result"], "error");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Another job is running")
    );
    // A missing backup downloads as a bare 404.
    let r = get("/backups/deadbeef/download")
        .header(auth.0, &auth.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// The update entities, `update.install` answers and backup-manager events the double gives are
/// those a real Home Assistant 2025.4.4 gave (`transcripts/ws-updates-2025.4.4.json`, recorded by
/// `scripts/record-update-transcript.py` from the demo integration's entities): the same keys in a
/// state and a registry entry, the same error codes and messages, an unknown entity not refused,
/// and the same event sequence for a backup made on another connection.
#[tokio::test]
async fn update_entities_installs_and_backup_events_match_the_real_transcript() {
    use crate::support::ha_double::UpdateFixture;
    let t: Value = serde_json::from_slice(
        &std::fs::read(data("transcripts/ws-updates-2025.4.4.json")).unwrap(),
    )
    .unwrap();
    let msgs: Vec<&Value> = t["transcript"].as_array().unwrap().iter().collect();
    let answer_to = |conn: &str, id: u64| -> Value {
        msgs.iter()
            .find(|m| {
                m["conn"] == conn
                    && m["dir"] == "<-"
                    && m["msg"]["id"] == id
                    && m["msg"]["type"] == "result"
            })
            .map(|m| m["msg"].clone())
            .unwrap()
    };
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let d = Double::start(Flavor::Supervisor, Vec::new(), None).await;
    let mut no_install = UpdateFixture::addon("x", "Demo Update No Install", "1.0.0", "1.0.1");
    no_install.entity_id = "update.demo_update_no_install".into();
    no_install.supported_features = 0;
    let mut no_update = UpdateFixture::addon("y", "Demo No Update", "1.0.0", "1.0.0");
    no_update.entity_id = "update.demo_no_update".into();
    d.add_update(no_install);
    d.add_update(no_update);
    let url =
        lifeboat::ha::websocket::websocket_url(&d.url.parse().unwrap(), "/core/websocket").unwrap();
    let mut ws = lifeboat::ha::websocket::WsClient::connect(
        &url,
        &lifeboat::secret::Secret::new(d.token()),
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    // A state and a registry entry carry the real keys.
    let real_states = &answer_to("a", 1)["result"];
    let states = ws.call(json!({"type": "get_states"})).await.unwrap();
    assert_eq!(keys(&states[0]), keys(&real_states[0]));
    assert_eq!(
        keys(&states[0]["attributes"]),
        keys(&real_states[0]["attributes"])
            .into_iter()
            .filter(|k| k != "device_class")
            .collect::<Vec<_>>()
    );
    let entry = ws
        .call(json!({"type": "config/entity_registry/get", "entity_id": "update.demo_update_no_install"}))
        .await
        .unwrap();
    assert_eq!(keys(&entry), keys(&answer_to("a", 2)["result"]));
    // The refusals, word for word; an entity that does not exist is not refused.
    for (id, entity) in [
        (6, "update.demo_update_no_install"),
        (7, "update.demo_no_update"),
        (8, "update.does_not_exist"),
    ] {
        let real = answer_to("a", id);
        let got = ws
            .call(
                json!({"type": "call_service", "domain": "update", "service": "install",
                "target": {"entity_id": entity}, "service_data": {}}),
            )
            .await;
        match got {
            Ok(r) => {
                assert_eq!(real["success"], true, "{entity}");
                assert_eq!(keys(&r["context"]), keys(&real["result"]["context"]));
            }
            Err(lifeboat::ha::websocket::WsError::Command { code, message }) => {
                assert_eq!(real["error"]["code"], code, "{entity}");
                assert_eq!(real["error"]["message"], message, "{entity}");
            }
            Err(e) => panic!("{entity}: {e}"),
        }
    }
    // A backup made on one connection: the other, subscribed, hears what the real one heard.
    let real_events: Vec<Value> = msgs
        .iter()
        .filter(|m| m["conn"] == "watcher" && m["msg"]["type"] == "event")
        .map(|m| m["msg"]["event"].clone())
        .collect();
    let mut watcher = lifeboat::ha::websocket::WsClient::connect(
        &url,
        &lifeboat::secret::Secret::new(d.token()),
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    let sub = watcher
        .subscribe(json!({"type": "backup/subscribe_events"}))
        .await
        .unwrap();
    d.ha_makes_backup("32fefaae");
    let mut heard = Vec::new();
    while heard.len() < real_events.len() {
        heard.push(
            watcher
                .next_event(sub, std::time::Duration::from_secs(5))
                .await
                .unwrap(),
        );
    }
    assert_eq!(heard, real_events);
}
