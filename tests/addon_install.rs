//! "Add repository → install → start", judged by the Supervisor's own rules
//! (`support::supervisor_rules`): the store finds the repository and exactly one add-on in it, with
//! its translations beside it and no deprecated build file; the options page's schema is one the
//! Supervisor takes; the defaults and a realistic set for every destination kind, source kind,
//! alert, schedule and key pass its option validator, alone (saving the page) and overlaid on the
//! defaults (starting the add-on), and then Lifeboat's own configuration code.

use crate::support::supervisor_rules::{
    AppOptions, check_repository, check_schema, effective_options, is_addon_manifest,
    is_config_file_named,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_file(rel: &str) -> Value {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// The files a clone of the repository holds (what the Supervisor's `git clone` gets).
fn tracked() -> Vec<String> {
    let out = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "git ls-files failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|p| !p.is_empty() && root().join(p).exists())
        .map(str::to_owned)
        .collect()
}

fn validator(m: &Value) -> AppOptions<'_> {
    AppOptions {
        schema: m["schema"].as_object().unwrap(),
        name: m["name"].as_str().unwrap(),
        slug: m["slug"].as_str().unwrap(),
        secrets: HashMap::new(),
    }
}

#[test]
fn the_store_finds_the_repository_and_one_add_on_with_its_translations() {
    let files = tracked();
    let repo_files: Vec<&String> = files
        .iter()
        .filter(|f| is_config_file_named(f, "repository"))
        .collect();
    // find_one_filetype takes the first `**/repository.*`: there must be one, at the root.
    assert_eq!(
        repo_files,
        ["repository.yaml"],
        "the Supervisor skips a repository without repository.yaml at its root"
    );
    check_repository(&yaml_file("repository.yaml")).unwrap();

    let addons: Vec<&String> = files.iter().filter(|f| is_addon_manifest(f)).collect();
    assert_eq!(
        addons,
        ["config.yaml"],
        "every config.(json|yaml|yml) outside dot-folders and rootfs is read as an add-on"
    );
    // The add-on's folder is its build context: the root, with the Dockerfile and no build file
    // (`**/build.*` anywhere in it would turn on the deprecated build.yaml path and BUILD_FROM).
    assert!(root().join("Dockerfile").is_file());
    let build_files: Vec<&String> = files
        .iter()
        .filter(|f| is_config_file_named(f, "build"))
        .collect();
    assert!(build_files.is_empty(), "{build_files:?}");
    assert!(
        !files.iter().any(|f| f.starts_with("Dockerfile.")),
        "a Dockerfile.<arch> would replace the Dockerfile"
    );

    // translations/ beside config.yaml, every file valid for SCHEMA_APP_TRANSLATIONS.
    let dir = root().join("translations");
    assert!(dir.is_dir(), "translations/ must sit beside config.yaml");
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if !["json", "yaml", "yml"].contains(&ext) {
            continue;
        }
        let doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (option, t) in doc["configuration"].as_object().unwrap() {
            assert!(
                t["name"].is_string(),
                "{option}: a translation needs a name"
            );
            for (field, f) in t["fields"].as_object().into_iter().flatten() {
                assert!(f["name"].is_string(), "{option}.{field}: no name");
            }
        }
        read += 1;
    }
    assert!(read >= 1, "no translation file");
}

#[test]
fn the_schema_is_one_the_supervisor_takes() {
    let m = yaml_file("config.yaml");
    check_schema(&m["schema"]).unwrap();
    // With bounds, str and password compare a string with a number and refuse every value.
    let text = serde_json::to_string(&m["schema"]).unwrap();
    assert!(
        !regex::Regex::new(r"(str|password)\(")
            .unwrap()
            .is_match(&text),
        "bounded str/password options refuse every value in the Supervisor"
    );
    // The rules themselves: a list in a list, a depth of three and an unknown type are refused.
    assert!(check_schema(&json!({"a": [["str"]]})).is_err());
    assert!(check_schema(&json!({"a": {"b": {"c": {"d": "str"}}}})).is_err());
    assert!(check_schema(&json!({"l": [{"c": ["str"]}]})).is_err());
    assert!(check_schema(&json!({"a": {"b": {"c": "str"}}, "l": [{"c": "int(1,5)?"}]})).is_ok());
    assert!(check_schema(&json!({"a": "text"})).is_err());
}

#[test]
fn the_defaults_start_the_add_on() {
    let m = yaml_file("config.yaml");
    let v = validator(&m);
    v.validate(&m["options"]).unwrap();

    // What the Supervisor said of the manifest before `alert: {}` was among the defaults.
    let mut old = m["options"].clone();
    old.as_object_mut().unwrap().remove("alert");
    assert_eq!(
        v.validate(&old).unwrap_err(),
        "Missing option 'alert' in root in Lifeboat (lifeboat)"
    );
    // Every dict- or list-typed option needs a default: it is never optional.
    for (key, typ) in m["schema"].as_object().unwrap() {
        let optional = match typ {
            Value::String(t) => t.ends_with('?'),
            Value::Array(items) => items[0].as_str().is_some_and(|t| t.ends_with('?')),
            _ => false,
        };
        assert!(
            optional || m["options"].get(key).is_some(),
            "{key} is required by the Supervisor but has no default"
        );
    }
}

#[test]
fn realistic_options_pass_the_supervisor_and_lifeboat() {
    let m = yaml_file("config.yaml");
    let v = validator(&m);
    let sets = yaml_file("tests/data/addon/options.yaml");
    let sets = sets.as_object().unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    let mut sources = std::collections::BTreeSet::new();
    for (name, saved) in sets {
        if saved.as_object().is_some_and(|o| !o.is_empty()) {
            // Saving the page validates what it sends, on its own.
            v.validate(saved)
                .unwrap_or_else(|e| panic!("{name}: saving is refused: {e}"));
        }
        // Starting writes the defaults overlaid with what was saved to /data/options.json.
        let written = v
            .validate(&effective_options(&m["options"], saved))
            .unwrap_or_else(|e| panic!("{name}: starting is refused: {e}"));
        for d in written["destinations"].as_array().unwrap() {
            kinds.insert(d["type"].as_str().unwrap().to_owned());
        }
        sources.insert(written["source"]["type"].as_str().unwrap().to_owned());
        let opts = lifeboat::config::parse_options(Path::new("options.json"), &written.to_string())
            .unwrap_or_else(|e| {
                panic!("{name}: Lifeboat cannot read what the Supervisor wrote: {e}")
            });
        let checked = lifeboat::config::validate(
            opts,
            &lifeboat::config::Env::from_pairs([("SUPERVISOR_TOKEN", "t")]),
            "/data".into(),
        );
        if name == "defaults" {
            // Nothing set up yet: Lifeboat stays up, idle, and asks for a destination.
            let err = checked.unwrap_err();
            let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
            assert_eq!(fields, ["destinations"], "{name}");
        } else {
            checked.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    let offered = m["schema"]["destinations"][0]["type"].as_str().unwrap();
    for kind in offered
        .trim_start_matches("list(")
        .trim_end_matches(')')
        .split('|')
    {
        assert!(
            kinds.contains(kind),
            "no realistic set has a {kind} destination"
        );
    }
    for kind in ["supervisor", "core", "folder"] {
        assert!(
            sources.contains(kind),
            "no realistic set has a {kind} source"
        );
    }

    // The image test's /data/options.json is exactly what the Supervisor would write for it.
    let image: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/data/addon/image-test-options.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        v.validate(&effective_options(&m["options"], &image))
            .unwrap(),
        image
    );
}

#[test]
fn the_supervisor_refuses_bad_options_and_drops_unknown_ones() {
    let m = yaml_file("config.yaml");
    let v = validator(&m);
    let start = |patch: Value| {
        let mut saved = m["options"].clone();
        for (k, val) in patch.as_object().unwrap() {
            saved[k] = val.clone();
        }
        v.validate(&saved)
    };
    // Unknown keys, at the top and inside a destination, are dropped, not refused.
    let kept = start(json!({
        "zz_old_option": 1,
        "destinations": [{"name": "nas", "type": "local", "path": "/share/x", "zz": true}]
    }))
    .unwrap();
    assert!(kept.get("zz_old_option").is_none());
    assert!(kept["destinations"][0].get("zz").is_none());

    let refused = |patch: Value, says: &str| {
        let e = start(patch.clone()).unwrap_err();
        assert!(e.contains(says), "{patch}: {e}");
    };
    refused(
        json!({"destinations": [{"type": "local", "path": "/x"}]}),
        "Missing option 'name' in destinations",
    );
    refused(
        json!({"destinations": [{"name": "Bad Name", "type": "local"}]}),
        "does not match",
    );
    refused(
        json!({"destinations": [{"name": "x", "type": "ftp"}]}),
        "listed choices",
    );
    refused(
        json!({"destinations": [{"name": "x", "type": "sftp", "port": 70000}]}),
        "range",
    );
    refused(
        json!({"destinations": [{"name": "x", "type": "sftp", "port": "ssh"}]}),
        "expected int",
    );
    refused(json!({"schedule": {"jitter_minutes": 721}}), "range");
    refused(json!({"alert": {"url": "ntfy.sh/topic"}}), "expected a URL");
    refused(
        json!({"alert": "https://ntfy.sh/x"}),
        "Invalid dict for option 'alert'",
    );
    refused(
        json!({"encryption": {}}),
        "Missing option 'recipients' in encryption",
    );
    refused(
        json!({"encryption": {"recipients": ["age1short"]}}),
        "does not match",
    );
    refused(
        json!({"keep_local": null}),
        "Missing required option 'keep_local'",
    );
    refused(json!({"notify_service": 5}), "not a valid value");
    refused(json!({"ha_backup_keys": "DDTV"}), "Invalid list");
    refused(
        json!({"notify_service": "!secret notify"}),
        "Unknown secret 'notify'",
    );
    // Python coerces: "30" is an int, "yes" a bool.
    let coerced = start(json!({
        "schedule": {"jitter_minutes": "30"},
        "alert": {"on_success": "yes"}
    }))
    .unwrap();
    assert_eq!(coerced["schedule"]["jitter_minutes"], 30);
    assert_eq!(coerced["alert"]["on_success"], true);
}
