//! Cleanup of Home Assistant's own backups once they are safely off-site (`keep_local`): the newest
//! N stay on Home Assistant's disk; an older one is deleted only when every configured destination
//! holds (or held) a verified copy of it. A pure decision, like the rest of retention.

use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// A backup Home Assistant lists, as ship mode sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The history key it is shipped under (`supervisor:<slug>`, `core:<id>`).
    pub key: String,
    /// Its slug or backup id.
    pub id: String,
    pub date: DateTime<Utc>,
}

/// The local backups to delete, each with its reason.
pub fn to_delete(
    mut local: Vec<Listed>,
    safe: &HashSet<String>,
    keep: u32,
) -> Vec<(Listed, String)> {
    local.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| b.id.cmp(&a.id)));
    local
        .into_iter()
        .skip(keep as usize)
        .filter(|l| safe.contains(&l.key))
        .map(|l| {
            (
                l,
                format!(
                    "keep_local={keep}: {keep} newer backups stay in Home Assistant, and this one has a verified copy on every destination"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_everything_not_yet_off_site() {
        let l = |id: &str, day: u32| Listed {
            key: format!("supervisor:{id}"),
            id: id.into(),
            date: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, day, 4, 0, 0).unwrap(),
        };
        let local = vec![l("a", 1), l("b", 2), l("c", 3), l("d", 4)];
        let safe: HashSet<String> = ["a", "c", "d"]
            .iter()
            .map(|i| format!("supervisor:{i}"))
            .collect();
        let gone: Vec<String> = to_delete(local.clone(), &safe, 1)
            .into_iter()
            .map(|(l, _)| l.id)
            .collect();
        // d is the newest (kept), b never made it off-site (kept).
        assert_eq!(gone, ["c", "a"]);
        assert!(to_delete(local.clone(), &safe, 4).is_empty());
        assert_eq!(to_delete(local, &safe, 0).len(), 3);
    }
}
