//! One run, as data flows: the backup is read once; in that one pass it is hashed, walked
//! ([`crate::archive`]), encrypted ([`crate::crypto`]) and fanned out ([`fanout`]) to every
//! destination; then each copy is read back ([`verify`]) and only a verified copy gets its manifest.
//! [`run`] ties a source, the pass and history together.

pub mod commit;
pub mod delete;
pub mod events;
pub mod fanout;
pub mod finish;
pub mod keys;
pub mod observer;
pub mod orphans;
pub mod pass;
pub mod plan;
pub mod probing;
pub mod progress;
pub mod prune;
pub mod record;
pub mod request;
pub mod retry;
pub mod retrying;
pub mod reverify;
pub mod run;
pub mod runner;
pub mod safe_update;
pub mod ship;
pub mod upkeep;
pub mod verify;
pub mod vouch;
