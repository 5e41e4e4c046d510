//! The copies page's listings: what each destination held when it was last listed, kept between
//! loads so the page does not read every manifest on every visit. A listing is made when first
//! asked for, again on the first load after history records anything that changes what is
//! stored (a run's copies, a deletion by retention or by hand, a verification), and whenever a
//! person asks ("List again"); the page says when it was made.

use crate::destinations::Destination;
use crate::destinations::manifest::{self, Listed};
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
    pub result: Result<Vec<Listed>, String>,
}

/// The newest listing of each destination, by name.
#[derive(Debug, Default)]
pub struct Listings {
    by_destination: Mutex<HashMap<String, Arc<Listing>>>,
}

/// Lists `d`'s copies, within [`LIST_TIMEOUT`].
pub async fn list(d: &Destination) -> Result<Vec<Listed>, String> {
    match tokio::time::timeout(LIST_TIMEOUT, manifest::list(d)).await {
        Ok(Ok(l)) => Ok(l),
        Ok(Err(e)) => Err(format!("cannot list the copies: {e}")),
        Err(_) => Err(format!(
            "listing took longer than {} s; the destination may be unreachable",
            LIST_TIMEOUT.as_secs()
        )),
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
