//! The checks of [`super`], each problem on its field.

use super::*;
use crate::config::{CautionKind, DestinationKind, SourceSpec, parse_options};
use crate::destinations::kinds::s3::S3Spec;
use crate::destinations::kinds::sftp::{SftpAuth, SftpSpec};
use crate::destinations::kinds::smb::SmbSpec;
use crate::destinations::kinds::webdav::WebdavSpec;
use std::path::Path;

pub(super) const RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

/// Options with a folder source and one destination of `kind` named `name`, its settings
/// `extra`, validated with `/var/lib/lifeboat` as the data folder.
fn one_destination(kind: &str, name: &str, extra: &str) -> Result<Config, ConfigError> {
    check(
        &format!(
            r#"
                data_dir = "/var/lib/lifeboat"
                [source]
                type = "folder"
                path = "/backup"
                [[destinations]]
                type = "{kind}"
                name = "{name}"
                {extra}
                "#
        ),
        &Env::default(),
    )
}

pub(super) fn check(toml: &str, env: &Env) -> Result<Config, ConfigError> {
    let opts = parse_options(Path::new("lifeboat.toml"), toml)?;
    validate(opts, env, PathBuf::from("/tmp/data"))
}

pub(super) fn fields(err: &ConfigError) -> Vec<&str> {
    err.problems().iter().map(|p| p.field.as_str()).collect()
}

#[test]
fn a_complete_config_validates() {
    let cfg = check(
        &format!(
            r#"
                [source]
                type = "core"
                url = "http://homeassistant.local:8123"
                [encryption]
                recipients = ["{RECIPIENT}"]
                [[destinations]]
                type = "s3"
                name = "b2"
                bucket = "home"
                prefix = "/ha/"
                endpoint = "https://s3.us-west-004.backblazeb2.com"
                access_key_id = "k"
                secret_access_key = "s"
                [[destinations]]
                type = "local"
                name = "usb"
                path = "/media/usb"
                "#
        ),
        &Env::from_pairs([("HA_TOKEN", "tok")]),
    )
    .unwrap();
    assert_eq!(cfg.destinations.len(), 2);
    let DestinationKind::S3(S3Spec {
        prefix,
        region,
        path_style,
        ..
    }) = &cfg.destinations[0].kind
    else {
        panic!("s3 expected")
    };
    assert_eq!(prefix, "ha/");
    assert_eq!(region, "us-west-004");
    assert!(path_style);
    let SourceSpec::Core { token, .. } = &cfg.source else {
        panic!()
    };
    assert_eq!(token.expose(), "tok");
}

#[test]
fn schedule_retention_staleness_and_alert_validate() {
    let base = format!(
        r#"
            retention = "daily=7 monthly=12"
            stale_after_hours = 50
            [source]
            type = "folder"
            path = "/backup"
            [encryption]
            recipients = ["{RECIPIENT}"]
            [schedule]
            backup = "30 3 * * *"
            jitter_minutes = 15
            [alert]
            url = "https://ntfy.example/lifeboat"
            kind = "ntfy"
            [[destinations]]
            type = "local"
            name = "usb"
            path = "/media/usb"
            [[destinations]]
            type = "local"
            name = "nas"
            path = "/share/nas"
            retention = "last=2"
            "#
    );
    let cfg = check(&base, &Env::from_pairs([("TZ", "Europe/Berlin")])).unwrap();
    assert_eq!(
        cfg.destinations[0].retention.to_string(),
        "daily=7 monthly=12"
    );
    assert_eq!(cfg.destinations[1].retention.to_string(), "last=2");
    assert_eq!(cfg.schedule.tz, chrono_tz::Europe::Berlin);
    assert!(cfg.schedule.backup.is_some() && cfg.schedule.verify.is_none());
    assert_eq!(cfg.schedule.jitter, std::time::Duration::from_secs(900));
    assert_eq!(cfg.stale_after, std::time::Duration::from_secs(50 * 3600));
    assert_eq!(cfg.alert.as_ref().map(|a| a.kind), Some(AlertKind::Ntfy));
    // The topic is the secret: Debug shows the host only.
    assert!(!format!("{cfg:?}").contains("lifeboat"), "{cfg:?}");
    // The options page's empty alert section means no alert.
    let empty = base.replace(
        "url = \"https://ntfy.example/lifeboat\"\n            kind = \"ntfy\"",
        "",
    );
    assert!(check(&empty, &Env::default()).unwrap().alert.is_none());

    let bad = base
        .replace("daily=7 monthly=12", "daily=seven")
        .replace("last=2", "fortnightly=2")
        .replace("30 3 * * *", "at half past three")
        .replace("stale_after_hours = 50", "stale_after_hours = 0")
        .replace("kind = \"ntfy\"", "kind = \"pager\"")
        .replace(
            "jitter_minutes = 15",
            "jitter_minutes = 15\n            timezone = \"Mars/Olympus\"",
        );
    let err = check(&bad, &Env::default()).unwrap_err();
    let f = fields(&err);
    for want in [
        "retention",
        "destinations[1].retention",
        "schedule.backup",
        "schedule.timezone",
        "stale_after_hours",
        "alert.kind",
    ] {
        assert!(f.contains(&want), "{want} missing from {f:?}");
    }
    assert!(err.to_string().contains("30 3 * * *"), "{err}");
}

#[test]
fn every_problem_names_its_field() {
    let err = check(
        r#"
            [source]
            type = "core"
            url = "ftp://x"
            [encryption]
            recipients = ["age1nope"]
            [[destinations]]
            type = "s3"
            name = "Bad Name"
            bucket = ""
            access_key_id = ""
            secret_access_key = ""
            [[destinations]]
            type = "azure"
            name = "az"
            account = "acct"
            container = "c"
            "#,
        &Env::default(),
    )
    .unwrap_err();
    let f = fields(&err);
    for want in [
        "source.url",
        "source.token",
        "encryption.recipients[0]",
        "destinations[0].bucket",
        "destinations[0].access_key_id",
        "destinations[0].secret_access_key",
        "destinations[0].name",
        "destinations[1].account_key",
    ] {
        assert!(f.contains(&want), "{want} missing from {f:?}");
    }
}

#[test]
fn webdav_settings_are_checked_field_by_field() {
    let dav = |extra: &str| one_destination("webdav", "nextcloud", extra);
    let ok = dav(r#"url = "https://cloud.example.com/remote.php/dav/files/a/HA"
                        username = "a"
                        password = "app-pass"
                        segment_mb = 50
                        certificate_sha256 = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89""#)
        .unwrap();
    let DestinationKind::Webdav(WebdavSpec {
        segment,
        certificate_sha256,
        ..
    }) = &ok.destinations[0].kind
    else {
        panic!("webdav expected")
    };
    assert_eq!(*segment, Some(50 << 20));
    assert_eq!(certificate_sha256.unwrap()[0], 0xab);
    assert!(!format!("{:?}", ok.destinations[0]).contains("app-pass"));

    let err = dav(r#"url = "http://a:secret@nas.local/dav"
                         username = ""
                         password = ""
                         segment_mb = 999999
                         certificate_sha256 = "not-hex""#)
    .unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "destinations[0].url",
            "destinations[0].username",
            "destinations[0].password",
            "destinations[0].segment_mb",
            "destinations[0].certificate_sha256",
        ]
    );
    let err = dav(r#"url = "http://nas.local/dav"
                         username = "a"
                         password = "b"
                         certificate_sha256 = "00000000000000000000000000000000000000000000000000000000000000ff""#)
        .unwrap_err();
    assert!(err.to_string().contains("needs an https://"), "{err}");
}

/// Issue 38: a WebDAV password sent over http:// to another machine is said, with the fix;
/// https:// and loopback addresses are not.
#[test]
fn a_webdav_password_over_http_to_another_machine_is_a_caution() {
    let at = |url: &str| {
        let cfg = one_destination(
            "webdav",
            "nas",
            &format!("url = \"{url}\"\nusername = \"a\"\npassword = \"s3cr3t-pass\""),
        )
        .unwrap();
        cautions(&cfg.destinations)
    };
    let said = at("http://nas.local:5005/backups");
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].kind, CautionKind::Cleartext);
    let line = said[0].to_string();
    for want in [
        "cleartext: ",
        "nas",
        "in the clear",
        "nas.local",
        "https://",
    ] {
        assert!(line.contains(want), "{want:?} missing from {said:?}");
    }
    assert!(
        !line.contains("s3cr3t"),
        "the password itself is never said"
    );
    assert_eq!(at("http://192.168.1.5/dav").len(), 1);
    for quiet in [
        "https://nas.local/backups",
        "http://localhost:8080/dav",
        "http://127.0.0.1:8080/dav",
        "http://127.0.0.2/dav",
        "http://[::1]:8080/dav",
    ] {
        assert!(at(quiet).is_empty(), "{quiet}: {:?}", at(quiet));
    }
}

#[test]
fn sftp_settings_are_checked_and_remember_host_keys_in_the_data_folder() {
    let sftp = |extra: &str| one_destination("sftp", "pi", extra);
    let ok = sftp(
        r#"host = "nas.local"
                         username = "pi"
                         private_key = "/ssl/lifeboat_ed25519"
                         host_key = "SHA256:MfndkZGI39VvdzBkMsUGnbSys27p6LWm2LNET71VvW8""#,
    )
    .unwrap();
    let DestinationKind::Sftp(SftpSpec {
        port,
        auth,
        known_hosts,
        ..
    }) = &ok.destinations[0].kind
    else {
        panic!("sftp expected")
    };
    assert_eq!(*port, 22);
    assert!(matches!(
        auth,
        SftpAuth::Key {
            passphrase: None,
            ..
        }
    ));
    assert_eq!(
        known_hosts.as_deref(),
        Some(Path::new("/var/lib/lifeboat/sftp_known_hosts"))
    );

    let err = sftp(
        r#"host = "pi@nas.local"
                          port = 0
                          username = ""
                          host_key = "ssh-rsa nonsense""#,
    )
    .unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "destinations[0].host",
            "destinations[0].port",
            "destinations[0].username",
            "destinations[0].password",
            "destinations[0].host_key",
        ]
    );
    let err = sftp(
        r#"host = "nas"
                          username = "pi"
                          password = "p"
                          private_key = "keys/id""#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
}

#[test]
fn smb_settings_are_checked_and_tidied() {
    let smb = |extra: &str| one_destination("smb", "nas", extra);
    let ok = smb(r#"host = "nas.local"
                        share = '\backups\'
                        path = '\home assistant\lifeboat\'
                        username = "ha"
                        password = "pw""#)
    .unwrap();
    let DestinationKind::Smb(SmbSpec {
        port, share, path, ..
    }) = &ok.destinations[0].kind
    else {
        panic!("smb expected")
    };
    assert_eq!(
        (*port, share.as_str(), path.as_str()),
        (445, "backups", "home assistant/lifeboat")
    );
    assert_eq!(
        ok.destinations[0].kind.url(),
        "smb://ha@nas.local:445/backups/home%20assistant/lifeboat"
    );

    let err = smb(r#"host = "//nas.local/backups"
                         port = 0
                         share = "backups/ha"
                         path = "../other"
                         username = ""
                         password = "" "#)
    .unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "destinations[0].host",
            "destinations[0].port",
            "destinations[0].share",
            "destinations[0].username",
            "destinations[0].password",
            "destinations[0].path",
        ]
    );
    assert!(err.to_string().contains("share and a folder"), "{err}");
}

#[test]
fn unknown_and_missing_keys_name_the_field() {
    let err = check(
        "[source]\ntype = \"folder\"\npaht = \"/x\"\n",
        &Env::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("source") && msg.contains("paht"), "{msg}");

    let err = parse_options(
        Path::new("/data/options.json"),
        r#"{"source":{"type":"folder","path":"/b"},"destinations":[{"type":"s3","name":"x"}]}"#,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("destinations[0]") && msg.contains("bucket"),
        "{msg}"
    );
}

#[test]
fn no_key_is_left_to_the_vault_but_mixing_is_refused() {
    let base = "[source]\ntype = \"folder\"\npath = \"/b\"\n[[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/c\"\n";
    let cfg = check(base, &Env::default()).unwrap();
    assert!(cfg.encryption.has_no_key());
    let mixed = format!("{base}[encryption]\nrecipients = [\"{RECIPIENT}\"]\npassphrase = \"p\"\n");
    let err = check(&mixed, &Env::default()).unwrap_err();
    assert_eq!(fields(&err), ["encryption.passphrase"]);
}

/// Issue 38: an encryption passphrase has the same minimum as sealing a key.
#[test]
fn a_short_encryption_passphrase_is_refused() {
    let base = "[source]\ntype = \"folder\"\npath = \"/b\"\n[[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/c\"\n";
    let short = format!("{base}[encryption]\npassphrase = \"x\"\n");
    let err = check(&short, &Env::default()).unwrap_err();
    assert_eq!(fields(&err), ["encryption.passphrase"]);
    assert!(err.to_string().contains("at least 12 characters"), "{err}");
    let long = format!("{base}[encryption]\npassphrase = \"twelve chars\"\n");
    assert!(check(&long, &Env::default()).is_ok());
}

#[test]
fn notify_service_is_named_with_or_without_its_domain() {
    let base = format!(
        "[source]\ntype = \"folder\"\npath = \"/b\"\n[encryption]\nrecipients = [\"{RECIPIENT}\"]\n\
             [[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/c\"\n"
    );
    for (given, want) in [
        ("notify.mobile_app_pixel", "mobile_app_pixel"),
        (" mobile_app_pixel ", "mobile_app_pixel"),
    ] {
        let cfg = check(
            &format!("notify_service = \"{given}\"\n{base}"),
            &Env::default(),
        )
        .unwrap();
        assert_eq!(cfg.notify_service.as_deref(), Some(want));
    }
    let err = check(
        &format!("notify_service = \"Mobile App!\"\n{base}"),
        &Env::default(),
    )
    .unwrap_err();
    assert_eq!(fields(&err), ["notify_service"]);
}

#[test]
fn duplicate_destination_names_are_refused() {
    let t = format!(
        "[source]\ntype = \"folder\"\npath = \"/b\"\n[encryption]\nrecipients = [\"{RECIPIENT}\"]\n\
             [[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/c\"\n\
             [[destinations]]\ntype = \"local\"\nname = \"a\"\npath = \"/d\"\n"
    );
    let err = check(&t, &Env::default()).unwrap_err();
    assert_eq!(fields(&err), ["destinations[1].name"]);
}
