//! Shipping Home Assistant's own backups within seconds: the backup manager's events
//! (`backup/subscribe_events`) are followed over the websocket, and each `create_backup` that
//! ends `completed` queues a run that ships what is new (ship mode's rule: everything made since
//! the last backup shipped). On every (re)subscription one such run catches up on what was made
//! while nobody listened. While the subscription holds, ship mode's scheduled look is skipped;
//! when Home Assistant refuses the subscription (a release before the backup manager, 2025.1) the
//! schedule is the fallback, and the subscription is tried again hourly.
//!
//! The Supervisor's own job events cannot be had here: its websocket proxy refuses every command
//! beginning `supervisor/`. A backup the Supervisor makes on its own (before an add-on update it
//! was asked for directly, not through Home Assistant) is announced by no event Lifeboat can
//! receive, and is found by the scheduled look.

use crate::ha::websocket::{WsClient, WsError};
use crate::jobs::{Job, Triggers};
use crate::pipeline::run::RunRequest;
use crate::secret::Secret;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

/// The trigger such runs are recorded under.
pub const TRIGGER: &str = "ha-backup";

/// How following the backup events stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Follow {
    /// The subscription holds now.
    pub subscribed: bool,
    /// This subscription's catch-up run (for what was made while nobody listened) has ended.
    pub caught_up: bool,
    /// Subscriptions made since the daemon started.
    pub made: u64,
}

impl Follow {
    /// Subscribed, and the catch-up run of this subscription has ended: from here on, only an
    /// event ships a new backup.
    pub fn listening(&self) -> bool {
        self.subscribed && self.caught_up
    }
}

/// Whether the subscription holds now (the schedule skips ship mode's look while it does), and a
/// way to wait until it does (a started daemon hands it out: [`super::Running::backup_events`]).
#[derive(Clone)]
pub struct Listening(Arc<watch::Sender<Follow>>);

impl Default for Listening {
    fn default() -> Self {
        Self(Arc::new(watch::channel(Follow::default()).0))
    }
}

impl Listening {
    pub fn now(&self) -> bool {
        self.0.borrow().subscribed
    }

    /// How it stands, told on every change.
    pub fn watch(&self) -> watch::Receiver<Follow> {
        self.0.subscribe()
    }

    /// Waits until the subscription holds and its catch-up run has ended ([`Follow::listening`]).
    pub async fn listening(&self) {
        // The sender lives in `self`: waiting cannot fail.
        let _ = self.watch().wait_for(Follow::listening).await;
    }

    fn subscribed(&self) {
        self.0.send_modify(|f| {
            *f = Follow {
                subscribed: true,
                caught_up: false,
                made: f.made + 1,
            };
        });
    }

    fn caught_up(&self) {
        self.0.send_modify(|f| f.caught_up = true);
    }

    fn dropped(&self) {
        self.0.send_modify(|f| {
            f.subscribed = false;
            f.caught_up = false;
        });
    }
}

/// Whether a backup-manager event says a backup was just made.
pub fn is_new_backup(event: &Value) -> bool {
    event["manager_state"] == "create_backup" && event["state"] == "completed"
}

/// How a subscription ended.
enum Ended {
    /// Home Assistant does not know `backup/subscribe_events`.
    Refused(WsError),
    Dropped(WsError),
    Stopped,
}

/// Queues a run that ships what is new; `None` at shutdown, else a receiver told when the run
/// has ended.
async fn ship_new(triggers: &Triggers) -> Option<oneshot::Receiver<()>> {
    let request = RunRequest {
        ship_new: true,
        ..RunRequest::new(TRIGGER)
    };
    let (done, ended) = oneshot::channel();
    let job = Job::Backup {
        request,
        done: Some(done),
    };
    triggers.queue(job).await.ok().map(|()| ended)
}

async fn follow(
    url: &url::Url,
    token: &Secret,
    triggers: &Triggers,
    listening: &Listening,
) -> Ended {
    let mut ws = match WsClient::connect(url, token, Duration::from_secs(30)).await {
        Ok(ws) => ws,
        Err(e) => return Ended::Dropped(e),
    };
    let sub = match ws
        .subscribe(json!({"type": "backup/subscribe_events"}))
        .await
    {
        Ok(sub) => sub,
        Err(e @ WsError::Command { .. }) => return Ended::Refused(e),
        Err(e) => return Ended::Dropped(e),
    };
    listening.subscribed();
    tracing::info!("following Home Assistant's backup events");
    // Whatever was made while nobody listened.
    let Some(catch_up) = ship_new(triggers).await else {
        return Ended::Stopped;
    };
    let events = events(&mut ws, sub, triggers);
    tokio::pin!(events);
    // The events are followed while the catch-up runs; the event loop is never cancelled here.
    tokio::select! {
        ended = &mut events => return ended,
        ran = catch_up => if ran.is_ok() {
            listening.caught_up();
        },
    }
    events.await
}

/// Queues a run for each new backup an event announces, until the subscription ends.
async fn events(ws: &mut WsClient, sub: u64, triggers: &Triggers) -> Ended {
    loop {
        match ws.next_event(sub, Duration::from_secs(60)).await {
            Ok(event) if is_new_backup(&event) => {
                tracing::info!("Home Assistant made a backup; shipping it");
                // Nobody waits for its run: the receiver goes at once.
                if ship_new(triggers).await.is_none() {
                    return Ended::Stopped;
                }
            }
            Ok(_) => {}
            Err(WsError::Timeout(_)) => {
                if let Err(e) = ws.ping().await {
                    return Ended::Dropped(e);
                }
            }
            Err(e) => return Ended::Dropped(e),
        }
    }
}

/// Follows the backup manager's events until `shutdown`, reconnecting with backoff.
pub async fn serve(
    url: url::Url,
    token: Secret,
    triggers: Triggers,
    listening: Listening,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_secs(2);
    loop {
        let ended = tokio::select! {
            () = shutdown.cancelled() => Ended::Stopped,
            e = follow(&url, &token, &triggers, &listening) => e,
        };
        if listening.now() {
            // It held for a while: the next drop starts the backoff afresh.
            backoff = Duration::from_secs(2);
        }
        listening.dropped();
        let wait = match ended {
            Ended::Stopped => break,
            Ended::Refused(e) => {
                tracing::warn!(
                    "Home Assistant refused backup/subscribe_events ({e}); new backups are found \
                     by the schedule only; asking again in an hour"
                );
                Duration::from_secs(3600)
            }
            Ended::Dropped(e) => {
                tracing::warn!("Home Assistant's backup events: {e}; reconnecting in {backoff:?}");
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                wait
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_completed_backup_is_news() {
        // The event shapes Home Assistant 2025.4.4 sent (tests/data/transcripts).
        assert!(is_new_backup(
            &json!({"manager_state": "create_backup", "reason": null, "stage": null, "state": "completed"})
        ));
        for other in [
            json!({"manager_state": "idle"}),
            json!({"manager_state": "create_backup", "reason": null, "stage": "home_assistant", "state": "in_progress"}),
            json!({"manager_state": "create_backup", "reason": "upload_failed", "stage": null, "state": "failed"}),
            json!({"manager_state": "receive_backup", "reason": null, "stage": null, "state": "completed"}),
        ] {
            assert!(!is_new_backup(&other), "{other}");
        }
    }
}
