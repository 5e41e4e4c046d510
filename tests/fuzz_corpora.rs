//! Every fuzz corpus kept in `fuzz/corpus/<target>/`, and every input a fuzzer crashed on kept in
//! `tests/data/fuzz/<target>/`, replayed through the same functions the fuzz targets call
//! (`lifeboat::fuzzing`): what once passed under the fuzzer keeps passing, in every `cargo test`,
//! without a nightly toolchain. A corpus folder that is missing or empty fails the test, so it
//! cannot pass by checking nothing.

use std::path::{Path, PathBuf};

/// A fuzz target's body: any bytes in, a panic for a bug.
type Body = fn(&[u8]);

/// Each target with a body in `lifeboat::fuzzing`, by its folder's name.
const TARGETS: &[(&str, Body)] = &[
    ("age_open", lifeboat::fuzzing::age_open),
    ("extract", lifeboat::fuzzing::extract),
    ("strip", lifeboat::fuzzing::strip),
    ("content", lifeboat::fuzzing::content),
    ("manifest", lifeboat::fuzzing::manifest),
    ("rclone_conf", lifeboat::fuzzing::rclone_conf),
    ("dav_xml", lifeboat::fuzzing::dav_xml),
    ("outer_tar", lifeboat::fuzzing::outer_tar),
    ("backup_json", lifeboat::fuzzing::backup_json),
    ("securetar", lifeboat::fuzzing::securetar),
    ("options", lifeboat::fuzzing::options),
    ("stdin_commands", lifeboat::fuzzing::stdin_commands),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files in `dir`, sorted; empty when it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `body` on every file; the files it panicked on, with what it said.
fn replay(body: Body, files: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for file in files {
        let data = std::fs::read(file).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| body(&data)) {
            let said = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("?");
            failed.push(format!("{}: {said}", file.display()));
        }
    }
    failed
}

fn replay_target(name: &str) {
    let (_, body) = TARGETS.iter().find(|(n, _)| *n == name).unwrap();
    let corpus = root().join("fuzz/corpus").join(name);
    let files = files_in(&corpus);
    assert!(
        !files.is_empty(),
        "{} is missing or empty: the fuzz corpus of {name} is replayed from there",
        corpus.display()
    );
    let crashes = files_in(&root().join("tests/data/fuzz").join(name));
    let failed = replay(*body, &[files, crashes].concat());
    assert!(failed.is_empty(), "{name}:\n{}", failed.join("\n"));
}

#[test]
fn fuzz_corpus_age_open() {
    replay_target("age_open");
}

#[test]
fn fuzz_corpus_extract() {
    replay_target("extract");
}

#[test]
fn fuzz_corpus_strip() {
    replay_target("strip");
}

#[test]
fn fuzz_corpus_content() {
    replay_target("content");
}

#[test]
fn fuzz_corpus_manifest() {
    replay_target("manifest");
}

#[test]
fn fuzz_corpus_rclone_conf() {
    replay_target("rclone_conf");
}

#[test]
fn fuzz_corpus_dav_xml() {
    replay_target("dav_xml");
}

#[test]
fn fuzz_corpus_outer_tar() {
    replay_target("outer_tar");
}

#[test]
fn fuzz_corpus_backup_json() {
    replay_target("backup_json");
}

#[test]
fn fuzz_corpus_securetar() {
    replay_target("securetar");
}

#[test]
fn fuzz_corpus_options() {
    replay_target("options");
}

#[test]
fn fuzz_corpus_stdin_commands() {
    replay_target("stdin_commands");
}

#[test]
fn every_corpus_folder_is_a_target_s() {
    // A corpus kept under a name no target has would never be replayed; nor a crash.
    for parent in ["fuzz/corpus", "tests/data/fuzz"] {
        for dir in std::fs::read_dir(root().join(parent)).into_iter().flatten() {
            let name = dir.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(n, _)| *n == name),
                "{parent}/{name} is no fuzz target's"
            );
        }
    }
}
