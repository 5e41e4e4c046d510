//! A folder of Home Assistant backup tars (the add-on's `/backup`, a Core install's `backups/`, or
//! any directory). Every tar not shipped yet is pending, oldest first.

use super::{Asked, Opened, Pending, Source, SourceError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::path::PathBuf;

/// The folder source.
pub struct FolderSource {
    path: PathBuf,
}

impl FolderSource {
    /// Watches `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    fn err(&self, e: &std::io::Error) -> SourceError {
        SourceError::Folder {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

#[async_trait]
impl Source for FolderSource {
    fn describe(&self) -> String {
        format!("folder:{}", self.path.display())
    }

    fn creates_backups(&self) -> bool {
        false
    }

    async fn pending(
        &self,
        shipped: &HashSet<String>,
        _now: DateTime<Utc>,
        _asked: &Asked<'_>,
    ) -> Result<Vec<Pending>, SourceError> {
        let mut dir = tokio::fs::read_dir(&self.path)
            .await
            .map_err(|e| self.err(&e))?;
        let mut found = Vec::new();
        while let Some(entry) = dir.next_entry().await.map_err(|e| self.err(&e))? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".tar") || name.starts_with('.') {
                continue;
            }
            let meta = entry.metadata().await.map_err(|e| self.err(&e))?;
            if !meta.is_file() {
                continue;
            }
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            // Name, size and time: a backup replaced by another of the same name is shipped again.
            let key = format!("folder:{name}:{}:{mtime}", meta.len());
            if shipped.contains(&key) {
                continue;
            }
            found.push((
                mtime,
                Pending {
                    key,
                    hint: name.trim_end_matches(".tar").to_owned(),
                    locator: entry.path().to_string_lossy().into_owned(),
                    warnings: Vec::new(),
                    ha_key: None,
                    content: None,
                },
            ));
        }
        found.sort_by(|a, b| (a.0, &a.1.hint).cmp(&(b.0, &b.1.hint)));
        Ok(found.into_iter().map(|(_, p)| p).collect())
    }

    async fn open(&self, pending: &Pending) -> Result<Opened, SourceError> {
        let file = tokio::fs::File::open(&pending.locator)
            .await
            .map_err(|e| self.err(&e))?;
        let size = file.metadata().await.map_err(|e| self.err(&e))?.len();
        Ok(Opened {
            stream: Box::new(file),
            size: Some(size),
            notes: None,
        })
    }
}
