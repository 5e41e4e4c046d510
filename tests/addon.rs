//! The add-on manifest as the Supervisor and the community linter will judge it: `config.yaml`
//! validates against the linter's JSON schema and extra rules, every option type is in the
//! Supervisor's grammar, every option has a translation, and the options the manifest offers are
//! exactly the options Lifeboat's configuration code reads.

use lifeboat::config::parse_options;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;

fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn manifest() -> Value {
    yaml("config.yaml")
}

#[test]
fn the_manifest_passes_the_linter_schema_and_rules() {
    // The schema's patterns use Python's `(?P<name>` groups, which draft-07's ECMA regexes spell
    // `(?<name>`: the same patterns, in the dialect the validator checks.
    let text =
        String::from_utf8(crate::support::fixture("schemas/addon-config.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text.replace("(?P<", "(?<")).unwrap();
    let m = manifest();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&m)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The linter's extra rules.
    for (key, value) in m.as_object().unwrap() {
        if let Some(default) = schema["properties"][key].get("default") {
            assert_ne!(
                value, default,
                "{key} is set to its default; the linter refuses that"
            );
        }
    }
    for arch in m["arch"].as_array().unwrap() {
        assert!(
            ["aarch64", "amd64"].contains(&arch.as_str().unwrap()),
            "{arch} is deprecated"
        );
    }
    assert!(m.get("webui").is_none() && m.get("watchdog").is_none());
    assert_eq!(m["ingress"], true);
    assert_eq!(m["hassio_role"], "backup");
    assert_eq!(m["stdin"], true);
    assert!(
        m.get("backup").is_none_or(|b| b == "hot"),
        "a cold backup would stop Lifeboat"
    );
    assert!(
        m["backup_exclude"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == lifeboat::crypto::vault::KEY_FILE),
        "the vault's sealing key must stay out of Home Assistant's backups"
    );
}

/// Every option path of the schema (`a`, `a.b`, `list[].c`) with its type string.
fn leaves(v: &Value, at: &str, depth: usize, out: &mut Vec<(String, String)>) {
    assert!(
        depth <= 3,
        "{at}: the Supervisor allows nesting two levels deep"
    );
    match v {
        Value::String(t) => out.push((at.to_owned(), t.clone())),
        Value::Array(items) => {
            assert_eq!(items.len(), 1, "{at}: a list schema has one item");
            leaves(&items[0], &format!("{at}[]"), depth + 1, out);
        }
        Value::Object(map) => {
            for (k, v) in map {
                let p = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                leaves(v, &p, depth + 1, out);
            }
        }
        other => panic!("{at}: {other} is not a schema"),
    }
}

#[test]
fn every_option_type_is_in_the_supervisor_grammar_and_translated() {
    let m = manifest();
    let mut all = Vec::new();
    leaves(&m["schema"], "", 0, &mut all);
    let re = crate::support::supervisor_rules::schema_element();
    for (path, t) in &all {
        assert!(
            re.is_match(t),
            "{path}: {t:?} is not a Supervisor option type"
        );
        // A host key is public, and private_key holds the key file's path, not the key.
        let public = path.ends_with("host_key") || path.ends_with("private_key");
        if path.ends_with("token")
            || (path.ends_with("key") && !public)
            || path.ends_with("passphrase")
            || path.contains("ha_backup_keys")
        {
            assert!(
                t.starts_with("password"),
                "{path} holds a secret but is not a password field"
            );
        }
    }
    let tr = yaml("addon/translations/en.yaml");
    for (key, sub) in m["schema"].as_object().unwrap() {
        let entry = &tr["configuration"][key];
        assert!(
            entry["name"].is_string() && entry["description"].is_string(),
            "{key} has no translation"
        );
        let fields = match sub {
            Value::Object(o) => o.keys().cloned().collect::<Vec<_>>(),
            Value::Array(a) if a[0].is_object() => {
                a[0].as_object().unwrap().keys().cloned().collect()
            }
            _ => Vec::new(),
        };
        for f in fields {
            let e = &entry["fields"][&f];
            assert!(
                e["name"].is_string() && e["description"].is_string(),
                "{key}.{f} has no translation"
            );
        }
    }
    // Defaults only for options that exist.
    for key in m["options"].as_object().unwrap().keys() {
        assert!(
            m["schema"].get(key).is_some(),
            "option {key} has a default but no schema"
        );
    }
}

/// The field names a serde struct expects, read from its "unknown field" error.
fn fields_read(json: Value) -> BTreeSet<String> {
    let err = parse_options(Path::new("options.json"), &json.to_string())
        .unwrap_err()
        .to_string();
    let list = err
        .split("expected one of ")
        .nth(1)
        .or_else(|| err.split("expected ").nth(1))
        .unwrap_or_else(|| panic!("{err}"));
    // "`a`, `b`" (and nothing after the last backquote counts): the names are the quoted words.
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_manifest_offers_exactly_what_the_config_code_reads() {
    let m = manifest();
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<String>>()
    };
    let base = json!({"source": {"type": "supervisor"}});

    // Top level: what the add-on offers, plus what only a standalone install sets.
    let mut top = fields_read(json!({"source": {"type": "supervisor"}, "zz_unknown": 1}));
    for standalone_only in ["data_dir", "listen"] {
        assert!(top.remove(standalone_only), "{standalone_only}");
    }
    assert_eq!(top, keys(&m["schema"]));

    // Source: the union over its kinds.
    let mut source = BTreeSet::from(["type".to_owned()]);
    for kind in ["supervisor", "core", "folder"] {
        source.extend(fields_read(
            json!({"source": {"type": kind, "zz_unknown": 1}}),
        ));
    }
    assert_eq!(source, keys(&m["schema"]["source"]));

    // More sources: the union over the kinds the add-on offers, with what every entry takes;
    // `environment` (a table of secrets) has no place in the add-on's options.
    let mut more = BTreeSet::from(["type".to_owned()]);
    for kind in ["dir", "command"] {
        let mut doc = base.clone();
        doc["sources"] = json!([{"name": "x", "type": kind, "zz_unknown": 1}]);
        more.extend(fields_read(doc));
    }
    assert!(more.remove("environment"));
    // What every entry takes beside its kind's fields (the flattened kind's error lists only its
    // own).
    more.extend(
        [
            "name",
            "destinations",
            "schedule",
            "retention",
            "stale_after_hours",
        ]
        .map(String::from),
    );
    assert_eq!(more, keys(&m["schema"]["sources"][0]));
    // Its lists are strings of comma-separated words there: they parse.
    let mut doc = base.clone();
    doc["sources"] = json!([{"name": "configs", "type": "dir", "path": "/addon_configs",
                             "exclude": "*.tmp, cache/*", "destinations": "usb"}]);
    let opts = parse_options(Path::new("options.json"), &doc.to_string()).unwrap();
    assert_eq!(opts.sources[0].destinations, ["usb"]);

    // Destinations: the union over their kinds.
    let mut dest = BTreeSet::from(["type".to_owned()]);
    let kinds = m["schema"]["destinations"][0]["type"].as_str().unwrap();
    let kinds = kinds
        .strip_prefix("list(")
        .and_then(|k| k.strip_suffix(')'))
        .unwrap();
    assert!(kinds.contains("webdav"), "{kinds}");
    for kind in kinds.split('|') {
        let mut doc = base.clone();
        doc["destinations"] = json!([{"type": kind, "zz_unknown": 1}]);
        dest.extend(fields_read(doc));
    }
    assert_eq!(dest, keys(&m["schema"]["destinations"][0]));

    let mut doc = base.clone();
    doc["encryption"] = json!({"zz_unknown": 1});
    assert_eq!(fields_read(doc), keys(&m["schema"]["encryption"]));

    // The defaults parse, and validate into the safe idle state with reasons.
    let defaults = parse_options(Path::new("options.json"), &m["options"].to_string()).unwrap();
    let err = lifeboat::config::validate(
        defaults,
        &lifeboat::config::Env::from_pairs([("SUPERVISOR_TOKEN", "t")]),
        "/data".into(),
    )
    .unwrap_err();
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    // No key is not a problem of the options: Lifeboat makes one (the emergency-kit page).
    assert_eq!(fields, ["destinations"]);
}

fn root(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Width and height of a PNG, from its IHDR.
fn png_size(rel: &str) -> (u32, u32) {
    let b = std::fs::read(root(rel)).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{rel} is not a PNG");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

#[test]
fn the_root_is_a_complete_add_on_folder() {
    // The Supervisor reads these beside config.yaml (the root links them from addon/).
    for f in [
        "config.yaml",
        "Dockerfile",
        "DOCS.md",
        "CHANGELOG.md",
        "icon.png",
        "logo.png",
        "apparmor.txt",
        "translations/en.yaml",
    ] {
        assert!(root(f).is_file(), "{f} is missing from the add-on folder");
    }
    assert!(
        !root("build.yaml").exists(),
        "build.yaml is deprecated: FROM belongs in the Dockerfile"
    );
    let (w, h) = png_size("icon.png");
    assert_eq!(w, h, "the icon is square");
    let (w, h) = png_size("logo.png");
    assert!(w > h, "the logo is wide");

    let apparmor = std::fs::read_to_string(root("apparmor.txt")).unwrap();
    // The Supervisor's rule (utils/apparmor.py, RE_PROFILE = `^profile ([^ ]+).*$`): exactly one
    // profile line at the start of a line; child profiles are indented.
    let profiles: Vec<&str> = apparmor
        .lines()
        .filter(|l| l.starts_with("profile "))
        .collect();
    assert_eq!(
        profiles.len(),
        1,
        "the Supervisor needs exactly one profile line"
    );
    for needed in [
        "/data/** rwk",
        "/usr/bin/lifeboat rix",
        "network inet stream",
    ] {
        assert!(
            apparmor.contains(needed),
            "the profile does not allow {needed}"
        );
    }

    let docker = std::fs::read_to_string(root("Dockerfile")).unwrap();
    assert!(docker.lines().any(|l| l.starts_with("FROM ")), "no FROM");
    for label in ["io.hass.version", "io.hass.type=\"app\"", "io.hass.arch"] {
        assert!(docker.contains(label), "the image lacks the label {label}");
    }
    assert!(
        docker.contains("HEALTHCHECK") && docker.contains("\"health\""),
        "no health check"
    );
    assert!(
        docker.contains("crt-static") && docker.contains("FROM scratch"),
        "not a static binary on an empty base"
    );

    let docs = std::fs::read_to_string(root("DOCS.md")).unwrap();
    let m = manifest();
    for option in m["schema"].as_object().unwrap().keys() {
        assert!(
            docs.contains(&format!("`{option}`")),
            "DOCS.md does not explain {option}"
        );
    }
}

/// The Supervisor builds `Dockerfile` on the device; the release path assembles
/// `release/image.Dockerfile` around a binary built elsewhere. Everything the image *is* (its
/// environment, labels, health check, entry point) must be the same either way.
#[test]
fn the_ready_made_image_is_the_device_builds_final_stage() {
    let final_stage = |rel: &str| -> Vec<String> {
        let text = std::fs::read_to_string(root(rel)).unwrap();
        let from = text
            .rfind("\nFROM scratch")
            .expect("a final stage FROM scratch");
        text[from..]
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("COPY "))
            .map(str::to_owned)
            .collect()
    };
    let device = final_stage("Dockerfile");
    let release = final_stage("release/image.Dockerfile");
    assert!(device.len() > 10, "the final stage was not found whole");
    assert_eq!(device, release, "the two images would differ");
}

/// The release workflow is checked by actionlint (installed by scripts/test-servers.sh), and runs
/// the release script the tests use.
#[test]
fn the_release_workflow_passes_actionlint() {
    let workflow = root(".github/workflows/release.yaml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    assert!(text.contains("scripts/release.sh all") && text.contains("scripts/release.sh push"));
    let actionlint = root("target/test-servers/venv/bin/actionlint");
    let out = std::process::Command::new(&actionlint)
        .arg(&workflow)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} did not run ({e}): scripts/test-servers.sh install",
                actionlint.display()
            )
        });
    assert!(
        out.status.success(),
        "actionlint:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // And it does find faults (the check is not a formality).
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("release.yaml");
    std::fs::write(
        &broken,
        text.replace(
            "runs-on: ubuntu-24.04",
            "runs-on: ubuntu-24.04\n    runs-on: x",
        ),
    )
    .unwrap();
    assert!(
        !std::process::Command::new(&actionlint)
            .arg(&broken)
            .output()
            .unwrap()
            .status
            .success()
    );
}
