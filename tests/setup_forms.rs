//! "Add a destination" through the router, without a socket, under the ingress prefix, on a new
//! install (no valid options, so no services): every kind's form, Test on the real servers (a
//! working one and failing ones, by cause), bad input shown again with its field named, an SFTP
//! host key shown and trusted before it is used, and secrets that never reach a page.

use crate::dashboard::{PREFIX, assert_prefixed, get, post_form};
use crate::support::*;
use axum::http::StatusCode;
use lifeboat::web::AppState;
use std::sync::Arc;

/// A new install's state: the options name no destination, nothing runs, no settings home.
fn new_install(data_dir: &std::path::Path) -> AppState {
    AppState {
        current: Arc::new(lifeboat::web::Current::new(lifeboat::web::Generation {
            services: None,
            problems: Arc::new(vec![format!(
                "destinations: {}",
                lifeboat::config::NO_DESTINATION
            )]),
        })),
        access: lifeboat::web::ingress::Access::any(),
        csrf: lifeboat::web::csrf::Token::from_bytes([3; 32]),
        shutdown: tokio_util::sync::CancellationToken::new(),
        drives: lifeboat::destinations::kinds::rclone::store::connect::Drives::in_data_dir(
            data_dir,
        ),
        setup: None,
    }
}

/// Posts the form of `kind` with `fields` (and the token) to `/destinations/{action}`.
async fn send(state: &AppState, action: &str, kind: &str, fields: &[(&str, &str)]) -> String {
    let csrf = state.csrf.as_str().to_owned();
    let mut all = vec![("csrf", csrf.as_str()), ("kind", kind)];
    all.extend_from_slice(fields);
    let page = post_form(state, &format!("/destinations/{action}"), &all).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body
}

/// Text as the page escapes it, read back.
fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `html`'s text, tags left out.
fn text(html: &str) -> String {
    let tags = regex::Regex::new(r"<[^>]*>").unwrap();
    unescape(&tags.replace_all(html, " "))
}

/// The Test's outcome section (`ok`, `bad` or `ask`; `none` when there is none) and its words.
fn outcome(html: &str) -> (String, String) {
    let re =
        regex::Regex::new(r#"(?s)id="test-outcome" data-level="(\w+)">(.*?)</section>"#).unwrap();
    re.captures(html).map_or_else(
        || ("none".to_owned(), problems(html)),
        |c| (c[1].to_owned(), text(&c[2]).to_lowercase()),
    )
}

/// Every problem the page shows, on fields and on the whole form.
fn problems(html: &str) -> String {
    let re = regex::Regex::new(
        r#"(?s)(?:class="field-problem bad-text" id="problem-\w+">(.*?)</p>|<ul id="form-problems">(.*?)</ul>)"#,
    )
    .unwrap();
    re.captures_iter(html)
        .map(|c| text(c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str())) + " ")
        .collect()
}

/// The value of the input named `name`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let re = regex::Regex::new(&format!(r#"name="{name}" value="([^"]*)""#)).unwrap();
    re.captures(html).map(|c| unescape(&c[1]))
}

/// The problem shown under field `name`.
fn field_problem(html: &str, name: &str) -> String {
    let re = regex::Regex::new(&format!(r#"(?s)id="problem-{name}">(.*?)</p>"#)).unwrap();
    re.captures(html).map(|c| text(&c[1])).unwrap_or_default()
}

/// The value of the "Trust this key" button.
fn offered_key(html: &str) -> String {
    let re = regex::Regex::new(r#"name="trust_key" value="([^"]*)""#).unwrap();
    unescape(&re.captures(html).expect("a key to trust")[1])
}

#[tokio::test]
async fn a_new_install_says_not_protected_yet_and_leads_to_every_kinds_form() {
    let dir = tempfile::tempdir().unwrap();
    let state = new_install(dir.path());
    let home = get(&state, "/").await;
    assert!(home.body.contains("Not protected yet"), "{}", home.body);
    assert!(
        home.body.contains(&format!(
            "href=\"{PREFIX}/destinations/new\" id=\"problem-action\""
        )),
        "{}",
        home.body
    );
    assert!(
        !home.body.contains("The options need fixing"),
        "{}",
        home.body
    );
    let chooser = get(&state, "/destinations/new").await;
    assert_eq!(chooser.status, StatusCode::OK);
    assert_prefixed("/destinations/new", &chooser.body);
    for form in lifeboat::destinations::kinds::FORMS {
        let kind = form.kind.as_str();
        assert!(
            chooser
                .body
                .contains(&format!("href=\"{PREFIX}/destinations/new/{kind}\"")),
            "{kind} is not offered"
        );
        let page = get(&state, &format!("/destinations/new/{kind}")).await;
        assert_eq!(page.status, StatusCode::OK, "{kind}: {}", page.body);
        assert_prefixed(kind, &page.body);
        assert!(page.body.contains(form.title));
        for f in form.fields {
            assert!(
                page.body.contains(&format!("name=\"{}\"", f.name)),
                "{kind}: no field {}",
                f.name
            );
            assert!(unescape(&page.body).contains(f.help), "{kind}: {}", f.help);
        }
        // Only its own fields: no other kind's field that it does not share.
        for other in lifeboat::destinations::kinds::FORMS {
            for f in other.fields.iter().filter(|f| form.field(f.name).is_none()) {
                assert!(
                    !page.body.contains(&format!("name=\"{}\"", f.name)),
                    "{kind} shows {}'s field {}",
                    other.kind,
                    f.name
                );
            }
        }
        // Save cannot work without a settings home, and says so.
        assert!(page.body.contains("id=\"cannot-save\""), "{kind}");
    }
    assert!(chooser.body.contains(&format!("href=\"{PREFIX}/drives\"")));
    assert_eq!(
        get(&state, "/destinations/new/ftp").await.status,
        StatusCode::NOT_FOUND
    );
    // The drives page's "Use it as a destination" lands on a filled rclone form.
    let filled = get(
        &state,
        "/destinations/new/rclone?name=gdrive&remote=gdrive%3AHA%2Flifeboat&password=nope",
    )
    .await;
    assert_eq!(
        input_value(&filled.body, "remote").as_deref(),
        Some("gdrive:HA/lifeboat")
    );
    assert_eq!(input_value(&filled.body, "name").as_deref(), Some("gdrive"));
}

#[tokio::test]
async fn test_and_save_need_the_form_token() {
    let dir = tempfile::tempdir().unwrap();
    let state = new_install(dir.path());
    for path in [
        "/destinations/test",
        "/destinations/save",
        "/destinations/x/remove",
    ] {
        let page = post_form(&state, path, &[("kind", "local"), ("path", "/tmp")]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_tries_s3_for_real_and_names_the_cause_when_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let state = new_install(dir.path());
    let s3 = env_or_die("LIFEBOAT_TEST_S3");
    let prefix = unique("form");
    let good = [
        ("name", "offsite"),
        ("preset", "minio"),
        ("bucket", "backups"),
        ("prefix", prefix.as_str()),
        ("endpoint", s3.as_str()),
        ("access_key_id", S3_KEY_ID),
        ("secret_access_key", S3_SECRET),
    ];
    let page = send(&state, "test", "s3", &good).await;
    let (level, words) = outcome(&page);
    assert_eq!(level, "ok", "{words}");
    assert!(words.contains("it works"), "{words}");
    // Nothing is left behind: the probe object was deleted.
    let left = objects(&open(&[s3_spec("offsite", &prefix)])[0]).await;
    assert!(left.is_empty(), "{left:?}");
    // The form is shown again with what was typed, but never the secret.
    assert_eq!(input_value(&page, "bucket").as_deref(), Some("backups"));
    assert!(!page.contains(S3_SECRET));
    assert!(page.contains("type it again"), "{page}");

    let planted = "PLANTED-s3-secret-77";
    let mut wrong = good;
    wrong[6] = ("secret_access_key", planted);
    let page = send(&state, "test", "s3", &wrong).await;
    let (level, words) = outcome(&page);
    assert_eq!(level, "bad", "{words}");
    assert!(words.contains("refused the credentials"), "{words}");
    assert!(words.contains("while listing the folder"), "{words}");
    assert!(!page.contains(planted), "the secret reached the page");

    let mut missing = good;
    missing[2] = ("bucket", "no-such-bucket-here");
    let (level, words) = outcome(&send(&state, "test", "s3", &missing).await);
    assert_eq!(level, "bad");
    assert!(words.contains("is not there"), "{words}");

    let mut refused = good;
    refused[4] = ("endpoint", "http://127.0.0.1:1");
    let (level, words) = outcome(&send(&state, "test", "s3", &refused).await);
    assert_eq!(level, "bad");
    assert!(
        words.contains("nothing answered at that address"),
        "{words}"
    );

    let mut unknown = good;
    unknown[4] = ("endpoint", "http://no-such-host.invalid:9000");
    let (level, words) = outcome(&send(&state, "test", "s3", &unknown).await);
    assert_eq!(level, "bad");
    assert!(words.contains("name was not found"), "{words}");
}

#[tokio::test]
async fn bad_input_is_shown_again_with_its_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let state = new_install(dir.path());
    let page = send(
        &state,
        "test",
        "s3",
        &[
            ("name", "Off Site"),
            ("bucket", "a/b"),
            ("endpoint", "ftp://x"),
            ("access_key_id", "AK"),
            ("secret_access_key", "PLANTED-bad-input-5"),
        ],
    )
    .await;
    assert_eq!(outcome(&page).0, "none", "nothing is tried with bad input");
    assert!(
        field_problem(&page, "bucket").contains("without slashes"),
        "{page}"
    );
    assert!(
        field_problem(&page, "endpoint").contains("http://"),
        "{page}"
    );
    assert!(field_problem(&page, "name").contains("a-z"), "{page}");
    assert_eq!(input_value(&page, "bucket").as_deref(), Some("a/b"));
    assert_eq!(input_value(&page, "endpoint").as_deref(), Some("ftp://x"));
    assert!(!page.contains("PLANTED-bad-input-5"));
    let page = send(
        &state,
        "test",
        "sftp",
        &[("name", "nas"), ("host", "nas.local"), ("port", "seventy")],
    )
    .await;
    assert!(
        field_problem(&page, "port").contains("whole number"),
        "{page}"
    );
    assert!(
        field_problem(&page, "username").contains("fill in"),
        "{page}"
    );
    assert_eq!(input_value(&page, "port").as_deref(), Some("seventy"));
    // A preset that needs a value says which.
    let page = send(
        &state,
        "test",
        "s3",
        &[
            ("name", "b2"),
            ("preset", "b2"),
            ("bucket", "x"),
            ("access_key_id", "AK"),
            ("secret_access_key", "s"),
        ],
    )
    .await;
    assert!(
        field_problem(&page, "region").contains("Backblaze"),
        "{page}"
    );
    // Save here has nowhere to save to, and says so without losing the form.
    let page = send(
        &state,
        "save",
        "local",
        &[("name", "usb"), ("path", "/media/usb")],
    )
    .await;
    assert!(problems(&page).contains("cannot be saved"), "{page}");
    assert_eq!(input_value(&page, "path").as_deref(), Some("/media/usb"));
}

/// Every kind, on its real server: Test works, and a wrong secret is told as refused
/// credentials; the secrets typed never reach a page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_works_for_every_kind_on_the_real_servers() {
    let dir = tempfile::tempdir().unwrap();
    let state = new_install(dir.path());
    let folder = dir.path().join("usb");
    let conf = rclone_conf(dir.path());
    let azurite = env_or_die("LIFEBOAT_TEST_AZURITE");
    let dav = format!("{}/{}", env_or_die("LIFEBOAT_TEST_WEBDAV"), unique("form"));
    let smb = env_or_die("LIFEBOAT_TEST_SMB");
    let (smb_host, smb_port) = smb.split_once(':').unwrap();
    let sftp = env_or_die("LIFEBOAT_TEST_SFTP");
    let (sftp_host, sftp_port) = sftp.split_once(':').unwrap();
    let (sftp_user, sftp_pass) = (
        env_or_die("LIFEBOAT_TEST_SFTP_USER"),
        env_or_die("LIFEBOAT_TEST_SFTP_PASSWORD"),
    );
    let (smb_user, smb_pass, smb_share) = (
        env_or_die("LIFEBOAT_TEST_SMB_USER"),
        env_or_die("LIFEBOAT_TEST_SMB_PASSWORD"),
        env_or_die("LIFEBOAT_TEST_SMB_SHARE"),
    );
    let host_key = env_or_die("LIFEBOAT_TEST_SFTP_HOST_KEY");
    let (p1, p2, p3) = (unique("form"), unique("form"), unique("form"));
    let remote = format!("loc:{}", dir.path().join("rclone-folder").display());
    // (kind, fields, the secret field and its right value)
    type Kind<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<(&'a str, &'a str)>);
    let kinds: Vec<Kind> = vec![
        ("local", vec![("path", folder.to_str().unwrap())], None),
        (
            "azure",
            vec![
                ("account", AZURITE_ACCOUNT),
                ("container", "backups"),
                ("prefix", &p1),
                ("endpoint", &azurite),
            ],
            Some(("account_key", AZURITE_KEY)),
        ),
        (
            "webdav",
            vec![("url", &dav), ("username", DAV_USER)],
            Some(("password", DAV_PASSWORD)),
        ),
        (
            "smb",
            vec![
                ("host", smb_host),
                ("port", smb_port),
                ("share", &smb_share),
                ("path", &p2),
                ("username", &smb_user),
            ],
            Some(("password", &smb_pass)),
        ),
        (
            "sftp",
            vec![
                ("host", sftp_host),
                ("port", sftp_port),
                ("username", &sftp_user),
                ("path", &p3),
                ("host_key", &host_key),
            ],
            Some(("password", &sftp_pass)),
        ),
        (
            "rclone",
            vec![
                ("remote", &remote),
                ("rclone_config", conf.to_str().unwrap()),
            ],
            None,
        ),
    ];
    for (kind, fields, secret) in &kinds {
        let mut all = fields.clone();
        all.push(("name", "place"));
        if let Some(s) = secret {
            all.push(*s);
        }
        let (level, words) = outcome(&send(&state, "test", kind, &all).await);
        assert_eq!(level, "ok", "{kind}: {words}");
        if let Some((field, _)) = secret {
            // Base64, as an account key is.
            let planted = format!("UExBTlRFRC0{kind}d3Jvbmc0Mg==");
            let mut wrong = fields.clone();
            wrong.push(("name", "place"));
            wrong.push((field, &planted));
            let page = send(&state, "test", kind, &wrong).await;
            let (level, words) = outcome(&page);
            assert_eq!(level, "bad", "{kind}: {words}");
            assert!(words.contains("refused the credentials"), "{kind}: {words}");
            assert!(
                !page.contains(&planted),
                "{kind}: the secret reached the page"
            );
        }
    }
}

/// SFTP with no host key given: Test shows the key the server offers (its type and SHA256
/// fingerprint) and tries nothing; "Trust this key" puts it in the form and then the test runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sftp_host_key_is_shown_and_trusted_before_it_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let state = new_install(dir.path());
    let sftp = env_or_die("LIFEBOAT_TEST_SFTP");
    let (host, port) = sftp.split_once(':').unwrap();
    let user = env_or_die("LIFEBOAT_TEST_SFTP_USER");
    let pass = env_or_die("LIFEBOAT_TEST_SFTP_PASSWORD");
    let folder = unique("form");
    let fields = vec![
        ("name", "nas"),
        ("host", host),
        ("port", port),
        ("username", user.as_str()),
        ("password", pass.as_str()),
        ("path", folder.as_str()),
    ];
    let page = send(&state, "test", "sftp", &fields).await;
    let (level, words) = outcome(&page);
    assert_eq!(level, "ask", "{words}");
    let real = env_or_die("LIFEBOAT_TEST_SFTP_HOST_KEY");
    let fp = lifeboat::destinations::kinds::sftp::host_key::host_key_fingerprint(&real).unwrap();
    assert!(words.contains(&fp.to_lowercase()), "{words}");
    assert!(words.contains("ssh-ed25519"), "{words}");
    assert!(!page.contains(&pass), "the password reached the page");
    // Nothing was written: the folder was never made.
    assert!(
        input_value(&page, "host_key")
            .unwrap_or_default()
            .is_empty()
    );
    let offered = offered_key(&page);
    let mut trusted = fields.clone();
    trusted.push(("trust_key", &offered));
    let page = send(&state, "test", "sftp", &trusted).await;
    let (level, words) = outcome(&page);
    assert_eq!(level, "ok", "{words}");
    assert_eq!(
        input_value(&page, "host_key").as_deref(),
        Some(offered.as_str())
    );
    assert_eq!(
        lifeboat::destinations::kinds::sftp::host_key::host_key_fingerprint(&offered).unwrap(),
        fp
    );
    // A key that is not the server's is refused, by the probe, as a certificate-like refusal.
    let other =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK7NtVEu+1Fr9yJMCB1jqFRYHP3+a91jCTcOhxKm9s6+ x";
    let mut pinned_wrong = fields.clone();
    pinned_wrong.push(("host_key", other));
    let (level, words) = outcome(&send(&state, "test", "sftp", &pinned_wrong).await);
    assert_eq!(level, "bad", "{words}");
    assert!(words.contains("not the pinned"), "{words}");
    // Save refuses an SFTP destination whose key was not trusted.
    let page = send(&state, "save", "sftp", &fields).await;
    assert!(!page.contains(&pass));
}

/// A new install served as `lifeboat serve` serves it, with its settings in a commented file:
/// the state its pages answer from, the host that applies saved settings, and the file.
async fn served_from_a_file(
    d: &ha_double::Double,
    dir: &std::path::Path,
) -> (AppState, lifeboat::daemon::host::Host, std::path::PathBuf) {
    use lifeboat::setup::{SettingsHome, Setup};
    let data = dir.join("data");
    let file = dir.join("lifeboat.toml");
    std::fs::write(
        &file,
        format!(
            "# The house on the hill.\ndata_dir = \"{}\"\n\n[source]\ntype = \"supervisor\"\n\
             method = \"rest\"\nurl = \"{}\"\n\n[encryption]\nrecipients = [\"{}\"]\n",
            data.display(),
            d.url,
            kit().identity.to_public()
        ),
    )
    .unwrap();
    let env = lifeboat::config::Env::from_pairs([("SUPERVISOR_TOKEN", d.token())]);
    let csrf = lifeboat::web::csrf::Token::from_bytes([5; 32]);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let host = lifeboat::daemon::host::Host::start(
        Err(vec![format!(
            "destinations: {}",
            lifeboat::config::NO_DESTINATION
        )]),
        env.clone(),
        lifeboat::web::ingress::Access::any(),
        csrf.clone(),
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
    let state = AppState {
        current: host.current(),
        access: lifeboat::web::ingress::Access::any(),
        csrf,
        shutdown,
        drives: lifeboat::destinations::kinds::rclone::store::connect::Drives::in_data_dir(&data),
        setup: Some(Arc::new(setup)),
    };
    (state, host, file)
}

/// The destinations the file names, in order.
fn named_in(file: &std::path::Path) -> Vec<String> {
    let v: toml::Value = toml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    v.get("destinations")
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Posts the form of `kind` to `/destinations/{action}` and answers the page (any status).
async fn post_kind(
    state: &AppState,
    action: &str,
    kind: &str,
    fields: &[(&str, &str)],
) -> crate::dashboard::Page {
    let csrf = state.csrf.as_str().to_owned();
    let mut all = vec![("csrf", csrf.as_str()), ("kind", kind)];
    all.extend_from_slice(fields);
    post_form(state, &format!("/destinations/{action}"), &all).await
}

/// From "Not protected yet" to saved destinations, changed and removed through the pages: each
/// save lands in the file (its comment kept) and is served at once; a secret left empty on the
/// edit form is kept and never shown; what cannot be saved says which field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_are_saved_changed_and_removed_through_the_pages() {
    let d = home_with_updates().await;
    let dir = tempfile::tempdir().unwrap();
    let (state, host, file) = served_from_a_file(&d, dir.path()).await;
    assert!(get(&state, "/").await.body.contains("Not protected yet"));
    let usb = dir.path().join("usb");
    let saved = post_kind(
        &state,
        "save",
        "local",
        &[("name", "usb"), ("path", usb.to_str().unwrap())],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(
        saved.location.as_deref(),
        Some(format!("{PREFIX}/destinations?notice=dest-saved").as_str())
    );
    assert_eq!(named_in(&file), ["usb"]);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .starts_with("# The house on the hill.\n")
    );
    let page = get(&state, "/destinations?notice=dest-saved").await;
    assert!(
        page.body.contains("Saved. The change is applied now."),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("{PREFIX}/destinations/usb/edit"))
    );

    // An S3 bucket, through its preset; then changed with its secret left empty.
    let s3 = env_or_die("LIFEBOAT_TEST_S3");
    let prefix = unique("form-save");
    let saved = post_kind(
        &state,
        "save",
        "s3",
        &[
            ("name", "offsite"),
            ("preset", "minio"),
            ("bucket", "backups"),
            ("prefix", &prefix),
            ("endpoint", &s3),
            ("access_key_id", S3_KEY_ID),
            ("secret_access_key", S3_SECRET),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(named_in(&file), ["usb", "offsite"]);
    let served: Vec<String> = state
        .services()
        .unwrap()
        .destinations
        .iter()
        .map(|d| d.name.clone())
        .collect();
    assert_eq!(served, ["usb", "offsite"], "applied without a restart");
    let edit = get(&state, "/destinations/offsite/edit").await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.body);
    assert!(
        edit.body.contains("Set — leave empty to keep."),
        "{}",
        edit.body
    );
    assert_eq!(
        input_value(&edit.body, "endpoint").as_deref(),
        Some(s3.as_str())
    );
    assert_eq!(
        input_value(&edit.body, "path_style"),
        None,
        "a choice, not a value"
    );
    assert!(
        edit.body.contains("<option value=\"true\" selected>"),
        "the preset's path style was saved"
    );
    // Test on the edit form tries the stored secret.
    let changed = [
        ("replacing", "offsite"),
        ("name", "offsite"),
        ("bucket", "backups"),
        ("prefix", "elsewhere"),
        ("endpoint", s3.as_str()),
        ("access_key_id", S3_KEY_ID),
        ("secret_access_key", ""),
        ("path_style", "true"),
    ];
    let tried = post_kind(&state, "test", "s3", &changed).await;
    assert_eq!(outcome(&tried.body).0, "ok", "{}", tried.body);
    let saved = post_kind(&state, "save", "s3", &changed).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let text_now = std::fs::read_to_string(&file).unwrap();
    assert!(
        text_now.contains(S3_SECRET),
        "the secret left empty was kept"
    );
    assert!(text_now.contains("elsewhere"));

    // The secret is on no page.
    for path in [
        "/",
        "/destinations",
        "/destinations/offsite/edit",
        "/destinations/offsite/remove",
        "/destinations/new/s3",
        "/copies",
        "/runs",
        "/kit",
    ] {
        let page = get(&state, path).await;
        assert!(!page.body.contains(S3_SECRET), "{path} shows the secret");
    }

    // What cannot be saved says which field, and changes nothing.
    let before = std::fs::read_to_string(&file).unwrap();
    let taken = post_kind(
        &state,
        "save",
        "local",
        &[("name", "usb"), ("path", "/media/x")],
    )
    .await;
    assert!(
        field_problem(&taken.body, "name").contains("usb"),
        "{}",
        taken.body
    );
    let relative = post_kind(
        &state,
        "save",
        "local",
        &[("name", "usb2"), ("path", "media/x")],
    )
    .await;
    assert!(
        field_problem(&relative.body, "path").contains("absolute"),
        "{}",
        relative.body
    );
    assert_eq!(
        input_value(&relative.body, "path").as_deref(),
        Some("media/x")
    );
    let sftp = post_kind(
        &state,
        "save",
        "sftp",
        &[
            ("name", "nas"),
            ("host", "nas.local"),
            ("username", "u"),
            ("password", "PLANTED-pw-31"),
        ],
    )
    .await;
    assert!(
        field_problem(&sftp.body, "host_key").contains("Test"),
        "{}",
        sftp.body
    );
    assert!(!sftp.body.contains("PLANTED-pw-31"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    // Removing asks first, says the copies stay, then removes.
    let ask = get(&state, "/destinations/usb/remove").await;
    assert!(
        ask.body.contains("Its copies stay where they are"),
        "{}",
        ask.body
    );
    let csrf = state.csrf.as_str().to_owned();
    let removed = post_form(&state, "/destinations/usb/remove", &[("csrf", &csrf)]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    assert_eq!(
        removed.location.as_deref(),
        Some(format!("{PREFIX}/destinations?notice=dest-removed").as_str())
    );
    assert_eq!(named_in(&file), ["offsite"]);
    // The last one cannot go: there would be nowhere to keep copies.
    let last = post_form(&state, "/destinations/offsite/remove", &[("csrf", &csrf)]).await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert!(
        last.body.contains("at least one destination"),
        "{}",
        last.body
    );
    assert_eq!(named_in(&file), ["offsite"]);
    assert_eq!(
        get(&state, "/destinations/nothing/edit").await.status,
        StatusCode::NOT_FOUND
    );
    state.shutdown.cancel();
    host.join().await;
}

/// Records the settings it is asked to run on.
struct Recorder(std::sync::Mutex<Vec<lifeboat::config::Config>>);

#[async_trait::async_trait]
impl lifeboat::setup::Apply for Recorder {
    async fn apply(
        &self,
        config: lifeboat::config::Config,
    ) -> Result<lifeboat::setup::Applied, lifeboat::setup::ApplyError> {
        self.0.lock().unwrap().push(config);
        Ok(lifeboat::setup::Applied::Now)
    }
}

/// In the add-on, through the Supervisor double: a destination added on the page is saved in the
/// whole options object; one whose secret is a `!secret` reference is edited with the reference
/// kept, and its Test asks for the value rather than trying the reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_addon_a_destination_is_saved_through_the_supervisor_and_a_reference_is_kept() {
    use crate::support::ha_double::{Double, Flavor};
    use lifeboat::setup::{SettingsHome, Setup};
    let d = Double::start(Flavor::Supervisor, Vec::new(), None).await;
    d.set_ha_secret("b2_key", "the-real-secret-8");
    d.save_addon_options(serde_json::json!({
        "source": {"type": "folder", "path": "/backup"},
        "encryption": {"recipients": [kit().identity.to_public().to_string()]},
        "destinations": [{"name": "b2", "type": "s3", "bucket": "home", "access_key_id": "k",
            "secret_access_key": "!secret b2_key", "endpoint": "https://s3.example.com"}],
    }));
    let dir = tempfile::tempdir().unwrap();
    let mut state = new_install(dir.path());
    let applied = Arc::new(Recorder(std::sync::Mutex::new(Vec::new())));
    state.setup = Some(Arc::new(Setup {
        home: SettingsHome::Addon {
            url: d.url.parse().unwrap(),
            token: lifeboat::secret::Secret::new(d.token().to_owned()),
            http: reqwest::Client::new(),
        },
        env: lifeboat::config::Env::default(),
        data_dir_given: Some(dir.path().to_owned()),
        default_data_dir: dir.path().to_owned(),
        apply: applied.clone(),
    }));
    let edit = get(&state, "/destinations/b2/edit").await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.body);
    assert!(edit.body.contains("Set — leave empty to keep."));
    assert!(!edit.body.contains("b2_key") && !edit.body.contains("the-real-secret-8"));
    let fields = [
        ("replacing", "b2"),
        ("name", "b2"),
        ("bucket", "home"),
        ("prefix", "house"),
        ("endpoint", "https://s3.example.com"),
        ("access_key_id", "k"),
        ("secret_access_key", ""),
    ];
    let tried = post_kind(&state, "test", "s3", &fields).await;
    assert_eq!(outcome(&tried.body).0, "none", "a reference is not tried");
    assert!(
        field_problem(&tried.body, "secret_access_key").contains("secrets.yaml"),
        "{}",
        tried.body
    );
    let saved = post_kind(&state, "save", "s3", &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let usb = dir.path().join("usb");
    let added = post_kind(
        &state,
        "save",
        "local",
        &[("name", "usb"), ("path", usb.to_str().unwrap())],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let stored = d.saved_addon_options();
    assert_eq!(stored["destinations"][0]["prefix"], "house");
    assert_eq!(
        stored["destinations"][0]["secret_access_key"], "!secret b2_key",
        "the reference is kept"
    );
    assert_eq!(stored["destinations"][1]["name"], "usb");
    assert_eq!(stored["source"]["path"], "/backup", "the rest is as it was");
    assert_eq!(applied.0.lock().unwrap().len(), 2);
    assert!(!d.log().iter().any(|l| l.contains("validate")));
}

/// A listener that answers every request "401, sign in" and records every byte it is sent.
async fn recording_listener() -> (String, Arc<std::sync::Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let read = std::time::Duration::from_secs(2);
                while let Ok(Ok(n)) = tokio::time::timeout(read, conn.read(&mut buf)).await {
                    if n == 0 {
                        break;
                    }
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                    let _ = conn
                        .write_all(
                            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\
                              Content-Length: 0\r\n\r\n",
                        )
                        .await;
                }
            });
        }
    });
    (format!("http://{at}/dav/"), seen)
}

/// Whether `seen` holds the secret, as typed or inside an HTTP Basic `Authorization` header.
fn holds(seen: &std::sync::Mutex<Vec<u8>>, user: &str, secret: &str) -> bool {
    use base64::Engine;
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    seen.contains(secret) || seen.contains(&basic)
}

/// A stored secret left empty on an edit form is kept only for the same kind at the same
/// address: a form changed to another kind or another address (forged or not) gets "type it
/// again", tries nothing with it and saves nothing; the same address still keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_secret_is_never_sent_to_a_new_address_or_kind() {
    let d = home_with_updates().await;
    let dir = tempfile::tempdir().unwrap();
    let (state, _host, file) = served_from_a_file(&d, dir.path()).await;
    let (home, home_seen) = recording_listener().await;
    let (evil, evil_seen) = recording_listener().await;
    let dav_pass = "PLANTED-dav-pass-4711";
    let smb_pass = "PLANTED-smb-pass-0815";
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!(
        "\n[[destinations]]\ntype = \"webdav\"\nname = \"dav\"\nurl = \"{home}\"\n\
         username = \"ha\"\npassword = \"{dav_pass}\"\n\n\
         [[destinations]]\ntype = \"smb\"\nname = \"nas\"\nhost = \"127.0.0.1\"\n\
         share = \"backups\"\nusername = \"ha\"\npassword = \"{smb_pass}\"\n"
    ));
    std::fs::write(&file, &text).unwrap();
    let moved = "type it again: the address or account changed";

    // (c) The same kind at the same address: the stored secret is tried there (the listener
    // sees it, so it would see it anywhere else too).
    let same = [
        ("replacing", "dav"),
        ("name", "dav"),
        ("url", home.as_str()),
        ("username", "ha"),
        ("password", ""),
    ];
    let tried = post_kind(&state, "test", "webdav", &same).await;
    assert_eq!(tried.status, StatusCode::OK, "{}", tried.body);
    assert!(!field_problem(&tried.body, "password").contains(moved));
    assert!(
        holds(&home_seen, "ha", dav_pass),
        "the kept secret was tried"
    );
    assert!(!tried.body.contains(dav_pass));

    // (b) Another address, and (a) another kind (the SMB password to a WebDAV server).
    for (replacing, secret) in [("dav", dav_pass), ("nas", smb_pass)] {
        let elsewhere = [
            ("replacing", replacing),
            ("name", replacing),
            ("url", evil.as_str()),
            ("username", "ha"),
            ("password", ""),
        ];
        let tried = post_kind(&state, "test", "webdav", &elsewhere).await;
        assert_eq!(tried.status, StatusCode::OK, "{}", tried.body);
        assert!(
            field_problem(&tried.body, "password").contains(moved),
            "{replacing}: {}",
            tried.body
        );
        assert_eq!(outcome(&tried.body).0, "none", "{replacing}: nothing tried");
        let saved = post_kind(&state, "save", "webdav", &elsewhere).await;
        assert_eq!(saved.status, StatusCode::OK, "{replacing}: not saved");
        assert!(
            field_problem(&saved.body, "password").contains(moved),
            "{replacing}: {}",
            saved.body
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text, "{replacing}");
        assert!(
            !holds(&evil_seen, "ha", secret),
            "{replacing}: sent to evil"
        );
    }
    // Another account at the same address is another place too.
    let other_user = [
        ("replacing", "dav"),
        ("name", "dav"),
        ("url", home.as_str()),
        ("username", "someone-else"),
        ("password", ""),
    ];
    let tried = post_kind(&state, "test", "webdav", &other_user).await;
    assert!(field_problem(&tried.body, "password").contains(moved));
    assert!(!holds(&home_seen, "someone-else", dav_pass));
    assert!(
        String::from_utf8_lossy(&evil_seen.lock().unwrap()).is_empty(),
        "nothing at all was tried at the new address"
    );

    // (c) Saved at the same address, the secret is kept.
    let saved = post_kind(&state, "save", "webdav", &same).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert!(std::fs::read_to_string(&file).unwrap().contains(dav_pass));
}
