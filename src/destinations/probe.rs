//! The destination test ("Test" on the setup form, the daily probe between runs): list the
//! folder, write a small probe object, read it back, see it listed, delete it. A failure names the
//! step it stopped at and its cause in words a person can act on (a name that does not resolve,
//! a refused connection, a certificate, refused credentials, no right to write, a bucket or share
//! that is not there, a full quota), read from the store's error.
//!
//! The probe object is named [`PROBE_PREFIX`]`<random>`: hidden like an upload in progress, never
//! a copy id, so no listing of copies ever shows it, and it is deleted before the probe ends.

use super::{Store, StoreError, StoreErrorKind};

/// Every probe object's name starts with this (see [`probe_name`]).
pub const PROBE_PREFIX: &str = ".lifeboat-probe-";

/// The probe writes this many bytes: enough to see a store cut a body short.
const PROBE_SIZE: usize = 4096;

/// A probe object's name from random bytes (given: randomness is an input).
pub fn probe_name(nonce: [u8; 6]) -> String {
    format!("{PROBE_PREFIX}{}", hex::encode(nonce))
}

/// Fresh random bytes for [`probe_name`], from the system (for the edges that start a probe: the
/// daemon's daily loop, the dashboard).
///
/// # Errors
/// The system gave no randomness.
pub fn random_nonce() -> Result<[u8; 6], getrandom::Error> {
    let mut b = [0u8; 6];
    getrandom::getrandom(&mut b)?;
    Ok(b)
}

/// Whether `name` is a probe object's (listings of copies leave it out).
pub fn is_probe_name(name: &str) -> bool {
    name.starts_with(PROBE_PREFIX)
}

/// Where the probe stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Listing the folder, before anything is written.
    List,
    /// Writing the probe object.
    Write,
    /// Reading it back.
    Read,
    /// Finding it in a new listing.
    Listed,
    /// Deleting it.
    Delete,
}

impl Step {
    /// The word history keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Write => "write",
            Self::Read => "read",
            Self::Listed => "listed",
            Self::Delete => "delete",
        }
    }

    /// The step read back from [`Step::as_str`].
    pub fn from_word(word: &str) -> Option<Self> {
        [
            Self::List,
            Self::Write,
            Self::Read,
            Self::Listed,
            Self::Delete,
        ]
        .into_iter()
        .find(|s| s.as_str() == word)
    }

    /// What the probe was doing, for people: "while writing".
    pub fn words(self) -> &'static str {
        match self {
            Self::List => "while listing the folder",
            Self::Write => "while writing a test file",
            Self::Read => "while reading the test file back",
            Self::Listed => "while looking for the test file in the folder",
            Self::Delete => "while deleting the test file",
        }
    }
}

/// Why a probe failed, in the terms a person fixes it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The server's name does not resolve.
    NameNotFound,
    /// Nothing answers at that address and port.
    Refused,
    /// The server's TLS certificate is not trusted (or not the one pinned), or an SFTP
    /// server's host key is not the one pinned or remembered.
    Certificate,
    /// The credentials were refused.
    Credentials,
    /// Signed in, but not allowed to write there.
    NoWrite,
    /// The bucket, container, share or folder is not there.
    Missing,
    /// No room left: a full disk or quota.
    Full,
    /// The server stopped answering.
    Timeout,
    /// What was read back is not what was written.
    Mismatch,
    /// Anything else: the store's own message says.
    Other,
}

impl Cause {
    /// The word history keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NameNotFound => "name_not_found",
            Self::Refused => "refused",
            Self::Certificate => "certificate",
            Self::Credentials => "credentials",
            Self::NoWrite => "no_write",
            Self::Missing => "missing",
            Self::Full => "full",
            Self::Timeout => "timeout",
            Self::Mismatch => "mismatch",
            Self::Other => "other",
        }
    }

    /// The cause read back from [`Cause::as_str`].
    pub fn from_word(word: &str) -> Option<Self> {
        ALL.into_iter().find(|c| c.as_str() == word)
    }

    /// What went wrong and what to change, in plain words.
    pub fn words(self) -> &'static str {
        match self {
            Self::NameNotFound => {
                "the server's name was not found: check the address for a typo, and that this \
                 machine's network can look names up"
            }
            Self::Refused => {
                "nothing answered at that address: check the port, and that the server is running"
            }
            Self::Certificate => {
                "the server's certificate or host key is not the one trusted: check the \
                 address, or pin the certificate or key the server really has"
            }
            Self::Credentials => {
                "the server refused the credentials: check the user name, password or keys"
            }
            Self::NoWrite => {
                "signed in, but not allowed to write there: give this account permission to \
                 write, or choose another folder"
            }
            Self::Missing => {
                "the bucket, container, share or folder is not there: create it, or check its name"
            }
            Self::Full => "there is no room left there: free some space, or raise the quota",
            Self::Timeout => {
                "the server stopped answering: check that it is up and that the network reaches it"
            }
            Self::Mismatch => {
                "the test file read back differs from what was written: the server is damaging \
                 data"
            }
            Self::Other => "the server answered with an error",
        }
    }
}

const ALL: [Cause; 10] = [
    Cause::NameNotFound,
    Cause::Refused,
    Cause::Certificate,
    Cause::Credentials,
    Cause::NoWrite,
    Cause::Missing,
    Cause::Full,
    Cause::Timeout,
    Cause::Mismatch,
    Cause::Other,
];

/// A probe that stopped: where, why, and the store's own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {detail}", cause.words(), step.words())]
pub struct Failure {
    pub step: Step,
    pub cause: Cause,
    pub detail: String,
}

/// Runs the test against `store`; the probe object's name comes from `nonce`.
///
/// # Errors
/// [`Failure`] at the first step that fails. A probe object written before a later step failed
/// is deleted on the way out (a failure to delete it then is not reported over the first one).
pub async fn probe(store: &dyn Store, nonce: [u8; 6]) -> Result<(), Failure> {
    let name = probe_name(nonce);
    store.list().await.map_err(|e| failure(Step::List, &e))?;
    let body = probe_body(nonce);
    store
        .write_small(&name, body.clone())
        .await
        .map_err(|e| failure(Step::Write, &e))?;
    let checked = read_and_find(store, &name, &body).await;
    let deleted = store
        .delete(&name)
        .await
        .map_err(|e| failure(Step::Delete, &e));
    checked.and(deleted)
}

/// Reads the probe object back and finds it listed.
async fn read_and_find(store: &dyn Store, name: &str, body: &[u8]) -> Result<(), Failure> {
    let read = store
        .read_small(name, PROBE_SIZE as u64 * 2)
        .await
        .map_err(|e| failure(Step::Read, &e))?;
    if read != body {
        return Err(Failure {
            step: Step::Read,
            cause: Cause::Mismatch,
            detail: format!(
                "wrote {} bytes, read {} different ones",
                body.len(),
                read.len()
            ),
        });
    }
    let names = store.list().await.map_err(|e| failure(Step::Listed, &e))?;
    if !names.iter().any(|n| n == name) {
        return Err(Failure {
            step: Step::Listed,
            cause: Cause::Other,
            detail: format!(
                "{name} was written and read back, but the folder's listing leaves it out"
            ),
        });
    }
    Ok(())
}

/// The probe's bytes: the nonce repeated, so two probes never write the same object.
fn probe_body(nonce: [u8; 6]) -> Vec<u8> {
    nonce.iter().copied().cycle().take(PROBE_SIZE).collect()
}

/// A store error at `step`, with its cause.
fn failure(step: Step, e: &StoreError) -> Failure {
    Failure {
        step,
        cause: cause_of(step, e),
        detail: e.message.clone(),
    }
}

/// The cause of a store error at `step`: the one the store read from the protocol's answer
/// ([`StoreError::said`]) first; then, when no answer came, from its words (a name lookup, a refused connection and a
/// certificate say so whatever the protocol); then from its kind and step: refused before
/// anything was written is the credentials, refused while writing is the right to write.
pub fn cause_of(step: Step, e: &StoreError) -> Cause {
    if let Some(cause) = e.said {
        return cause;
    }
    if e.kind == StoreErrorKind::Full {
        return Cause::Full;
    }
    // A refusal, a not-found or a setting the server turned down is an answer: the words of a
    // missing answer (in quoted headers, "keep-alive: timeout=5") do not count there.
    let answered = !matches!(e.kind, StoreErrorKind::Unavailable | StoreErrorKind::Other);
    let m = e.message.to_ascii_lowercase();
    let says = |words: &[&str]| !answered && words.iter().any(|w| m.contains(w));
    if says(&[
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "no such host",
        "could not resolve",
        "temporary failure in name resolution",
        "nodename nor servname",
    ]) {
        return Cause::NameNotFound;
    }
    if says(&["connection refused", "os error 111"]) {
        return Cause::Refused;
    }
    if says(&["certificate", "unknownissuer", "unknown issuer"]) {
        return Cause::Certificate;
    }
    // A refusal or a missing thing is not a timeout, whatever header its answer quotes
    // (`keep-alive: timeout=5`).
    let answered = matches!(e.kind, StoreErrorKind::Denied | StoreErrorKind::NotFound);
    if !answered && says(&["timed out", "timeout", "silent for", "did not answer"]) {
        return Cause::Timeout;
    }
    match (e.kind, step) {
        (StoreErrorKind::Denied, Step::List) => Cause::Credentials,
        (StoreErrorKind::Denied, _) => Cause::NoWrite,
        (StoreErrorKind::NotFound, Step::List | Step::Write) => Cause::Missing,
        (StoreErrorKind::Config, Step::List) => Cause::Missing,
        _ => Cause::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_read_back_from_their_words() {
        for c in ALL {
            assert_eq!(Cause::from_word(c.as_str()), Some(c));
        }
        assert_eq!(Cause::from_word("nonsense"), None);
    }

    #[test]
    fn a_probe_object_is_hidden_and_never_a_copy() {
        let name = probe_name([1, 2, 3, 4, 5, 6]);
        assert!(is_probe_name(&name));
        assert!(name.starts_with('.'));
        assert!(super::super::layout::copy_id_of_manifest(&name).is_none());
        assert_eq!(probe_body([1, 2, 3, 4, 5, 6]).len(), PROBE_SIZE);
    }

    #[test]
    fn refused_credentials_before_writing_differ_from_no_right_to_write() {
        let denied = StoreError::new(StoreErrorKind::Denied, "HTTP 403");
        assert_eq!(cause_of(Step::List, &denied), Cause::Credentials);
        assert_eq!(cause_of(Step::Write, &denied), Cause::NoWrite);
        let dns =
            StoreError::unavailable("error sending request: dns error: failed to lookup address");
        assert_eq!(cause_of(Step::List, &dns), Cause::NameNotFound);
        let azurite = StoreError::new(
            StoreErrorKind::Denied,
            "PermissionDenied at list, response: {\"keep-alive\": \"timeout=5\"} AuthorizationFailure",
        );
        assert_eq!(cause_of(Step::List, &azurite), Cause::Credentials);
        let full = StoreError::new(StoreErrorKind::Other, "HTTP 507 Insufficient Storage");
        assert_eq!(cause_of(Step::Write, &full), Cause::Full);
        // What the store read from the protocol wins over the step.
        let said = StoreError::new(StoreErrorKind::Denied, "HTTP 403").because(Cause::Missing);
        assert_eq!(cause_of(Step::Write, &said), Cause::Missing);
    }
}
