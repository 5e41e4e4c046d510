//! Transfer buffers on pages of their own. A chunk of backup data on its way to the destinations
//! lives in an anonymous mapping; once its last holder (a part being uploaded, a queue) lets go,
//! the mapping is reused for a later chunk of the same stream, and when the stream is over it goes
//! back to the operating system.
//!
//! Why not the heap: the allocator keeps freed megabyte chunks in its heap for reuse, and small
//! allocations made between them pin the holes, so a run's resident memory grew some megabytes
//! past what was live. Backed by its own pages, what a run holds is what it uses.

use bytes::Bytes;
use memmap2::MmapMut;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

/// Where a stream's buffers come from: mappings of one size, and those given back kept for the
/// next buffer (up to `keep` of them), since a fresh mapping costs a page fault per 4 KiB that
/// the kernel must zero (0.6 s of system time per GiB through age, measured). The spares go back
/// to the system with the last clone of this handle and the last buffer drawn from it.
#[derive(Clone)]
pub struct Pages(Arc<Pool>);

struct Pool {
    size: usize,
    keep: usize,
    spares: Mutex<Vec<MmapMut>>,
}

impl Pages {
    /// Buffers of `size` bytes, keeping up to `keep` given-back mappings for reuse.
    pub fn new(size: usize, keep: usize) -> Self {
        Self(Arc::new(Pool {
            size: size.max(1),
            keep,
            spares: Mutex::new(Vec::with_capacity(keep)),
        }))
    }

    /// An empty buffer: a spare mapping when there is one, a fresh one otherwise.
    ///
    /// # Errors
    /// When the system refuses the mapping (out of memory or address space).
    pub fn buf(&self) -> io::Result<PageBuf> {
        let spare = self
            .0
            .spares
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let map = match spare {
            Some(map) => map,
            None => MmapMut::map_anon(self.0.size)?,
        };
        Ok(PageBuf {
            map,
            len: 0,
            pages: self.clone(),
        })
    }

    /// Keeps `map` for reuse if it is of this pool's size and there is room among the spares.
    fn give_back(&self, map: MmapMut) {
        if map.len() != self.0.size {
            return;
        }
        let mut spares = self.0.spares.lock().unwrap_or_else(PoisonError::into_inner);
        if spares.len() < self.0.keep {
            spares.push(map);
        }
    }
}

/// A growable byte buffer in an anonymous mapping, frozen into [`Bytes`] without a copy.
pub struct PageBuf {
    map: MmapMut,
    len: usize,
    pages: Pages,
}

impl PageBuf {
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The room left, to read into; [`PageBuf::advance`] then counts what was read.
    pub fn spare_mut(&mut self) -> &mut [u8] {
        &mut self.map[self.len..]
    }

    /// Counts `n` more bytes as written into [`PageBuf::spare_mut`] (no more than its length).
    pub fn advance(&mut self, n: usize) {
        self.len = (self.len + n).min(self.map.len());
    }

    /// Appends `data`, making room first ([`PageBuf::reserve`]).
    ///
    /// # Errors
    /// When a larger mapping is needed and refused.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> io::Result<()> {
        self.reserve(data.len())?;
        let end = self.len + data.len();
        self.map[self.len..end].copy_from_slice(data);
        self.len = end;
        Ok(())
    }

    /// Makes room for `additional` more bytes, moving to a larger mapping when there is not
    /// (twice the room, or more; not kept for reuse).
    ///
    /// # Errors
    /// When a larger mapping is needed and refused.
    pub fn reserve(&mut self, additional: usize) -> io::Result<()> {
        let end = self.len + additional;
        if end > self.map.len() {
            let mut bigger = MmapMut::map_anon(end.max(self.map.len() * 2))?;
            bigger[..self.len].copy_from_slice(&self.map[..self.len]);
            let small = std::mem::replace(&mut self.map, bigger);
            self.pages.give_back(small);
        }
        Ok(())
    }

    /// The bytes written, as [`Bytes`] that own the mapping: no copy, and the mapping is given
    /// back to its [`Pages`] when the last clone is dropped.
    pub fn freeze(self) -> Bytes {
        if self.len == 0 {
            self.pages.give_back(self.map);
            return Bytes::new();
        }
        Bytes::from_owner(Filled {
            map: Some(self.map),
            len: self.len,
            pages: self.pages,
        })
    }
}

/// A mapping, how much of it holds data, and where it goes back to.
struct Filled {
    map: Option<MmapMut>,
    len: usize,
    pages: Pages,
}

impl AsRef<[u8]> for Filled {
    fn as_ref(&self) -> &[u8] {
        self.map.as_deref().map_or(&[], |m| &m[..self.len])
    }
}

impl Drop for Filled {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            self.pages.give_back(map);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_written_across_growth() {
        let mut buf = Pages::new(8, 1).buf().unwrap();
        assert!(buf.is_empty());
        buf.extend_from_slice(b"hello ").unwrap();
        buf.extend_from_slice(b"pages, and more than eight bytes")
            .unwrap();
        assert_eq!(buf.len(), 38);
        let frozen = buf.freeze();
        assert_eq!(&frozen[..], b"hello pages, and more than eight bytes");
        let tail = frozen.slice(6..11);
        drop(frozen);
        assert_eq!(&tail[..], b"pages");
    }

    #[test]
    fn an_empty_buffer_freezes_to_empty_bytes() {
        assert!(Pages::new(0, 1).buf().unwrap().freeze().is_empty());
    }

    #[test]
    fn a_mapping_let_go_is_reused_and_spares_are_bounded() {
        let pages = Pages::new(16, 1);
        let mut a = pages.buf().unwrap();
        a.extend_from_slice(b"first").unwrap();
        let first = a.freeze();
        let at = first.as_ptr();
        let second = pages.buf().unwrap();
        assert_ne!(second.map.as_ptr(), at, "still held: not reused");
        drop(first);
        let mut third = pages.buf().unwrap();
        assert_eq!(third.map.as_ptr(), at, "let go: reused");
        third.extend_from_slice(b"x").unwrap();
        assert_eq!(&third.freeze()[..], b"x");
        drop(second);
        assert_eq!(pages.0.spares.lock().unwrap().len(), 1);
    }

    #[test]
    fn reads_land_in_the_spare_room() {
        let mut buf = Pages::new(4, 1).buf().unwrap();
        buf.spare_mut()[..3].copy_from_slice(b"abc");
        buf.advance(3);
        assert_eq!(buf.spare_mut().len(), 1);
        buf.advance(9);
        assert_eq!(buf.len(), 4);
        assert_eq!(&buf.freeze()[..3], b"abc");
    }
}
