//! A cap on tar extension headers, under every tar walker. The `tar` crate reads a GNU long name,
//! a GNU long link and a PAX header into memory whole, whatever size its header claims: a backup
//! of a few hundred KB (a gzip bomb inside an inner `.tar.gz`) could make a walker hold hundreds
//! of MiB. [`Guarded`] sits between the bytes and `tar::Archive`, follows the archive's layout as
//! the crate does (headers, data, padding, a PAX `size` that overrides the header's), and fails
//! the read that brings an extension header larger than [`MAX_EXTENSION`], before the crate
//! reads a byte of it. GNU sparse members (which the crate reads with headers of their own) are
//! refused too: Home Assistant and Lifeboat never write them.

use std::io::{self, Read};

/// The largest GNU long-name, long-link or PAX extension header read: 64 KiB. A path on Linux is
/// at most 4 KiB (`PATH_MAX`), and a member's PAX header holds its path, link target, times,
/// owners and a few attributes: some hundred bytes, a few KiB with ACLs. Sixteen longest paths
/// leave room for all of that, and it is the size the age header is held to.
pub const MAX_EXTENSION: u64 = 64 << 10;

const BLOCK: u64 = 512;

/// Why a guarded archive was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GuardError {
    #[error(
        "the archive is refused: it holds a {what} of {size} bytes, where a real one takes a few hundred (at most {} KiB are read); it is damaged or was made to exhaust memory",
        MAX_EXTENSION >> 10
    )]
    TooLarge { what: &'static str, size: u64 },
    #[error(
        "the archive is refused: it holds a sparse member, which neither Home Assistant nor Lifeboat writes"
    )]
    Sparse,
    #[error("the archive is damaged: a header's size cannot be read ({0})")]
    BadSize(String),
}

enum State {
    /// Reading a header block; this many bytes of it so far.
    Header(usize),
    /// This many bytes of a member's data still to pass.
    Data(u64),
    /// Padding to the next block.
    Pad(u64),
    /// The end-of-archive block passed: the crate reads no further headers.
    Ended,
}

/// A reader under `tar::Archive` that refuses oversized extension headers (see the module doc).
pub struct Guarded<R> {
    inner: R,
    /// The walker reads raw entries (`Entries::raw(true)`): extension headers come to it as
    /// members and a PAX `size` does not move the next header.
    raw: bool,
    state: State,
    header: [u8; BLOCK as usize],
    /// The PAX header being read (at most [`MAX_EXTENSION`] bytes), for its `size` record.
    pax: Option<Vec<u8>>,
    /// The size a PAX header gave the member after it.
    pax_size: Option<u64>,
    /// The padding after the current member's data.
    pad: u64,
    failed: Option<GuardError>,
}

impl<R: Read> Guarded<R> {
    /// Guards the reader of a walker that uses `tar::Archive::entries()`.
    pub fn new(inner: R) -> Self {
        Self::with(inner, false)
    }

    /// Guards the reader of a walker that uses `entries().raw(true)`.
    pub fn raw(inner: R) -> Self {
        Self::with(inner, true)
    }

    fn with(inner: R, raw: bool) -> Self {
        Self {
            inner,
            raw,
            state: State::Header(0),
            header: [0; BLOCK as usize],
            pax: None,
            pax_size: None,
            pad: 0,
            failed: None,
        }
    }

    /// Follows the archive's layout over `bytes`, the next bytes of the stream.
    fn see(&mut self, mut bytes: &[u8]) -> Result<(), GuardError> {
        while !bytes.is_empty() {
            match self.state {
                State::Ended => return Ok(()),
                State::Header(have) => {
                    let take = (BLOCK as usize - have).min(bytes.len());
                    self.header[have..have + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if have + take == BLOCK as usize {
                        self.header_read()?;
                    } else {
                        self.state = State::Header(have + take);
                    }
                }
                State::Data(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    if let Some(pax) = &mut self.pax {
                        pax.extend_from_slice(&bytes[..take]);
                    }
                    bytes = &bytes[take..];
                    self.data_left(left - take as u64);
                }
                State::Pad(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    bytes = &bytes[take..];
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::Header(0)
                    } else {
                        State::Pad(left)
                    };
                }
            }
        }
        Ok(())
    }

    /// A whole header block has passed: as the crate does (tar 0.4's `next_entry_raw` and
    /// `next_entry`), learn where the member's data ends; refuse what is too large.
    fn header_read(&mut self) -> Result<(), GuardError> {
        if self.header.iter().all(|b| *b == 0) {
            self.state = State::Ended;
            return Ok(());
        }
        let h = tar::Header::from_byte_slice(&self.header);
        let kind = h.entry_type();
        let mut size = h
            .entry_size()
            .map_err(|e| GuardError::BadSize(e.to_string()))?;
        let what = if kind.is_gnu_longname() {
            Some("long name")
        } else if kind.is_gnu_longlink() {
            Some("long link target")
        } else if kind.is_pax_local_extensions() || kind.is_pax_global_extensions() {
            Some("PAX header")
        } else {
            None
        };
        if let Some(what) = what
            && size > MAX_EXTENSION
        {
            return Err(GuardError::TooLarge { what, size });
        }
        if !self.raw {
            if kind.is_gnu_sparse() {
                return Err(GuardError::Sparse);
            }
            if what.is_none()
                && let Some(pax_size) = self.pax_size
            {
                size = pax_size;
            }
            let recognized = h.as_gnu().is_some() || h.as_ustar().is_some();
            let held = recognized
                && (kind.is_gnu_longname()
                    || kind.is_gnu_longlink()
                    || kind.is_pax_local_extensions());
            if held && kind.is_pax_local_extensions() {
                // At most MAX_EXTENSION bytes, checked above.
                self.pax = Some(Vec::new());
            } else if !held {
                // The crate hands this member to the walker, and forgets the PAX header.
                self.pax_size = None;
            }
        }
        self.pad = (BLOCK - size % BLOCK) % BLOCK;
        self.data_left(size);
        Ok(())
    }

    /// `left` bytes of the member's data still to pass.
    fn data_left(&mut self, left: u64) {
        if left > 0 {
            self.state = State::Data(left);
            return;
        }
        if let Some(pax) = self.pax.take() {
            self.pax_size = pax_size(&pax);
        }
        self.state = if self.pad == 0 {
            State::Header(0)
        } else {
            State::Pad(self.pad)
        };
    }
}

/// The `size` record of a PAX header, read as the crate reads it (`pax_extensions_value`): the
/// first `size` record, if it and every record before it are well formed.
fn pax_size(data: &[u8]) -> Option<u64> {
    for record in tar::PaxExtensions::new(data) {
        let record = record.ok()?;
        if record.key() != Ok("size") {
            continue;
        }
        return record.value().ok()?.parse().ok();
    }
    None
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
        }
        let n = self.inner.read(buf)?;
        if let Err(e) = self.see(&buf[..n]) {
            self.failed = Some(e.clone());
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `head`, then `len` bytes of `a`, made as they are read; reading more than 1 MiB of them
    /// fails, so a test learns when a walker read an extension header it should have refused.
    struct Bomb {
        head: io::Cursor<Vec<u8>>,
        left: u64,
        given: u64,
    }

    impl Read for Bomb {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.head.read(buf)?;
            if n > 0 || self.left == 0 {
                return Ok(n);
            }
            if self.given > 1 << 20 {
                return Err(io::Error::other("BOMB: read past the first MiB"));
            }
            let n = buf
                .len()
                .min(usize::try_from(self.left).unwrap_or(usize::MAX));
            buf[..n].fill(b'a');
            self.left -= n as u64;
            self.given += n as u64;
            Ok(n)
        }
    }

    fn header(kind: tar::EntryType, size: u64, ustar: bool) -> tar::Header {
        let mut h = if ustar {
            tar::Header::new_ustar()
        } else {
            tar::Header::new_gnu()
        };
        h.set_path("././@LongLink").unwrap();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    fn padded(data: &[u8]) -> Vec<u8> {
        let mut v = data.to_vec();
        v.resize(data.len().div_ceil(512) * 512, 0);
        v
    }

    /// Every member's name and bytes, as a walker sees them.
    fn walk(r: impl Read, raw: bool) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut a = tar::Archive::new(r);
        let mut out = Vec::new();
        for e in a.entries().map_err(|e| e.to_string())?.raw(raw) {
            let mut e = e.map_err(|e| e.to_string())?;
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).map_err(|e| e.to_string())?;
            out.push((name, data));
        }
        Ok(out)
    }

    /// Hands out one byte a read, so every state meets every boundary.
    struct OneByte<R>(R);

    impl<R: Read> Read for OneByte<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn a_256_mib_extension_header_is_refused_before_it_is_read() {
        for kind in [
            tar::EntryType::GNULongName,
            tar::EntryType::GNULongLink,
            tar::EntryType::XHeader,
            tar::EntryType::XGlobalHeader,
        ] {
            for raw in [false, true] {
                let bomb = Bomb {
                    head: io::Cursor::new(header(kind, 256 << 20, false).as_bytes().to_vec()),
                    left: 256 << 20,
                    given: 0,
                };
                let guarded = if raw {
                    Guarded::raw(bomb)
                } else {
                    Guarded::new(bomb)
                };
                let e = walk(guarded, raw).unwrap_err();
                assert!(
                    e.contains("is refused") && e.contains("268435456 bytes"),
                    "{kind:?}: {e}"
                );
            }
        }
        // Without the guard, the crate reads it all (here: until the bomb stops it).
        let bomb = Bomb {
            head: io::Cursor::new(
                header(tar::EntryType::GNULongName, 256 << 20, false)
                    .as_bytes()
                    .to_vec(),
            ),
            left: 256 << 20,
            given: 0,
        };
        assert!(walk(bomb, false).unwrap_err().contains("BOMB"));
    }

    /// Archives as the builder writes them: long names and links (GNU), PAX records, sizes on
    /// and off block boundaries.
    fn ordinary() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("{}/file.txt", "deep/".repeat(60));
        for (i, size) in [0usize, 1, 511, 512, 513, 70_000].into_iter().enumerate() {
            let mut h = tar::Header::new_gnu();
            h.set_size(size as u64);
            h.set_mode(0o644);
            let data: Vec<u8> = (0..size).map(|j| (i + j) as u8).collect();
            b.append_data(&mut h, format!("{long}{i}"), &data[..])
                .unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "l", "x/".repeat(200)).unwrap();
        b.append_pax_extensions([("path", &b"pax/named.txt"[..]), ("mtime", b"1.5")])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o600);
        b.append_data(&mut h, "short.txt", &b"abc"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn ordinary_archives_read_as_without_the_guard_at_any_read_size() {
        let t = ordinary();
        for raw in [false, true] {
            let want = walk(&t[..], raw).unwrap();
            assert!(want.len() >= 8, "{want:?}");
            assert_eq!(walk(Guarded::new(&t[..]), raw).unwrap(), want);
            let one = OneByte(&t[..]);
            let got = if raw {
                walk(Guarded::raw(one), raw)
            } else {
                walk(Guarded::new(one), raw)
            };
            assert_eq!(got.unwrap(), want, "raw: {raw}");
        }
        assert!(
            walk(Guarded::new(&t[..]), false)
                .unwrap()
                .iter()
                .any(|(n, _)| n == "pax/named.txt")
        );
    }

    /// A member whose size only its PAX header gives (as Python writes one over 8 GiB): the
    /// guard finds the next header where the crate does, and refuses the long name there.
    #[test]
    fn a_pax_size_moves_the_next_header_as_it_does_for_the_crate() {
        let mut t = Vec::new();
        let pax = b"13 size=1000\n";
        t.extend(header(tar::EntryType::XHeader, pax.len() as u64, true).as_bytes());
        t.extend(padded(pax));
        t.extend(header(tar::EntryType::Regular, 0, true).as_bytes());
        t.extend(padded(&[b'z'; 1000]));
        let fine = {
            let mut t = t.clone();
            t.extend(header(tar::EntryType::GNULongName, 5, false).as_bytes());
            t.extend(padded(b"name\0"));
            t.extend(header(tar::EntryType::Regular, 2, false).as_bytes());
            t.extend(padded(b"hi"));
            t.extend([0; 1024]);
            t
        };
        let want = walk(&fine[..], false).unwrap();
        assert_eq!(want[0].1.len(), 1000);
        assert_eq!(want[1], ("name".to_owned(), b"hi".to_vec()));
        assert_eq!(walk(Guarded::new(OneByte(&fine[..])), false).unwrap(), want);
        t.extend(header(tar::EntryType::GNULongName, MAX_EXTENSION + 1, false).as_bytes());
        t.extend(vec![b'a'; 2 * MAX_EXTENSION as usize]);
        let e = walk(Guarded::new(&t[..]), false).unwrap_err();
        assert!(e.contains("long name of 65537 bytes"), "{e}");
    }

    #[test]
    fn sparse_members_are_refused() {
        let mut t = header(tar::EntryType::GNUSparse, 0, false)
            .as_bytes()
            .to_vec();
        t.extend([0; 1024]);
        let e = walk(Guarded::new(&t[..]), false).unwrap_err();
        assert!(e.contains("sparse"), "{e}");
    }
}
