//! The single pass: read the source stream once; hash it, walk it and encrypt it as it goes; send
//! the ciphertext to every destination at once. Memory is bounded by the chunk size and channel
//! depths, never by the size of the backup; nothing is written to local disk.

use super::fanout::{Decision, Lane, LaneResult};
use super::progress::Counters;
use crate::archive::content::{self, ContentSpec};
use crate::archive::inspect::ChannelReader;
use crate::archive::securetar::BackupKey;
use crate::archive::{ArchiveError, BackupJson, Inspection, inspect};
use crate::config::EncryptionSpec;
use crate::crypto::{CryptoError, StreamEncryptor};
use crate::destinations::Destination;
use crate::pages::Pages;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Bytes read from the source at a time.
pub const CHUNK: usize = 1 << 20;
/// Chunks queued for the archive walker (it keeps up with encryption; this only absorbs jitter).
const WALKER_DEPTH: usize = 2;

/// Why the pass failed as a whole (no copy is claimed).
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("reading the backup failed: {0}")]
    Source(#[source] std::io::Error),
    #[error("the system has no memory left for the next chunk of the backup: {0}")]
    Memory(#[source] std::io::Error),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the source promised {expected} bytes but sent {got}")]
    SizeMismatch { expected: u64, got: u64 },
    #[error("every destination failed")]
    AllDestinationsFailed,
    #[error("the archive walker stopped unexpectedly: {0}")]
    Walker(String),
}

/// How the walker reads the backup on its way through.
#[derive(Clone)]
pub enum Walk {
    /// A Home Assistant backup, its protected inner archives opened with these keys.
    Backup(std::sync::Arc<Vec<BackupKey>>),
    /// A `dir:` or `command:` source's stream, described as the source names it.
    Content(ContentSpec, Box<BackupJson>),
}

impl Walk {
    fn run(self, reader: ChannelReader) -> Result<Inspection, ArchiveError> {
        match self {
            Self::Backup(keys) => inspect(reader, &keys, false),
            Self::Content(spec, backup) => {
                let report = content::walk(reader, &spec)?;
                Ok(Inspection::of_content(*backup, report, 0))
            }
        }
    }
}

/// What the pass produced.
pub struct Shipped {
    pub inspection: Inspection,
    pub plain_sha256: String,
    pub stored_size: u64,
    pub stored_sha256: String,
    /// Per destination: committed upload (bytes, time) or its error.
    pub lanes: Vec<LaneResult>,
}

/// A pass that failed, with whatever per-destination errors were seen.
pub struct ShipFailure {
    pub error: ShipError,
    pub lanes: Vec<LaneResult>,
}

/// Streams `source` to `object` on every destination, counting bytes in `counters`.
///
/// # Errors
/// [`ShipFailure`] when the backup cannot be read, is not a complete backup, cannot be encrypted, or
/// no destination took it; every upload is then aborted.
pub async fn ship(
    mut source: impl AsyncRead + Unpin,
    expected_size: Option<u64>,
    destinations: &[Destination],
    object: &str,
    encryption: &EncryptionSpec,
    walk: Walk,
    counters: &Counters,
) -> Result<Shipped, ShipFailure> {
    let started = Instant::now();
    let fail = |error: ShipError, lanes: Vec<LaneResult>| ShipFailure { error, lanes };
    let enc = match StreamEncryptor::new(encryption) {
        Ok(enc) => enc,
        Err(e) => return Err(fail(e.into(), Vec::new())),
    };
    // The stores are told the object's exact size when the source knows the backup's.
    let stored_size = expected_size.map(|plain| enc.stored_size(plain));
    let (mut lanes, mut results) = open_lanes(destinations, object, stored_size, counters).await;
    if lanes.is_empty() {
        return Err(fail(ShipError::AllDestinationsFailed, results));
    }

    let (walk_tx, walk_rx) = mpsc::channel(WALKER_DEPTH);
    let walker = tokio::task::spawn_blocking(move || walk.run(ChannelReader::new(walk_rx)));
    let mut walk_tx = Some(walk_tx);

    let outcome = pass(&mut source, &mut walk_tx, &mut lanes, enc, &counters.read).await;
    drop(walk_tx);
    let walked = match walker.await {
        Ok(r) => r.map_err(ShipError::from),
        Err(e) => Err(ShipError::Walker(e.to_string())),
    };
    let result = judge_pass(outcome, walked, expected_size);
    let decision = if result.is_ok() {
        Decision::Commit
    } else {
        Decision::Abort
    };
    for lane in lanes {
        results.push(lane.close(decision, started).await);
    }
    match result {
        Ok((inspection, plain_sha256, stored_size, stored_sha256)) => {
            if results.iter().all(|l| l.result.is_err()) {
                return Err(fail(ShipError::AllDestinationsFailed, results));
            }
            Ok(Shipped {
                inspection,
                plain_sha256,
                stored_size,
                stored_sha256,
                lanes: results,
            })
        }
        Err(e) => Err(fail(e, results)),
    }
}

/// The pass's digests and sizes, and what the walker made of the backup.
type Passed = (u64, String, u64, String);

/// How the pass went, from the pass itself and the archive walker: a broken archive is the
/// reason to report; a backup of another size than the source said is not the backup it meant.
fn judge_pass(
    outcome: Result<Passed, ShipError>,
    walked: Result<Inspection, ShipError>,
    expected_size: Option<u64>,
) -> Result<(Inspection, String, u64, String), ShipError> {
    match (outcome, walked) {
        // The walker stopped on a broken archive: its reason is the one to report.
        (Err(ShipError::Walker(_)), Err(e)) => Err(e),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
        (Ok((plain_size, plain_sha256, stored_size, stored_sha256)), Ok(mut inspection)) => {
            if inspection.content.is_some() {
                inspection.size = plain_size;
            }
            match expected_size {
                Some(expected) if expected != plain_size => Err(ShipError::SizeMismatch {
                    expected,
                    got: plain_size,
                }),
                _ => Ok((inspection, plain_sha256, stored_size, stored_sha256)),
            }
        }
    }
}

/// Opens a writer on every destination: the lanes that opened, and the failures of the others.
async fn open_lanes(
    destinations: &[Destination],
    object: &str,
    stored_size: Option<u64>,
    counters: &Counters,
) -> (Vec<Lane>, Vec<LaneResult>) {
    let mut lanes = Vec::new();
    let mut failed = Vec::new();
    for d in destinations {
        let written = counters.written_to(&d.name);
        match Lane::open(d.clone(), object.to_owned(), stored_size, written).await {
            Ok(lane) => lanes.push(lane),
            Err((destination, e)) => failed.push(LaneResult {
                destination,
                result: Err(e),
            }),
        }
    }
    (lanes, failed)
}

/// The loop itself; returns (plain size, plain sha, stored size, stored sha).
async fn pass(
    source: &mut (impl AsyncRead + Unpin),
    walk_tx: &mut Option<mpsc::Sender<bytes::Bytes>>,
    lanes: &mut [Lane],
    mut enc: StreamEncryptor,
    read: &AtomicU64,
) -> Result<(u64, String, u64, String), ShipError> {
    let mut plain_hash = Sha256::new();
    let mut stored_hash = Sha256::new();
    let mut plain_size = 0u64;
    let mut stored_size = 0u64;
    // Plaintext chunks are let go once walked and encrypted: a few spares cover the queue.
    let pages = Pages::new(CHUNK, WALKER_DEPTH + 2);
    let chunk_buf = || pages.buf().map_err(ShipError::Memory);
    let mut buf = chunk_buf()?;
    loop {
        let n = source
            .read(buf.spare_mut())
            .await
            .map_err(ShipError::Source)?;
        buf.advance(n);
        if n == 0 && buf.is_empty() {
            break;
        }
        // Gather up to a full chunk before handing it on: fewer, larger pieces downstream.
        if n != 0 && buf.len() < CHUNK {
            continue;
        }
        let chunk = std::mem::replace(&mut buf, chunk_buf()?).freeze();
        plain_hash.update(&chunk);
        plain_size += chunk.len() as u64;
        read.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if let Some(tx) = walk_tx {
            // The walker stops early only on a broken archive; its error is reported after.
            if tx.send(chunk.clone()).await.is_err() {
                *walk_tx = None;
                return Err(ShipError::Walker("the archive walker gave up".into()));
            }
        }
        let out = enc.push(&chunk)?;
        fan(out, &mut stored_hash, &mut stored_size, lanes).await?;
        if n == 0 {
            break;
        }
    }
    let out = enc.finish()?;
    fan(out, &mut stored_hash, &mut stored_size, lanes).await?;
    Ok((
        plain_size,
        hex::encode(plain_hash.finalize()),
        stored_size,
        hex::encode(stored_hash.finalize()),
    ))
}

async fn fan(
    out: bytes::Bytes,
    hash: &mut Sha256,
    size: &mut u64,
    lanes: &mut [Lane],
) -> Result<(), ShipError> {
    if out.is_empty() {
        return Ok(());
    }
    hash.update(&out);
    *size += out.len() as u64;
    for lane in lanes.iter_mut().filter(|l| l.is_open()) {
        lane.send(out.clone()).await;
    }
    if lanes.iter().all(|l| !l.is_open()) {
        return Err(ShipError::AllDestinationsFailed);
    }
    Ok(())
}
