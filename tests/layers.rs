//! The house's arrows point down: every top-level module of the library may use only the modules
//! below it in [`LAYERS`] (the data path reads top to bottom: trigger → source → pipeline →
//! destinations → history), and no module, at any depth, is part of an import circle. Read from
//! the source itself: `crate::…` and `super::…` paths outside `#[cfg(test)]` code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top to bottom; modules on one line are peers and do not use each other.
const LAYERS: &[&[&str]] = &[
    // The fuzz targets' bodies: they drive parsers from every layer, and nothing uses them.
    &["fuzzing"],
    &["daemon"],
    &["web"],
    // Setting up from the dashboard: where the settings live, and the one way a change goes.
    &["setup"],
    &["report", "alert"],
    &["jobs"],
    &["schedule"],
    &["recovery"],
    &["pipeline"],
    &["source"],
    &["crypto"],
    // The configuration dispatches each destination's options to its kind, which lives with its
    // store in `destinations`.
    &["config"],
    &["destinations"],
    &["ha"],
    &["history"],
    &["archive"],
    &["retention"],
    &["signing"],
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

/// A file's code and the test modules it declares as files (`#[cfg(test)] mod tests;`).
struct Code {
    text: String,
    test_files: Vec<String>,
}

/// Whether a string, raw string or char literal starts at `i`; where it ends if so. (A `'` that
/// opens no char literal is a lifetime.)
fn literal_end(c: &[char], i: usize) -> Option<usize> {
    let ident = |k: usize| c[k].is_alphanumeric() || c[k] == '_';
    let mut j = i;
    if c[j] == 'b'
        && c.get(j + 1)
            .is_some_and(|&n| n == '"' || n == 'r' || n == '\'')
    {
        if i > 0 && ident(i - 1) {
            return None;
        }
        j += 1;
    }
    match c[j] {
        '"' => {
            let mut k = j + 1;
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            Some((k + 1).min(c.len()))
        }
        'r' if j == i && i > 0 && ident(i - 1) => None,
        'r' => {
            let hashes = c[j + 1..].iter().take_while(|&&h| h == '#').count();
            if c.get(j + 1 + hashes) != Some(&'"') {
                return None;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let from = j + 2 + hashes;
            let at = (from..c.len()).find(|&k| c[k..].starts_with(&close))?;
            Some(at + close.len())
        }
        '\'' if c.get(j + 1) == Some(&'\\') => {
            (j + 2..c.len()).find(|&k| c[k] == '\'').map(|k| k + 1)
        }
        '\'' if c.get(j + 2) == Some(&'\'') => Some(j + 3),
        _ => None,
    }
}

/// `text` without its comments (doc links are not imports); literals and line breaks kept.
fn without_comments(text: &str) -> Vec<char> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::with_capacity(c.len());
    let mut i = 0;
    while i < c.len() {
        if let Some(end) = literal_end(&c, i) {
            out.extend_from_slice(&c[i..end]);
            i = end;
        } else if c[i..].starts_with(&['/', '/']) {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i..].starts_with(&['/', '*']) {
            // Block comments nest.
            let mut depth = 0;
            while i < c.len() {
                if c[i..].starts_with(&['/', '*']) {
                    depth += 1;
                    i += 2;
                } else if c[i..].starts_with(&['*', '/']) {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Where the item starting at `i` ends: past its `;` or its body's closing brace (brackets,
/// braces and parentheses counted, literals skipped; attributes before it are brackets that
/// close, so they are passed over).
fn item_end(c: &[char], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < c.len() {
        if let Some(end) = literal_end(c, i) {
            i = end;
            continue;
        }
        match c[i] {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            ';' if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    c.len()
}

/// A file's text as [`Code`]: comments left out, and each item under `#[cfg(test)]` (a test
/// module, or a test-only `use`, `fn` or `impl`) left out, and only that item: code after it
/// counts.
fn code_of_text(text: &str) -> Code {
    const MARK: [char; 12] = ['#', '[', 'c', 'f', 'g', '(', 't', 'e', 's', 't', ')', ']'];
    let c = without_comments(text);
    let mut out = String::new();
    let mut test_files = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if let Some(end) = literal_end(&c, i) {
            out.extend(&c[i..end]);
            i = end;
            continue;
        }
        if !c[i..].starts_with(&MARK) {
            out.push(c[i]);
            i += 1;
            continue;
        }
        // Further attributes are passed over as brackets that close.
        let end = item_end(&c, i + MARK.len());
        let item: String = c[i + MARK.len()..end].iter().collect();
        let words: Vec<&str> = item
            .split(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == ';'))
            .filter(|w| !w.is_empty())
            .collect();
        if let Some(pos) = words.iter().position(|w| *w == "mod")
            && let Some(name) = words.get(pos + 1).and_then(|n| n.strip_suffix(';'))
        {
            test_files.push(name.to_owned());
        }
        i = end;
    }
    Code {
        text: out,
        test_files,
    }
}

fn code_of(path: &Path) -> Code {
    code_of_text(&std::fs::read_to_string(path).unwrap())
}

/// Every library module (`a::b::c`) and its code without its test code. A module declared
/// under `#[cfg(test)]` is test code, whole.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, Code>) {
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
    let mut all = BTreeMap::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        // The binary (main.rs, cli/) sits above the library and may use all of it.
        if name == "cli" || name == "main" || name == "lib" {
            continue;
        }
        if path.is_dir() {
            walk(&path, &[name], &mut all);
        } else {
            all.insert(name, code_of(&path));
        }
    }
    let test_only: Vec<String> = all
        .iter()
        .flat_map(|(m, code)| code.test_files.iter().map(move |t| format!("{m}::{t}")))
        .collect();
    all.into_iter()
        .filter(|(m, _)| {
            !test_only
                .iter()
                .any(|t| m == t || m.starts_with(&format!("{t}::")))
        })
        .map(|(m, code)| (m, code.text))
        .collect()
}

/// The paths a use tree at the start of `rest` names (`a::{b::{c, d}, e as f, self}` → `a::b::c`,
/// `a::b::d`, `a::e`, `a`), each as `::`-joined text.
fn use_tree(rest: &str) -> Vec<String> {
    fn tree(c: &[char], i: &mut usize) -> Vec<String> {
        let start = *i;
        while *i < c.len() && (c[*i].is_alphanumeric() || c[*i] == '_' || c[*i] == ':') {
            *i += 1;
        }
        let prefix: String = c[start..*i].iter().collect();
        if c.get(*i) != Some(&'{') {
            return vec![prefix];
        }
        *i += 1;
        let mut out = Vec::new();
        loop {
            while c.get(*i).is_some_and(|ch| ch.is_whitespace() || *ch == ',') {
                *i += 1;
            }
            match c.get(*i) {
                None => break,
                Some('}') => {
                    *i += 1;
                    break;
                }
                Some(_) => {}
            }
            let before = *i;
            for inner in tree(c, i) {
                out.push(format!("{prefix}{inner}"));
            }
            // A rename (`as x`) or a glob: up to the next `,` or `}`.
            while c.get(*i).is_some_and(|ch| *ch != ',' && *ch != '}') {
                *i += 1;
            }
            if *i == before {
                *i += 1;
            }
        }
        out
    }
    let c: Vec<char> = rest.chars().collect();
    tree(&c, &mut 0)
}

/// The paths a module's code names, as absolute segment lists (`crate::` dropped, `super::`
/// resolved against `module`, `self` left out).
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
            // `super::` is read once, from its first in a row.
            if word == 1 && code[..at].ends_with("super::") {
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
            for head in use_tree(rest) {
                let mut p = base.clone();
                p.extend(
                    head.split("::")
                        .filter(|s| !s.is_empty() && *s != "self")
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
fn graph_of(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut g = BTreeMap::new();
    for (m, code) in modules {
        let uses: BTreeSet<String> = paths_named(m, code)
            .iter()
            .filter_map(|p| resolve(p, &known))
            .filter(|to| to != m && !to.starts_with(&format!("{m}::")))
            .collect();
        g.insert(m.clone(), uses);
    }
    g
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    graph_of(&modules())
}

fn layer_of(top: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&top))
        .unwrap_or_else(|| panic!("module {top} is in no layer: place it in LAYERS"))
}

/// The uses in `g` that do not point down.
fn upward(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut upward = Vec::new();
    for (m, uses) in g {
        let top = m.split("::").next().unwrap().to_owned();
        for to in uses {
            let to_top = to.split("::").next().unwrap();
            if to_top != top && layer_of(to_top) <= layer_of(&top) {
                upward.push(format!("{m} uses {to}"));
            }
        }
    }
    upward
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let upward = upward(&graph());
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
        g["pipeline::pass"].contains("pipeline::ship"),
        "{:?}",
        g["pipeline::pass"]
    );
}

/// The checker as it reads one file: `module`'s `text` beside empty modules for every other
/// name in `known`, and the uses that do not point down.
fn flagged(module: &str, text: &str, known: &[&str]) -> Vec<String> {
    let mut modules: BTreeMap<String, String> = known
        .iter()
        .map(|m| ((*m).to_owned(), String::new()))
        .collect();
    modules.insert(module.to_owned(), code_of_text(text).text);
    upward(&graph_of(&modules))
}

#[test]
fn the_reader_sees_nested_imports() {
    let known = ["history", "history::query", "web", "web::pages", "archive"];
    // An upward use two braces deep, beside downward ones.
    let text = "use crate::{\n    archive::Tar,\n    web::{pages::{Page, self}, AppState},\n};\n";
    assert_eq!(
        flagged("history", text, &known),
        ["history uses web", "history uses web::pages"]
    );
    let joined: Vec<String> = paths_named("history::query", text)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        joined,
        [
            "archive::Tar",
            "web::pages::Page",
            "web::pages",
            "web::AppState"
        ]
    );
    // And through super, with a rename and a glob.
    let joined: Vec<String> = paths_named(
        "history::query",
        "use super::super::{web::{pages as p, x::*}, archive};",
    )
    .iter()
    .map(|p| p.join("::"))
    .collect();
    assert_eq!(joined, ["web::pages", "web::x", "archive"]);
}

#[test]
fn the_reader_sees_code_after_a_test_module() {
    let known = ["history", "web", "web::pages"];
    // The test module's braces in a string, a char and a comment do not end it early, and the
    // code after it is read.
    let text = "use crate::archive;\n\
                #[cfg(test)]\n\
                #[allow(clippy::unwrap_used)]\n\
                mod tests {\n    use crate::web::pages;\n    fn f() { let _ = (\"}\", '}', r#\"}\"#); } // }\n    /* } */\n}\n\
                pub fn after() {\n    crate::web::pages::render();\n}\n";
    assert_eq!(
        flagged("history", text, &known),
        ["history uses web::pages"]
    );
    let code = code_of_text(text).text;
    assert!(!code.contains("mod tests"), "{code}");
    assert!(code.contains("fn after"), "{code}");
    // Test-only items of other kinds: only the item goes.
    let code = code_of_text(
        "#[cfg(test)]\nuse crate::web::T;\n#[cfg(test)]\nimpl X { fn f() -> [u8; 2] { [0; 2] } }\nuse crate::web::U;\n",
    )
    .text;
    assert!(
        !code.contains("web::T") && !code.contains("impl X"),
        "{code}"
    );
    assert!(code.contains("crate::web::U"), "{code}");
    // Test code alone is not flagged, and a test module kept in its own file is left out whole.
    assert!(
        flagged(
            "history",
            "#[cfg(test)]\nmod tests {\n    use crate::web::pages;\n}\n",
            &known
        )
        .is_empty()
    );
    assert_eq!(
        code_of_text("#[cfg(test)]\nmod tests;\npub fn a() {}\n").test_files,
        ["tests"]
    );
    assert!(!modules().contains_key("retention::tests"));
}
