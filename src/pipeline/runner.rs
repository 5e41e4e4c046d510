//! Everything a run needs — the source, the destinations, the keys, history, the clock, who to
//! tell — in one [`Runner`]. The stages add its methods in their own files; [`super::run`] drives
//! them in order.

use super::observer::RunObserver;
use super::progress::{Progress, Teller};
use super::request::RunRequest;
use crate::clock::Clock;
use crate::crypto::keyring::Keyring;
use crate::destinations::Destination;
use crate::history::History;
use crate::source::Source;
use std::sync::Arc;

/// Everything a run needs.
#[derive(Clone)]
pub struct Runner {
    pub source: Arc<dyn Source>,
    pub destinations: Vec<Destination>,
    /// What copies are encrypted to and which Home Assistant keys open protected backups: the
    /// options' and the vault's (every key Home Assistant has used is kept there and tried).
    pub keys: Keyring,
    pub history: History,
    pub clock: Arc<dyn Clock>,
    /// Told when runs start and finish (Home Assistant entities, events, notifications).
    pub observer: Arc<dyn RunObserver>,
    /// The home's time zone: retention counts days, weeks… there.
    pub tz: chrono_tz::Tz,
    /// Keep this many backups on Home Assistant's disk and delete older ones once they are
    /// off-site everywhere; `None` leaves Home Assistant's backups alone.
    pub keep_local: Option<u32>,
    /// Live progress, for the dashboard.
    pub progress: Arc<Progress>,
    /// The source's name (`home-assistant`, `postgres`, `configs`…), in every copy's manifest.
    pub source_name: String,
    /// Whether it is the configuration's first source (it owns copies made before copies named
    /// their source).
    pub first_source: bool,
    /// The source's own retention, over the destinations' (`None`: theirs).
    pub retention: Option<crate::retention::Policy>,
}

impl Runner {
    pub(super) fn teller(&self) -> Teller<'_> {
        Teller {
            progress: &self.progress,
            clock: self.clock.as_ref(),
        }
    }

    /// The source as history records it.
    pub(super) fn described(&self) -> crate::history::Described {
        crate::history::Described {
            name: Some(self.source_name.clone()),
            describe: self.source.describe(),
        }
    }

    /// The destinations `request` asks for (every one when it names none).
    pub(super) fn asked<'a>(
        &'a self,
        request: &'a RunRequest,
    ) -> impl Iterator<Item = &'a Destination> {
        self.destinations
            .iter()
            .filter(|d| request.destinations.is_empty() || request.destinations.contains(&d.name))
    }
}
