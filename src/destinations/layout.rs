//! Object names on a destination. A copy is two objects side by side under the destination's
//! prefix: `<copy id>.tar.age` (the data) and `<copy id>.manifest.json` (written last). The copy id
//! starts with the UTC time so names sort by date: `20261123T101500Z-02dc63e3`.

use chrono::{DateTime, Utc};

const DATA_SUFFIX: &str = ".tar.age";
/// Uploads in progress on WebDAV, SFTP and SMB carry this prefix; listings never show them.
pub const PARTIAL_PREFIX: &str = ".lifeboat-partial-";
const MANIFEST_SUFFIX: &str = ".manifest.json";

/// A copy id from the run's start time and a hint of the source's name for the backup.
pub fn copy_id(started: DateTime<Utc>, hint: &str) -> String {
    let clean: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    let clean = if clean.is_empty() {
        "backup".to_owned()
    } else {
        clean
    };
    format!("{}-{clean}", started.format("%Y%m%dT%H%M%SZ"))
}

/// A hidden temporary name for an upload of `name`, unique even between two uploads of the same
/// object at once.
pub fn partial_name(name: &str) -> String {
    let mut b = [0u8; 6];
    if getrandom::getrandom(&mut b).is_err() {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        b.copy_from_slice(&n.to_le_bytes()[..6]);
    }
    format!("{PARTIAL_PREFIX}{}-{name}", hex::encode(b))
}

/// When the run that named an object started, read from the copy id inside the name (an
/// upload's temporary name holds its object's name).
pub fn started_in_name(name: &str) -> Option<DateTime<Utc>> {
    (0..name.len().saturating_sub(15)).find_map(|i| {
        let window = name.get(i..i + 16)?;
        chrono::NaiveDateTime::parse_from_str(window, "%Y%m%dT%H%M%SZ")
            .ok()
            .map(|t| t.and_utc())
    })
}

/// Among the names in a folder, the uploads in progress (`unfinished`), or everything else.
pub fn only(names: Vec<String>, unfinished: bool) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| n.starts_with(PARTIAL_PREFIX) == unfinished)
        .collect()
}

/// Where a folder destination keeps uploads in progress, inside the folder (renamed into place on
/// commit).
pub const LOCAL_PARTIAL_DIR: &str = ".lifeboat-partial";

/// The data object of a copy.
pub fn data_object(copy_id: &str) -> String {
    format!("{copy_id}{DATA_SUFFIX}")
}

/// The data object of a copy of a `dir:` or `command:` source: its own ending (`.tar.gz`,
/// `.sql.gz`…) before `.age`, so the file says how to open it.
pub fn data_object_as(copy_id: &str, suffix: &str) -> String {
    format!("{copy_id}{suffix}.age")
}

/// The manifest object of a copy.
pub fn manifest_object(copy_id: &str) -> String {
    format!("{copy_id}{MANIFEST_SUFFIX}")
}

/// Whether `id` is a copy id of the form [`copy_id`] makes: the UTC time, `-`, then 1 to 48
/// letters, digits, `-` or `_`.
pub fn is_copy_id(id: &str) -> bool {
    let Some((time, hint)) = id.split_at_checked(16) else {
        return false;
    };
    let Some(hint) = hint.strip_prefix('-') else {
        return false;
    };
    chrono::NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%SZ").is_ok()
        && time.bytes().all(|b| b.is_ascii_alphanumeric())
        && (1..=48).contains(&hint.len())
        && hint
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Every ending Lifeboat gives a data object after its copy id: [`data_object`]'s, and
/// [`data_object_as`]'s for each kind of `dir:` and `command:` copy.
const DATA_ENDINGS: [&str; 6] = [
    DATA_SUFFIX,
    ".tar.gz.age",
    ".sql.age",
    ".sql.gz.age",
    ".out.age",
    ".out.gz.age",
];

/// Whether `name` is a data object Lifeboat writes for copy `id`.
pub fn is_data_object_of(id: &str, name: &str) -> bool {
    name.strip_prefix(id)
        .is_some_and(|ending| DATA_ENDINGS.contains(&ending))
}

/// What a part's name adds to its copy's data object: `.part-` and five digits, from 1.
const PART_INFIX: &str = ".part-";

/// The most parts one copy is stored in: five digits, so `cat <copy>.part-*` takes them in
/// order, and few enough that the manifest listing them stays under [`super::manifest::MAX_SIZE`]
/// (about 200 bytes each). At [`super::parts::PART_SIZE`] that is 125 GiB.
pub const MAX_PARTS: usize = 4000;

/// The name of part `n` (from 1) of the data object `object`: `<object>.part-00001`, zero-padded
/// so a shell's `*` lists the parts in order.
pub fn part_name(object: &str, n: usize) -> String {
    format!("{object}{PART_INFIX}{n:05}")
}

/// The data object and the part number of a part's name, or `None` for any other name.
pub fn part_of(name: &str) -> Option<(&str, usize)> {
    let (object, digits) = name.rsplit_once(PART_INFIX)?;
    let n = (digits.len() == 5 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<usize>().ok())
        .flatten()?;
    ((1..=MAX_PARTS).contains(&n) && !object.is_empty()).then_some((object, n))
}

/// The copy id a data object (or one of its parts) belongs to: its name up to the first `.`,
/// when that is a copy id.
pub fn copy_id_of_data(name: &str) -> Option<&str> {
    let id = name.split_once('.').map(|(id, _)| id)?;
    is_copy_id(id).then_some(id)
}

/// The copy id of a manifest object's name, or `None` for anything else.
pub fn copy_id_of_manifest(name: &str) -> Option<&str> {
    let base = name.rsplit('/').next()?;
    base.strip_suffix(MANIFEST_SUFFIX)
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names() {
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 10, 15, 0).unwrap();
        let id = copy_id(t, "02dc63e3");
        assert_eq!(id, "20261123T101500Z-02dc63e3");
        assert_eq!(
            copy_id(t, "My backup/../x"),
            "20261123T101500Z-My_backup____x"
        );
        assert_eq!(copy_id(t, ""), "20261123T101500Z-backup");
        let partial = partial_name(&data_object(&id));
        assert_eq!(started_in_name(&partial), Some(t));
        assert_eq!(
            started_in_name(".lifeboat-partial/20261123T101500Z-x.tar.age.k3j2"),
            Some(t)
        );
        assert_eq!(started_in_name(&partial_name(".lifeboat-preflight")), None);
        assert_eq!(started_in_name("20261123T1015"), None);
        assert_eq!(
            copy_id_of_manifest(&manifest_object(&id)),
            Some(id.as_str())
        );
        assert_eq!(copy_id_of_manifest(&data_object(&id)), None);
        assert_eq!(copy_id_of_manifest(".manifest.json"), None);
    }

    #[test]
    fn parts_are_named_in_an_order_a_shell_keeps() {
        let object = data_object_as("20261123T101500Z-db", ".sql.gz");
        assert_eq!(part_name(&object, 1), format!("{object}.part-00001"));
        let mut names: Vec<String> = [10, 2, 1, 100, MAX_PARTS]
            .iter()
            .map(|n| part_name(&object, *n))
            .collect();
        names.sort();
        let order: Vec<usize> = names.iter().map(|n| part_of(n).unwrap().1).collect();
        assert_eq!(order, [1, 2, 10, 100, MAX_PARTS]);
        assert_eq!(part_of(&part_name(&object, 7)), Some((object.as_str(), 7)));
        for bad in [
            format!("{object}.part-0001"),
            format!("{object}.part-000001"),
            format!("{object}.part-00000"),
            format!("{object}.part-{:05}", MAX_PARTS + 1),
            format!("{object}.part-0000x"),
            ".part-00001".into(),
            object.clone(),
        ] {
            assert_eq!(part_of(&bad), None, "{bad}");
        }
        assert_eq!(
            copy_id_of_data(&part_name(&object, 3)),
            Some("20261123T101500Z-db")
        );
        assert_eq!(copy_id_of_data("x.tar.age"), None);
    }

    #[test]
    fn copy_ids_and_data_objects_are_known_by_their_form() {
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 10, 15, 0).unwrap();
        for hint in ["02dc63e3", "", "My backup/../x", &"x".repeat(80)] {
            assert!(is_copy_id(&copy_id(t, hint)), "{hint}");
        }
        for bad in [
            "",
            "..",
            "20261123T101500Z",
            "20261123T101500Z-",
            "20261123T101500Z-a/b",
            "20261123T101500Z-..",
            "20261123T101500Z-a.b",
            "20261399T101500Z-x",
            "+0261123T101500Z-x",
            &format!("20261123T101500Z-{}", "x".repeat(49)),
        ] {
            assert!(!is_copy_id(bad), "{bad:?}");
        }
        let id = copy_id(t, "x");
        use crate::archive::content::{Compression, ContentSpec, DumpTool, Kind};
        for kind in [Kind::Folder, Kind::Dump] {
            for tool in [DumpTool::Postgres, DumpTool::Mariadb, DumpTool::Other] {
                for compression in [Compression::None, Compression::Gzip] {
                    let spec = ContentSpec {
                        kind,
                        compression,
                        tool,
                    };
                    let name = data_object_as(&id, &spec.suffix());
                    assert!(is_data_object_of(&id, &name), "{name}");
                }
            }
        }
        assert!(is_data_object_of(&id, &data_object(&id)));
        for bad in [
            manifest_object(&id),
            format!("{id}.tar.age/.."),
            "..".into(),
        ] {
            assert!(!is_data_object_of(&id, &bad), "{bad}");
        }
    }
}
