//! Every kind of destination, set up the way the dashboard does it: the settings file read as a
//! document, the destination put in with the fields its form gives, Lifeboat's own test run on
//! it, saved (the file keeps its comments), applied to the running daemon without a restart, then
//! backed up to — on the real test servers.

use crate::support::*;
use lifeboat::config::Env;
use lifeboat::config::edit::{DestinationEntry, FieldValue};
use lifeboat::daemon::host::Host;
use lifeboat::destinations::Kind;
use lifeboat::jobs::Job;
use lifeboat::setup::{Applied, SettingsHome, Setup};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

fn text(v: &str) -> FieldValue {
    FieldValue::Text(v.to_owned())
}

/// The fields the form of `kind` gives for a fresh folder on its test server.
fn fields(kind: Kind, dir: &Path) -> BTreeMap<String, FieldValue> {
    let at = |var: &str| {
        let v = env_or_die(var);
        let (h, p) = v
            .split_once(':')
            .map(|(h, p)| (h.to_owned(), p.to_owned()))
            .unwrap();
        (h, p.parse::<i64>().unwrap())
    };
    let pairs: Vec<(&str, FieldValue)> = match kind {
        Kind::Local => vec![("path", text(&dir.join("usb").display().to_string()))],
        Kind::S3 => vec![
            ("bucket", text("backups")),
            ("prefix", text(&unique("setup-s3"))),
            ("endpoint", text(&env_or_die("LIFEBOAT_TEST_S3"))),
            ("region", text("us-east-1")),
            ("access_key_id", text(S3_KEY_ID)),
            ("secret_access_key", text(S3_SECRET)),
            ("path_style", FieldValue::Bool(true)),
        ],
        Kind::Azure => vec![
            ("account", text(AZURITE_ACCOUNT)),
            ("container", text("backups")),
            ("prefix", text(&unique("setup-az"))),
            ("endpoint", text(&env_or_die("LIFEBOAT_TEST_AZURITE"))),
            ("account_key", text(AZURITE_KEY)),
        ],
        Kind::Webdav => vec![
            (
                "url",
                text(&format!(
                    "{}/{}",
                    env_or_die("LIFEBOAT_TEST_WEBDAV"),
                    unique("setup-dav")
                )),
            ),
            ("username", text(DAV_USER)),
            ("password", text(DAV_PASSWORD)),
        ],
        Kind::Sftp => {
            let (host, port) = at("LIFEBOAT_TEST_SFTP");
            vec![
                ("host", text(&host)),
                ("port", FieldValue::Int(port)),
                ("username", text(&env_or_die("LIFEBOAT_TEST_SFTP_USER"))),
                ("password", text(&env_or_die("LIFEBOAT_TEST_SFTP_PASSWORD"))),
                ("path", text(&unique("setup-sftp"))),
                ("host_key", text(&env_or_die("LIFEBOAT_TEST_SFTP_HOST_KEY"))),
            ]
        }
        Kind::Smb => {
            let (host, port) = at("LIFEBOAT_TEST_SMB");
            vec![
                ("host", text(&host)),
                ("port", FieldValue::Int(port)),
                ("share", text(&env_or_die("LIFEBOAT_TEST_SMB_SHARE"))),
                ("path", text(&unique("setup-smb"))),
                ("username", text(&env_or_die("LIFEBOAT_TEST_SMB_USER"))),
                ("password", text(&env_or_die("LIFEBOAT_TEST_SMB_PASSWORD"))),
            ]
        }
        Kind::Rclone => vec![
            (
                "remote",
                text(&format!("loc:{}", dir.join("drive").display())),
            ),
            (
                "rclone_config",
                text(&rclone_conf(dir).display().to_string()),
            ),
        ],
    };
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_tested_saved_applied_and_backed_up_to_from_the_setup() {
    let d = home_with_updates().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("lifeboat.toml");
    let head = "# Lifeboat for the house on the hill.\n# Keep this comment.\n";
    std::fs::write(
        &file,
        format!(
            "{head}data_dir = \"{}\"\n\n[source]\ntype = \"supervisor\" # the add-on's way\n\
             method = \"rest\"\nurl = \"{}\"\n\n[encryption]\nrecipients = [\"{}\"]\n",
            data.display(),
            d.url,
            kit().identity.to_public()
        ),
    )
    .unwrap();
    let env = Env::from_pairs([("SUPERVISOR_TOKEN", d.token())]);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let host = Host::start(
        Err(vec!["add at least one destination".into()]),
        env.clone(),
        lifeboat::web::ingress::Access::any(),
        lifeboat::web::csrf::Token::from_bytes([9; 32]),
        &shutdown,
    )
    .await
    .unwrap();
    let setup = Setup {
        home: SettingsHome::File(file.clone()),
        env,
        data_dir_given: None,
        default_data_dir: data.clone(),
        apply: Arc::new(host.clone()),
    };

    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let name = format!("{kind}-dest");
        let entry = DestinationEntry {
            name: name.clone(),
            kind,
            fields: fields(kind, dir.path()),
        };
        let mut doc = setup.current().await.unwrap();
        doc.put_destination(None, entry).unwrap();
        // Test, as the form's Test button does: the destination the saved settings make.
        let cfg = setup.check(&doc).unwrap();
        let spec = cfg.destinations.iter().find(|s| s.name == name).unwrap();
        let tried = lifeboat::destinations::open_with(
            spec,
            lifeboat::destinations::Patience {
                silence: std::time::Duration::from_secs(10),
            },
        )
        .unwrap();
        lifeboat::destinations::probe::probe(tried.store.as_ref(), [i as u8; 6])
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));

        assert_eq!(setup.save(&doc).await.unwrap(), Applied::Now, "{kind}");
        let saved = std::fs::read_to_string(&file).unwrap();
        assert!(
            saved.starts_with(head),
            "{kind}: the comments went:\n{saved}"
        );
        assert!(saved.contains("# the add-on's way"), "{kind}:\n{saved}");
        let services = host.current().get().services.unwrap();
        assert_eq!(services.destinations.len(), i + 1, "{kind}");

        let request = lifeboat::pipeline::request::RunRequest {
            trigger: "test".into(),
            reship: true,
            destinations: vec![name.clone()],
            ..Default::default()
        };
        services
            .triggers
            .ask(|done| Job::Backup { request, done })
            .await
            .unwrap();
        let run = services.history.recent_runs(1).await.unwrap().remove(0);
        assert_eq!(
            run.status,
            lifeboat::history::RunStatus::Success,
            "{kind}: {:?}",
            run.error
        );
        let dest = services
            .destinations
            .iter()
            .find(|x| x.name == name)
            .unwrap();
        let listed = dest.store.list().await.unwrap();
        assert!(
            listed.iter().any(|n| n.ends_with(".manifest.json")),
            "{kind}: {listed:?}"
        );
        assert!(
            !listed
                .iter()
                .any(|n| n.starts_with(lifeboat::destinations::probe::PROBE_PREFIX)),
            "{kind}: the probe left {listed:?}"
        );
    }
    shutdown.cancel();
    host.join().await;
}
