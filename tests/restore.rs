//! Restore into Home Assistant: a copy from a real storage server streamed back into the test
//! double's backup list through the Supervisor's upload API and through Core's, byte for byte.

use crate::support::ha_double::{Double, Flavor};
use crate::support::*;
use age::secrecy::ExposeSecret;
use lifeboat::history::RunStatus;
use lifeboat::source::folder::FolderSource;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_lifeboat");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_goes_back_into_home_assistant_ready_to_restore() {
    let original = fixture("supervisor-style/full-v3.tar");
    let src = folder_with(&[("b.tar", &original)]);
    let data = tempfile::tempdir().unwrap();
    let p = unique("restore");
    let k = kit();
    let r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &[s3_spec("s3", &p)],
        &k.spec,
        data.path(),
    );
    assert_eq!(
        r.run("test", false).await.unwrap()[0].status,
        RunStatus::Success
    );
    let kit_file = data.path().join("kit.txt");
    std::fs::write(&kit_file, k.identity.to_string().expose_secret()).unwrap();
    let from = format!(
        "s3://backups/{p}?endpoint={}",
        std::env::var("LIFEBOAT_TEST_S3").unwrap()
    );

    for flavor in [Flavor::Supervisor, Flavor::Core] {
        let d = Double::start(flavor, Vec::new(), None).await;
        let (into, token_var) = match flavor {
            Flavor::Supervisor => (format!("supervisor:{}", d.url), "SUPERVISOR_TOKEN"),
            _ => (format!("core:{}", d.url), "HA_TOKEN"),
        };
        let run = |token: String| {
            let (from, into, kit) = (from.clone(), into.clone(), kit_file.clone());
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(BIN)
                    .args([
                        "restore",
                        "--from",
                        &from,
                        "--identity",
                        kit.to_str().unwrap(),
                        "--into",
                        &into,
                    ])
                    .env("AWS_ACCESS_KEY_ID", S3_KEY_ID)
                    .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
                    .env(token_var, token)
                    .output()
                    .unwrap()
            })
        };
        let o = run(d.token().to_owned()).await.unwrap();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "{flavor:?}: {out}");
        assert!(out.contains("b24edb2e"), "{out}");
        let got = d.inner.uploaded.lock().unwrap().get("b24edb2e").cloned();
        assert!(
            got.as_deref() == Some(&original[..]),
            "{flavor:?}: Home Assistant did not receive the original backup"
        );

        let o = run("wrong-token".into()).await.unwrap();
        assert_eq!(o.status.code(), Some(1), "{flavor:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("refused the"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
