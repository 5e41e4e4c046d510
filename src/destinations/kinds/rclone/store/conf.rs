//! rclone.conf as Lifeboat touches it: its sections read (names and types only ever shown), one
//! section added or replaced, and the file written whole under a temporary name and renamed into
//! place, readable by its owner alone (0600). rclone itself writes refreshed tokens back into the
//! same file; a section Lifeboat did not touch is kept line for line, comments included.

use std::path::Path;

/// Why rclone.conf could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error(
        "{0} is encrypted; Lifeboat can use only a plain rclone.conf (rclone config encryption remove)"
    )]
    Encrypted(String),
    #[error("{where_}: line {line} is neither [name] nor key = value")]
    Syntax { where_: String, line: usize },
    #[error("{0}")]
    Io(String),
}

/// One `[name]` and the lines under it, as written.
#[derive(Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// The lines after the `[name]` line, comments and blank lines included.
    lines: Vec<String>,
}

// Values are secrets (tokens, passwords): never printed.
impl std::fmt::Debug for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Section")
            .field("name", &self.name)
            .field("type", &self.get("type"))
            .finish_non_exhaustive()
    }
}

impl Section {
    /// A section of `key = value` pairs.
    pub fn new(name: &str, pairs: &[(&str, &str)]) -> Self {
        Self {
            name: name.to_owned(),
            lines: pairs.iter().map(|(k, v)| format!("{k} = {v}")).collect(),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim())
        })
    }

    /// The backend type (`drive`, `onedrive`, `s3`…).
    pub fn kind(&self) -> &str {
        self.get("type").unwrap_or("?")
    }

    /// Its lines as written (secrets among them: for digests, never for people).
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// The text before the first section and every section, in order.
#[derive(Debug, Default)]
pub struct Conf {
    head: Vec<String>,
    pub sections: Vec<Section>,
}

impl Conf {
    /// Reads rclone.conf text; `where_` names it in errors.
    ///
    /// # Errors
    /// [`ConfError::Encrypted`] for an encrypted file, [`ConfError::Syntax`] for a line rclone
    /// would not take either.
    pub fn parse(text: &str, where_: &str) -> Result<Self, ConfError> {
        if text.trim_start().starts_with("RCLONE_ENCRYPT_V0:") {
            return Err(ConfError::Encrypted(where_.to_owned()));
        }
        let mut conf = Self::default();
        // `lines` takes a `\r\n` off a line but leaves a lone `\r` (the last line's, with no
        // newline after it; one more before a `\r\n`): those go too, or the next read of what
        // is written would differ from this one.
        for (i, line) in text.lines().map(|l| l.trim_end_matches('\r')).enumerate() {
            let t = line.trim();
            if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                conf.sections.push(Section {
                    name: name.trim().to_owned(),
                    lines: Vec::new(),
                });
                continue;
            }
            let fine = t.is_empty() || t.starts_with(['#', ';']) || t.contains('=');
            if !fine {
                return Err(ConfError::Syntax {
                    where_: where_.to_owned(),
                    line: i + 1,
                });
            }
            match conf.sections.last_mut() {
                Some(s) => s.lines.push(line.to_owned()),
                None => conf.head.push(line.to_owned()),
            }
        }
        Ok(conf)
    }

    /// The section called `name`.
    pub fn get(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Puts `section` in place of the one of its name, or at the end.
    pub fn put(&mut self, section: Section) {
        match self.sections.iter_mut().find(|s| s.name == section.name) {
            Some(old) => *old = section,
            None => self.sections.push(section),
        }
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.head {
            out.push_str(l);
            out.push('\n');
        }
        for s in &self.sections {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push('\n');
            }
            out.push('[');
            out.push_str(&s.name);
            out.push_str("]\n");
            let body: Vec<&String> = {
                // Trailing blank lines are the gap before the next section, written once above.
                let mut b: Vec<&String> = s.lines.iter().collect();
                while b.last().is_some_and(|l| l.trim().is_empty()) {
                    b.pop();
                }
                b
            };
            for l in body {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

/// Reads the file at `path`; a missing file is an empty one.
///
/// # Errors
/// [`ConfError`] when it cannot be read or is not rclone.conf.
pub async fn read(path: &Path) -> Result<Conf, ConfError> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => Conf::parse(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Conf::default()),
        Err(e) => Err(ConfError::Io(format!("reading {}: {e}", path.display()))),
    }
}

/// Adds or replaces `section` in the file at `path` (made, 0600, when missing).
///
/// # Errors
/// [`ConfError`] when the file cannot be read or written; it is then left as it was.
pub async fn merge(path: &Path, section: Section) -> Result<(), ConfError> {
    let mut conf = read(path).await?;
    conf.put(section);
    write(path, &conf.render()).await
}

/// Writes `text` to `path` under a temporary name of its own (new, readable by its owner only,
/// so writers at once never share it), then renames it into place ([`crate::scratch::replace`]).
async fn write(path: &Path, text: &str) -> Result<(), ConfError> {
    let io =
        |what: &str, e: std::io::Error| ConfError::Io(format!("{what} {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io("making the folder of", e))?;
    }
    let (target, data) = (path.to_owned(), text.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || crate::scratch::replace(&target, &data))
        .await
        .map_err(|e| io("writing", std::io::Error::other(e)))?
        .map_err(|e| io("writing", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINE: &str = "# my remotes\n\n[nas]\ntype = sftp\nhost = nas.local\n# keep\npass = abc\n\n[gdrive]\ntype = drive\ntoken = {\"access_token\":\"old\"}\n";

    #[test]
    fn a_section_is_replaced_or_added_and_the_rest_kept_as_written() {
        let mut conf = Conf::parse(MINE, "rclone.conf").unwrap();
        assert_eq!(conf.get("nas").unwrap().kind(), "sftp");
        conf.put(Section::new(
            "gdrive",
            &[("type", "drive"), ("token", "{\"access_token\":\"new\"}")],
        ));
        conf.put(Section::new("box", &[("type", "box")]));
        let text = conf.render();
        assert_eq!(
            text,
            "# my remotes\n\n[nas]\ntype = sftp\nhost = nas.local\n# keep\npass = abc\n\n[gdrive]\ntype = drive\ntoken = {\"access_token\":\"new\"}\n\n[box]\ntype = box\n"
        );
        assert_eq!(Conf::parse(&text, "x").unwrap().render(), text);
        let shown = format!("{:?}", conf.get("nas").unwrap());
        assert!(!shown.contains("abc") && shown.contains("sftp"), "{shown}");
    }

    #[test]
    fn what_is_not_rclone_conf_is_refused() {
        assert!(matches!(
            Conf::parse("RCLONE_ENCRYPT_V0:\nabc", "x"),
            Err(ConfError::Encrypted(_))
        ));
        assert!(matches!(
            Conf::parse("[a]\ntype = s3\nthis is prose\n", "x"),
            Err(ConfError::Syntax { line: 3, .. })
        ));
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/rclone_conf.rs`): a file of one `\r` was written
    /// back as `\r\n`, which reads as an empty line, so each write changed the file again.
    #[test]
    fn a_carriage_return_ending_a_line_is_not_kept() {
        for text in [
            "\r",
            "[a]\ntype = s3\r",
            "x = 1\r\r\n[b]\r\r",
            "[c]\r\ntype = b2\r\n",
        ] {
            let once = Conf::parse(text, "x").unwrap().render();
            assert!(!once.contains('\r'), "{text:?} rendered as {once:?}");
            let twice = Conf::parse(&once, "x").unwrap().render();
            assert_eq!(twice, once, "{text:?}");
        }
        let conf = Conf::parse("[a]\ntype = s3\r", "x").unwrap();
        assert_eq!(conf.get("a").unwrap().text(), "type = s3");
    }

    #[tokio::test]
    async fn the_file_is_written_for_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/rclone.conf");
        merge(&path, Section::new("a", &[("type", "local")]))
            .await
            .unwrap();
        merge(&path, Section::new("b", &[("type", "local")]))
            .await
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let conf = read(&path).await.unwrap();
        assert_eq!(conf.sections.len(), 2);
        assert!(
            read(&dir.path().join("none"))
                .await
                .unwrap()
                .sections
                .is_empty()
        );
    }
}
