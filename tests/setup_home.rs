//! Where the settings live, against the Supervisor double (which judges options by the
//! Supervisor's own rules and `config.yaml`'s schema) and a real settings file: saved and
//! confirmed, refused with the Supervisor's words and nothing stored, `options/validate`
//! forbidden, `!secret` references kept through a read-edit-write, comments kept in a file.

use crate::support::ha_double::{Double, Flavor};
use lifeboat::config::edit::{DestinationEntry, FieldValue, SettingsDoc};
use lifeboat::config::options::DestinationOptions;
use lifeboat::destinations::Kind;
use lifeboat::secret::Secret;
use lifeboat::setup::SettingsHome;
use lifeboat::setup::home::HomeError;
use serde_json::json;
use std::collections::BTreeMap;

async fn double() -> Double {
    Double::start(Flavor::Supervisor, Vec::new(), None).await
}

fn addon_home(d: &Double) -> SettingsHome {
    SettingsHome::Addon {
        url: d.url.parse().unwrap(),
        token: Secret::new(d.token().to_owned()),
        http: reqwest::Client::new(),
    }
}

fn local(name: &str, path: &str) -> DestinationEntry {
    DestinationEntry {
        name: name.into(),
        kind: Kind::Local,
        fields: BTreeMap::from([("path".into(), FieldValue::Text(path.into()))]),
    }
}

#[tokio::test]
async fn options_the_supervisor_takes_are_saved_and_confirmed() {
    let d = double().await;
    let home = addon_home(&d);
    let mut doc = home.read().await.unwrap();
    assert!(doc.destinations().is_empty(), "a fresh install has none");
    doc.put_destination(None, local("usb", "/media/usb"))
        .unwrap();
    doc.set_retention(Some("last=5"));
    let opts = home.write(&doc).await.unwrap();
    assert_eq!(opts.destinations.len(), 1);
    assert_eq!(opts.destinations[0].name(), "usb");
    assert_eq!(opts.retention.as_deref(), Some("last=5"));
    let saved = d.saved_addon_options();
    assert_eq!(saved["destinations"][0]["path"], "/media/usb");
    let log = d.log();
    assert!(
        log.contains(&"POST /addons/self/options".to_owned()),
        "{log:?}"
    );
    assert!(
        log.contains(&"GET /addons/self/options/config".to_owned()),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.contains("validate")), "{log:?}");
    // Read back as it is now.
    let again = home.read().await.unwrap();
    assert_eq!(again.destinations(), [local("usb", "/media/usb")]);
}

#[tokio::test]
async fn options_the_schema_refuses_come_back_in_the_supervisors_words_and_nothing_is_stored() {
    let d = double().await;
    let home = addon_home(&d);
    let mut doc = home.read().await.unwrap();
    doc.put_destination(None, local("USB", "/media/usb"))
        .unwrap();
    let err = home.write(&doc).await.unwrap_err();
    let HomeError::Refused(message) = &err else {
        panic!("refused expected, got {err}");
    };
    assert!(
        message.contains("does not match regular expression")
            && message.contains("option 'name' in Lifeboat"),
        "{message}"
    );
    assert_eq!(d.saved_addon_options(), json!({}), "nothing stored");
    assert!(!d.log().iter().any(|l| l.contains("options/config")));
}

#[tokio::test]
async fn options_validate_is_a_bare_403_for_role_backup() {
    let d = double().await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", d.url))
            .bearer_auth(d.token())
            .json(&json!({"options": {}}))
            .send()
    };
    let r = call(reqwest::Method::POST, "/addons/self/options/validate")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.bytes().await.unwrap().is_empty(), "no JSON body");
    for forbidden in [
        "/addons/self/security",
        "/addons/self/update",
        "/addons/core_ssh/options",
        "/jobs/abc",
    ] {
        let r = call(reqwest::Method::POST, forbidden).await.unwrap();
        assert_eq!(r.status(), 403, "{forbidden}");
    }
    let r = call(reqwest::Method::GET, "/addons/self/options/config")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = call(reqwest::Method::GET, "/addons/self/info")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn secret_references_survive_a_read_edit_write() {
    let d = double().await;
    d.set_ha_secret("b2_key", "the-real-secret");
    d.save_addon_options(
        json!({"destinations": [{"name": "b2", "type": "s3", "bucket": "home",
        "access_key_id": "k", "secret_access_key": "!secret b2_key"}]}),
    );
    let home = addon_home(&d);
    let mut doc = home.read().await.unwrap();
    let mut b2 = doc.destinations().remove(0);
    assert_eq!(b2.fields["secret_access_key"], FieldValue::Keep);
    b2.fields
        .insert("bucket".into(), FieldValue::Text("house".into()));
    doc.put_destination(Some("b2"), b2).unwrap();
    let opts = home.write(&doc).await.unwrap();
    let DestinationOptions::S3(s3) = &opts.destinations[0] else {
        panic!("s3 expected");
    };
    assert_eq!(s3.bucket, "house");
    assert_eq!(
        s3.secret_access_key.expose(),
        "the-real-secret",
        "read back resolved"
    );
    let saved = d.saved_addon_options();
    assert_eq!(
        saved["destinations"][0]["secret_access_key"], "!secret b2_key",
        "stored as the reference"
    );
    // An unknown secret is refused by the Supervisor, in its words.
    let mut doc = home.read().await.unwrap();
    doc.put_destination(
        None,
        DestinationEntry {
            name: "wasabi".into(),
            kind: Kind::S3,
            fields: BTreeMap::from([
                ("bucket".into(), FieldValue::Text("w".into())),
                ("access_key_id".into(), FieldValue::Text("k".into())),
                (
                    "secret_access_key".into(),
                    FieldValue::Text("!secret nope".into()),
                ),
            ]),
        },
    )
    .unwrap();
    let err = home.write(&doc).await.unwrap_err();
    assert!(err.to_string().contains("Unknown secret 'nope'"), "{err}");
}

#[tokio::test]
async fn a_settings_file_round_trip_keeps_its_comments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lifeboat.toml");
    let text = "# my box\n[source]\ntype = \"folder\"\npath = \"/b\"  # backups\n\n\
                # the NAS, in the hall\n[[destinations]]\ntype = \"local\"\nname = \"nas\"\n\
                path = \"/mnt/nas\"  # mounted by fstab\n\n# the disk\n[[destinations]]\n\
                type = \"local\"\nname = \"usb\"\npath = \"/m\"\n";
    std::fs::write(&path, text).unwrap();
    let home = SettingsHome::File(path.clone());
    let mut doc = home.read().await.unwrap();
    doc.put_destination(Some("nas"), local("nas", "/mnt/nas2"))
        .unwrap();
    let opts = home.write(&doc).await.unwrap();
    assert_eq!(opts.destinations.len(), 2);
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        after,
        text.replace("path = \"/mnt/nas\"", "path = \"/mnt/nas2\"")
    );
    assert_eq!(home.describe(), path.display().to_string());
    // A JSON document is not a settings file.
    let json = SettingsDoc::from_json(json!({})).unwrap();
    assert!(home.write(&json).await.is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
}
