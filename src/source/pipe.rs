//! Blocking producers (a tar writer, a gzip encoder) feeding the async pipeline through a
//! bounded channel: what a `dir:` or `command:` source streams is made on a blocking thread one
//! chunk ahead of the pipeline, never staged.

use bytes::Bytes;
use std::io::{self, Write};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

/// Chunks made ahead of the pipeline: memory stays bounded by this times [`CHUNK`].
const DEPTH: usize = 4;
/// The size of the chunks handed on.
const CHUNK: usize = 256 * 1024;

/// A `Write` whose bytes come out of [`Pipe::reader`] as a stream.
pub struct PipeWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl PipeWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the backup was abandoned"))
    }

    /// Ends the stream with `error` (the reader fails with it) instead of a clean end.
    pub fn fail(self, error: io::Error) {
        let _ = self.tx.blocking_send(Err(error));
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        // What is left goes out with the end of the stream (a failed send means nobody reads).
        let _ = self.send();
    }
}

/// Runs `produce` on a blocking thread, writing into a pipe; returns the pipe's reading end.
/// An error `produce` returns fails the reader, so a broken source never looks like an ended one.
pub fn spawn<F>(produce: F) -> Box<dyn AsyncRead + Send + Unpin>
where
    F: FnOnce(&mut PipeWriter) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(DEPTH);
    tokio::task::spawn_blocking(move || {
        let mut w = PipeWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        match produce(&mut w).and_then(|()| w.flush()) {
            Ok(()) => {}
            Err(e) => {
                w.buf.clear();
                w.fail(e);
            }
        }
    });
    Box::new(tokio_util::io::StreamReader::new(tokio_stream_of(rx)))
}

fn tokio_stream_of(
    mut rx: mpsc::Receiver<io::Result<Bytes>>,
) -> impl futures::Stream<Item = io::Result<Bytes>> + Send + Unpin {
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// `reader`'s bytes gzipped (at gzip's own default level), on a blocking thread.
pub fn gzip(reader: Box<dyn AsyncRead + Send + Unpin>) -> Box<dyn AsyncRead + Send + Unpin> {
    let mut sync = tokio_util::io::SyncIoBridge::new(reader);
    spawn(move |w| {
        let mut enc = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        io::copy(&mut sync, &mut enc)?;
        enc.finish()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn what_is_written_is_read_and_an_error_is_not_an_end() {
        let mut r = spawn(|w| {
            for i in 0..1000u32 {
                w.write_all(&i.to_le_bytes().repeat(100))?;
            }
            Ok(())
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 400_000);
        assert_eq!(&got[399_600..399_604], &999u32.to_le_bytes());

        let mut r = spawn(|w| {
            w.write_all(&[1u8; 300_000])?;
            Err(io::Error::other("the dump failed"))
        });
        let mut got = Vec::new();
        let e = r.read_to_end(&mut got).await.unwrap_err();
        assert!(e.to_string().contains("the dump failed"), "{e}");
    }

    #[tokio::test]
    async fn gzip_round_trips() {
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = gzip(Box::new(std::io::Cursor::new(data.clone())));
        let mut packed = Vec::new();
        r.read_to_end(&mut packed).await.unwrap();
        assert!(packed.len() < data.len() / 10);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&packed[..]), &mut back)
            .unwrap();
        assert_eq!(back, data);
    }
}
