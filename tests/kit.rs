//! The emergency kit through the dashboard, as a person meets it on the first evening and after:
//! no key yet (the overview says so, a backup refuses), a key made and shown once on a printable
//! sheet with QR codes, kept only when its last group is typed back, the copies then encrypted to
//! it and opened by the shown key alone; the kit check; reprinting with the sealed key; and a copy
//! restored into Home Assistant (the Supervisor double) with the pasted or the unsealed key.

use crate::dashboard::{PREFIX, assert_prefixed, get, post_form, token, wait_for_runs};
use crate::support::ha_double::{Double, Flavor};
use crate::support::*;
use axum::http::StatusCode;
use lifeboat::config::EncryptionSpec;
use lifeboat::crypto::vault::Vault;
use lifeboat::ha::supervisor::SupervisorClient;
use lifeboat::history::RunStatus;
use lifeboat::recovery::restore::HaTarget;
use lifeboat::secret::Secret;
use lifeboat::source::folder::FolderSource;
use std::sync::{Arc, Mutex};

const PASS: &str = "a long drill passphrase";

fn field<'a>(html: &'a str, name: &str) -> &'a str {
    let start = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&start)
        .unwrap_or_else(|| panic!("no field {name}: {html}"));
    let rest = &html[at + start.len()..];
    &rest[..rest.find('"').unwrap()]
}

/// Waits until the progress board says `what`.
async fn wait_for_progress(state: &lifeboat::web::AppState, what: &str) {
    let mut said = String::new();
    for _ in 0..400 {
        said = get(state, "/api/progress").await.body;
        if said.contains(what) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the progress board never said {what:?}: {said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emergency_kit_from_the_first_key_to_a_restore() {
    let plain = fixture("ha-core/ha-2026.2.3-plain.tar");
    let src = folder_with(&[("b.tar", &plain)]);
    let out = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let none = EncryptionSpec {
        recipients: Vec::new(),
        passphrase: None,
    };
    let mut r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &[local_spec("nas", out.path())],
        &none,
        data.path(),
    );
    r.keys.vault = Some(Arc::new(Mutex::new(Vault::open(data.path()).unwrap())));
    let history = r.history.clone();
    let nas = r.destinations[0].clone();
    let double = Double::start(Flavor::Supervisor, Vec::new(), None).await;
    let (state, shutdown, task) = dashboard(r, Vec::new()).await;
    let mut services = (*state.services().unwrap()).clone();
    services.restore_into = Some(HaTarget::Supervisor(SupervisorClient::new(
        reqwest::Client::new(),
        double.url.parse().unwrap(),
        Secret::new(double.inner.token.clone()),
    )));
    state.current.set(lifeboat::web::Generation {
        services: Some(Arc::new(services)),
        problems: state.problems(),
    });
    let t = token(&state);

    // No key: the overview sends the person to the kit page, and a backup refuses.
    let overview = get(&state, "/").await;
    assert!(
        overview.body.contains("no key to lock the copies")
            && overview.body.contains(&format!("href=\"{PREFIX}/kit\"")),
        "{}",
        overview.body
    );
    assert_eq!(
        post_form(&state, "/backup", &[("csrf", &t)]).await.status,
        StatusCode::SEE_OTHER
    );
    wait_for_runs(&history, 1).await;
    let refused = &history.recent_runs(1).await.unwrap()[0];
    assert_eq!(refused.status, RunStatus::Failed);
    assert!(
        refused
            .error
            .as_deref()
            .unwrap()
            .contains("Emergency kit page"),
        "{:?}",
        refused.error
    );
    assert!(
        objects(&nas).await.is_empty(),
        "nothing shipped unencrypted"
    );

    // The kit page offers the key; passphrases that differ or are short are refused.
    let kit = get(&state, "/kit").await;
    assert!(kit.body.contains("Make the key that locks your copies"));
    assert_prefixed("/kit", &kit.body);
    let differ = post_form(
        &state,
        "/kit/new",
        &[
            ("csrf", &t),
            ("passphrase", PASS),
            ("again", "something else!"),
        ],
    )
    .await;
    assert_eq!(differ.status, StatusCode::BAD_REQUEST);
    assert!(differ.body.contains("differ"), "{}", differ.body);
    let short = post_form(
        &state,
        "/kit/new",
        &[("csrf", &t), ("passphrase", "short"), ("again", "short")],
    )
    .await;
    assert!(short.body.contains("at least 12 characters"));

    // Made: the sheet shows the private key once, with its QR code, and is never cached.
    let sheet = post_form(
        &state,
        "/kit/new",
        &[("csrf", &t), ("passphrase", PASS), ("again", PASS)],
    )
    .await;
    assert_eq!(sheet.status, StatusCode::OK);
    assert_eq!(sheet.cache_control.as_deref(), Some("no-store"));
    assert_prefixed("/kit/new", &sheet.body);
    let key = regex::Regex::new(r"AGE-SECRET-KEY-1[0-9A-Z]{58}")
        .unwrap()
        .find(&sheet.body)
        .unwrap_or_else(|| panic!("the private key is shown: {}", sheet.body))
        .as_str()
        .to_owned();
    assert!(sheet.body.contains("QR code of the age private key"));
    assert!(sheet.body.contains("only this once"));
    let pending = field(&sheet.body, "token").to_owned();
    let last: String = key[key.len() - 6..].to_owned();

    // Nothing is kept before the last group is typed back, and a wrong one is refused.
    assert!(get(&state, "/kit").await.body.contains("No key yet"));
    let wrong = post_form(
        &state,
        "/kit/confirm",
        &[("csrf", &t), ("token", &pending), ("group", "QQQQQQ")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(
        wrong.body.contains("not the key&#39;s last group")
            || wrong.body.contains("not the key's last group"),
        "{}",
        wrong.body
    );
    assert!(!wrong.body.contains(&key), "the key is shown only once");
    let kept = post_form(
        &state,
        "/kit/confirm",
        &[
            ("csrf", &t),
            ("token", &pending),
            ("group", &last.to_lowercase()),
        ],
    )
    .await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER, "{}", kept.body);
    assert_eq!(
        kept.location.as_deref(),
        Some(format!("{PREFIX}/kit?notice=key-kept").as_str())
    );
    let again = post_form(
        &state,
        "/kit/confirm",
        &[("csrf", &t), ("token", &pending), ("group", &last)],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "kept once only");
    for f in std::fs::read_dir(data.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&key),
            "the private key is on disk in the clear"
        );
    }
    let kit = get(&state, "/kit?notice=key-kept").await;
    for want in [
        "The new key is kept",
        "made here",
        "sealed with your passphrase",
        "Passed",
    ] {
        assert!(kit.body.contains(want), "{want}: {}", kit.body);
    }
    assert!(!kit.body.contains(&key));

    // Backups now go out encrypted to it, and the shown key alone opens the copy.
    post_form(&state, "/backup", &[("csrf", &t)]).await;
    wait_for_runs(&history, 2).await;
    let run = &history.recent_runs(1).await.unwrap()[0];
    assert_eq!(run.status, RunStatus::Success, "{:?}", run.error);
    let identity: age::x25519::Identity = key.parse().unwrap();
    let object = &run.copies[0].object;
    assert!(decrypt(&nas, object, &identity).await == plain);
    let ledger = get(&state, "/kit").await;
    let fingerprint = lifeboat::crypto::recipient_fingerprint(&identity.to_public());
    assert!(
        ledger.body.contains("not protected") && ledger.body.contains(&fingerprint),
        "{}",
        ledger.body
    );

    // The kit check: a wrong group fails and is recorded; the right one passes.
    let failed = post_form(
        &state,
        "/kit/check",
        &[("csrf", &t), ("age_group", "ABCDEF")],
    )
    .await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST);
    assert!(failed.body.contains("age key: last group wrong"));
    let passed = post_form(&state, "/kit/check", &[("csrf", &t), ("age_group", &last)]).await;
    assert_eq!(passed.status, StatusCode::SEE_OTHER);
    let checks = history.kit_checks(10).await.unwrap();
    assert!(checks[0].ok && !checks[1].ok);
    assert!(checks.iter().all(|c| !c.detail.contains(&last)));

    // Reprinting: without the passphrase the private key stays off the page; with it, it is on.
    let plain_print = post_form(&state, "/kit/print", &[("csrf", &t)]).await;
    assert_eq!(plain_print.cache_control.as_deref(), Some("no-store"));
    assert!(!plain_print.body.contains(&key));
    assert!(
        plain_print
            .body
            .contains(&format!("file://{}", out.path().display()))
    );
    let bad = post_form(
        &state,
        "/kit/print",
        &[("csrf", &t), ("passphrase", "not the passphrase")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let full = post_form(&state, "/kit/print", &[("csrf", &t), ("passphrase", PASS)]).await;
    assert!(full.body.contains(&key));

    // Restore into Home Assistant: a key that does not open the copy is refused first.
    let id = run.copies[0].copy_id.clone();
    let path = format!("/copies/nas/{id}/restore");
    let ask = get(&state, &path).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(
        ask.body.contains("not protected by Home Assistant"),
        "{}",
        ask.body
    );
    assert_prefixed(&path, &ask.body);
    let stranger = age::x25519::Identity::generate();
    let refused = post_form(
        &state,
        &path,
        &[
            ("csrf", &t),
            (
                "identity",
                age::secrecy::ExposeSecret::expose_secret(&stranger.to_string()),
            ),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("does not open this copy"),
        "{}",
        refused.body
    );
    let nothing = post_form(&state, &path, &[("csrf", &t)]).await;
    assert!(nothing.body.contains("paste the private key"));
    assert!(double.inner.uploaded.lock().unwrap().is_empty());

    // With the pasted key, then with the passphrase: the very backup arrives.
    for fields in [vec![("identity", key.as_str())], vec![("passphrase", PASS)]] {
        double.inner.uploaded.lock().unwrap().clear();
        let mut f = vec![("csrf", t.as_str())];
        f.extend(fields);
        let started = post_form(&state, &path, &f).await;
        assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
        assert_eq!(
            started.location.as_deref(),
            Some(format!("{PREFIX}/?notice=restoring").as_str())
        );
        let mut arrived = None;
        for _ in 0..400 {
            arrived = double
                .inner
                .uploaded
                .lock()
                .unwrap()
                .values()
                .next()
                .cloned();
            if arrived.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert!(arrived.expect("nothing reached Home Assistant") == plain);
    }
    wait_for_progress(&state, "Settings → System → Backups").await;

    // The drill: read, decrypt and open to the end, recorded as a check of the copy.
    let drilled = post_form(
        &state,
        &path,
        &[("csrf", &t), ("passphrase", PASS), ("mode", "drill")],
    )
    .await;
    assert_eq!(
        drilled.location.as_deref(),
        Some(format!("{PREFIX}/?notice=drilling").as_str()),
        "{}",
        drilled.body
    );
    wait_for_progress(&state, "Restore drill passed").await;
    let checks = history.last_checks().await.unwrap();
    let check = &checks[&("nas".to_owned(), id.clone())];
    assert!(check.ok, "{:?}", check.error);

    // A copy changed on the destination fails its drill, and the failure is recorded.
    let stored = out.path().join(object);
    let mut bytes = std::fs::read(&stored).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&stored, bytes).unwrap();
    post_form(
        &state,
        &path,
        &[("csrf", &t), ("identity", &key), ("mode", "drill")],
    )
    .await;
    wait_for_progress(&state, "The restore drill of copy").await;
    let checks = history.last_checks().await.unwrap();
    let check = &checks[&("nas".to_owned(), id.clone())];
    assert!(
        !check.ok && check.error.as_deref().unwrap().contains("restore drill"),
        "{:?}",
        check.error
    );
    shutdown.cancel();
    task.await.unwrap();
}

/// A key made elsewhere (`age-keygen`, in the options) is registered once by typing its private
/// key, after which the kit check asks for it; a key that locks nothing here is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_from_the_options_is_registered_for_the_kit_check() {
    use age::secrecy::ExposeSecret;
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let k = kit();
    let mut r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &[local_spec("nas", out.path())],
        &k.spec,
        data.path(),
    );
    r.keys.vault = Some(Arc::new(Mutex::new(Vault::open(data.path()).unwrap())));
    let (state, shutdown, task) = dashboard(r, Vec::new()).await;
    let t = token(&state);
    let page = get(&state, "/kit").await;
    assert!(
        page.body.contains("from the options (made elsewhere)")
            && page.body.contains("Register it for the kit check"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("name=\"age_group\""),
        "nothing to ask yet"
    );
    let stranger = age::x25519::Identity::generate();
    let refused = post_form(
        &state,
        "/kit/register",
        &[
            ("csrf", &t),
            ("identity", stranger.to_string().expose_secret()),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("not among the options"),
        "{}",
        refused.body
    );
    let secret = k.identity.to_string().expose_secret().to_owned();
    let registered = post_form(
        &state,
        "/kit/register",
        &[("csrf", &t), ("identity", &format!("# my kit\n{secret}\n"))],
    )
    .await;
    assert_eq!(
        registered.location.as_deref(),
        Some(format!("{PREFIX}/kit?notice=key-registered").as_str()),
        "{}",
        registered.body
    );
    let page = get(&state, "/kit").await;
    assert!(page.body.contains("registered for the kit check"));
    assert!(
        page.body.contains("name=\"age_group\""),
        "the check asks for it now"
    );
    assert!(!page.body.contains(&secret));
    let last = &secret[secret.len() - 6..];
    let passed = post_form(&state, "/kit/check", &[("csrf", &t), ("age_group", last)]).await;
    assert_eq!(passed.status, StatusCode::SEE_OTHER, "{}", passed.body);
    for f in std::fs::read_dir(data.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(&secret));
    }
    shutdown.cancel();
    task.await.unwrap();
}
