//! What a container did, as AppArmor would see it: read from `strace -f -y -z` logs taken inside
//! it. Every file opened (with the path the kernel resolved, as `-y` prints it), made, removed,
//! renamed, locked or mapped executable, every program executed and every socket made, each with
//! the chain of programs that led to it (`/sbin/docker-init>/usr/bin/lifeboat>/usr/bin/rclone`),
//! so that the profile a process ran under follows from the exec rules (`super::apparmor`).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// AppArmor's permission bits.
pub const X: u32 = 0x1;
pub const W: u32 = 0x2;
pub const R: u32 = 0x4;
pub const A: u32 = 0x8;
pub const L: u32 = 0x10;
pub const K: u32 = 0x20;
pub const M: u32 = 0x40;
pub fn perm_letters(p: u32) -> String {
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

pub fn letters_perm(s: &str) -> u32 {
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
