//! The settings page through the router, without a socket: it renders with what each destination
//! would keep from a seeded history; a bad cron, retention or jitter shows the page again with the
//! field named and the input kept, and saves nothing; a good change is saved into a commented
//! lifeboat.toml (comments kept) and handed to the running daemon; "Preview" lists the copies the
//! edited policy would keep and delete, and deletes nothing.

use crate::dashboard::{assert_prefixed, get, post_form, token};
use crate::support::*;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lifeboat::config::{Config, Env};
use lifeboat::history::{CopyRecord, History, RunEnd, RunStatus};
use lifeboat::setup::{Applied, Apply, ApplyError, SettingsHome, Setup};
use lifeboat::source::folder::FolderSource;
use lifeboat::web::AppState;
use std::path::Path;
use std::sync::{Arc, Mutex};

const RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

/// The daemon, as the setup sees it: records each configuration it is given.
#[derive(Default)]
struct Recorder(Mutex<Vec<Config>>);

#[async_trait::async_trait]
impl Apply for Recorder {
    async fn apply(&self, config: Config) -> Result<Applied, ApplyError> {
        self.0.lock().unwrap().push(config);
        Ok(Applied::Now)
    }
}

fn settings_text(src: &Path, out: &Path) -> String {
    format!(
        r#"# Lifeboat on the home server
[source]   # Home Assistant's backup folder
type = "folder"
path = "{}"

[encryption]
recipients = ["{RECIPIENT}"]   # the kit in the drawer

# The NAS in the hall
[[destinations]]
type = "local"
name = "nas"
path = "{}"   # mounted by fstab
retention = "last=1 daily=2"   # small disk

# runs at night
[schedule]
backup = "30 3 * * *"   # after the nightly purge
timezone = "UTC"
"#,
        src.display(),
        out.display()
    )
}

struct Rig {
    state: AppState,
    file: std::path::PathBuf,
    before: String,
    applied: Arc<Recorder>,
    history: History,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn rig() -> Rig {
    let (src, out, data, conf) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let r = runner(
        Arc::new(FolderSource::new(src.path().into())),
        &[local_spec("nas", out.path())],
        &kit().spec,
        data.path(),
    );
    let history = r.history.clone();
    let (mut state, shutdown, task) = dashboard(r, Vec::new()).await;
    let file = conf.path().join("lifeboat.toml");
    let before = settings_text(src.path(), out.path());
    std::fs::write(&file, &before).unwrap();
    let applied = Arc::new(Recorder::default());
    state.setup = Some(Arc::new(Setup {
        home: SettingsHome::File(file.clone()),
        env: Env::default(),
        data_dir_given: Some(data.path().to_owned()),
        default_data_dir: data.path().to_owned(),
        apply: applied.clone(),
    }));
    Rig {
        state,
        file,
        before,
        applied,
        history,
        shutdown,
        task,
        _dirs: vec![src, out, data, conf],
    }
}

impl Rig {
    fn text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }

    /// The form as the page sends it, with `changes` over the settings as written.
    async fn post(&self, changes: &[(&str, &str)]) -> crate::dashboard::Page {
        let csrf = token(&self.state);
        let mut fields: Vec<(&str, &str)> = vec![
            ("csrf", csrf.as_str()),
            ("backup", "30 3 * * *"),
            ("verify", ""),
            ("jitter_minutes", ""),
            ("timezone", "UTC"),
            ("retention", ""),
            ("retention:nas", "last=1 daily=2"),
            ("action", "save"),
        ];
        for (k, v) in changes {
            match fields.iter_mut().find(|(n, _)| n == k) {
                Some(f) => f.1 = v,
                None => fields.push((k, v)),
            }
        }
        post_form(&self.state, "/settings", &fields).await
    }
}

fn at(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).unwrap().into()
}

/// One run of the first source that left `copy` on `nas` (verified or not), its backup made
/// at `made`.
async fn seed(h: &History, copy: &str, made: &str, verified: bool) {
    let started = at(made);
    let id = h
        .start_run(started, "schedule", "folder:/backup")
        .await
        .unwrap();
    let end = RunEnd {
        source_key: Some(copy.to_owned()),
        backup_slug: Some(copy.to_owned()),
        backup_name: Some(copy.to_owned()),
        backup_date: Some(made.to_owned()),
        plain_size: Some(1000),
        plain_sha256: Some("cd".repeat(32)),
        stored_size: Some(1100),
        stored_sha256: Some("ab".repeat(32)),
        error: None,
        warnings: Vec::new(),
        timeline: Vec::new(),
        keys: None,
        readiness: None,
    };
    let cp = CopyRecord {
        destination: "nas".into(),
        copy_id: copy.to_owned(),
        object: format!("{copy}.tar.age"),
        verified,
        stored_size: Some(1100),
        stored_sha256: Some("ab".repeat(32)),
        error: (!verified).then(|| "refused".to_owned()),
        upload_ms: Some(10),
        verify_ms: Some(10),
        verified_at: verified.then_some(started),
        failure: (!verified).then(|| "denied".to_owned()),
    };
    let status = if verified {
        RunStatus::Success
    } else {
        RunStatus::Failed
    };
    h.finish_run(id, started, status, end, vec![cp])
        .await
        .unwrap();
}

/// Five copies on `nas`, the oldest pinned; one deleted since, one that failed.
async fn seed_history(h: &History) {
    seed(h, "gone-1031", "2026-10-31T03:30:00+00:00", true).await;
    h.record_deletion(lifeboat::history::upkeep::DeletionRow {
        at: at("2026-11-01T04:00:00+00:00"),
        destination: "nas".into(),
        copy_id: "gone-1031".into(),
        made: Some(at("2026-10-31T03:30:00+00:00")),
        trigger: "retention".into(),
        reason: "outside the policy".into(),
        error: None,
    })
    .await
    .unwrap();
    for (copy, made) in [
        ("c1-1101", "2026-11-01T03:30:00+00:00"),
        ("c2-1102", "2026-11-02T03:30:00+00:00"),
        ("c3-1103", "2026-11-03T03:30:00+00:00"),
        ("c4-1103", "2026-11-03T15:00:00+00:00"),
        ("c5-1104", "2026-11-04T03:30:00+00:00"),
    ] {
        seed(h, copy, made, true).await;
    }
    seed(h, "failed-1105", "2026-11-05T03:30:00+00:00", false).await;
    h.pin("nas", "c1-1101", at("2026-11-05T00:00:00+00:00"))
        .await
        .unwrap();
}

/// The copy ids a preview lists as kept and as deleted, in order.
fn fates(body: &str) -> (Vec<String>, Vec<String>) {
    let list = |class: &str| -> Vec<String> {
        let re = regex::Regex::new(&format!(r#"(?s)<ul class="{class}">(.*?)</ul>"#)).unwrap();
        let code = regex::Regex::new(r"<code>([^<]*)</code>").unwrap();
        re.captures_iter(body)
            .flat_map(|c| {
                code.captures_iter(&c[1])
                    .map(|m| m[1].to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    (list("kept"), list("doomed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_settings_and_what_each_destination_would_keep() {
    let rig = rig().await;
    seed_history(&rig.history).await;
    let page = get(&rig.state, "/settings").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_prefixed("/settings", &page.body);
    for want in [
        r#"name="backup" value="30 3 * * *""#,
        r#"name="timezone" value="UTC""#,
        r#"name="retention:nas" value="last=1 daily=2""#,
        "aria-current=\"page\">Settings<",
    ] {
        assert!(page.body.contains(want), "{want}: {}", page.body);
    }
    let (kept, deleted) = fates(&page.body);
    assert_eq!(kept, ["c5-1104", "c4-1103", "c1-1101"], "{}", page.body);
    assert_eq!(deleted, ["c3-1103", "c2-1102"]);
    assert!(page.body.contains("pinned"));
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_lists_what_the_edited_policy_keeps_and_deletes_nothing() {
    let rig = rig().await;
    seed_history(&rig.history).await;
    let page = rig
        .post(&[("retention:nas", "daily=1"), ("action", "preview")])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Preview only: nothing was saved"));
    let (kept, deleted) = fates(&page.body);
    assert_eq!(kept, ["c5-1104", "c1-1101"]);
    assert_eq!(deleted, ["c4-1103", "c3-1103", "c2-1102"]);
    assert!(
        page.body
            .contains(r#"name="retention:nas" value="daily=1""#),
        "the input is kept"
    );
    assert_eq!(rig.text(), rig.before, "nothing saved");
    assert!(rig.applied.0.lock().unwrap().is_empty());
    assert_eq!(
        rig.history.expected_copies("nas").await.unwrap().len(),
        5,
        "nothing deleted"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_shown_again_on_its_field_and_nothing_is_saved() {
    let rig = rig().await;
    for (changes, field, kept) in [
        (
            vec![("backup", "every night")],
            "schedule.backup",
            r#"name="backup" value="every night""#,
        ),
        (
            vec![("retention:nas", "daily=lots")],
            "destinations[0].retention",
            r#"name="retention:nas" value="daily=lots""#,
        ),
        (
            vec![("jitter_minutes", "soon")],
            "schedule.jitter_minutes",
            r#"name="jitter_minutes" value="soon""#,
        ),
        (
            vec![("jitter_minutes", "1000")],
            "schedule.jitter_minutes",
            r#"name="jitter_minutes" value="1000""#,
        ),
        (
            vec![("timezone", "Mars/Olympus")],
            "schedule.timezone",
            r#"name="timezone" value="Mars/Olympus""#,
        ),
    ] {
        let page = rig.post(&changes).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            page.body
        );
        assert!(page.body.contains(field), "{field}: {}", page.body);
        assert!(
            page.body.contains(kept),
            "{field}: input kept: {}",
            page.body
        );
        assert!(page.body.contains("aria-invalid=\"true\""), "{field}");
        assert_eq!(rig.text(), rig.before, "{field}: nothing saved");
    }
    assert!(rig.applied.0.lock().unwrap().is_empty());
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_change_is_saved_into_the_file_with_its_comments_and_applied() {
    let rig = rig().await;
    let page = rig
        .post(&[
            ("backup", "0 2 * * *"),
            ("jitter_minutes", "15"),
            ("retention", "last=3"),
            ("retention:nas", "last=4"),
        ])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.unwrap();
    assert!(
        location.ends_with("/settings?notice=settings-saved"),
        "{location}"
    );
    let after = rig.text();
    let expected = rig
        .before
        .replace(
            "backup = \"30 3 * * *\"   # after the nightly purge\ntimezone = \"UTC\"\n",
            "backup = \"0 2 * * *\"   # after the nightly purge\ntimezone = \"UTC\"\njitter_minutes = 15\n",
        )
        .replace(
            "retention = \"last=1 daily=2\"   # small disk",
            "retention = \"last=4\"   # small disk",
        )
        .replacen("# Lifeboat on the home server\n", "retention = \"last=3\"\n# Lifeboat on the home server\n", 1);
    assert_eq!(after, expected);
    {
        let applied = rig.applied.0.lock().unwrap();
        assert_eq!(applied.len(), 1);
        assert_eq!(applied[0].destinations[0].retention.last, 4);
        assert_eq!(
            applied[0].schedule.jitter,
            std::time::Duration::from_secs(15 * 60)
        );
    }
    let shown = get(&rig.state, &location.replace(crate::dashboard::PREFIX, "")).await;
    assert!(shown.body.contains("Settings saved"), "{}", shown.body);
    assert!(shown.body.contains(r#"name="backup" value="0 2 * * *""#));
    rig.stop().await;
}

/// A form shown before a destination was added or renamed (in another tab) has no field for it:
/// saving it changes the rest and leaves that destination's own retention as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_form_leaves_the_retention_of_a_destination_it_does_not_show() {
    let rig = rig().await;
    let csrf = token(&rig.state);
    let stale = [
        ("csrf", csrf.as_str()),
        ("backup", "0 2 * * *"),
        ("verify", ""),
        ("jitter_minutes", ""),
        ("timezone", "UTC"),
        ("retention", ""),
        ("retention:old-name", "last=9"),
        ("action", "save"),
    ];
    let page = post_form(&rig.state, "/settings", &stale).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let expected = rig.before.replace(
        "backup = \"30 3 * * *\"   # after the nightly purge",
        "backup = \"0 2 * * *\"   # after the nightly purge",
    );
    assert_eq!(rig.text(), expected, "nas keeps its own retention");
    {
        let applied = rig.applied.0.lock().unwrap();
        assert_eq!(applied.len(), 1);
        assert_eq!(applied[0].destinations[0].retention.last, 1);
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_setup_the_page_says_where_to_change_them_and_a_post_needs_the_token() {
    let mut rig = rig().await;
    let no_token = post_form(&rig.state, "/settings", &[("backup", "* * * * *")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert_eq!(rig.text(), rig.before);
    rig.state.setup = None;
    let page = get(&rig.state, "/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Configuration tab"), "{}", page.body);
    let csrf = token(&rig.state);
    let refused = post_form(
        &rig.state,
        "/settings",
        &[("csrf", csrf.as_str()), ("backup", "* * * * *")],
    )
    .await;
    assert!(refused.body.contains("not changed here"));
    assert_eq!(rig.text(), rig.before);
    rig.stop().await;
}

/// Through the Supervisor: the add-on's options are saved whole, `!secret` references kept and
/// resolved for the daemon; a save the Supervisor refuses shows its words and keeps what was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_supervisor_the_options_are_saved_and_its_refusal_is_shown() {
    use crate::support::ha_double::{Double, Flavor};
    use lifeboat::config::DestinationKind;
    let mut rig = rig().await;
    let d = Double::start(Flavor::Supervisor, Vec::new(), None).await;
    d.set_ha_secret("b2_key", "the-real-secret");
    d.save_addon_options(serde_json::json!({
        "source": {"type": "folder", "path": "/backup"},
        "encryption": {"recipients": [RECIPIENT]},
        "destinations": [{"name": "b2", "type": "s3", "bucket": "home", "access_key_id": "k",
            "secret_access_key": "!secret b2_key", "endpoint": "https://s3.example.com",
            "retention": "last=2"}],
        "schedule": {"backup": "30 3 * * *", "jitter_minutes": 20},
        "retention": "last=3 daily=7",
        "alert": {}
    }));
    let data = tempfile::tempdir().unwrap();
    rig.state.setup = Some(Arc::new(Setup {
        home: SettingsHome::Addon {
            url: d.url.parse().unwrap(),
            token: lifeboat::secret::Secret::new(d.token().to_owned()),
            http: reqwest::Client::new(),
        },
        env: Env::default(),
        data_dir_given: Some(data.path().to_owned()),
        default_data_dir: data.path().to_owned(),
        apply: rig.applied.clone(),
    }));
    let page = get(&rig.state, "/settings").await;
    assert!(
        page.body.contains(r#"name="retention:b2" value="last=2""#),
        "{}",
        page.body
    );
    assert!(!page.body.contains("the-real-secret") && !page.body.contains("b2_key"));
    let csrf = token(&rig.state);
    let fields = |b2: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("backup", "0 2 * * *".to_owned()),
            ("jitter_minutes", "15".to_owned()),
            ("retention", "last=3 daily=7".to_owned()),
            ("retention:b2", b2.to_owned()),
            ("action", "save".to_owned()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let state = rig.state.clone();
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(&state, "/settings", &pairs).await
        }
    };
    let saved = send(fields("last=4")).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = d.saved_addon_options();
    assert_eq!(stored["schedule"]["backup"], "0 2 * * *");
    assert_eq!(stored["schedule"]["jitter_minutes"], 15);
    assert_eq!(stored["destinations"][0]["retention"], "last=4");
    assert_eq!(
        stored["destinations"][0]["secret_access_key"], "!secret b2_key",
        "the reference is kept"
    );
    {
        let applied = rig.applied.0.lock().unwrap();
        let DestinationKind::S3(s3) = &applied[0].destinations[0].kind else {
            panic!("s3 expected");
        };
        assert_eq!(s3.secret_access_key.expose(), "the-real-secret");
    }
    assert!(!d.log().iter().any(|l| l.contains("validate")));

    // The secret is gone from Home Assistant's secrets.yaml: the Supervisor refuses.
    d.inner.ha_secrets.lock().unwrap().clear();
    let refused = send(fields("last=5")).await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{}", refused.body);
    assert!(
        refused.body.contains("Unknown secret &#39;b2_key&#39;"),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains(r#"name="retention:b2" value="last=5""#)
    );
    assert_eq!(d.saved_addon_options(), stored, "what was saved stays");
    assert_eq!(rig.applied.0.lock().unwrap().len(), 1);
    rig.stop().await;
}

/// The daemon cannot start on what was saved: the page says so (saved, not in use).
struct Unstartable;

#[async_trait::async_trait]
impl Apply for Unstartable {
    async fn apply(&self, _config: Config) -> Result<Applied, ApplyError> {
        Err(ApplyError::NotBuilt(
            "the history database is locked".into(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_saved_but_not_applied_say_so() {
    let mut rig = rig().await;
    let file = rig.file.clone();
    let data = tempfile::tempdir().unwrap();
    rig.state.setup = Some(Arc::new(Setup {
        home: SettingsHome::File(file),
        env: Env::default(),
        data_dir_given: Some(data.path().to_owned()),
        default_data_dir: data.path().to_owned(),
        apply: Arc::new(Unstartable),
    }));
    let page = rig.post(&[("retention:nas", "last=6")]).await;
    assert_eq!(
        page.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("could not start on them")
            && page.body.contains("the history database is locked"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Saved, but not in use"), "{}", page.body);
    assert!(!page.body.contains("Not saved"));
    assert!(
        rig.text().contains("retention = \"last=6\""),
        "it was saved"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_that_stand_invalid_are_shown_with_their_problems_on_their_fields() {
    let rig = rig().await;
    std::fs::write(
        &rig.file,
        rig.before.replace(
            "retention = \"last=1 daily=2\"",
            "retention = \"daily=lots\"",
        ),
    )
    .unwrap();
    let page = get(&rig.state, "/settings").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("The settings as they stand need fixing"));
    assert!(!page.body.contains("Not saved"));
    assert!(page.body.contains("destinations[0].retention"));
    assert!(page.body.contains(r#"name="retention:nas" value="daily=lots" autocomplete="off" spellcheck="false" aria-invalid="true""#), "{}", page.body);
    rig.stop().await;
}
