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
/// `\connect -reuse-previous=on "dbname='we''ird'"`.
fn connected_to(rest: &str) -> String {
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
