//! The add-on's AppArmor profile, judged the way the kernel of Home Assistant OS would judge what
//! the image does, on a machine whose kernel has no AppArmor.
//!
//! Two halves:
//! - [`Policy`]: the profile as AppArmor's own parser compiles it. `apparmor_parser -D rule-exprs`
//!   prints every file rule after includes and variables are expanded, as the regular expression
//!   the kernel matches (`*`, `**`, `{a,b}`, `[…]` already converted by the parser) with its
//!   permission bits and whether it is a deny rule. Exec targets (`cx -> name`) and network rules
//!   are read from the preprocessed text (`apparmor_parser -p`).
//! - [`Record`]: what the container did, read from `strace -f -y -z` logs taken inside it: every
//!   file opened (with the path the kernel resolved, as `-y` prints it), made, removed, renamed,
//!   locked or mapped executable, every program executed, every socket made. Each access carries the
//!   chain of programs that led to it (`/sbin/docker-init>/usr/bin/lifeboat>/usr/bin/rclone`), so
//!   the profile a process runs under follows from the exec rules, as in the kernel.
//!
//! AppArmor's rules for deciding: an access is allowed when the union of the matching allow
//! rules' permissions holds every permission asked for and no matching deny rule names any of them
//! (deny wins). Permission bits are AppArmor's: x 0x1, w 0x2, r 0x4, a 0x8, l 0x10, k 0x20,
//! m 0x40; the exec kind 0x200 inherit (ix), 0x400 unconfined, 0x800 profile (px), 0x1000 child
//! (cx). `owner` rules count as matching: the container runs as root and every file it touches is
//! root's. Not modelled: capabilities (the recording runs with every capability dropped, so a
//! needed one fails the scenario instead), `unix` socket rules beyond creation, signals, ptrace.

use regex::Regex;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::process::Command;

pub const X: u32 = 0x1;
pub const W: u32 = 0x2;
pub const R: u32 = 0x4;
pub const A: u32 = 0x8;
pub const L: u32 = 0x10;
pub const K: u32 = 0x20;
pub const M: u32 = 0x40;
const INHERIT: u32 = 0x200;
const UNCONFINED: u32 = 0x400;
const PROFILE: u32 = 0x800;
const CHILD: u32 = 0x1000;
/// The user ("owner") half of a rule's bits; the rest repeats them for other owners.
const USER: u32 = 0x3fff;

struct FileRule {
    glob: String,
    re: Regex,
    perms: u32,
    deny: bool,
}

struct NetRule {
    family: Option<String>,
    kind: Option<String>,
    deny: bool,
}

#[derive(Default)]
struct Profile {
    files: Vec<FileRule>,
    net: Vec<NetRule>,
    /// exec rule glob (as written, variables expanded) → named target
    targets: HashMap<String, String>,
    unix: bool,
}

/// A compiled profile with its child profiles.
pub struct Policy {
    top: String,
    profiles: HashMap<String, Profile>,
}

/// One thing the profile would refuse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Denial {
    pub access: Access,
    pub why: String,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} — {}", self.access, self.why)
    }
}

fn parser(args: &[&str], profile: &Path) -> Result<String, String> {
    let out = Command::new("apparmor_parser")
        .args(args)
        .arg(profile)
        .output()
        .map_err(|e| format!("apparmor_parser could not run ({e}): apt-get install apparmor"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!(
            "apparmor_parser {args:?} refused the profile:\n{text}"
        ));
    }
    Ok(text)
}

/// Compiles without loading into a kernel: what the Supervisor's `apparmor_parser --replace` would
/// refuse, this refuses.
pub fn compile(profile: &Path) -> Result<(), String> {
    parser(&["-Q", "-K"], profile).map(|_| ())
}

fn perm_letters(p: u32) -> String {
    [
        (R, 'r'),
        (W, 'w'),
        (A, 'a'),
        (L, 'l'),
        (K, 'k'),
        (M, 'm'),
        (X, 'x'),
    ]
    .iter()
    .filter(|(b, _)| p & b != 0)
    .map(|(_, c)| *c)
    .collect()
}

fn letters_perm(s: &str) -> u32 {
    s.chars()
        .map(|c| match c {
            'r' => R,
            'w' => W,
            'a' => A,
            'l' => L,
            'k' => K,
            'm' => M,
            'x' => X,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

impl Policy {
    /// Reads `profile` through AppArmor's parser.
    pub fn load(profile: &Path) -> Result<Self, String> {
        let dump = parser(&["-Q", "-K", "-D", "rule-exprs"], profile)?;
        let text = parser(&["-p"], profile)?;
        let mut profiles: HashMap<String, Profile> = HashMap::new();
        let mut top = None;
        let mut current = String::new();
        let mut glob = String::new();
        for line in dump.lines() {
            if let Some(rest) = line.strip_prefix("aare: ") {
                let (from, _) = rest
                    .split_once("   ->   ")
                    .ok_or(format!("odd line {line}"))?;
                if from.starts_with('/') || from.starts_with('@') {
                    glob = from.to_owned();
                } else {
                    // A profile's name opens its rules.
                    current = from.to_owned();
                    top.get_or_insert_with(|| current.clone());
                    profiles.entry(current.clone()).or_default();
                }
            } else if let Some(rest) = line.strip_prefix("rule: ") {
                let (pcre, tail) = rest
                    .split_once("  ->  ")
                    .ok_or(format!("odd line {line}"))?;
                let (_, bits) = tail.rsplit_once(" (").ok_or(format!("odd line {line}"))?;
                let deny = tail.contains(" deny (");
                let hex = bits
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("0x");
                let perms = u32::from_str_radix(hex, 16).map_err(|e| format!("{line}: {e}"))?;
                let re =
                    Regex::new(&format!("^(?:{pcre})$")).map_err(|e| format!("{line}: {e}"))?;
                profiles
                    .entry(current.clone())
                    .or_default()
                    .files
                    .push(FileRule {
                        glob: glob.clone(),
                        re,
                        perms: perms & USER,
                        deny,
                    });
            }
        }
        let top = top.ok_or("the parser printed no profile")?;
        read_text_rules(&text, &top, &mut profiles)?;
        Ok(Self { top, profiles })
    }

    fn profile(&self, name: &str) -> Result<&Profile, String> {
        self.profiles
            .get(name)
            .ok_or_else(|| format!("no profile named {name}"))
    }

    fn file(&self, profile: &str, path: &str, want: u32) -> Result<(), String> {
        let p = self.profile(profile)?;
        let (mut allowed, mut denied) = (0, 0);
        for rule in p.files.iter().filter(|r| r.re.is_match(path)) {
            if rule.deny {
                denied |= rule.perms;
            } else {
                allowed |= rule.perms;
            }
        }
        if want & denied != 0 {
            return Err(format!(
                "denied by a deny rule in {profile} ({})",
                perm_letters(want & denied)
            ));
        }
        if want & !allowed != 0 {
            return Err(format!(
                "{profile} allows no {} here",
                perm_letters(want & !allowed)
            ));
        }
        Ok(())
    }

    /// The profile a program runs under when `from` executes `image`.
    fn exec(&self, from: &str, image: &str) -> Result<String, String> {
        self.file(from, image, X)?;
        let p = self.profile(from)?;
        let mut kinds = 0;
        let mut named = BTreeSet::new();
        for rule in p.files.iter().filter(|r| !r.deny && r.re.is_match(image)) {
            if rule.perms & X != 0 {
                kinds |= rule.perms & (INHERIT | UNCONFINED | PROFILE | CHILD);
                if let Some(t) = p.targets.get(&rule.glob) {
                    named.insert(t.clone());
                }
            }
        }
        if kinds & UNCONFINED != 0 {
            return Err(format!("{from} would run {image} unconfined"));
        }
        match (kinds & (INHERIT | PROFILE | CHILD), named.len()) {
            (INHERIT, _) => Ok(from.to_owned()),
            (k, 1) if k == CHILD || k == PROFILE => {
                let name = named.into_iter().next().unwrap_or_default();
                self.profile(&name)?;
                Ok(name)
            }
            (k, _) => Err(format!(
                "{from} runs {image} with no single transition (kinds {k:#x}, targets {named:?})"
            )),
        }
    }

    /// Every access of `record` this profile would refuse.
    pub fn denials(&self, record: &Record) -> Vec<Denial> {
        let mut out = Vec::new();
        let mut profiles: HashMap<String, Result<String, String>> = HashMap::new();
        for a in &record.accesses {
            let profile = profiles
                .entry(a.chain.clone())
                .or_insert_with(|| self.chain_profile(&a.chain))
                .clone();
            let verdict = profile.and_then(|p| match &a.what {
                What::File { perms, path } => self.file(&p, path, *perms),
                What::Exec(image) => self.exec(&p, image).map(|_| ()),
                What::Socket { family, kind } => self.socket(&p, family, kind),
            });
            if let Err(why) = verdict {
                out.push(Denial {
                    access: a.clone(),
                    why,
                });
            }
        }
        out
    }

    fn chain_profile(&self, chain: &str) -> Result<String, String> {
        let mut profile = self.top.clone();
        for image in chain.split('>').skip(1) {
            profile = self.exec(&profile, image)?;
        }
        Ok(profile)
    }

    fn socket(&self, profile: &str, family: &str, kind: &str) -> Result<(), String> {
        let p = self.profile(profile)?;
        if family == "unix" {
            return if p.unix {
                Ok(())
            } else {
                Err(format!("{profile} has no unix (create) rule"))
            };
        }
        let hits = |r: &&NetRule| {
            r.family.as_deref().is_none_or(|f| f == family)
                && r.kind.as_deref().is_none_or(|k| k == kind)
        };
        if p.net.iter().filter(|r| r.deny).any(|r| hits(&r)) {
            return Err(format!("denied by a deny network rule in {profile}"));
        }
        if p.net.iter().filter(|r| !r.deny).any(|r| hits(&r)) {
            Ok(())
        } else {
            Err(format!("{profile} allows no network {family} {kind}"))
        }
    }
}

/// Network rules, `unix (create)` and exec targets, from the preprocessed profile, by profile.
fn read_text_rules(
    text: &str,
    top: &str,
    profiles: &mut HashMap<String, Profile>,
) -> Result<(), String> {
    let vars = variables(text);
    let mut stack: Vec<String> = Vec::new();
    let exec_target = Regex::new(r"^(?:owner\s+)?(\S+)\s+[a-zA-Z]*x\s*->\s*([A-Za-z0-9_.-]+)\s*,")
        .map_err(|e| e.to_string())?;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with("profile ") && line.ends_with('{') {
            let name = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let name = if stack.is_empty() {
                top.to_owned()
            } else {
                name
            };
            profiles.entry(name.clone()).or_default();
            stack.push(name);
            continue;
        }
        if line == "}" {
            stack.pop();
            continue;
        }
        let Some(current) = stack.last() else {
            continue;
        };
        let p = profiles.entry(current.clone()).or_default();
        let (deny, rule) = match line.strip_prefix("deny ") {
            Some(r) => (true, r.trim()),
            None => (false, line.strip_prefix("audit ").unwrap_or(line)),
        };
        if let Some(net) = rule.strip_prefix("network") {
            let words: Vec<&str> = net.trim_end_matches(',').split_whitespace().collect();
            let (family, kind) = match words.as_slice() {
                [] => (None, None),
                [k @ ("stream" | "dgram" | "raw" | "seqpacket" | "rdm" | "packet")] => {
                    (None, Some(k.to_string()))
                }
                [f] => (Some(f.to_string()), None),
                [f, k, ..] => (Some(f.to_string()), Some(k.to_string())),
            };
            p.net.push(NetRule { family, kind, deny });
        } else if rule.starts_with("unix (create") || rule == "unix," {
            p.unix |= !deny;
        } else if let Some(c) = exec_target.captures(rule) {
            for glob in expand(&c[1], &vars) {
                p.targets.insert(glob, c[2].to_owned());
            }
        }
    }
    Ok(())
}

/// `@{NAME}=value value…` and `+=` definitions of the preprocessed text.
fn variables(text: &str) -> HashMap<String, Vec<String>> {
    let mut vars: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("@{") else {
            continue;
        };
        let Some((name, value)) = rest.split_once('}') else {
            continue;
        };
        let value = value.trim();
        let (add, value) = match value.strip_prefix("+=") {
            Some(v) => (true, v),
            None => (false, value.trim_start_matches('=')),
        };
        let words = value
            .split_whitespace()
            .map(|w| w.trim_matches('"').to_owned());
        let entry = vars.entry(name.to_owned()).or_default();
        if !add {
            entry.clear();
        }
        entry.extend(words);
    }
    vars
}

fn expand(glob: &str, vars: &HashMap<String, Vec<String>>) -> Vec<String> {
    let Some(start) = glob.find("@{") else {
        return vec![glob.to_owned()];
    };
    let Some(len) = glob[start..].find('}') else {
        return vec![glob.to_owned()];
    };
    let name = &glob[start + 2..start + len];
    let tail = &glob[start + len + 1..];
    vars.get(name)
        .into_iter()
        .flatten()
        .flat_map(|v| expand(&format!("{}{v}{tail}", &glob[..start]), vars))
        .collect()
}

/// One thing a process in the container did.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    /// The programs executed from the container's start to the one that did it, `>`-joined.
    pub chain: String,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum What {
    File { perms: u32, path: String },
    Exec(String),
    Socket { family: String, kind: String },
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            What::File { perms, path } => {
                write!(f, "{} {} {path}", self.chain, perm_letters(*perms))
            }
            What::Exec(image) => write!(f, "{} x {image}", self.chain),
            What::Socket { family, kind } => write!(f, "{} net {family} {kind}", self.chain),
        }
    }
}

/// The distinct accesses of a scenario, one per line in a stable order (what the repository keeps).
#[derive(Debug, Default)]
pub struct Record {
    pub accesses: BTreeSet<Access>,
}

impl Record {
    /// Reads a record written by [`Record::to_text`].
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut accesses = BTreeSet::new();
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let mut it = line.splitn(3, ' ');
            let (chain, kind, rest) = match (it.next(), it.next(), it.next()) {
                (Some(c), Some(k), Some(r)) => (c.to_owned(), k, r),
                _ => return Err(format!("not a record line: {line}")),
            };
            let what = match kind {
                "x" => What::Exec(rest.to_owned()),
                "net" => {
                    let (family, kind) = rest.split_once(' ').ok_or(format!("odd: {line}"))?;
                    What::Socket {
                        family: family.to_owned(),
                        kind: kind.to_owned(),
                    }
                }
                perms => What::File {
                    perms: letters_perm(perms),
                    path: rest.to_owned(),
                },
            };
            accesses.insert(Access { chain, what });
        }
        Ok(Self { accesses })
    }

    /// One access a line, sorted as text.
    pub fn to_text(&self) -> String {
        let mut lines: Vec<String> = self.accesses.iter().map(|a| format!("{a}\n")).collect();
        lines.sort();
        lines.concat()
    }

    /// A path opened without `O_DIRECTORY` is a folder when other paths lie below it: AppArmor
    /// names folders with a trailing `/`, so it is written so.
    pub fn settle_directories(&mut self) {
        let mut dirs = BTreeSet::new();
        for a in &self.accesses {
            if let What::File { path, .. } = &a.what {
                for (i, _) in path.match_indices('/').filter(|(i, _)| *i > 0) {
                    dirs.insert(path[..=i].to_owned());
                }
            }
        }
        self.accesses = std::mem::take(&mut self.accesses)
            .into_iter()
            .map(|mut a| {
                if let What::File { path, .. } = &mut a.what
                    && !path.ends_with('/')
                    && dirs.contains(&format!("{path}/"))
                {
                    path.push('/');
                }
                a
            })
            .collect();
    }

    /// Adds what one `strace -f -y -z -o FILE` log shows; `root` is the chain of programs before
    /// the log's first process (`/sbin/docker-init` for the container's main process, empty for
    /// a `docker exec`).
    pub fn add_strace(&mut self, log: &str, root: &str) -> Result<(), String> {
        let calls = join_unfinished(log);
        // Pass 1: who was cloned by whom, when; who executed what, when.
        let mut parent: HashMap<u32, (u32, usize)> = HashMap::new();
        let mut execs: HashMap<u32, Vec<(usize, String)>> = HashMap::new();
        let first = calls.first().map(|c| c.pid).ok_or("an empty strace log")?;
        for (i, c) in calls.iter().enumerate() {
            if matches!(c.name.as_str(), "clone" | "clone3" | "fork" | "vfork")
                && let Ok(child) = c.ret.trim().parse::<u32>()
            {
                parent.insert(child, (c.pid, i));
            }
            if c.name == "execve" || c.name == "execveat" {
                let image = first_string(&c.args).ok_or(format!("odd execve: {}", c.args))?;
                execs.entry(c.pid).or_default().push((i, image));
            }
        }
        let chain_at = |pid: u32, at: usize| -> String {
            let mut images: Vec<String> = Vec::new();
            let (mut pid, mut at) = (pid, at);
            loop {
                let own: Vec<String> = execs
                    .get(&pid)
                    .into_iter()
                    .flatten()
                    .filter(|(i, _)| *i < at)
                    .map(|(_, img)| img.clone())
                    .collect();
                images.splice(0..0, own);
                match parent.get(&pid) {
                    Some(&(p, i)) if pid != first => (pid, at) = (p, i),
                    _ => break,
                }
            }
            let mut chain: Vec<&str> = root.split('>').filter(|s| !s.is_empty()).collect();
            chain.extend(images.iter().map(String::as_str));
            if chain.is_empty() {
                "-".to_owned()
            } else {
                chain.join(">")
            }
        };
        for (i, c) in calls.iter().enumerate() {
            for what in accesses_of(c)? {
                self.accesses.insert(Access {
                    chain: chain_at(c.pid, i),
                    what,
                });
            }
        }
        Ok(())
    }
}

struct Call {
    pid: u32,
    name: String,
    args: String,
    ret: String,
}

/// strace lines, with `<unfinished ...>` halves joined to their `<... resumed>` ends, or to the
/// bare `)   = 3` line strace writes when the same call ends right after.
fn join_unfinished(log: &str) -> Vec<Call> {
    let mut open: HashMap<u32, String> = HashMap::new();
    let mut out = Vec::new();
    let mut last_unfinished = None;
    for line in log.lines() {
        let pid = line
            .split_once(' ')
            .and_then(|(p, r)| p.trim().parse::<u32>().ok().map(|p| (p, r.trim_start())));
        let (pid, rest) = match (pid, last_unfinished) {
            (Some((pid, rest)), _) => (pid, rest.to_owned()),
            (None, Some(pid)) => (pid, format!("<... call resumed>{line}")),
            (None, None) => continue,
        };
        last_unfinished = None;
        if rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let text = if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            open.insert(pid, head.to_owned());
            last_unfinished = Some(pid);
            continue;
        } else if let Some(tail) = rest.strip_prefix("<... ") {
            let Some((_, tail)) = tail.split_once(" resumed>") else {
                continue;
            };
            format!("{}{tail}", open.remove(&pid).unwrap_or_default())
        } else {
            rest
        };
        let Some((name, after)) = text.split_once('(') else {
            continue;
        };
        // `) = 3`, or `)      = 3` where strace pads the result to a column.
        let Some((close, ret)) = after.rmatch_indices(')').find_map(|(i, _)| {
            let ret = after[i + 1..].trim_start().strip_prefix("= ")?;
            Some((i, ret))
        }) else {
            continue;
        };
        out.push(Call {
            pid,
            name: name.to_owned(),
            args: after[..close].to_owned(),
            ret: ret.to_owned(),
        });
    }
    out
}

/// The first quoted string of an argument list.
fn first_string(args: &str) -> Option<String> {
    let start = args.find('"')? + 1;
    let len = args[start..].find('"')?;
    Some(args[start..start + len].to_owned())
}

/// The path strace's `-y` wrote after a file descriptor: `3</data/x>` → `/data/x`.
fn fd_path(s: &str) -> Option<String> {
    let start = s.find('<')? + 1;
    let end = s.rfind('>')?;
    let p = s.get(start..end)?;
    let p = p.strip_suffix(" (deleted)").unwrap_or(p);
    p.starts_with('/').then(|| p.to_owned())
}

/// The path an `*at` call names: absolute, or joined to its directory descriptor's path.
fn at_path(dirfd: &str, name: &str) -> Option<String> {
    if name.starts_with('/') {
        return Some(name.to_owned());
    }
    let dir = fd_path(dirfd)?;
    Some(format!("{}/{name}", dir.trim_end_matches('/')))
}

fn split_args(args: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0i32, false);
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                continue;
            }
            '"' => quoted = !quoted,
            '[' | '{' | '<' if !quoted => depth += 1,
            ']' | '}' | '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').to_owned()
}

fn open_perms(flags: &str) -> u32 {
    let has = |f: &str| flags.split('|').any(|x| x == f);
    if has("O_PATH") {
        return 0;
    }
    let mut p = if has("O_WRONLY") { 0 } else { R };
    if has("O_WRONLY") || has("O_RDWR") {
        p |= if has("O_APPEND") && !has("O_TRUNC") && !has("O_CREAT") {
            A
        } else {
            W
        };
    }
    if has("O_CREAT") || has("O_TRUNC") {
        p |= W;
    }
    p
}

fn dir(path: String) -> String {
    if path.ends_with('/') {
        path
    } else {
        format!("{path}/")
    }
}

fn accesses_of(c: &Call) -> Result<Vec<What>, String> {
    let a = split_args(&c.args);
    let file = |perms: u32, path: Option<String>| -> Vec<What> {
        match path {
            Some(path) if perms != 0 => vec![What::File { perms, path }],
            _ => vec![],
        }
    };
    Ok(match c.name.as_str() {
        "execve" => vec![What::Exec(first_string(&c.args).unwrap_or_default())],
        "open" | "creat" => {
            let flags = if c.name == "creat" {
                "O_CREAT|O_WRONLY|O_TRUNC"
            } else {
                a.get(1).map_or("", |s| s)
            };
            let is_dir = flags.contains("O_DIRECTORY");
            file(
                open_perms(flags),
                fd_path(&c.ret).map(|p| if is_dir { dir(p) } else { p }),
            )
        }
        "openat" | "openat2" => {
            let flags = a.get(2).map_or("", |s| s);
            let is_dir = flags.contains("O_DIRECTORY");
            file(
                open_perms(flags),
                fd_path(&c.ret).map(|p| if is_dir { dir(p) } else { p }),
            )
        }
        "mkdir" => file(W, a.first().map(|p| dir(unquote(p)))),
        "mkdirat" => file(W, at_path(&a[0], &unquote(&a[1])).map(dir)),
        "rmdir" => file(W, a.first().map(|p| dir(unquote(p)))),
        "unlink" => file(W, a.first().map(|p| unquote(p))),
        "unlinkat" => {
            let p = at_path(&a[0], &unquote(&a[1]));
            let is_dir = a.get(2).is_some_and(|f| f.contains("AT_REMOVEDIR"));
            file(W, p.map(|p| if is_dir { dir(p) } else { p }))
        }
        "rename" => [file(W, Some(unquote(&a[0]))), file(W, Some(unquote(&a[1])))].concat(),
        "renameat" | "renameat2" => [
            file(W, at_path(&a[0], &unquote(&a[1]))),
            file(W, at_path(&a[2], &unquote(&a[3]))),
        ]
        .concat(),
        "link" => file(L, Some(unquote(&a[1]))),
        "linkat" => file(L, at_path(&a[2], &unquote(&a[3]))),
        "symlink" => file(W, Some(unquote(&a[1]))),
        "symlinkat" => file(W, at_path(&a[1], &unquote(&a[2]))),
        "chmod" | "chown" | "lchown" | "truncate" => file(W, Some(unquote(&a[0]))),
        "fchmodat" | "fchownat" => file(W, at_path(&a[0], &unquote(&a[1]))),
        "mmap" if a.get(2).is_some_and(|p| p.contains("PROT_EXEC")) => {
            file(M, a.get(4).and_then(|fd| fd_path(fd)))
        }
        "flock" => file(K, a.first().and_then(|fd| fd_path(fd))),
        "fcntl"
            if a.get(1).is_some_and(|c| {
                matches!(
                    c.as_str(),
                    "F_SETLK" | "F_SETLKW" | "F_OFD_SETLK" | "F_OFD_SETLKW"
                )
            }) =>
        {
            file(K, a.first().and_then(|fd| fd_path(fd)))
        }
        "socket" => {
            let family = a
                .first()
                .map_or("", |s| s)
                .trim_start_matches("AF_")
                .to_lowercase();
            let kind = a
                .get(1)
                .map_or("", |s| s)
                .split('|')
                .next()
                .unwrap_or("")
                .trim_start_matches("SOCK_")
                .to_lowercase();
            vec![What::Socket { family, kind }]
        }
        _ => vec![],
    })
}
