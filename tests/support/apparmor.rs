//! The add-on's AppArmor profile, judged the way the kernel of Home Assistant OS would judge what
//! the image does, on a machine whose kernel has no AppArmor.
//!
//! [`Policy`] is the profile as AppArmor's own parser compiles it. `apparmor_parser -D rule-exprs`
//! prints every file rule after includes and variables are expanded, as the regular expression
//! the kernel matches (`*`, `**`, `{a,b}`, `[…]` already converted by the parser) with its
//! permission bits and whether it is a deny rule. Exec targets (`cx -> name`) and network rules
//! are read from the preprocessed text (`apparmor_parser -p`). What the container did is a
//! [`Record`] (`super::access_record`).
//!
//! AppArmor's rules for deciding: an access is allowed when the union of the matching allow
//! rules' permissions holds every permission asked for and no matching deny rule names any of them
//! (deny wins). Permission bits are AppArmor's: x 0x1, w 0x2, r 0x4, a 0x8, l 0x10, k 0x20,
//! m 0x40; the exec kind 0x200 inherit (ix), 0x400 unconfined, 0x800 profile (px), 0x1000 child
//! (cx). `owner` rules count as matching: the container runs as root and every file it touches is
//! root's. Not modelled: capabilities (the recording runs with every capability dropped, so a
//! needed one fails the scenario instead), `unix` socket rules beyond creation, signals, ptrace.

use super::access_record::{Access, Record, What, X, perm_letters};
use regex::Regex;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::process::Command;

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
