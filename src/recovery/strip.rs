//! Removing the SecureTar layer: rewrite a protected backup as an unprotected one that any Home
//! Assistant restores without the old key. Every inner archive is decrypted while it streams from
//! the input tar into the output tar (v2/v3 headers give the plaintext size the tar header needs;
//! a v1 member, which does not, is spooled to a temporary file first), and `backup.json` is
//! rewritten with `"protected": false`. Every header keeps the original's names and fields.

use crate::archive::guard::{Guarded, MAX_EXTENSION};
use crate::archive::inner::{choose_key, is_plain, probe};
use crate::archive::inspect::MAX_BACKUP_JSON;
use crate::archive::securetar::{self, BackupKey};
use std::io::{self, Cursor, Read, Seek, Write};

/// Why a backup could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum StripError {
    #[error(
        "{0} cannot be opened with any Home Assistant backup key given (pass --ha-key from Home Assistant's emergency kit)"
    )]
    NoKey(String),
    #[error("{name}: {reason}")]
    Member { name: String, reason: String },
    #[error("the backup tar is unreadable: {0}")]
    Tar(String),
}

fn member(name: &str) -> impl Fn(io::Error) -> StripError + '_ {
    move |e| StripError::Member {
        name: name.to_owned(),
        reason: match securetar::unwrap_error(&e) {
            Some(s) => s.to_string(),
            None => e.to_string(),
        },
    }
}

/// Copies the backup tar from `input` to `output` without encryption; returns how many members
/// were decrypted.
///
/// Every header is written back as the original has it — names byte for byte (Home Assistant
/// opens `./backup.json` by that name), modes, times, owners, format — and so are the GNU long-name
/// and PAX extension entries in front of a member; only the sizes of what was rewritten change
/// (in the header, and in a PAX `size` record when there is one).
///
/// # Errors
/// [`StripError`] naming the member that could not be decrypted or written.
pub fn strip(
    input: impl Read,
    output: impl Write,
    keys: &[BackupKey],
) -> Result<usize, StripError> {
    let mut archive = tar::Archive::new(Guarded::raw(input));
    let mut builder = tar::Builder::new(output);
    let mut decrypted = 0;
    // Extension entries seen since the last member: written in front of it once its size is known.
    let mut pending: Vec<(tar::Header, Vec<u8>)> = Vec::new();
    // Raw: the long-name and PAX entries come through as they are, to be copied as they are.
    let entries = archive
        .entries()
        .map_err(|e| StripError::Tar(e.to_string()))?
        .raw(true);
    for entry in entries {
        let mut entry = entry.map_err(|e| StripError::Tar(e.to_string()))?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        if kind.is_gnu_longname() || kind.is_gnu_longlink() || kind.is_pax_local_extensions() {
            let size = entry.size();
            if size > MAX_EXTENSION {
                return Err(StripError::Tar(format!(
                    "an extension header of {size} bytes; names and records take a few hundred"
                )));
            }
            // However many come in front of one member, they are held together under the cap of
            // two: a long name and a long link, or one PAX record set, is all a member has.
            let held: u64 = pending.iter().map(|(_, d)| d.len() as u64).sum();
            if held + size > 2 * MAX_EXTENSION {
                return Err(StripError::Tar(format!(
                    "extension headers of more than {} bytes in front of one member",
                    2 * MAX_EXTENSION
                )));
            }
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .map_err(|e| StripError::Tar(e.to_string()))?;
            pending.push((header, data));
            continue;
        }
        let name = member_name(&header, &pending);
        let short = name.trim_start_matches("./").to_owned();
        let err = member(&short);
        if !kind.is_file() {
            flush(&mut builder, &mut pending, None).map_err(&err)?;
            builder.append(&header, &mut entry).map_err(&err)?;
            continue;
        }
        if short == "backup.json" {
            if entry.size() > MAX_BACKUP_JSON {
                return Err(StripError::Member {
                    name: short.clone(),
                    reason: format!("{} bytes: too large to be a backup.json", entry.size()),
                });
            }
            let mut raw = Vec::new();
            entry.read_to_end(&mut raw).map_err(&err)?;
            let raw = unprotected_backup_json(&raw).map_err(|reason| StripError::Member {
                name: short.clone(),
                reason,
            })?;
            append_sized(
                &mut builder,
                &mut pending,
                header,
                &raw[..],
                raw.len() as u64,
            )
            .map_err(&err)?;
            continue;
        }
        let head = probe(&mut entry).map_err(&err)?;
        let looks_inner = short.ends_with(".tar.gz") || short.ends_with(".tar");
        if !looks_inner || is_plain(&head) {
            flush(&mut builder, &mut pending, None).map_err(&err)?;
            builder
                .append(&header, Cursor::new(head).chain(&mut entry))
                .map_err(&err)?;
            continue;
        }
        let key = choose_key(&head, keys)
            .map_err(|e| StripError::Member {
                name: short.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| StripError::NoKey(short.clone()))?;
        let mut plain = securetar::decrypt(Cursor::new(head).chain(&mut entry), &keys[key])
            .map_err(|e| StripError::Member {
                name: short.clone(),
                reason: e.to_string(),
            })?;
        match plain.expected_size() {
            Some(size) => {
                append_sized(&mut builder, &mut pending, header, &mut plain, size).map_err(&err)?;
            }
            None => {
                // v1 does not say how large the plaintext is: spool it to learn the size.
                let mut spool = tempfile_in_tmp().map_err(&err)?;
                let size = io::copy(&mut plain, &mut spool).map_err(&err)?;
                spool.rewind().map_err(&err)?;
                append_sized(&mut builder, &mut pending, header, &mut spool, size).map_err(&err)?;
            }
        }
        decrypted += 1;
    }
    if !pending.is_empty() {
        return Err(StripError::Tar(
            "the tar ends in an extension header with no member after it".into(),
        ));
    }
    builder
        .into_inner()
        .map_err(|e| StripError::Tar(e.to_string()))?;
    Ok(decrypted)
}

/// `backup.json` as an unprotected backup's: `protected` false, no `crypto`.
fn unprotected_backup_json(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut json: serde_json::Value = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    let obj = json
        .as_object_mut()
        .ok_or_else(|| "is not a JSON object".to_owned())?;
    obj.insert("protected".into(), false.into());
    obj.remove("crypto");
    serde_json::to_vec(&json).map_err(|e| e.to_string())
}

/// The member's name: a GNU long name or a PAX `path` before it wins over the header's own.
fn member_name(header: &tar::Header, pending: &[(tar::Header, Vec<u8>)]) -> String {
    let mut name = String::from_utf8_lossy(&header.path_bytes()).into_owned();
    for (h, data) in pending {
        if h.entry_type().is_gnu_longname() {
            name = String::from_utf8_lossy(data.split(|b| *b == 0).next().unwrap_or_default())
                .into_owned();
        } else if h.entry_type().is_pax_local_extensions()
            && let Some(path) = pax_records(data).find(|(k, _)| *k == b"path")
        {
            name = String::from_utf8_lossy(path.1).into_owned();
        }
    }
    name
}

/// The `key=value` records of a PAX extension entry.
fn pax_records(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let space = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        let record = rest.get(space + 1..len)?;
        rest = &rest[len..];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        let eq = record.iter().position(|b| *b == b'=')?;
        Some((&record[..eq], &record[eq + 1..]))
    })
}

/// A PAX extension entry's data with its `size` record (if any) saying `size`.
fn pax_with_size(data: &[u8], size: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    for (key, value) in pax_records(data) {
        if key == b"size" {
            pax_record(&mut out, key, size.to_string().as_bytes());
        } else {
            pax_record(&mut out, key, value);
        }
    }
    out
}

/// Appends one PAX record, `LEN key=value\n`, where LEN counts its own digits too.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // the space, '=' and '\n'
    let mut len = body + body.to_string().len();
    if len.to_string().len() + body != len {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Writes the extension entries held for the next member; with `size`, their PAX `size` records
/// say it.
fn flush<W: Write>(
    builder: &mut tar::Builder<W>,
    pending: &mut Vec<(tar::Header, Vec<u8>)>,
    size: Option<u64>,
) -> io::Result<()> {
    for (mut h, data) in pending.drain(..) {
        let data = match size {
            Some(size) if h.entry_type().is_pax_local_extensions() => {
                let data = pax_with_size(&data, size);
                h.set_size(data.len() as u64);
                h.set_cksum();
                data
            }
            _ => data,
        };
        builder.append(&h, &data[..])?;
    }
    Ok(())
}

/// Writes a member whose content changed, with its original header saying the new size.
fn append_sized<W: Write>(
    builder: &mut tar::Builder<W>,
    pending: &mut Vec<(tar::Header, Vec<u8>)>,
    mut header: tar::Header,
    data: impl Read,
    size: u64,
) -> io::Result<()> {
    flush(builder, pending, Some(size))?;
    header.set_size(size);
    header.set_cksum();
    builder.append(&header, data)
}

/// An anonymous temporary file (removed when dropped).
fn tempfile_in_tmp() -> io::Result<std::fs::File> {
    let dir = std::env::temp_dir();
    for attempt in 0..100u32 {
        let path = dir.join(format!("lifeboat-spool-{}-{attempt}", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no temporary file could be created"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use sha2::{Digest, Sha256};

    const KIT_KEY: &str = "DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044";

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/data/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn key() -> Vec<BackupKey> {
        vec![BackupKey::new(Secret::new(KIT_KEY.to_owned()))]
    }

    /// Every raw header of a tar with its data.
    fn raw(tar_bytes: &[u8]) -> Vec<(tar::Header, Vec<u8>)> {
        let mut a = tar::Archive::new(tar_bytes);
        let entries = a.entries().unwrap().raw(true);
        entries
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (h, data)
            })
            .collect()
    }

    /// A header's bytes with the size and checksum fields blanked: what must not change.
    fn fixed_part(h: &tar::Header) -> Vec<u8> {
        let mut b = h.as_bytes().to_vec();
        b[124..136].fill(0); // size
        b[148..156].fill(0); // checksum
        b
    }

    #[test]
    fn every_header_stays_as_the_original_has_it() {
        let original = fixture("supervisor-style/full-v3.tar");
        let mut out = Vec::new();
        assert_eq!(strip(&original[..], &mut out, &key()).unwrap(), 4);
        let (before, after) = (raw(&original), raw(&out));
        assert_eq!(before.len(), after.len());
        for ((b, _), (a, _)) in before.iter().zip(&after) {
            assert_eq!(fixed_part(b), fixed_part(a), "{:?}", b.path_bytes());
        }
        // Home Assistant opens the member by this very name.
        assert_eq!(&*after[0].0.path_bytes(), b"./backup.json");
        let json: serde_json::Value = serde_json::from_slice(&after[0].1).unwrap();
        assert_eq!(json["protected"], false);
        assert!(json.get("crypto").is_none());
    }

    #[test]
    fn long_names_and_pax_records_come_through_with_the_new_size() {
        // The v2 fixture's members, behind a PAX entry (path and size) and a GNU long name.
        let members = raw(&fixture("supervisor-style/full-v2.tar"));
        let (ha_header, ha_data) = members
            .iter()
            .find(|(h, _)| &*h.path_bytes() == b"homeassistant.tar.gz")
            .unwrap()
            .clone();
        let long = format!("./{}.txt", "n".repeat(120));
        let mut input = tar::Builder::new(Vec::new());
        input.append(&members[0].0, &members[0].1[..]).unwrap();
        let mut records = Vec::new();
        pax_record(&mut records, b"path", b"homeassistant.tar.gz");
        pax_record(&mut records, b"size", ha_data.len().to_string().as_bytes());
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_path("PaxHeaders/homeassistant.tar.gz").unwrap();
        pax.set_size(records.len() as u64);
        pax.set_cksum();
        input.append(&pax, &records[..]).unwrap();
        input.append(&ha_header, &ha_data[..]).unwrap();
        let mut plain = tar::Header::new_gnu();
        plain.set_size(5);
        plain.set_mode(0o600);
        input.append_data(&mut plain, &long, &b"hello"[..]).unwrap();
        let input = input.into_inner().unwrap();
        // The records were written as real PAX lengths.
        assert!(pax_records(&records).any(|(k, v)| k == b"path" && v == b"homeassistant.tar.gz"));

        let mut out = Vec::new();
        assert_eq!(strip(&input[..], &mut out, &key()).unwrap(), 1);
        let (before, after) = (raw(&input), raw(&out));
        let kinds = |v: &[(tar::Header, Vec<u8>)]| {
            v.iter()
                .map(|(h, _)| h.entry_type().as_byte())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(&before),
            kinds(&after),
            "extension entries kept in place"
        );
        for ((b, bd), (a, ad)) in before.iter().zip(&after) {
            assert_eq!(fixed_part(b), fixed_part(a));
            if b.entry_type().is_gnu_longname() {
                assert_eq!(bd, ad);
            }
        }
        // The PAX size and the header size both say the decrypted size, which is what follows.
        let (_, pax_after) = &after[1];
        let (ha_after, plain_ha) = &after[2];
        let size: u64 = pax_records(pax_after)
            .find(|(k, _)| *k == b"size")
            .map(|(_, v)| std::str::from_utf8(v).unwrap().parse().unwrap())
            .unwrap();
        assert_eq!(size, plain_ha.len() as u64);
        assert_eq!(ha_after.size().unwrap(), size);
        let truth: serde_json::Value =
            serde_json::from_slice(&fixture("supervisor-style/manifest.json")).unwrap();
        let want = &truth["archives"]["full-v2.tar"]["inner"]["homeassistant.tar.gz"];
        assert_eq!(hex::encode(Sha256::digest(plain_ha)), want["gzip_sha256"]);
        // A reader that follows the extensions sees the same names as before.
        let names = |t: &[u8]| {
            tar::Archive::new(t)
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&input), names(&out));
        assert_eq!(names(&out)[2], long);
    }

    #[test]
    fn an_oversized_extension_header_is_refused_unheld() {
        let mut input = tar::Builder::new(Vec::new());
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_path("PaxHeaders/x").unwrap();
        let big = vec![b'x'; (MAX_EXTENSION + 1) as usize];
        pax.set_size(big.len() as u64);
        pax.set_cksum();
        input.append(&pax, &big[..]).unwrap();
        let input = input.into_inner().unwrap();
        let err = strip(&input[..], &mut Vec::new(), &key()).unwrap_err();
        assert!(
            err.to_string().contains("PAX header of 65537 bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_chain_of_extension_headers_is_not_held_whole() {
        // Each under the cap, forty of them in front of one member: 2.3 MiB held, were they kept.
        let mut input = tar::Builder::new(Vec::new());
        let each = vec![b'x'; (MAX_EXTENSION - 1024) as usize];
        for i in 0..40 {
            let mut pax = tar::Header::new_ustar();
            pax.set_entry_type(tar::EntryType::XHeader);
            pax.set_path(format!("PaxHeaders/{i}")).unwrap();
            pax.set_size(each.len() as u64);
            pax.set_cksum();
            input.append(&pax, &each[..]).unwrap();
        }
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        input.append_data(&mut h, "./x", &b"x"[..]).unwrap();
        let input = input.into_inner().unwrap();
        let err = strip(&input[..], &mut Vec::new(), &key()).unwrap_err();
        assert!(err.to_string().contains("in front of one member"), "{err}");
    }

    #[test]
    fn an_oversized_backup_json_is_refused_unread() {
        let mut input = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        let big = vec![b' '; (MAX_BACKUP_JSON + 1) as usize];
        h.set_size(big.len() as u64);
        h.set_mode(0o644);
        input
            .append_data(&mut h, "./backup.json", &big[..])
            .unwrap();
        let input = input.into_inner().unwrap();
        let err = strip(&input[..], &mut Vec::new(), &key()).unwrap_err();
        assert!(
            err.to_string().contains("too large to be a backup.json"),
            "{err}"
        );
    }
}
