//! The house's arrows point down: every top-level module of the library may use only the modules
//! below it in [`LAYERS`] (the data path reads top to bottom: trigger → source → pipeline →
//! destinations → history), and no module, at any depth, is part of an import circle. Read from
//! the source itself: `crate::…` and `super::…` paths outside `#[cfg(test)]` code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top to bottom; modules on one line are peers and do not use each other.
const LAYERS: &[&[&str]] = &[
    &["daemon"],
    &["web"],
    &["report", "alert"],
    &["jobs"],
    &["schedule"],
    &["recovery"],
    &["pipeline"],
    &["source"],
    &["crypto"],
    &["destinations"],
    &["ha"],
    &["history"],
    &["archive"],
    &["config"],
    &["retention"],
    &[
        "clock",
        "secret",
        "human",
        "disk",
        "pages",
        "child_env",
        "scratch",
    ],
];

/// A file's code: comments (doc links are not imports) and test modules left out.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every library module (`a::b::c`) and its code without its test modules.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let mut p = prefix.to_vec();
            if name != "mod" {
                p.push(name);
            }
            out.insert(p.join("::"), code_of(&path));
        }
    }
    let mut out = BTreeMap::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        // The binary (main.rs, cli/) sits above the library and may use all of it.
        if name == "cli" || name == "main" || name == "lib" {
            continue;
        }
        if path.is_dir() {
            walk(&path, &[name], &mut out);
        } else {
            out.insert(name, code_of(&path));
        }
    }
    out
}

/// The paths a module's code names, as absolute segment lists (`crate::` dropped, `super::`
/// resolved against `module`).
fn paths_named(module: &str, code: &str) -> Vec<Vec<String>> {
    let segments: Vec<&str> = module.split("::").collect();
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (start, word) in [("crate::", 0usize), ("super::", 1)] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            // Part of a longer path (`lifeboat::crate::`) or identifier: skip.
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let mut base: Vec<String> = if word == 0 {
                Vec::new()
            } else {
                segments[..segments.len().saturating_sub(1)]
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            };
            let mut rest = &code[from..];
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            let heads: Vec<String> = if let Some(inner) = rest.strip_prefix('{') {
                let end = inner.find('}').unwrap_or(inner.len());
                inner[..end]
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect()
            } else {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                vec![rest[..end].to_owned()]
            };
            for head in heads {
                let mut p = base.clone();
                p.extend(
                    head.split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
                out.push(p);
            }
        }
    }
    out
}

/// The deepest module `path` falls in.
fn resolve(path: &[String], known: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| known.contains(m))
}

/// Module → modules it uses (a module's use of its own descendants is containment, left out).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut g = BTreeMap::new();
    for (m, code) in &modules {
        let uses: BTreeSet<String> = paths_named(m, code)
            .iter()
            .filter_map(|p| resolve(p, &known))
            .filter(|to| to != m && !to.starts_with(&format!("{m}::")))
            .collect();
        g.insert(m.clone(), uses);
    }
    g
}

fn layer_of(top: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&top))
        .unwrap_or_else(|| panic!("module {top} is in no layer: place it in LAYERS"))
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let mut upward = Vec::new();
    for (m, uses) in graph() {
        let top = m.split("::").next().unwrap().to_owned();
        for to in uses {
            let to_top = to.split("::").next().unwrap();
            if to_top != top && layer_of(to_top) <= layer_of(&top) {
                upward.push(format!("{m} uses {to}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point down:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_module_is_part_of_an_import_circle() {
    let g = graph();
    // Depth-first search; a back edge is a circle.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        circles: &mut Vec<String>,
    ) {
        state.insert(m.to_owned(), 1);
        stack.push(m.to_owned());
        for to in g.get(m).into_iter().flatten() {
            match state.get(to.as_str()).copied().unwrap_or(0) {
                0 => visit(to, g, state, stack, circles),
                1 => {
                    let from = stack.iter().position(|s| s == to).unwrap_or(0);
                    circles.push(format!("{} → {to}", stack[from..].join(" → ")));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.to_owned(), 2);
    }
    let mut state = BTreeMap::new();
    let mut circles = Vec::new();
    for m in g.keys() {
        if state.get(m.as_str()).copied().unwrap_or(0) == 0 {
            visit(m, &g, &mut state, &mut Vec::new(), &mut circles);
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_reader_sees_crate_and_super_paths() {
    // The check itself must see what it claims to: braces, nested super, and full paths.
    let p = paths_named(
        "pipeline::run",
        "use super::{fanout::LaneResult, Clock};\nuse super::super::history::X;\nlet x = crate::destinations::layout::copy_id(a);",
    );
    let joined: Vec<String> = p.iter().map(|s| s.join("::")).collect();
    assert!(
        joined.contains(&"pipeline::fanout::LaneResult".to_owned()),
        "{joined:?}"
    );
    assert!(joined.contains(&"history::X".to_owned()), "{joined:?}");
    assert!(
        joined.contains(&"destinations::layout::copy_id".to_owned()),
        "{joined:?}"
    );
    let g = graph();
    assert!(
        g["pipeline::run"].contains("pipeline::ship"),
        "{:?}",
        g["pipeline::run"]
    );
}
