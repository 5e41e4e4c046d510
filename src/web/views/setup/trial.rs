//! The Test on a destination form: the destination built from its checked settings exactly as a
//! run builds it (with little patience), then the probe ([`crate::destinations::probe`]): list,
//! write, read back, find, delete. An SFTP server with no host key given is not probed: its key
//! is read without trusting it and shown, for the person to compare and trust first.

use crate::destinations::kinds::sftp::store::{OfferedKey, offered_host_key};
use crate::destinations::kinds::{DestinationKind, DestinationSpec};
use crate::destinations::probe::{self, Failure, Step};
use crate::destinations::{Patience, open_with};
use std::path::Path;
use std::time::Duration;

/// How long a silent server is waited for, at each step.
const PATIENCE: Duration = Duration::from_secs(15);
/// How long the whole test may take.
const WHOLE: Duration = Duration::from_secs(60);

/// What the test found.
#[derive(Debug)]
pub enum Outcome {
    /// Every step worked, at this place.
    Works { location: String },
    /// It stopped: where, why, and the store's words.
    Failed(Failure),
    /// It could not begin (no randomness, a client that cannot be made): why.
    NotRun(String),
    /// The SFTP server offered this key; nothing is trusted yet.
    TrustKey(OfferedKey),
}

/// Tests `spec` (its kind's state beside Lifeboat's kept in `data_dir`); the probe object is
/// named from `nonce`.
pub async fn test(mut spec: DestinationSpec, data_dir: &Path, nonce: [u8; 6]) -> Outcome {
    spec.kind.settings_mut().in_data_dir(data_dir);
    if let DestinationKind::Sftp(s) = &spec.kind
        && s.host_key.is_none()
    {
        return match offered_host_key(&s.host, s.port, PATIENCE).await {
            Ok(key) => Outcome::TrustKey(key),
            Err(e) => Outcome::Failed(Failure {
                step: Step::List,
                cause: probe::cause_of(Step::List, &e),
                detail: e.message,
            }),
        };
    }
    let dest = match open_with(&spec, Patience { silence: PATIENCE }) {
        Ok(d) => d,
        Err(e) => return Outcome::NotRun(e.message),
    };
    match tokio::time::timeout(WHOLE, probe::probe(dest.store.as_ref(), nonce)).await {
        Ok(Ok(())) => Outcome::Works {
            location: dest.location,
        },
        Ok(Err(f)) => Outcome::Failed(f),
        Err(_) => {
            // Cut off mid-way, the test file may be there: it is removed in the background, or
            // left (4 KiB, hidden, never a copy) when the server does not answer that either.
            let store = dest.store.clone();
            tokio::spawn(async move {
                let name = probe::probe_name(nonce);
                let _ = tokio::time::timeout(WHOLE, store.delete(&name)).await;
            });
            Outcome::Failed(Failure {
                step: Step::List,
                cause: probe::Cause::Timeout,
                detail: format!("the test did not end within {WHOLE:?}"),
            })
        }
    }
}

/// Random bytes for the probe object's name, from the operating system.
///
/// # Errors
/// When it has none to give.
pub fn nonce() -> Result<[u8; 6], getrandom::Error> {
    let mut n = [0u8; 6];
    getrandom::getrandom(&mut n)?;
    Ok(n)
}
