//! The copies page's listings: what each destination held when it was last listed, kept between
//! loads so the page does not read every manifest on every visit. A listing is made when first
//! asked for, again on the first load after history records anything that changes what is
//! stored (a run's copies, a deletion by retention or by hand, a verification), and whenever a
//! person asks ("List again"); the page says when it was made.

use crate::destinations::manifest::{self, Listed};
use crate::destinations::{Destination, StoreError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long a destination may take to list its copies before the page gives up on it.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// One destination's copies as listed.
#[derive(Debug)]
pub struct Listing {
    /// When it was listed.
    pub at: DateTime<Utc>,
    /// History's count of changes to copies when it was listed.
    changes: u64,
    /// The copies, or why they could not be listed.
    pub result: Result<Vec<Listed>, ListError>,
}

/// Why a destination's copies could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot list the copies: {0}")]
    Store(#[from] StoreError),
    #[error(
        "listing took longer than {} s; the destination may be unreachable",
        LIST_TIMEOUT.as_secs()
    )]
    TimedOut,
}

/// The newest listing of each destination, by name.
#[derive(Debug, Default)]
pub struct Listings {
    by_destination: Mutex<HashMap<String, Arc<Listing>>>,
}

/// Lists `d`'s copies, within [`LIST_TIMEOUT`].
///
/// # Errors
/// [`ListError`] when the store fails or takes too long.
pub async fn list(d: &Destination) -> Result<Vec<Listed>, ListError> {
    match tokio::time::timeout(LIST_TIMEOUT, manifest::list(d)).await {
        Ok(listed) => Ok(listed?),
        Err(_) => Err(ListError::TimedOut),
    }
}

impl Listings {
    /// `d`'s listing: the one kept, while history has recorded no change to copies since
    /// (`changes`, see [`crate::history::History::changes`]) and `again` is not asked; else a
    /// new one, listed at `now` and kept.
    pub async fn of(
        &self,
        d: &Destination,
        changes: u64,
        now: DateTime<Utc>,
        again: bool,
    ) -> Arc<Listing> {
        if !again && let Some(kept) = self.kept(&d.name, changes) {
            return kept;
        }
        let listing = Arc::new(Listing {
            at: now,
            changes,
            result: list(d).await,
        });
        self.by_destination
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(d.name.clone(), Arc::clone(&listing));
        listing
    }

    fn kept(&self, destination: &str, changes: u64) -> Option<Arc<Listing>> {
        self.by_destination
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(destination)
            .filter(|l| l.changes == changes)
            .cloned()
    }
}
