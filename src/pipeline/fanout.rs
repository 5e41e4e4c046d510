//! Fan-out: one task per destination, fed the same ciphertext chunks through a bounded channel.
//! A slow destination slows the run (the channel fills); a failed one ends its task with its error
//! and is dropped without failing the others. Whether the upload is committed or thrown away is
//! decided by the pipeline after the whole pass, through [`Decision`].

use crate::destinations::manifest::Part;
use crate::destinations::{Destination, StoreError};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Chunks queued per destination. Each store buffers a whole part behind this, so a deeper queue
/// would only hold more memory, not smooth anything.
const CHANNEL_DEPTH: usize = 2;

/// What to do with an upload once the pass is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Commit,
    Abort,
}

/// The pipeline's handle on one destination's upload.
pub struct Lane {
    pub destination: Destination,
    tx: Option<mpsc::Sender<Bytes>>,
    decide: Option<oneshot::Sender<Decision>>,
    task: JoinHandle<Result<(u64, Vec<Part>), StoreError>>,
}

/// The result of one lane: what was uploaded, or why it failed.
pub struct LaneResult {
    pub destination: Destination,
    pub result: Result<Uploaded, StoreError>,
}

/// An upload that ended well (committed, or thrown away with the pass).
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// Bytes the destination took.
    pub bytes: u64,
    pub took: std::time::Duration,
    /// The parts the store sent it in (empty: the one object).
    pub parts: Vec<Part>,
}

impl Lane {
    /// Opens the destination's writer and starts its task, which adds every byte the destination
    /// takes to `written`.
    pub async fn open(
        destination: Destination,
        object: String,
        size: Option<u64>,
        written: Arc<AtomicU64>,
    ) -> Result<Self, (Destination, StoreError)> {
        let writer = match destination.store.writer(&object, size).await {
            Ok(w) => w,
            Err(e) => return Err((destination, e)),
        };
        let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
        let (decide, decision) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut writer = writer;
            let counter = written;
            let mut written = 0u64;
            while let Some(chunk) = rx.recv().await {
                let len = chunk.len() as u64;
                if let Err(e) = writer.write(chunk).await {
                    drop(rx);
                    // Best effort: the error that matters is the write's.
                    let _ = writer.abort().await;
                    return Err(e);
                }
                written += len;
                counter.fetch_add(len, Ordering::Relaxed);
            }
            match decision.await {
                Ok(Decision::Commit) => writer.finish().await.map(|parts| (written, parts)),
                _ => {
                    let _ = writer.abort().await;
                    Ok((written, Vec::new()))
                }
            }
        });
        Ok(Self {
            destination,
            tx: Some(tx),
            decide: Some(decide),
            task,
        })
    }

    /// Whether the lane still takes data.
    pub fn is_open(&self) -> bool {
        self.tx.is_some()
    }

    /// Sends a chunk; returns false (and closes the lane) when its task has failed.
    pub async fn send(&mut self, chunk: Bytes) -> bool {
        let Some(tx) = &self.tx else { return false };
        if tx.send(chunk).await.is_err() {
            self.tx = None;
            return false;
        }
        true
    }

    /// Ends the data, tells the task what to do, and waits for it.
    pub async fn close(mut self, decision: Decision, started: Instant) -> LaneResult {
        self.tx = None;
        if let Some(d) = self.decide.take() {
            let _ = d.send(decision);
        }
        let result = match self.task.await {
            Ok(Ok((bytes, parts))) => Ok(Uploaded {
                bytes,
                took: started.elapsed(),
                parts,
            }),
            Ok(Err(e)) => Err(e),
            Err(join) => Err(StoreError::new(
                crate::destinations::StoreErrorKind::Other,
                format!("the upload task failed: {join}"),
            )),
        };
        LaneResult {
            destination: self.destination,
            result,
        }
    }
}
