//! Whether a copy found on a destination may be acted on as this home's: its manifest's signature
//! (checked when it was read: altered and forged ones never get this far) and, where history
//! knows the copy, the digests history recorded when it was made. Retention, the drills and the
//! dashboard weigh only vouched copies; an unsigned copy nobody can vouch for is shown, left
//! alone and recoverable on purpose, never counted as a backup that makes older ones expendable.

use crate::destinations::manifest::{Manifest, Provenance};
use crate::history::{History, HistoryError, RecordedDigests};
use std::collections::HashMap;

/// Who vouches for a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vouch {
    /// Signed by one of this home's keys.
    Signed,
    /// Unsigned (or signed by a key nobody said to trust), but history recorded this very copy.
    Known,
    /// Nobody: unsigned and unknown to history (the word to show, and why it is left alone).
    Nobody(String),
}

impl Vouch {
    /// Whether retention and drills may act on it.
    pub fn vouched(&self) -> bool {
        !matches!(self, Self::Nobody(_))
    }
}

/// What history recorded of one destination's copies.
#[derive(Debug, Clone, Default)]
pub struct Records(HashMap<String, RecordedDigests>);

/// A manifest that contradicts what history recorded of the same copy: it was changed since,
/// signature or not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused: its digests differ from what history recorded when copy {copy_id} was made; the \
     manifest was changed since, and is not acted on"
)]
pub struct Contradicted {
    pub copy_id: String,
}

impl Records {
    /// History's records of `destination`.
    ///
    /// # Errors
    /// [`HistoryError`] when history cannot be read.
    pub async fn of(history: &History, destination: &str) -> Result<Self, HistoryError> {
        Ok(Self(history.recorded_digests(destination).await?))
    }

    /// Judges `m`.
    ///
    /// # Errors
    /// The refusal, in plain words, when the manifest contradicts what history recorded of the
    /// same copy: it was changed, signature or not, and nothing may be done with it.
    pub fn judge(&self, m: &Manifest) -> Result<Vouch, Contradicted> {
        let known = self.0.get(&m.copy_id);
        if let Some(r) = known {
            let differs = |recorded: &Option<String>, now: &str| {
                recorded
                    .as_deref()
                    .is_some_and(|r| !r.eq_ignore_ascii_case(now))
            };
            if differs(&r.stored_sha256, &m.stored.sha256)
                || differs(&r.plain_sha256, &m.plain.sha256)
            {
                return Err(Contradicted {
                    copy_id: m.copy_id.clone(),
                });
            }
        }
        Ok(match (&m.provenance, known) {
            (Provenance::Signed(_), _) => Vouch::Signed,
            (_, Some(_)) => Vouch::Known,
            (Provenance::Unsigned, None) => Vouch::Nobody(
                "unsigned, and unknown to this box's history: shown and recoverable, but not counted or deleted by retention".into(),
            ),
            (Provenance::Unchecked(key), None) => Vouch::Nobody(format!(
                "signed by {key}, which this box cannot check (its key vault is not open), and unknown to its history: left alone"
            )),
        })
    }
}

/// The copy a drill takes: of the copies `owns` says are the source's on `destinations` (the first destination holding
/// one wins), the one named `copy`, or else the newest, among those this home vouches for. A drill
/// runs what it finds (a dump's SQL), so a copy nobody vouches for is passed over, and said.
///
/// # Errors
/// Why nothing was found: the copies passed over and why, and destinations that could not be
/// listed; or history could not be read.
pub async fn newest_vouched(
    destinations: &[crate::destinations::Destination],
    history: &History,
    owns: impl Fn(&Manifest) -> bool,
    copy: Option<&str>,
) -> Result<(crate::destinations::Destination, Manifest), NotFound> {
    use crate::destinations::manifest::{self, Listed};
    let mut passed_over = Vec::new();
    for d in destinations {
        let listed = match manifest::list(d).await {
            Ok(l) => l,
            Err(e) => {
                passed_over.push(format!("{} could not be listed: {e}", d.name));
                continue;
            }
        };
        let records = Records::of(history, &d.name).await?;
        let mut copies = Vec::new();
        for l in listed {
            match l {
                Listed::Copy(m) => copies.push(*m),
                Listed::Unreadable { object, reason } => {
                    passed_over.push(format!("{object} on {}: {reason}", d.name));
                }
            }
        }
        let newest = copies
            .into_iter()
            .filter(|m| owns(m) && copy.is_none_or(|c| m.copy_id == c))
            .filter(|m| match records.judge(m) {
                Ok(v) if v.vouched() => true,
                Ok(Vouch::Nobody(why)) => {
                    passed_over.push(format!("{} on {}: {why}", m.copy_id, d.name));
                    false
                }
                Err(why) => {
                    passed_over.push(format!("{} on {}: {why}", m.copy_id, d.name));
                    false
                }
                Ok(_) => false,
            })
            .max_by_key(|m| m.created);
        if let Some(m) = newest {
            return Ok((d.clone(), m));
        }
    }
    Err(NotFound::Nothing(passed_over))
}

/// Why [`newest_vouched`] found nothing.
#[derive(Debug, thiserror::Error)]
pub enum NotFound {
    #[error("no copy this home vouches for was found{}", said(.0))]
    Nothing(Vec<String>),
    #[error(transparent)]
    History(#[from] HistoryError),
}

fn said(passed_over: &[String]) -> String {
    passed_over
        .iter()
        .map(|p| format!("\n  passed over: {p}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{SigningKey, Trusted};

    fn manifest(id: &str) -> Manifest {
        let t = "2026-11-23T10:15:00Z";
        serde_json::from_value(serde_json::json!({
            "format": 1, "copy_id": id, "object": format!("{id}.tar.age"), "created": t,
            "lifeboat_version": "0", "verified": t, "ha_key_fingerprint": null,
            "backup": {"slug": "s", "name": "n", "date": t, "type": "full"},
            "plain": {"size": 1, "sha256": "aa"}, "stored": {"size": 1, "sha256": "bb"},
            "encryption": {"scheme": "age", "recipients": [], "passphrase": false},
        }))
        .unwrap()
    }

    fn recorded(id: &str, stored: &str, plain: &str) -> Records {
        Records(HashMap::from([(
            id.to_owned(),
            RecordedDigests {
                stored_sha256: Some(stored.into()),
                plain_sha256: Some(plain.into()),
            },
        )]))
    }

    #[test]
    fn history_vouches_for_an_unsigned_copy_it_recorded_and_for_nothing_else() {
        let m = manifest("a");
        assert_eq!(recorded("a", "BB", "aa").judge(&m), Ok(Vouch::Known));
        assert!(!Records::default().judge(&m).unwrap().vouched());
        assert!(!recorded("b", "bb", "aa").judge(&m).unwrap().vouched());
    }

    #[test]
    fn a_manifest_that_contradicts_history_is_refused_even_when_signed() {
        let key = SigningKey::from_seed(&[1; 32]).unwrap();
        let m = manifest("a")
            .signed(&key)
            .trusted_by(&Trusted::keys(vec![key.public()]))
            .unwrap();
        assert_eq!(Records::default().judge(&m), Ok(Vouch::Signed));
        for r in [recorded("a", "cc", "aa"), recorded("a", "bb", "cc")] {
            let e = r.judge(&m).unwrap_err().to_string();
            assert!(e.contains("differ from what history recorded"), "{e}");
        }
    }
}
