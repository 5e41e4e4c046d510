//! The database restore drill: a PostgreSQL dump's copy loaded, for real, into a scratch server
//! the person names, and every table's rows compared with what the dump held when it was made
//! (counted as it streamed, see [`crate::archive::pg_rows`]). The time from the first byte
//! downloaded to `psql` finishing the load is how long getting this database back takes: the
//! source's measured recovery time.
//!
//! The copy is streamed as a restore would: read from its destination, its SHA-256s checked
//! against the manifest, decrypted with the kit's key, gunzipped, and piped into `psql`. Nothing
//! is staged on disk. A `pg_dump` dump (one database) loads into a new database
//! `lifeboat_drill_<time>`; a `pg_dumpall` dump makes its databases itself, so the scratch server
//! must not have them already (the drill refuses rather than load into a live database). Either
//! way, the databases the drill made are dropped when it ends.
//!
//! The copy and its manifest may be planted: every table name the manifest gives is checked to
//! be one as `pg_dump` writes it and quoted before it reaches SQL, and the dump goes to `psql`
//! (with `ON_ERROR_STOP`) through [`super::dump_guard`], which keeps its meta-commands from
//! running here. The SQL itself runs on the scratch server as the address's user: only a signed
//! manifest can prove the dump is the home's own.

use super::dump_guard::{self, FeedError};
use super::{RecoverError, check_digests, decrypt_copy, open_copy};
use crate::archive::HashingReader;
use crate::archive::content::{DumpTool, Kind};
use crate::child_env::{ChildEnv, Program};
use crate::destinations::{Destination, Manifest};
use crate::secret::{Secret, scrub};
use percent_encoding::percent_decode_str;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use url::Url;

/// Why a drill could not be carried out (a drill that ran and found differences is a
/// [`DbDrill`] with mismatches, not an error).
#[derive(Debug, thiserror::Error)]
pub enum DbDrillError {
    #[error(
        "copy {0} holds no PostgreSQL table counts to compare (it is not a PostgreSQL dump, or was made before Lifeboat counted rows)"
    )]
    NotCountable(String),
    #[error("{0:?} is not a PostgreSQL address like postgresql://postgres@127.0.0.1:5433/postgres")]
    BadTarget(String),
    #[error(
        "the scratch server already has a database named {0:?}: the drill would load into it; name an empty scratch server"
    )]
    Occupied(String),
    #[error(
        "the copy's manifest names a table {0:?}, which is not a table name as pg_dump writes one: the manifest was planted or altered, and the drill ran nothing"
    )]
    BadTable(String),
    #[error(
        "the copy's manifest names a database {0:?}, which is not one pg_dumpall writes: the manifest was planted or altered, and the drill ran nothing"
    )]
    BadDatabase(String),
    #[error("psql: {0}")]
    Psql(String),
    #[error(transparent)]
    Refused(#[from] FeedError),
    #[error(transparent)]
    Copy(#[from] RecoverError),
}

/// What a drill found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DbDrill {
    pub copy_id: String,
    /// From the first byte downloaded to the end of the load.
    pub took: Duration,
    pub tables: usize,
    pub rows: u64,
    /// Tables whose rows differ from the dump's, `table: dumped N, restored M`.
    pub mismatches: Vec<String>,
    /// Errors `psql` reported while loading (a role that exists already is not one).
    pub errors: Vec<String>,
}

impl DbDrill {
    /// Whether every table came back whole and the load raised no error.
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty() && self.errors.is_empty()
    }

    /// One line for people and for history.
    pub fn describe(&self) -> String {
        let head = format!(
            "loaded in {} into PostgreSQL: {} tables, {} rows",
            crate::human::duration(self.took),
            self.tables,
            self.rows
        );
        if self.ok() {
            format!("{head}, every table as dumped")
        } else {
            let mut all = self.mismatches.clone();
            all.extend(self.errors.iter().cloned());
            format!("{head}; {}", all.join("; "))
        }
    }
}

/// A drill's inputs besides the copy.
pub struct DbTarget {
    /// The scratch server, `postgresql://user@host:port/db`.
    pub into: Url,
    /// The `psql` program.
    pub psql: PathBuf,
    /// Names the scratch database of a one-database dump.
    pub stamp: String,
}

impl DbTarget {
    /// Checks `into` is a PostgreSQL address.
    ///
    /// # Errors
    /// [`DbDrillError::BadTarget`].
    pub fn new(into: &str, psql: PathBuf, stamp: String) -> Result<Self, DbDrillError> {
        let Ok(url) = Url::parse(into) else {
            // Not an address: shown only up to where a password could start.
            let shown: String = into
                .chars()
                .take_while(|c| *c != ':' && *c != '@')
                .collect();
            return Err(DbDrillError::BadTarget(format!("{shown}…")));
        };
        if !matches!(url.scheme(), "postgresql" | "postgres") || url.host().is_none() {
            // Shown without what follows the host: a password may be in it.
            let shown = format!("{}://{}…", url.scheme(), url.host_str().unwrap_or(""));
            return Err(DbDrillError::BadTarget(shown));
        }
        Ok(Self {
            into: url,
            psql,
            stamp,
        })
    }

    /// The address of `db` on the scratch server, without its password: that reaches psql as
    /// `PGPASSWORD` ([`Self::psql`]), never on its command line, where every process sees it.
    fn at(&self, db: &str) -> String {
        let mut u = self.into.clone();
        let _ = u.set_password(None);
        if !db.is_empty()
            && let Ok(mut path) = u.path_segments_mut()
        {
            // One segment, every `/`, `%`, `?` and `#` in the name escaped.
            path.clear().push(db);
        }
        u.to_string()
    }

    /// The scratch server's password, from the address.
    fn password(&self) -> Vec<Secret> {
        self.into
            .password()
            .map(|p| Secret::new(percent_decode_str(p).decode_utf8_lossy()))
            .into_iter()
            .collect()
    }

    /// psql with a cleared environment plus what it needs, the password among it.
    fn psql(&self) -> Command {
        let mut cmd = Command::new(&self.psql);
        cmd.env_clear()
            .envs(ChildEnv::inherited(Program::Psql).vars());
        for p in self.password() {
            cmd.env("PGPASSWORD", p.expose());
        }
        cmd
    }

    fn query(&self, db: &str, sql: &str) -> Result<String, DbDrillError> {
        let o = self
            .psql()
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.at(db))
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| DbDrillError::Psql(format!("cannot run {}: {e}", self.psql.display())))?;
        if !o.status.success() {
            return Err(DbDrillError::Psql(scrub(
                String::from_utf8_lossy(&o.stderr).trim(),
                &self.password(),
            )));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }
}

/// Drills one copy of a PostgreSQL dump into `target`.
///
/// # Errors
/// [`DbDrillError`] when the copy cannot be drilled or read, or the scratch server refuses.
pub async fn drill_postgres(
    destination: &Destination,
    manifest: &Manifest,
    identities: Vec<age::x25519::Identity>,
    target: DbTarget,
) -> Result<DbDrill, DbDrillError> {
    let content = manifest
        .content
        .as_ref()
        .filter(|c| c.kind == Kind::Dump && c.tool == DumpTool::Postgres && !c.tables.is_empty())
        .ok_or_else(|| DbDrillError::NotCountable(manifest.copy_id.clone()))?;
    let dumped = content.tables.clone();
    // Every name is checked before anything runs.
    let quoted = quoted_tables(&dumped)?;
    let compression = content.compression;
    let started = Instant::now();
    let reader = open_copy(destination, manifest).await?;
    let expected = manifest.clone();
    tokio::task::spawn_blocking(move || {
        let made = prepare(&target, &dumped)?;
        let loaded = load(reader, &expected, &identities, compression, &target, &made);
        let took = started.elapsed();
        let compared = loaded.and_then(|errors| {
            let (mismatches, rows) = compare(&target, &dumped, &quoted, &made)?;
            Ok((errors, mismatches, rows))
        });
        // What the drill made goes, whatever happened.
        for db in made.values().filter(|d| !d.is_empty()) {
            if let Err(e) = target.query("", &format!("DROP DATABASE IF EXISTS {}", ident(db))) {
                tracing::warn!("dropping the drill's database {db}: {e}");
            }
        }
        let (errors, mismatches, rows) = compared?;
        Ok(DbDrill {
            copy_id: expected.copy_id.clone(),
            took,
            tables: dumped.len(),
            rows,
            mismatches,
            errors,
        })
    })
    .await
    .map_err(|e| DbDrillError::Psql(e.to_string()))?
}

/// The databases of the dump (`""` for a one-database dump), each mapped to the scratch
/// database it loads into; the ones the drill makes are refused when they exist already.
fn prepare(
    target: &DbTarget,
    dumped: &BTreeMap<String, u64>,
) -> Result<BTreeMap<String, String>, DbDrillError> {
    let dbs: BTreeSet<&str> = dumped.keys().map(|k| database_of(k)).collect();
    let existing: BTreeSet<String> = target
        .query("", "SELECT datname FROM pg_database")?
        .lines()
        .map(str::to_owned)
        .collect();
    let mut made = BTreeMap::new();
    for db in dbs {
        if db.is_empty() {
            let scratch = format!("lifeboat_drill_{}", target.stamp);
            if existing.contains(&scratch) {
                return Err(DbDrillError::Occupied(scratch));
            }
            target.query("", &format!("CREATE DATABASE {}", ident(&scratch)))?;
            made.insert(String::new(), scratch);
        } else if matches!(db, "postgres" | "template1") {
            // Those exist on every server; the dump's tables load into them.
            made.insert(db.to_owned(), String::new());
        } else if existing.contains(db) {
            return Err(DbDrillError::Occupied(db.to_owned()));
        } else {
            made.insert(db.to_owned(), db.to_owned());
        }
    }
    Ok(made)
}

/// Streams the copy into `psql`; the errors it reported.
fn load(
    reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    manifest: &Manifest,
    identities: &[age::x25519::Identity],
    compression: crate::archive::content::Compression,
    target: &DbTarget,
    made: &BTreeMap<String, String>,
) -> Result<Vec<String>, DbDrillError> {
    let into = made
        .get("")
        .map_or_else(|| target.at(""), |db| target.at(db));
    let key = dump_guard::restrict_key()
        .map_err(|e| DbDrillError::Psql(format!("no key for psql's restricted mode: {e}")))?;
    let mut child = target
        .psql()
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &into, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DbDrillError::Psql(format!("cannot run {}: {e}", target.psql.display())))?;
    let (Some(mut stdin), Some(mut stderr)) = (child.stdin.take(), child.stderr.take()) else {
        return Err(DbDrillError::Psql(
            "psql's pipes could not be opened".into(),
        ));
    };
    let said = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stored = HashingReader::new(tokio_util::io::SyncIoBridge::new(reader));
    let mut refused = None;
    let outcome = (|| {
        let mut plain = HashingReader::new(decrypt_copy(&mut stored, identities)?);
        let mut sql = compression.decoder(&mut plain);
        match dump_guard::feed(&mut sql, &mut stdin, &key) {
            Ok(()) => {}
            // psql stopped (ON_ERROR_STOP): how it exited says why.
            Err(FeedError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(FeedError::Io(e)) => {
                return Err(RecoverError::Archive(format!(
                    "streaming the dump into psql failed: {e}"
                )));
            }
            Err(e) => {
                // Nothing more reaches psql; the rest of the copy is still read for its
                // checksums.
                let _ = child.kill();
                refused = Some(e);
            }
        }
        drop(sql);
        std::io::copy(&mut plain, &mut std::io::sink())
            .map_err(|e| RecoverError::Archive(format!("reading the copy failed: {e}")))?;
        Ok(plain.finish())
    })();
    drop(stdin);
    let _ = std::io::copy(&mut stored, &mut std::io::sink());
    let status = child.wait();
    let said = scrub(&said.join().unwrap_or_default(), &target.password());
    let plain = outcome
        .as_ref()
        .map_or((0, String::new()), |p: &(u64, String)| p.clone());
    check_digests(manifest, stored.finish(), plain, outcome.map(drop))?;
    if let Some(e) = refused {
        return Err(e.into());
    }
    match status {
        Ok(s) if s.success() => {}
        Ok(_) if said.contains("invalid command \\restrict") => {
            return Err(DbDrillError::Psql(
                "this psql has no restricted mode (\\restrict), which keeps a dump's commands from running on this machine: use psql from PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6 or newer".into(),
            ));
        }
        Ok(s) => return Err(DbDrillError::Psql(format!("psql exited with {s}: {said}"))),
        Err(e) => return Err(DbDrillError::Psql(e.to_string())),
    }
    Ok(said
        .lines()
        .filter(|l| {
            l.contains("ERROR:") && !(l.contains("role \"") && l.contains("already exists"))
        })
        .map(|l| l.trim().to_owned())
        .collect())
}

/// Each `db/schema.table` key's table as SQL, every identifier quoted; refused when a key is not
/// a name as `pg_dump` and `pg_dumpall` write them (their `COPY` lines), or holds a NUL.
fn quoted_tables(dumped: &BTreeMap<String, u64>) -> Result<BTreeMap<String, String>, DbDrillError> {
    use crate::archive::pg_rows::table_name_parts;
    let mut out = BTreeMap::new();
    for key in dumped.keys() {
        let db = database_of(key);
        if db.chars().any(char::is_control) {
            return Err(DbDrillError::BadDatabase(db.to_owned()));
        }
        let table = key.strip_prefix(&format!("{db}/")).unwrap_or(key);
        let parts =
            table_name_parts(table).ok_or_else(|| DbDrillError::BadTable(table.to_owned()))?;
        let sql: Vec<String> = parts.iter().map(|p| ident(p)).collect();
        out.insert(key.clone(), sql.join("."));
    }
    Ok(out)
}

/// Each table's rows now against the dump's: the mismatches, and the rows counted.
fn compare(
    target: &DbTarget,
    dumped: &BTreeMap<String, u64>,
    quoted: &BTreeMap<String, String>,
    made: &BTreeMap<String, String>,
) -> Result<(Vec<String>, u64), DbDrillError> {
    let mut mismatches = Vec::new();
    let mut rows = 0;
    let mut by_db: BTreeMap<&str, Vec<(&String, &str)>> = BTreeMap::new();
    for (key, table) in quoted {
        by_db
            .entry(database_of(key))
            .or_default()
            .push((key, table));
    }
    for (db, tables) in by_db {
        let into = match made.get(db).map(String::as_str) {
            Some("") | None => db,
            Some(scratch) => scratch,
        };
        let sql = tables
            .iter()
            .enumerate()
            .map(|(i, (_, t))| format!("SELECT {i}, count(*) FROM {t}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let counted: BTreeMap<usize, u64> = match target.query(into, &sql) {
            Ok(out) => out
                .lines()
                .filter_map(|l| {
                    let (i, n) = l.split_once('|')?;
                    Some((i.parse().ok()?, n.parse().ok()?))
                })
                .collect(),
            Err(e) => {
                mismatches.push(format!("{db}: the tables could not be counted ({e})"));
                continue;
            }
        };
        for (i, (key, _)) in tables.iter().enumerate() {
            let want = dumped.get(*key).copied().unwrap_or(0);
            let got = counted.get(&i).copied();
            rows += got.unwrap_or(0);
            if got != Some(want) {
                mismatches.push(format!(
                    "{key}: dumped {want} rows, restored {}",
                    got.map_or("none".to_owned(), |g| g.to_string())
                ));
            }
        }
    }
    Ok((mismatches, rows))
}

/// The database part of a `db/schema.table` key (`""` when there is none).
fn database_of(key: &str) -> &str {
    key.split_once('/').map_or("", |(db, _)| db)
}

/// A quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_names() {
        assert!(DbTarget::new("mysql://x", "psql".into(), "t".into()).is_err());
        // A password never reaches the message.
        for wrong in ["mysql://root:hunter2@db/x", "root:hunter2@nowhere"] {
            let e = DbTarget::new(wrong, "psql".into(), "t".into())
                .err()
                .unwrap();
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        assert!(DbTarget::new("not a url", "psql".into(), "t".into()).is_err());
        let t = DbTarget::new(
            "postgresql://postgres@127.0.0.1:5434/postgres?sslmode=disable",
            "psql".into(),
            "t".into(),
        )
        .unwrap();
        assert_eq!(
            t.at("halo"),
            "postgresql://postgres@127.0.0.1:5434/halo?sslmode=disable"
        );
        assert_eq!(database_of("halo/public.t"), "halo");
        assert_eq!(database_of("public.t"), "");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(
            t.at("a/b?c#d%"),
            "postgresql://postgres@127.0.0.1:5434/a%2Fb%3Fc%23d%25?sslmode=disable"
        );
    }

    #[test]
    fn table_names_are_quoted_and_sql_in_them_is_refused() {
        let tables =
            |keys: &[&str]| quoted_tables(&keys.iter().map(|k| ((*k).to_owned(), 1)).collect());
        let q = tables(&["public.states", "halo/\"My\"\"S\".t", "old"]).unwrap();
        assert_eq!(q["public.states"], "\"public\".\"states\"");
        assert_eq!(q["halo/\"My\"\"S\".t"], "\"My\"\"S\".\"t\"");
        assert_eq!(q["old"], "\"old\"");
        for bad in [
            "public.t; CREATE ROLE x SUPERUSER; --",
            "public.t UNION SELECT 1",
            "halo/public.t)--",
            "public.\"t\0\"",
        ] {
            let e = tables(&["public.fine", bad]).unwrap_err();
            assert!(
                matches!(e, DbDrillError::BadTable(_)) && e.to_string().contains("ran nothing"),
                "{bad}: {e}"
            );
        }
        assert!(matches!(
            tables(&["ha\nlo/public.t"]).unwrap_err(),
            DbDrillError::BadDatabase(_)
        ));
    }

    /// The scratch server's password reaches psql in its environment, never its arguments (which
    /// every process on the machine can read), and what psql says has it hidden.
    #[test]
    fn the_password_reaches_psql_in_its_environment_not_its_arguments() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let seen = dir.path().join("seen");
        let psql = dir.path().join("psql");
        std::fs::write(
            &psql,
            format!(
                "#!/bin/sh\nprintf 'args: %s\\nenv: %s\\n' \"$*\" \"$PGPASSWORD\" > '{}'\n\
                 echo \"could not connect to $4 (password $PGPASSWORD)\" >&2\nexit 2\n",
                seen.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&psql, std::fs::Permissions::from_mode(0o755)).unwrap();
        let target = DbTarget::new(
            "postgresql://scratch:s3cret%2Fpw@127.0.0.1:5433/postgres",
            psql,
            "t".into(),
        )
        .unwrap();
        let e = target.query("", "SELECT 1").unwrap_err().to_string();
        let seen = std::fs::read_to_string(&seen).unwrap();
        assert!(seen.contains("env: s3cret/pw"), "{seen}");
        assert!(
            seen.lines()
                .next()
                .is_some_and(|args| !args.contains("s3cret")),
            "{seen}"
        );
        assert!(!e.contains("s3cret"), "{e}");
    }
}
