//! What a copy holds when it is not a Home Assistant backup: a folder Lifeboat tarred itself
//! (`dir:` sources) or a command's output, a database dump say (`command:` sources), compressed
//! or not; and the walk that checks one to its end on the way through and again when it is
//! inspected: every tar entry read for a folder, the dump tool's closing line for a dump.
//!
//! Such a copy restores without Lifeboat: `age -d … | tar -x` (`| gunzip` first when gzipped)
//! for a folder, `age -d … | gunzip` for a dump.

use super::{ArchiveError, BackupJson, Counting, Inspection};
use serde::{Deserialize, Serialize};
use std::io::{self, Read};

pub use super::made::{Compression, DumpTool};

impl Compression {
    /// `reader`'s bytes as they were before compression.
    pub fn decoder<'a, R: Read + 'a>(self, reader: R) -> Box<dyn Read + 'a> {
        match self {
            Self::None => Box::new(reader),
            Self::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        }
    }
}

impl DumpTool {
    /// The tool whose header a dump's first bytes are (PostgreSQL's and mysqldump's plain dumps
    /// say so in their first lines), else [`Self::Other`].
    pub fn sniff(head: &[u8]) -> Self {
        let text = String::from_utf8_lossy(head);
        let first: Vec<&str> = text.lines().take(4).collect();
        if first
            .iter()
            .any(|l| l.starts_with("-- PostgreSQL database"))
        {
            Self::Postgres
        } else if first
            .iter()
            .any(|l| l.starts_with("-- MySQL dump") || l.starts_with("-- MariaDB dump"))
        {
            Self::Mariadb
        } else {
            Self::Other
        }
    }

    /// The lines one of its complete dumps ends with (any one of them); none for [`Self::Other`].
    fn closing_lines(self) -> &'static [&'static str] {
        match self {
            Self::Postgres => &[
                "-- PostgreSQL database cluster dump complete",
                "-- PostgreSQL database dump complete",
            ],
            Self::Mariadb => &["-- Dump completed"],
            Self::Other => &[],
        }
    }
}

/// What kind of thing a source makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A tar of a folder.
    Folder,
    /// A command's standard output.
    Dump,
}

/// What a `dir:` or `command:` source streams, so it can be walked and named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentSpec {
    pub kind: Kind,
    pub compression: Compression,
    pub tool: DumpTool,
}

impl ContentSpec {
    /// The data object's ending, before `.age`: `.tar`, `.tar.gz`, `.sql.gz`…
    pub fn suffix(&self) -> String {
        let base = match self.kind {
            Kind::Folder => ".tar",
            Kind::Dump => self.tool.suffix(),
        };
        format!("{base}{}", self.compression.suffix())
    }
}

/// What the walk found, kept in the copy's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentReport {
    pub kind: Kind,
    pub compression: Compression,
    #[serde(default, skip_serializing_if = "is_other")]
    pub tool: DumpTool,
    /// Bytes once decompressed: the tar, or the dump.
    pub bytes: u64,
    /// For a folder: regular files, folders and symbolic links in it, and the files' bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folders: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<u64>,
    /// For a dump of a known tool: the closing line it ended with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing_line: Option<String>,
    /// For a PostgreSQL dump: the rows of each table (`db/schema.table`) as it was dumped.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tables: std::collections::BTreeMap<String, u64>,
}

fn is_other(t: &DumpTool) -> bool {
    *t == DumpTool::Other
}

impl ContentReport {
    /// How the copy it describes is walked again.
    pub fn spec(&self) -> ContentSpec {
        ContentSpec {
            kind: self.kind,
            compression: self.compression,
            tool: self.tool,
        }
    }

    /// One line for people: "1 204 files in 87 folders, 3.1 GB" or "PostgreSQL dump, complete".
    pub fn describe(&self) -> String {
        match self.kind {
            Kind::Folder => format!(
                "{} files and {} links in {} folders, {}",
                self.files.unwrap_or(0),
                self.links.unwrap_or(0),
                self.folders.unwrap_or(0),
                crate::human::size(self.file_bytes.unwrap_or(0))
            ),
            Kind::Dump => match &self.closing_line {
                Some(line) if !self.tables.is_empty() => format!(
                    "dump of {}, complete ({line}): {} tables, {} rows",
                    crate::human::size(self.bytes),
                    self.tables.len(),
                    self.tables.values().sum::<u64>()
                ),
                Some(line) => format!(
                    "dump of {}, complete ({line})",
                    crate::human::size(self.bytes)
                ),
                None => format!(
                    "output of {} (its end cannot be checked)",
                    crate::human::size(self.bytes)
                ),
            },
        }
    }
}

/// Reads `reader` (the bytes age encrypts) to its end as `spec` says it is made.
///
/// # Errors
/// [`ArchiveError`] when it does not decompress, a tar is damaged or cut short, or a dump of a
/// known tool lacks its closing line (the dump was cut short).
pub fn walk<R: Read>(reader: R, spec: &ContentSpec) -> Result<ContentReport, ArchiveError> {
    let mut plain = Counting {
        inner: spec.compression.decoder(reader),
        count: 0,
    };
    let mut report = ContentReport {
        kind: spec.kind,
        compression: spec.compression,
        tool: spec.tool,
        bytes: 0,
        files: None,
        folders: None,
        links: None,
        file_bytes: None,
        closing_line: None,
        tables: std::collections::BTreeMap::new(),
    };
    match spec.kind {
        Kind::Folder => walk_tar(&mut plain, &mut report)?,
        Kind::Dump => {
            let (tool, line, tables) = dump_end(&mut plain, spec.tool)?;
            report.tool = tool;
            report.closing_line = line;
            report.tables = tables;
        }
    }
    report.bytes = plain.count;
    Ok(report)
}

fn damaged(e: &io::Error) -> ArchiveError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ArchiveError::Truncated(e.to_string())
    } else {
        ArchiveError::Malformed(e.to_string())
    }
}

fn walk_tar<R: Read>(
    reader: &mut Counting<R>,
    report: &mut ContentReport,
) -> Result<(), ArchiveError> {
    let (mut files, mut folders, mut links, mut file_bytes) = (0u64, 0u64, 0u64, 0u64);
    // Where the last entry's data (padded to its block) ends.
    let mut entries_end = 0u64;
    {
        let mut archive = tar::Archive::new(super::guard::Guarded::new(&mut *reader));
        let entries = archive.entries().map_err(|e| damaged(&e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| damaged(&e))?;
            let size = entry.size();
            entries_end = entry.raw_file_position() + size.div_ceil(512) * 512;
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    files += 1;
                    file_bytes += io::copy(&mut entry, &mut io::sink()).map_err(|e| damaged(&e))?;
                }
                tar::EntryType::Directory => folders += 1,
                tar::EntryType::Symlink | tar::EntryType::Link => links += 1,
                _ => {}
            }
        }
    }
    // tar stops at the first zero block, and just as quietly at a stream cut between two
    // entries: the two end-of-archive blocks must follow the last entry, then zeros only.
    let mut rest = [0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut rest).map_err(|e| damaged(&e))?;
        if n == 0 {
            break;
        }
        if rest[..n].iter().any(|b| *b != 0) {
            return Err(ArchiveError::Malformed(
                "the folder's tar has data after its end-of-archive blocks".into(),
            ));
        }
    }
    if reader.count < entries_end + 1024 {
        return Err(ArchiveError::Truncated(
            "the folder's tar stops before its end-of-archive blocks".into(),
        ));
    }
    report.files = Some(files);
    report.folders = Some(folders);
    report.links = Some(links);
    report.file_bytes = Some(file_bytes);
    Ok(())
}

/// What reading a dump to its end found: the tool, its closing line, a PostgreSQL dump's rows.
type DumpEnd = (
    DumpTool,
    Option<String>,
    std::collections::BTreeMap<String, u64>,
);

/// Reads a dump to its end, keeping its first and last bytes; the tool that made it (`tool`, or
/// when that is [`DumpTool::Other`], the one its first lines name), the closing line found, and
/// for PostgreSQL the rows of each table.
fn dump_end<R: Read>(reader: &mut R, tool: DumpTool) -> Result<DumpEnd, ArchiveError> {
    const TAIL: usize = 4096;
    const HEAD: usize = 256;
    let mut head: Vec<u8> = Vec::with_capacity(HEAD);
    let mut tail: Vec<u8> = Vec::with_capacity(2 * TAIL);
    let mut buf = vec![0u8; 256 * 1024];
    let mut rows = super::pg_rows::RowCounter::default();
    loop {
        let n = reader.read(&mut buf).map_err(|e| damaged(&e))?;
        if n == 0 {
            break;
        }
        let got = &buf[..n];
        rows.feed(got);
        if head.len() < HEAD {
            let take = (HEAD - head.len()).min(got.len());
            head.extend_from_slice(&got[..take]);
        }
        if got.len() >= TAIL {
            tail.clear();
            tail.extend_from_slice(&got[got.len() - TAIL..]);
        } else {
            tail.extend_from_slice(got);
            if tail.len() > TAIL {
                tail.drain(..tail.len() - TAIL);
            }
        }
    }
    let tool = match tool {
        DumpTool::Other => DumpTool::sniff(&head),
        known => known,
    };
    let wanted = tool.closing_lines();
    if wanted.is_empty() {
        return Ok((tool, None, std::collections::BTreeMap::new()));
    }
    let tables = if tool == DumpTool::Postgres {
        rows.finish()
    } else {
        std::collections::BTreeMap::new()
    };
    let text = String::from_utf8_lossy(&tail);
    // The closing line comes last but for blank lines (and PostgreSQL's trailing `--`s, and
    // the `\unrestrict KEY` pg_dump writes after it since PostgreSQL 13.22/14.19/15.14/16.10/17.6).
    let last = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && *l != "--" && !l.starts_with("\\unrestrict "))
        .unwrap_or("");
    match wanted.iter().find(|w| last.starts_with(**w)) {
        Some(_) => Ok((tool, Some(last.to_owned()), tables)),
        None => Err(ArchiveError::Truncated(format!(
            "the dump does not end with {:?}: it was cut short (its last line is {:?})",
            wanted[0],
            last.chars().take(120).collect::<String>()
        ))),
    }
}

impl Inspection {
    /// The inspection of a copy of a `dir:` or `command:` source: `backup` describes it as the
    /// source named it; nothing in it needs Home Assistant to restore.
    /// `size` is the bytes walked (compressed, as age encrypts them).
    pub fn of_content(backup: BackupJson, content: ContentReport, size: u64) -> Self {
        Self {
            backup,
            backup_raw: serde_json::Value::Null,
            members: Vec::new(),
            inner: Vec::new(),
            size,
            readiness: super::readiness::Readiness::default(),
            content: Some(content),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn dump(tool: DumpTool, compression: Compression) -> ContentSpec {
        ContentSpec {
            kind: Kind::Dump,
            compression,
            tool,
        }
    }

    #[test]
    fn a_complete_postgres_dump_is_known_by_its_closing_line() {
        let sql = b"--\n-- PostgreSQL database cluster dump\n--\nCREATE TABLE t ();\n\n--\n-- PostgreSQL database cluster dump complete\n--\n\n";
        let r = walk(&gz(sql)[..], &dump(DumpTool::Postgres, Compression::Gzip)).unwrap();
        assert_eq!(r.bytes, sql.len() as u64);
        assert_eq!(
            r.closing_line.as_deref(),
            Some("-- PostgreSQL database cluster dump complete")
        );
        let mut cut = gz(sql);
        cut.truncate(cut.len() - 10);
        assert!(matches!(
            walk(&cut[..], &dump(DumpTool::Postgres, Compression::Gzip)),
            Err(ArchiveError::Truncated(_))
        ));
        let short = &sql[..40];
        let e = walk(short, &dump(DumpTool::Postgres, Compression::None)).unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");
        // An unknown tool's output is taken as it is; a PostgreSQL dump is known by its head.
        let e = walk(short, &dump(DumpTool::Other, Compression::None)).unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");
        let r = walk(&b"redis"[..], &dump(DumpTool::Other, Compression::None)).unwrap();
        assert_eq!(
            (r.bytes, r.closing_line, r.tool),
            (5, None, DumpTool::Other)
        );
        let r = walk(&sql[..], &dump(DumpTool::Other, Compression::None)).unwrap();
        assert_eq!(r.tool, DumpTool::Postgres);
        // pg_dump 15.14 and later end with the key of its restricted mode.
        let sql = b"--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\nCREATE TABLE t ();\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n";
        let r = walk(&sql[..], &dump(DumpTool::Postgres, Compression::None)).unwrap();
        assert_eq!(
            r.closing_line.as_deref(),
            Some("-- PostgreSQL database dump complete")
        );
    }

    #[test]
    fn the_closing_line_is_found_across_read_boundaries() {
        let mut sql = vec![b'x'; 300_000];
        sql.extend_from_slice(b"\n-- Dump completed on 2026-12-03  3:00:01\n");
        let r = walk(&sql[..], &dump(DumpTool::Mariadb, Compression::None)).unwrap();
        assert_eq!(
            r.closing_line.as_deref(),
            Some("-- Dump completed on 2026-12-03  3:00:01")
        );
    }

    #[test]
    fn a_folder_tar_is_counted_and_one_cut_between_entries_is_caught() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(&mut h, "d/", &[][..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        b.append_data(&mut h, "d/a.txt", &b"hello"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "d/l", "/etc/passwd").unwrap();
        let whole = b.into_inner().unwrap();
        let spec = ContentSpec {
            kind: Kind::Folder,
            compression: Compression::None,
            tool: DumpTool::Other,
        };
        let r = walk(&whole[..], &spec).unwrap();
        assert_eq!(
            (r.files, r.folders, r.links, r.file_bytes),
            (Some(1), Some(1), Some(1), Some(5))
        );
        // Without the end-of-archive blocks: the three entries are 5 blocks.
        let cut = &whole[..5 * 512];
        assert!(matches!(walk(cut, &spec), Err(ArchiveError::Truncated(_))));
        let gzipped = ContentSpec {
            compression: Compression::Gzip,
            ..spec
        };
        assert_eq!(walk(&gz(&whole)[..], &gzipped).unwrap().files, Some(1));
        assert!(walk(&whole[..], &gzipped).is_err(), "not gzip");
    }

    #[test]
    fn names_and_guesses() {
        let argv = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            DumpTool::guess(&argv("docker exec db pg_dumpall -U postgres")),
            DumpTool::Postgres
        );
        assert_eq!(
            DumpTool::guess(&argv("/usr/bin/mysqldump --all-databases")),
            DumpTool::Mariadb
        );
        assert_eq!(DumpTool::guess(&argv("redis-cli --rdb -")), DumpTool::Other);
        assert_eq!(
            dump(DumpTool::Postgres, Compression::Gzip).suffix(),
            ".sql.gz"
        );
        let folder = ContentSpec {
            kind: Kind::Folder,
            compression: Compression::None,
            tool: DumpTool::Other,
        };
        assert_eq!(folder.suffix(), ".tar");
        assert!(Compression::parse("zip").unwrap_err().contains("gzip"));
    }
}
