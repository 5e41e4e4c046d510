//! Issue 38: a folder listing from an SFTP or SMB server is read under a cap, one answer of the
//! server at a time, and refused past it with a permanent error naming the cap — never read whole,
//! whatever the server sends. Against the real servers, with files planted past a cap made small
//! for the test (the real one, 100 000 entries and 16 MiB of names, would take that many files).

use crate::support::*;
use lifeboat::config::{DestinationKind, DestinationSpec};
use lifeboat::destinations::Store;
use lifeboat::destinations::staged::ListingCap;
use std::time::Duration;

const SILENCE: Duration = Duration::from_secs(30);

/// Plants `n` small files in the destination with the default cap, then lists it under caps
/// around them: one entry short, a few bytes of names short, and enough.
async fn holds(open: impl Fn(ListingCap) -> Box<dyn Store>) {
    let n = 24;
    let planted = open(ListingCap::DEFAULT);
    for i in 0..n {
        planted
            .write_small(&format!("planted-{i:02}.json"), b"{}".to_vec())
            .await
            .unwrap();
    }
    // Every name is 15 bytes; "." and ".." may be counted as well.
    let enough = ListingCap {
        entries: n + 2,
        name_bytes: 15 * n + 3,
    };
    open(enough).list().await.unwrap();

    let short = ListingCap {
        entries: n - 1,
        ..enough
    };
    let e = open(short).list().await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(
        e.message
            .contains(&format!("has more than {} entries", n - 1))
            && e.message.contains("refused"),
        "{e}"
    );

    let short = ListingCap {
        name_bytes: 15 * (n - 1),
        ..enough
    };
    let e = open(short).list().await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(
        e.message
            .contains(&format!("more than {} bytes of names", 15 * (n - 1))),
        "{e}"
    );
}

fn sftp_settings(spec: &DestinationSpec) -> SftpSpec {
    match &spec.kind {
        DestinationKind::Sftp(s) => s.clone(),
        _ => unreachable!(),
    }
}

fn smb_settings(spec: &DestinationSpec) -> SmbSpec {
    match &spec.kind {
        DestinationKind::Smb(s) => s.clone(),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sftp_listing_past_its_cap_is_refused() {
    let settings = sftp_settings(&sftp_spec("sftp", sftp_password(), None));
    holds(|cap| {
        Box::new(lifeboat::destinations::kinds::sftp::store::store_capped(
            settings.clone(),
            SILENCE,
            cap,
        ))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smb_listing_past_its_cap_is_refused() {
    let spec = smb_spec("smb", &env_or_die("LIFEBOAT_TEST_SMB_PASSWORD"));
    let settings = smb_settings(&spec);
    holds(|cap| {
        Box::new(lifeboat::destinations::kinds::smb::store::store_capped(
            settings.clone(),
            SILENCE,
            cap,
        ))
    })
    .await;
}
