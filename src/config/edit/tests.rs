//! The settings document, both forms: what reads back, what changes, what stays byte for byte.

use super::*;
use serde_json::json;

const COMMENTED: &str = r#"# Lifeboat on the home server
data_dir = "/var/lib/lifeboat"   # history lives here
retention = "last=3"

[source]   # where backups come from
type = "folder"
path = "/backup"

# The USB disk by the router
[[destinations]]
type = "local"
name = "usb"
path = "/media/usb"   # mounted by fstab

# Off-site, in B2
[[destinations]]
type = "s3"
name = "b2"
bucket = "home"
access_key_id = "k"
secret_access_key = "s3cr3t"   # rotate in May

# runs at night
[schedule]
backup = "30 3 * * *"   # after the nightly purge
verify = "0 5 * * 0"
"#;

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.into())
}

fn s3(name: &str, secret: FieldValue) -> DestinationEntry {
    DestinationEntry {
        name: name.into(),
        kind: Kind::S3,
        fields: BTreeMap::from([
            ("bucket".into(), text("home")),
            ("access_key_id".into(), text("k")),
            ("secret_access_key".into(), secret),
            ("path_style".into(), FieldValue::Bool(true)),
        ]),
    }
}

fn local(name: &str, path: &str) -> DestinationEntry {
    DestinationEntry {
        name: name.into(),
        kind: Kind::Local,
        fields: BTreeMap::from([("path".into(), text(path))]),
    }
}

fn toml_doc() -> SettingsDoc {
    SettingsDoc::from_toml(COMMENTED).unwrap()
}

fn json_doc() -> SettingsDoc {
    SettingsDoc::from_json(json!({
        "source": {"type": "supervisor"},
        "retention": "last=3",
        "destinations": [
            {"name": "usb", "type": "local", "path": "/media/usb"},
            {"name": "b2", "type": "s3", "bucket": "home", "access_key_id": "k",
             "secret_access_key": "!secret b2_key", "region": "eu"}
        ],
        "schedule": {"backup": "30 3 * * *", "jitter_minutes": 20},
        "alert": {}
    }))
    .unwrap()
}

fn lines_changed(before: &str, after: &str) -> Vec<String> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    assert_eq!(a.len(), b.len(), "same number of lines:\n{after}");
    a.iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(_, y)| (*y).to_owned())
        .collect()
}

#[test]
fn a_toml_file_reads_its_destinations_with_set_secrets_kept_back() {
    let d = toml_doc().destinations();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0], local("usb", "/media/usb"));
    assert_eq!(d[1].name, "b2");
    assert_eq!(d[1].kind, Kind::S3);
    assert_eq!(d[1].fields["secret_access_key"], FieldValue::Keep);
    assert_eq!(d[1].fields["bucket"], text("home"));
}

#[test]
fn a_json_document_reads_typed_fields_and_hides_secret_references() {
    let d = json_doc().destinations();
    assert_eq!(d[1].fields["secret_access_key"], FieldValue::Keep);
    assert!(!format!("{d:?}").contains("b2_key"));
    let doc = SettingsDoc::from_json(json!({"destinations": [{"name": "nas", "type": "sftp",
        "host": "nas", "port": 2222, "password": "", "private_key": null}]}))
    .unwrap();
    let d = doc.destinations();
    assert_eq!(d[0].fields["port"], FieldValue::Int(2222));
    assert!(
        !d[0].fields.contains_key("password"),
        "an empty secret is not set"
    );
    assert!(!d[0].fields.contains_key("private_key"));
}

#[test]
fn editing_one_destination_leaves_every_other_byte_of_the_file() {
    let mut doc = toml_doc();
    doc.put_destination(Some("usb"), local("usb", "/media/usb2"))
        .unwrap();
    let after = doc.to_toml().unwrap();
    assert_eq!(
        lines_changed(COMMENTED, &after),
        ["path = \"/media/usb2\"   # mounted by fstab"]
    );
}

#[test]
fn saving_an_unchanged_destination_changes_nothing() {
    let mut doc = toml_doc();
    let b2 = doc.destinations().remove(1);
    doc.put_destination(Some("b2"), b2).unwrap();
    assert_eq!(doc.to_toml().unwrap(), COMMENTED);
}

#[test]
fn a_kept_secret_stays_and_a_new_one_replaces_it() {
    let mut doc = toml_doc();
    doc.put_destination(Some("b2"), s3("b2", FieldValue::Keep))
        .unwrap();
    let after = doc.to_toml().unwrap();
    assert!(after.contains("secret_access_key = \"s3cr3t\"   # rotate in May"));
    assert!(
        after.contains("path_style = true"),
        "a bool is a bool:\n{after}"
    );
    doc.put_destination(Some("b2"), s3("b2", text("new-one")))
        .unwrap();
    let after = doc.to_toml().unwrap();
    assert!(after.contains("secret_access_key = \"new-one\"   # rotate in May"));

    let mut doc = json_doc();
    doc.put_destination(Some("b2"), s3("b2", FieldValue::Keep))
        .unwrap();
    let v = doc.to_json().unwrap();
    assert_eq!(v["destinations"][1]["secret_access_key"], "!secret b2_key");
    assert_eq!(v["destinations"][1]["path_style"], true);
    assert!(
        v["destinations"][1].get("region").is_none(),
        "a field left out is unset"
    );
}

#[test]
fn keep_with_nothing_to_keep_is_refused_and_changes_nothing() {
    for mut doc in [toml_doc(), json_doc()] {
        let before = (doc.to_toml(), doc.to_json());
        let err = doc
            .put_destination(None, s3("wasabi", FieldValue::Keep))
            .unwrap_err();
        assert!(
            matches!(&err, EditError::NothingToKeep { field } if field == "secret_access_key"),
            "{err}"
        );
        let err = doc
            .put_destination(Some("usb"), s3("usb", FieldValue::Keep))
            .unwrap_err();
        assert!(matches!(err, EditError::NothingToKeep { .. }), "{err}");
        assert_eq!((doc.to_toml(), doc.to_json()), before);
    }
}

#[test]
fn a_kept_secret_is_refused_when_the_address_or_kind_changes() {
    for mut doc in [toml_doc(), json_doc()] {
        let before = (doc.to_toml(), doc.to_json());
        let mut elsewhere = s3("b2", FieldValue::Keep);
        elsewhere
            .fields
            .insert("endpoint".into(), text("https://evil.example"));
        let mut other_key = s3("b2", FieldValue::Keep);
        other_key
            .fields
            .insert("access_key_id".into(), text("someone-else"));
        let mut webdav = s3("b2", FieldValue::Keep);
        webdav.kind = Kind::Webdav;
        for entry in [elsewhere, other_key, webdav] {
            let err = doc.put_destination(Some("b2"), entry).unwrap_err();
            assert!(
                matches!(&err, EditError::NothingToKeep { field } if field == "secret_access_key"),
                "{err}"
            );
        }
        assert_eq!((doc.to_toml(), doc.to_json()), before);
        let mut typed = s3("b2", text("new-one"));
        typed
            .fields
            .insert("endpoint".into(), text("https://s3.example"));
        doc.put_destination(Some("b2"), typed).unwrap();
    }
}

#[test]
fn a_rename_keeps_the_place_and_a_taken_name_is_refused() {
    for mut doc in [toml_doc(), json_doc()] {
        doc.put_destination(Some("usb"), local("disk", "/media/usb"))
            .unwrap();
        let names: Vec<String> = doc.destinations().into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["disk", "b2"]);
        let err = doc
            .put_destination(Some("disk"), local("b2", "/x"))
            .unwrap_err();
        assert!(matches!(err, EditError::NameTaken(n) if n == "b2"));
        let err = doc.put_destination(None, local("disk", "/x")).unwrap_err();
        assert!(matches!(err, EditError::NameTaken(_)));
        let err = doc
            .put_destination(Some("nope"), local("x", "/x"))
            .unwrap_err();
        assert!(matches!(err, EditError::NoSuchDestination(n) if n == "nope"));
    }
}

#[test]
fn a_new_destination_goes_after_the_last_one_and_reads_as_options() {
    let mut doc = toml_doc();
    doc.put_destination(None, s3("wasabi", text("w-secret")))
        .unwrap();
    let after = doc.to_toml().unwrap();
    let at_new = after.find("name = \"wasabi\"").unwrap();
    assert!(at_new < after.find("[schedule]").unwrap(), "{after}");
    assert!(after.starts_with(&COMMENTED[..COMMENTED.find("# runs at night").unwrap()]));
    let opts = doc.options().unwrap();
    assert_eq!(opts.destinations.len(), 3);
    assert_eq!(opts.destinations[2].name(), "wasabi");
}

#[test]
fn removing_a_destination_leaves_the_others_and_their_comments() {
    let mut doc = toml_doc();
    doc.remove_destination("usb").unwrap();
    let after = doc.to_toml().unwrap();
    assert!(!after.contains("usb"));
    assert!(after.contains("# Off-site, in B2\n[[destinations]]\ntype = \"s3\""));
    assert!(matches!(
        doc.remove_destination("usb"),
        Err(EditError::NoSuchDestination(_))
    ));
    let mut doc = json_doc();
    doc.remove_destination("b2").unwrap();
    assert_eq!(doc.destinations().len(), 1);
}

#[test]
fn a_hostile_name_cannot_break_the_file() {
    let evil = "x\"\n[[destinations]]\ntype = \"local\"\nname = \"planted\"\npath = \"/\"\n#";
    let mut doc = toml_doc();
    doc.put_destination(None, local(evil, "/a'b\"c\\")).unwrap();
    let again = SettingsDoc::from_toml(&doc.to_toml().unwrap()).unwrap();
    let d = again.destinations();
    assert_eq!(d.len(), 3, "one destination added, none planted");
    assert_eq!(d[2].name, evil);
    assert_eq!(d[2].fields["path"], text("/a'b\"c\\"));
}

#[test]
fn entries_that_are_not_tables_are_passed_over_and_kept() {
    let mut doc = SettingsDoc::from_toml(
        "destinations = [1, \"two\", { type = \"local\", name = \"usb\", path = \"/m\" }, { type = \"ftp\", name = \"old\" }]\n",
    )
    .unwrap();
    assert_eq!(doc.destinations(), [local("usb", "/m")]);
    doc.put_destination(Some("usb"), local("usb", "/n"))
        .unwrap();
    doc.put_destination(None, local("more", "/o")).unwrap();
    let text = doc.to_toml().unwrap();
    assert!(
        text.starts_with(
            "destinations = [1, \"two\", { type = \"local\", name = \"usb\", path = \"/n\" }"
        ),
        "{text}"
    );
    assert!(text.contains("name = \"more\""));

    let mut doc = SettingsDoc::from_toml("destinations = \"none\"\n").unwrap();
    assert!(doc.destinations().is_empty());
    let err = doc.put_destination(None, local("a", "/a")).unwrap_err();
    assert!(matches!(err, EditError::Options(m) if m.contains("destinations")));

    let mut doc =
        SettingsDoc::from_json(json!({"destinations": [1, {"type": "local"}, "x"]})).unwrap();
    assert_eq!(
        doc.destinations().len(),
        1,
        "a local without a name reads, named \"\""
    );
    doc.put_destination(None, local("a", "/a")).unwrap();
    let mut doc = SettingsDoc::from_json(json!({"destinations": {"a": 1}})).unwrap();
    assert!(doc.destinations().is_empty());
    assert!(doc.put_destination(None, local("a", "/a")).is_err());
}

#[test]
fn documents_that_are_not_settings_are_refused() {
    assert!(matches!(
        SettingsDoc::from_json(json!([1, 2])),
        Err(EditError::NotAnObject)
    ));
    assert!(matches!(
        SettingsDoc::from_json(json!("options")),
        Err(EditError::NotAnObject)
    ));
    assert!(matches!(
        SettingsDoc::from_toml("[[destinations]\nname = "),
        Err(EditError::Toml(_))
    ));
}

#[test]
fn the_schedule_changes_in_place_and_unsets() {
    let mut doc = toml_doc();
    let mut s = doc.schedule();
    assert_eq!(s.backup.as_deref(), Some("30 3 * * *"));
    s.backup = Some("0 2 * * *".into());
    s.verify = None;
    s.jitter_minutes = Some(15);
    doc.set_schedule(&s);
    let after = doc.to_toml().unwrap();
    assert!(after.contains("backup = \"0 2 * * *\"   # after the nightly purge\n"));
    assert!(!after.contains("verify"));
    assert!(after.contains("jitter_minutes = 15"));
    assert_eq!(doc.schedule(), s);
    assert_eq!(doc.options().unwrap().schedule.jitter_minutes, Some(15));

    let mut doc = json_doc();
    doc.set_schedule(&s);
    assert_eq!(doc.schedule(), s);
    assert_eq!(doc.to_json().unwrap()["schedule"]["jitter_minutes"], 15);

    let mut doc = SettingsDoc::from_toml("retention = \"last=1\"\n").unwrap();
    doc.set_schedule(&ScheduleFields::default());
    assert_eq!(
        doc.to_toml().unwrap(),
        "retention = \"last=1\"\n",
        "no empty table"
    );
}

#[test]
fn the_retention_changes_in_place_and_unsets() {
    let mut doc = toml_doc();
    assert_eq!(doc.retention().as_deref(), Some("last=3"));
    doc.set_retention(Some("daily=7"));
    assert_eq!(
        lines_changed(COMMENTED, &doc.to_toml().unwrap()),
        ["retention = \"daily=7\""]
    );
    doc.set_retention(None);
    assert!(doc.retention().is_none());
    let mut doc = json_doc();
    doc.set_retention(Some("daily=7"));
    assert_eq!(doc.retention().as_deref(), Some("daily=7"));
}

#[test]
fn options_name_the_key_that_does_not_fit() {
    let doc = SettingsDoc::from_toml(&format!("{COMMENTED}\nkeep_local = \"three\"\n")).unwrap();
    let err = doc.options().unwrap_err();
    assert!(
        matches!(&err, EditError::Options(m) if m.contains("keep_local")),
        "{err}"
    );
    let doc = SettingsDoc::from_json(json!({"schedule": {"jitter": 3}})).unwrap();
    let err = doc.options().unwrap_err();
    assert!(
        matches!(&err, EditError::Options(m) if m.contains("schedule") && m.contains("jitter")),
        "{err}"
    );
    assert_eq!(json_doc().options().unwrap().destinations.len(), 2);
}
