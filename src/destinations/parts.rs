//! A copy stored in parts: how a stream of unknown length reaches a store that must know each
//! object's size before sending it, without a temporary file on this machine.
//!
//! `dir:` and `command:` sources do not know their size. rclone's `rcat` without `--size` spools
//! the whole stream to a temporary file for the backends that need the size up front (OneDrive,
//! WebDAV and others), so a 3 GB dump would need 3 GB of free disk. Instead the stream is cut into
//! parts of [`PART_SIZE`]: one part is held in memory until it is full (or the stream ends), then
//! sent with its exact size, staged under a temporary name and renamed into place like any
//! object, as `<data object>.part-00001`, `.part-00002`, … ([`layout::part_name`]). The manifest
//! lists the parts with their sizes and SHA-256 ([`Part`]); put end to end they are the age file,
//! so `cat <copy>.part-* | age -d` recovers a copy without Lifeboat.
//!
//! A stream no longer than one part is sent as the one object it would have been with its size
//! known (now that it is): no parts, a manifest every Lifeboat reads, one file to `age -d`. Most
//! folders and dumps of a home are that small.
//!
//! [`open`] reads a copy back as one stream, a part after the other in the manifest's order,
//! each checked to be the size the manifest says.

use super::layout;
use super::manifest::Part;
use super::retry::Policy;
use super::{ObjectWriter, Store, StoreError, StoreErrorKind};
use crate::pages::{PageBuf, Pages};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The size of a part: the most memory a stream sent in parts holds (one part, filled while the
/// one before is already sent). 32 MiB keeps a Raspberry Pi's run small while costing one
/// rclone process and one rename per 32 MiB (about 0.1 s each), and lets a copy reach
/// [`layout::MAX_PARTS`] × 32 MiB = 125 GiB.
pub const PART_SIZE: usize = 32 << 20;

/// How much of a part goes to the server in one write (slices of the part, not copies).
const SEND_CHUNK: usize = 1 << 20;

/// How much of a part one read of a copy being read back takes.
const READ_CHUNK: usize = 256 << 10;

/// A stream being stored in parts on `S`, a store that takes an object of a known size as it
/// comes and makes it visible only when it is finished (the frame of the file-like stores,
/// [`super::staged`]: temporary name, then renamed).
pub struct PartedWriter<S> {
    store: S,
    policy: Policy,
    object: String,
    part_size: usize,
    pages: Pages,
    /// The part being filled (none until the first byte after the last part sent).
    buf: Option<PageBuf>,
    hash: Sha256,
    /// The parts sent and renamed into place.
    sent: Vec<Part>,
}

impl<S: Store> PartedWriter<S> {
    /// A writer of `object` on `store` in parts of `part_size` bytes; `policy` runs the
    /// deletion of parts already sent when the upload is thrown away.
    pub fn new(store: S, policy: Policy, object: &str, part_size: usize) -> Self {
        Self {
            store,
            policy,
            object: object.to_owned(),
            part_size,
            pages: Pages::new(part_size, 1),
            buf: None,
            hash: Sha256::new(),
            sent: Vec::new(),
        }
    }

    /// The part being filled, started when there is none.
    fn buffer(&mut self) -> Result<&mut PageBuf, StoreError> {
        if self.buf.is_none() {
            let buf = self.pages.buf().map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Other,
                    format!(
                        "uploading {}: no memory left for the next part ({} MiB): {e}",
                        self.object,
                        self.part_size >> 20
                    ),
                )
            })?;
            self.buf = Some(buf);
        }
        match self.buf.as_mut() {
            Some(buf) => Ok(buf),
            None => Err(StoreError::new(
                StoreErrorKind::Other,
                "a part's buffer went missing",
            )),
        }
    }

    /// Sends the part filled so far as the next part, and forgets it.
    async fn send_part(&mut self) -> Result<(), StoreError> {
        let Some(buf) = self.buf.take() else {
            return Ok(());
        };
        if self.sent.len() >= layout::MAX_PARTS {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                format!(
                    "uploading {}: the stream is longer than {} parts of {} MiB, the most one \
                     copy is stored in; back up less in one source (split the folder, or dump \
                     the databases one by one)",
                    self.object,
                    layout::MAX_PARTS,
                    self.part_size >> 20
                ),
            ));
        }
        let name = layout::part_name(&self.object, self.sent.len() + 1);
        let sha256 = hex::encode(self.hash.finalize_reset());
        let data = buf.freeze();
        let size = data.len() as u64;
        self.upload(&name, data).await?;
        self.sent.push(Part {
            object: name,
            size,
            sha256,
        });
        Ok(())
    }

    /// Sends `data` as the object `name`, telling the store its exact size. A failure throws
    /// the upload away.
    async fn upload(&self, name: &str, data: Bytes) -> Result<(), StoreError> {
        let mut w = self.store.writer(name, Some(data.len() as u64)).await?;
        let mut at = 0;
        while at < data.len() {
            let end = (at + SEND_CHUNK).min(data.len());
            if let Err(e) = w.write(data.slice(at..end)).await {
                let _ = w.abort().await;
                return Err(e);
            }
            at = end;
        }
        w.finish().await.map(drop)
    }
}

#[async_trait]
impl<S: Store + 'static> ObjectWriter for PartedWriter<S> {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            // A full part is sent only once more data comes: a stream that ends with it full
            // ends with it, and one of exactly one part is one object.
            if self.buf.as_ref().is_some_and(|b| b.len() >= self.part_size) {
                self.send_part().await?;
            }
            let part_size = self.part_size;
            let buf = self.buffer()?;
            let take = (part_size - buf.len()).min(rest.len());
            buf.extend_from_slice(&rest[..take])
                .map_err(|e| StoreError::new(StoreErrorKind::Other, format!("a part: {e}")))?;
            self.hash.update(&rest[..take]);
            rest = &rest[take..];
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<Vec<Part>, StoreError> {
        if self.sent.is_empty() {
            // No longer than one part: the one object, its size now known.
            let data = self.buf.take().map_or_else(Bytes::new, PageBuf::freeze);
            let object = self.object.clone();
            self.upload(&object, data).await?;
            return Ok(Vec::new());
        }
        if let Err(e) = self.send_part().await {
            self.remove_sent().await;
            return Err(e);
        }
        Ok(std::mem::take(&mut self.sent))
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StoreError> {
        self.buf = None;
        self.remove_sent().await;
        Ok(())
    }
}

impl<S: Store> PartedWriter<S> {
    /// Removes the parts already in place (best effort: what is left is swept later as the
    /// parts of a copy without a manifest, [`unclaimed`]).
    async fn remove_sent(&mut self) {
        let store = &self.store;
        for part in std::mem::take(&mut self.sent) {
            let what = format!("deleting {}", part.object);
            if let Err(e) = self.policy.run(&what, || store.delete(&part.object)).await {
                tracing::warn!("{what}: {e}");
            }
        }
    }
}

/// Among the names in a folder, the parts of copies whose manifest is not there: left by a run
/// cut off after its first part, or by a deletion cut off after the manifest.
pub fn unclaimed(names: &[String]) -> Vec<String> {
    let manifests: std::collections::HashSet<&str> = names
        .iter()
        .filter_map(|n| layout::copy_id_of_manifest(n))
        .collect();
    names
        .iter()
        .filter(|n| {
            layout::part_of(n)
                .and_then(|(object, _)| layout::copy_id_of_data(object))
                .is_some_and(|id| !manifests.contains(id))
        })
        .cloned()
        .collect()
}

/// Streams a copy's stored bytes: the object `object`, or, when the copy is stored in `parts`,
/// every part in order, each checked to hold the bytes its manifest says (a short or long part
/// ends the stream in an error naming it). The first part is opened before this returns, so a
/// missing copy is an error at once.
///
/// # Errors
/// The store's, opening the object or the first part.
pub async fn open(
    store: Arc<dyn Store>,
    object: &str,
    parts: &[Part],
) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
    let Some(first) = parts.first() else {
        return store.reader(object).await;
    };
    let current = store.reader(&first.object).await?;
    let state = Concat {
        store,
        parts: parts.to_vec(),
        index: 0,
        current: Some(current),
        read: 0,
    };
    let stream = futures::stream::try_unfold(state, Concat::next);
    Ok(Box::new(tokio_util::io::StreamReader::new(Box::pin(
        stream,
    ))))
}

/// The parts of a copy being read one after the other.
struct Concat {
    store: Arc<dyn Store>,
    parts: Vec<Part>,
    /// The part being read.
    index: usize,
    current: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Bytes read of the current part.
    read: u64,
}

impl Concat {
    /// The next bytes of the copy, and the state after them; `None` after the last part.
    async fn next(mut self) -> std::io::Result<Option<(Bytes, Self)>> {
        loop {
            let Some(part) = self.parts.get(self.index) else {
                return Ok(None);
            };
            let reader = match self.current.as_mut() {
                Some(r) => r,
                None => {
                    let r = self
                        .store
                        .reader(&part.object)
                        .await
                        .map_err(std::io::Error::other)?;
                    self.read = 0;
                    self.current.insert(r)
                }
            };
            let mut buf = BytesMut::with_capacity(READ_CHUNK);
            let n = reader.read_buf(&mut buf).await?;
            self.read += n as u64;
            if self.read > part.size || (n == 0 && self.read != part.size) {
                return Err(std::io::Error::other(format!(
                    "part {} of {} ({}) holds {}{} bytes; its manifest says {}",
                    self.index + 1,
                    self.parts.len(),
                    part.object,
                    if n == 0 { "" } else { "more than " },
                    self.read,
                    part.size
                )));
            }
            if n == 0 {
                self.current = None;
                self.index += 1;
                continue;
            }
            return Ok(Some((buf.freeze(), self)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::staged::{Frame, Remote, RemoteFile, Written};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A server that keeps files in memory and, like rclone to OneDrive, takes no file whose
    /// size it is not told, nor one of another size than it was told.
    #[derive(Default)]
    struct Sized {
        files: Mutex<BTreeMap<String, Vec<u8>>>,
        /// Every size a file was created with.
        told: Mutex<Vec<u64>>,
        /// Creating the file with this number (from 1) fails.
        fail_create: Option<usize>,
    }

    struct File {
        server: Arc<Sized>,
        name: String,
        size: u64,
        data: Vec<u8>,
    }

    #[async_trait]
    impl RemoteFile for File {
        async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
            self.data.extend_from_slice(&chunk);
            Ok(())
        }
        async fn close(self: Box<Self>) -> Result<(), StoreError> {
            if self.data.len() as u64 != self.size {
                return Err(StoreError::unavailable("not the size it was told"));
            }
            self.server
                .files
                .lock()
                .unwrap()
                .insert(self.name, self.data);
            Ok(())
        }
        async fn discard(self: Box<Self>) {}
    }

    struct Remote1(Arc<Sized>);

    #[async_trait]
    impl Remote for Remote1 {
        async fn make_folder(&self) -> Result<(), StoreError> {
            Ok(())
        }
        async fn create(
            &self,
            name: &str,
            size: Option<u64>,
        ) -> Result<Box<dyn RemoteFile>, StoreError> {
            let Some(size) = size else {
                return Err(StoreError::unavailable("would spool: no size given"));
            };
            let mut told = self.0.told.lock().unwrap();
            told.push(size);
            if self.0.fail_create == Some(told.len()) {
                return Err(StoreError::unavailable("connection reset"));
            }
            Ok(Box::new(File {
                server: self.0.clone(),
                name: name.into(),
                size,
                data: Vec::new(),
            }))
        }
        async fn put(&self, name: &str, data: Bytes) -> Result<(), StoreError> {
            self.0
                .files
                .lock()
                .unwrap()
                .insert(name.into(), data.to_vec());
            Ok(())
        }
        async fn rename(&self, from: &str, to: &str, _: Written) -> Result<(), StoreError> {
            let mut files = self.0.files.lock().unwrap();
            let data = files
                .remove(from)
                .ok_or_else(|| StoreError::new(StoreErrorKind::NotFound, from))?;
            files.insert(to.into(), data);
            Ok(())
        }
        async fn remove(&self, name: &str) -> Result<(), StoreError> {
            match self.0.files.lock().unwrap().remove(name) {
                Some(_) => Ok(()),
                None => Err(StoreError::new(StoreErrorKind::NotFound, name)),
            }
        }
        async fn names(&self) -> Result<Vec<String>, StoreError> {
            Ok(self.0.files.lock().unwrap().keys().cloned().collect())
        }
        async fn open(&self, name: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
            let data = self.0.files.lock().unwrap().get(name).cloned();
            match data {
                Some(d) => Ok(Box::new(std::io::Cursor::new(d))),
                None => Err(StoreError::new(StoreErrorKind::NotFound, name)),
            }
        }
        async fn read(&self, name: &str, _: u64) -> Result<Vec<u8>, StoreError> {
            let data = self.0.files.lock().unwrap().get(name).cloned();
            data.ok_or_else(|| StoreError::new(StoreErrorKind::NotFound, name))
        }
        fn takes_unknown_length(&self) -> bool {
            false
        }
    }

    const OBJECT: &str = "20261123T101500Z-db.sql.gz.age";
    const PART: usize = 1000;

    fn store(server: &Arc<Sized>) -> Arc<dyn Store> {
        let frame = Frame::new(
            Remote1(server.clone()),
            Policy::patient(Duration::from_secs(5)),
        );
        Arc::new(frame.with_part_size(PART))
    }

    use std::time::Duration;

    fn stream(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Writes `data` in chunks of `chunk` bytes with no size given, and finishes.
    async fn send(s: &Arc<dyn Store>, data: &[u8], chunk: usize) -> Vec<Part> {
        let mut w = s.writer(OBJECT, None).await.unwrap();
        for c in data.chunks(chunk) {
            w.write(Bytes::copy_from_slice(c)).await.unwrap();
        }
        w.finish().await.unwrap()
    }

    async fn read_all(s: &Arc<dyn Store>, parts: &[Part]) -> std::io::Result<Vec<u8>> {
        let mut r = open(s.clone(), OBJECT, parts)
            .await
            .map_err(std::io::Error::other)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn a_stream_of_unknown_length_goes_up_in_parts_each_of_a_told_size() {
        let server = Arc::new(Sized::default());
        let s = store(&server);
        let data = stream(2 * PART + 345);
        let parts = send(&s, &data, 300).await;
        let names: Vec<&str> = parts.iter().map(|p| p.object.as_str()).collect();
        assert_eq!(
            names,
            [1, 2, 3].map(|n| layout::part_name(OBJECT, n)),
            "parts, in order"
        );
        assert_eq!(
            parts.iter().map(|p| p.size).collect::<Vec<_>>(),
            [PART as u64, PART as u64, 345]
        );
        assert_eq!(
            *server.told.lock().unwrap(),
            [PART as u64, PART as u64, 345]
        );
        for (p, want) in parts.iter().zip(data.chunks(PART)) {
            assert_eq!(p.sha256, hex::encode(Sha256::digest(want)));
        }
        // Nothing else on the server: no data object, no temporary name.
        let files: Vec<String> = server.files.lock().unwrap().keys().cloned().collect();
        assert_eq!(files, names);
        assert_eq!(read_all(&s, &parts).await.unwrap(), data);
        // A copy whose manifest is not there: its parts are left over; with it, they are not.
        assert_eq!(s.unfinished().await.unwrap(), names);
        server
            .files
            .lock()
            .unwrap()
            .insert(layout::manifest_object("20261123T101500Z-db"), Vec::new());
        assert!(s.unfinished().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_stream_no_longer_than_one_part_is_the_one_object() {
        for len in [0, 1, PART] {
            let server = Arc::new(Sized::default());
            let s = store(&server);
            let data = stream(len);
            assert!(send(&s, &data, 64).await.is_empty(), "{len}: no parts");
            let files = server.files.lock().unwrap().clone();
            assert_eq!(files.keys().collect::<Vec<_>>(), [OBJECT], "{len}");
            assert_eq!(files[OBJECT], data);
            assert_eq!(*server.told.lock().unwrap(), [len as u64]);
        }
        // One byte more is two parts.
        let server = Arc::new(Sized::default());
        assert_eq!(
            send(&store(&server), &stream(PART + 1), PART).await.len(),
            2
        );
    }

    #[tokio::test]
    async fn an_upload_thrown_away_or_failed_leaves_no_part() {
        let server = Arc::new(Sized::default());
        let s = store(&server);
        let mut w = s.writer(OBJECT, None).await.unwrap();
        w.write(Bytes::from(stream(2 * PART + 1))).await.unwrap();
        assert_eq!(server.files.lock().unwrap().len(), 2, "two parts sent");
        w.abort().await.unwrap();
        assert!(server.files.lock().unwrap().is_empty());

        // The third part cannot be sent: the first two are taken away again.
        let server = Arc::new(Sized {
            fail_create: Some(3),
            ..Sized::default()
        });
        let s = store(&server);
        let mut w = s.writer(OBJECT, None).await.unwrap();
        w.write(Bytes::from(stream(2 * PART + 1))).await.unwrap();
        let e = w.finish().await.unwrap_err();
        assert!(e.message.contains("connection reset"), "{e}");
        assert!(server.files.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_part_of_another_size_than_its_manifest_says_fails_the_read() {
        let server = Arc::new(Sized::default());
        let s = store(&server);
        let data = stream(3 * PART);
        let parts = send(&s, &data, 4096).await;
        let second = parts[1].object.clone();
        let cut = |len: usize| {
            let mut files = server.files.lock().unwrap();
            let mut d = data[PART..2 * PART].to_vec();
            d.resize(len, 0);
            files.insert(second.clone(), d);
        };
        for (len, says) in [(PART - 1, "holds 999 bytes"), (PART + 1, "holds more than")] {
            cut(len);
            let e = read_all(&s, &parts).await.unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("part 2 of 3"), "{e}");
        }
        cut(PART);
        assert_eq!(read_all(&s, &parts).await.unwrap(), data);
        server.files.lock().unwrap().remove(&parts[0].object);
        assert!(read_all(&s, &parts).await.is_err(), "a missing first part");
    }
}
