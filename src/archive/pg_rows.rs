//! Row counts of a PostgreSQL plain-text dump (`pg_dump`, `pg_dumpall`), read as it streams past:
//! the lines of each `COPY … FROM stdin;` block up to its `\.`, per database (the `\connect`
//! lines of a `pg_dumpall` dump say which). They are what the dump held when it was made, kept in
//! the copy's manifest, and what a restore drill compares the restored tables with.
//!
//! Memory stays bounded whatever a row holds: of a line only its first bytes are kept.

use std::collections::BTreeMap;

/// Bytes of a line kept: enough for any `COPY` or `\connect` line worth reading.
const KEPT: usize = 4096;

/// Counts rows as a dump streams past.
#[derive(Default)]
pub struct RowCounter {
    /// The database the following lines load into (`""` in a one-database dump).
    db: String,
    /// The table being copied and its rows so far.
    copying: Option<(String, u64)>,
    /// The start of the current line, and its whole length.
    line: Vec<u8>,
    len: usize,
    counts: BTreeMap<String, u64>,
}

impl RowCounter {
    /// Reads the next bytes of the dump.
    pub fn feed(&mut self, mut data: &[u8]) {
        while let Some(i) = memchr::memchr(b'\n', data) {
            self.take(&data[..i]);
            self.end_line();
            data = &data[i + 1..];
        }
        self.take(data);
    }

    fn take(&mut self, part: &[u8]) {
        self.len += part.len();
        if self.line.len() < KEPT {
            let room = KEPT - self.line.len();
            self.line.extend_from_slice(&part[..part.len().min(room)]);
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let len = std::mem::replace(&mut self.len, 0);
        self.line_ended(&line, len);
        self.line = line;
        self.line.clear();
    }

    fn line_ended(&mut self, line: &[u8], len: usize) {
        if let Some((_, rows)) = &mut self.copying {
            if len == 2 && line == b"\\." {
                if let Some((table, rows)) = self.copying.take() {
                    *self.counts.entry(table).or_default() += rows;
                }
            } else {
                *rows += 1;
            }
            return;
        }
        if len > KEPT {
            return;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return;
        };
        if let Some(rest) = text.strip_prefix("COPY ")
            && text.ends_with(" FROM stdin;")
        {
            let table = rest.split(" (").next().unwrap_or(rest);
            let table = table.split(" FROM stdin;").next().unwrap_or(table);
            self.copying = Some((format!("{}{}", self.prefix(), table), 0));
        } else if let Some(rest) = text.strip_prefix("\\connect ") {
            self.db = connected_to(rest);
        }
    }

    fn prefix(&self) -> String {
        if self.db.is_empty() {
            String::new()
        } else {
            format!("{}/", self.db)
        }
    }

    /// The rows of every table copied, as `db/schema.table` (`schema.table` in a one-database
    /// dump); a block cut off before its `\.` is not counted.
    pub fn finish(self) -> BTreeMap<String, u64> {
        self.counts
    }
}

/// The database a `\connect` line names: `\connect halo`, `\connect "Odd Name"`, or
/// `\connect -reuse-previous=on "dbname='we\\'ird'"`.
fn connected_to(rest: &str) -> String {
    if let Some(db) = connect_target(rest) {
        return db;
    }
    let rest = rest.trim().trim_start_matches("-reuse-previous=on").trim();
    if let Some(conninfo) = rest
        .strip_prefix("\"dbname='")
        .and_then(|r| r.strip_suffix("'\""))
    {
        return conninfo.replace("''", "'");
    }
    if let Some(quoted) = rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return quoted.replace("\"\"", "\"");
    }
    rest.split_whitespace().next().unwrap_or("").to_owned()
}

/// The database of a `\connect` line exactly as `pg_dump` and `pg_dumpall` write one (their
/// `appendPsqlMetaConnect`): `\connect NAME` with NAME an SQL identifier, or
/// `\connect -reuse-previous=on "dbname='…'"`, the connection string's value in single quotes
/// with `\'` and `\\` escaped. `None` for anything else.
pub(crate) fn connect_target(rest: &str) -> Option<String> {
    if let Some(arg) = rest.strip_prefix("-reuse-previous=on ") {
        let conninfo = unquote_identifier(arg)?;
        let value = conninfo.strip_prefix("dbname=")?;
        let Some(quoted) = value.strip_prefix('\'') else {
            let simple = !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            return simple.then(|| value.to_owned());
        };
        let mut db = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => db.push(chars.next()?),
                '\'' => return chars.next().is_none().then_some(db),
                c => db.push(c),
            }
        }
        return None;
    }
    // The plain form is written only for names of letters, digits, `_` and `.`.
    let name = if is_bare_name(rest) {
        rest.to_owned()
    } else {
        unquote_identifier(rest)?
    };
    let simple = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    simple.then_some(name)
}

/// An identifier as PostgreSQL writes one unquoted: a lower-case letter or `_`, then those,
/// digits and `$`.
pub(crate) fn is_bare_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
}

/// The name inside a double-quoted identifier that is the whole of `s` (`""` is one `"`).
fn unquote_identifier(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    // A quote not doubled would have ended the identifier early.
    if inner.is_empty() || inner.replace("\"\"", "").contains('"') {
        return None;
    }
    Some(inner.replace("\"\"", "\""))
}

/// The parts of a table name as a dump's `COPY` line writes it (`schema.table`, each part bare
/// or double-quoted; an old dump's `table` alone). `None` for anything else, or a NUL.
pub(crate) fn table_name_parts(s: &str) -> Option<Vec<String>> {
    if s.contains('\0') {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = s;
    loop {
        let (part, after) = if let Some(q) = rest.strip_prefix('"') {
            let mut name = String::new();
            let mut chars = q.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                if c != '"' {
                    name.push(c);
                } else if q[i + 1..].starts_with('"') {
                    name.push('"');
                    chars.next();
                } else {
                    break i + 1;
                }
            };
            (name, &q[end..])
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            let bare = &rest[..end];
            if !is_bare_name(bare) {
                return None;
            }
            (bare.to_owned(), &rest[end..])
        };
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        if after.is_empty() {
            break;
        }
        rest = after.strip_prefix('.')?;
    }
    (parts.len() <= 2).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "--\n-- PostgreSQL database cluster dump\n--\n\\connect template1\n\
        CREATE DATABASE halo;\n\\connect halo\n\
        COPY public.states (id, entity) FROM stdin;\n1\tsensor.a\n2\tsensor.b\n3\t\\N\n\\.\n\n\
        COPY grafana.blobs (id, data) FROM stdin;\n\\.\n\
        \\connect -reuse-previous=on \"dbname='we''ird'\"\n\
        COPY public.t (x) FROM stdin;\n7\n\\.\n";

    #[test]
    fn rows_are_counted_per_database_and_table_across_any_read_boundary() {
        let want: BTreeMap<String, u64> = [
            ("halo/grafana.blobs", 0),
            ("halo/public.states", 3),
            ("we'ird/public.t", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for step in [1, 2, 7, DUMP.len()] {
            let mut c = RowCounter::default();
            for piece in DUMP.as_bytes().chunks(step) {
                c.feed(piece);
            }
            assert_eq!(c.finish(), want, "read {step} bytes at a time");
        }
    }

    #[test]
    fn connect_lines_and_table_names_as_pg_dump_writes_them() {
        assert_eq!(connect_target("halo").as_deref(), Some("halo"));
        assert_eq!(connect_target("\"Halo\"").as_deref(), Some("Halo"));
        assert_eq!(
            connect_target("-reuse-previous=on \"dbname='we\\'ird \"\"x\"\" \\\\'\"").as_deref(),
            Some("we'ird \"x\" \\")
        );
        for bad in [
            "a b",
            "-reuse-previous=on \"host=evil dbname='x'\"",
            "-reuse-previous=on \"dbname='x' host=evil\"",
            "-reuse-previous=on \"dbname=x host=evil\"",
            "\"a\" \"b\"",
            "\"a\"b\"",
            "",
        ] {
            assert_eq!(connect_target(bad), None, "{bad}");
        }
        let parts = |s: &str| table_name_parts(s);
        assert_eq!(
            parts("public.states"),
            Some(vec!["public".into(), "states".into()])
        );
        assert_eq!(
            parts("\"My Schema\".\"we\"\"ird.t\""),
            Some(vec!["My Schema".into(), "we\"ird.t".into()])
        );
        assert_eq!(parts("t"), Some(vec!["t".into()]));
        for bad in [
            "public.t; CREATE ROLE x SUPERUSER; --",
            "public.t UNION SELECT 1",
            "Public.t",
            "a.b.c",
            "\"open",
            "\"\".t",
            "public.\"t\0\"",
            "",
            "public.",
        ] {
            assert_eq!(parts(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_one_database_dump_and_a_huge_row_and_a_cut_block() {
        let mut c = RowCounter::default();
        c.feed(b"COPY public.big (b) FROM stdin;\n");
        c.feed(&vec![b'x'; 3 * KEPT]);
        c.feed(b"\n\\.\nCOPY public.cut (x) FROM stdin;\n1\n2\n");
        let got = c.finish();
        assert_eq!(got.get("public.big"), Some(&1));
        assert_eq!(got.get("public.cut"), None, "cut off before its \\.");
    }
}
