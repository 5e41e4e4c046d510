//! What a drill lets `psql` read of a dump. A dump read from a destination may be planted, and
//! `psql` runs its meta-commands on this machine (`\!` runs a shell, `\copy … program` and
//! `\o |` run programs, `\i` reads files). So the dump is fed to `psql` in restricted mode
//! (`\restrict KEY`, PostgreSQL 13.22/14.19/15.14/16.10/17.6 and later), with a key made for this
//! drill that the dump cannot know: `psql` itself refuses every meta-command in it. On the way, the
//! lines `pg_dump` and `pg_dumpall` write themselves are handled: their own `\restrict` and
//! `\unrestrict` lines are dropped, each `\connect` (and `\encoding NAME`) is checked and written
//! again by us, in `pg_dumpall`'s own form, between an `\unrestrict` and a `\restrict` with our
//! key; any other line starting with a backslash outside `COPY` data stops the drill with its
//! name. (`pg_dump` and `pg_dumpall` 15 write no other meta-command into a plain dump.)
//!
//! `psql` runs with `ON_ERROR_STOP`; the `CREATE ROLE` line `pg_dumpall` writes for every role,
//! the scratch server's own superuser too, is wrapped so that a role that exists already is not an
//! error (as a person restoring by hand would ignore it).

use crate::archive::pg_rows::connect_target;
use std::io::{self, BufRead, BufReader, Read, Write};

/// The longest line looked at whole; longer ones pass through (data, or long SQL).
const KEPT: u64 = 4096;

/// Why feeding the dump stopped.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(
        "the drill refused the dump: line {line} is the psql command {command:?}, which no dump pg_dump or pg_dumpall writes holds; the copy was planted or altered, and nothing of that line ran"
    )]
    Refused { line: u64, command: String },
    #[error(
        "the drill refused the dump: line {line} is a \\connect that is not as pg_dump or pg_dumpall writes it; the copy was planted or altered"
    )]
    BadConnect { line: u64 },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A key for `\restrict`: 32 random hex digits.
///
/// # Errors
/// When the system has no randomness to give.
pub fn restrict_key() -> io::Result<String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(io::Error::other)?;
    Ok(hex::encode(b))
}

/// Copies the dump from `input` to `psql` (`out`), restricted with `key` (see the module doc).
///
/// # Errors
/// [`FeedError`]: a line refused, or reading or writing failed.
pub fn feed(input: impl Read, out: impl Write, key: &str) -> Result<(), FeedError> {
    let mut r = BufReader::with_capacity(64 << 10, input);
    let mut w = io::BufWriter::with_capacity(64 << 10, out);
    writeln!(w, "\\restrict {key}")?;
    let mut copying = false;
    let mut line = Vec::with_capacity(KEPT as usize);
    let mut number = 0u64;
    loop {
        line.clear();
        if r.by_ref().take(KEPT).read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        let ended = line.last() == Some(&b'\n');
        if !ended && line.len() as u64 == KEPT {
            // A long line: data or SQL, never one of the lines handled below.
            if !copying && line.first() == Some(&b'\\') {
                return Err(refused(number, &line));
            }
            w.write_all(&line)?;
            pass_rest_of_line(&mut r, &mut w, &mut line)?;
            continue;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if copying {
            copying = text != b"\\.";
            w.write_all(&line)?;
            continue;
        }
        if text.first() == Some(&b'\\') {
            meta(text, number, key, &mut w)?;
            continue;
        }
        if let Some(role) = create_role(text) {
            writeln!(
                w,
                "DO $lb_{key}$BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object THEN NULL; END$lb_{key}$;"
            )?;
            continue;
        }
        copying = text.starts_with(b"COPY ") && text.ends_with(b" FROM stdin;");
        w.write_all(&line)?;
    }
    w.flush()?;
    Ok(())
}

fn pass_rest_of_line(
    r: &mut impl BufRead,
    w: &mut impl Write,
    line: &mut Vec<u8>,
) -> io::Result<()> {
    loop {
        line.clear();
        if r.by_ref().take(KEPT).read_until(b'\n', line)? == 0 {
            return Ok(());
        }
        w.write_all(line)?;
        if line.last() == Some(&b'\n') {
            return Ok(());
        }
    }
}

fn refused(line: u64, text: &[u8]) -> FeedError {
    let word = text
        .split(|b| b.is_ascii_whitespace())
        .next()
        .unwrap_or_default();
    let command: String = String::from_utf8_lossy(word).chars().take(24).collect();
    FeedError::Refused { line, command }
}

/// A line starting with a backslash, outside `COPY` data.
fn meta(text: &[u8], number: u64, key: &str, w: &mut impl Write) -> Result<(), FeedError> {
    let s = std::str::from_utf8(text).map_err(|_| refused(number, text))?;
    let (command, rest) = s.split_once(' ').unwrap_or((s, ""));
    match command {
        // The dump's own restricted mode: ours is in force instead.
        "\\restrict" | "\\unrestrict" => Ok(()),
        "\\connect" => {
            let db = connect_target(rest).ok_or(FeedError::BadConnect { line: number })?;
            if db.is_empty() || db.chars().any(char::is_control) {
                return Err(FeedError::BadConnect { line: number });
            }
            writeln!(w, "\\unrestrict {key}")?;
            writeln!(w, "{}", connect_line(&db))?;
            writeln!(w, "\\restrict {key}")?;
            Ok(())
        }
        // pg_dump writes `\encoding SQL_ASCII` for a database in that encoding.
        "\\encoding"
            if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            writeln!(w, "\\unrestrict {key}")?;
            writeln!(w, "\\encoding {rest}")?;
            writeln!(w, "\\restrict {key}")?;
            Ok(())
        }
        _ => Err(refused(number, text)),
    }
}

/// `\connect` to `db` as `pg_dumpall` writes it for any name: a connection string
/// `dbname='…'` (quote and backslash escaped), as one double-quoted argument.
fn connect_line(db: &str) -> String {
    let mut value = String::from("dbname='");
    for c in db.chars() {
        if c == '\'' || c == '\\' {
            value.push('\\');
        }
        value.push(c);
    }
    value.push('\'');
    format!(
        "\\connect -reuse-previous=on \"{}\"",
        value.replace('"', "\"\"")
    )
}

/// The role of a `CREATE ROLE name;` line as `pg_dumpall` writes it (a bare lower-case name or
/// a double-quoted one), as written.
fn create_role(text: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(text)
        .ok()?
        .strip_prefix("CREATE ROLE ")?
        .strip_suffix(';')?;
    let fine = if let Some(quoted) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        !quoted.is_empty() && !quoted.replace("\"\"", "").contains('"')
    } else {
        crate::archive::pg_rows::is_bare_name(name)
    };
    (fine && !name.contains('\0')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(dump: &str) -> Result<String, String> {
        let mut out = Vec::new();
        feed(dump.as_bytes(), &mut out, "K3Y").map_err(|e| e.to_string())?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn what_pg_dumpall_writes_passes_restricted_with_our_key() {
        let dump = "\\restrict abcDEF123\n\
            SET default_transaction_read_only = off;\n\
            CREATE ROLE postgres;\n\
            ALTER ROLE postgres WITH SUPERUSER;\n\
            CREATE ROLE \"Odd \"\"Role\";\n\
            \\unrestrict abcDEF123\n\
            \\connect template1\n\
            \\restrict abcDEF123\n\
            CREATE DATABASE halo;\n\
            \\encoding SQL_ASCII\n\
            \\connect -reuse-previous=on \"dbname='we\\'ird'\"\n\
            COPY public.t (x) FROM stdin;\n\
            \\N\n\
            \\! not a command: data\n\
            \\.\n\
            \\unrestrict abcDEF123\n";
        let got = fed(dump).unwrap();
        assert_eq!(
            got,
            "\\restrict K3Y\n\
            SET default_transaction_read_only = off;\n\
            DO $lb_K3Y$BEGIN CREATE ROLE postgres; EXCEPTION WHEN duplicate_object THEN NULL; END$lb_K3Y$;\n\
            ALTER ROLE postgres WITH SUPERUSER;\n\
            DO $lb_K3Y$BEGIN CREATE ROLE \"Odd \"\"Role\"; EXCEPTION WHEN duplicate_object THEN NULL; END$lb_K3Y$;\n\
            \\unrestrict K3Y\n\
            \\connect -reuse-previous=on \"dbname='template1'\"\n\
            \\restrict K3Y\n\
            CREATE DATABASE halo;\n\
            \\unrestrict K3Y\n\
            \\encoding SQL_ASCII\n\
            \\restrict K3Y\n\
            \\unrestrict K3Y\n\
            \\connect -reuse-previous=on \"dbname='we\\'ird'\"\n\
            \\restrict K3Y\n\
            COPY public.t (x) FROM stdin;\n\
            \\N\n\
            \\! not a command: data\n\
            \\.\n"
        );
    }

    #[test]
    fn every_other_meta_command_is_refused_by_name() {
        for (line, name) in [
            ("\\! id > /tmp/owned", "\\!"),
            ("\\copy t to program 'id'", "\\copy"),
            ("\\o | sh", "\\o"),
            ("\\i /etc/passwd", "\\i"),
            ("\\c other", "\\c"),
            ("\\gexec", "\\gexec"),
            ("\\encoding x; \\! id", "\\encoding"),
            ("\\i $$PATH$$/3.dat", "\\i"),
        ] {
            let e = fed(&format!("SELECT 1;\n{line}\nSELECT 2;\n")).unwrap_err();
            assert!(
                e.contains(&format!("line 2 is the psql command {name:?}")),
                "{e}"
            );
        }
        let long = format!("\\! {}\n", "x".repeat(10_000));
        assert!(fed(&long).unwrap_err().contains("\"\\\\!\""));
        for bad in [
            "\\connect -reuse-previous=on \"host=evil dbname='x'\"",
            "\\connect \"dbname='x' host=evil\"",
            "\\connect a b",
        ] {
            let e = fed(&format!("{bad}\n")).unwrap_err();
            assert!(e.contains("is a \\connect that is not"), "{bad}: {e}");
        }
    }

    #[test]
    fn long_lines_and_odd_roles_pass_unchanged() {
        let row = "y".repeat(3 * KEPT as usize);
        let dump = format!(
            "COPY public.big (b) FROM stdin;\n{row}\n\\.\nSELECT '{row}';\nCREATE ROLE x; DROP ROLE y;\n"
        );
        assert_eq!(fed(&dump).unwrap(), format!("\\restrict K3Y\n{dump}"));
    }
}
