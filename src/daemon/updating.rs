//! The safe-update job the daemon's worker runs ([`crate::pipeline::safe_update`]), and what Home
//! Assistant is told of it: a `lifeboat_update_result` event an automation can wait for, and a
//! persistent notification when the update was not installed.

use crate::ha::core_api::HaApi;
use crate::ha::updates::UpdateClient;
use crate::jobs::Reply;
use crate::pipeline::run::Runner;
use crate::pipeline::safe_update::{NotUpdated, UpdateAsk, UpdateReport, safe_update};
use serde_json::json;

/// Runs one safe update, tells Home Assistant, and answers whoever waits.
pub(super) async fn run(
    runner: &Runner,
    ha: Option<&UpdateClient>,
    api: Option<&HaApi>,
    ask: UpdateAsk,
    reply: Reply<Result<UpdateReport, NotUpdated>>,
) {
    let outcome = match ha {
        None => Err(NotUpdated::NoWebsocket),
        Some(ha) => safe_update(runner, ha, &ask)
            .await
            .map_err(NotUpdated::from),
    };
    match &outcome {
        Ok(r) if r.installed => tracing::info!("{}", r.message()),
        Ok(r) => tracing::warn!("{}", r.message()),
        Err(e) => tracing::error!("safe update of {}: {e}", ask.target),
    }
    if let Some(api) = api {
        tell(api, &ask, &outcome).await;
    }
    if let Some(reply) = reply {
        let _ = reply.send(outcome);
    }
}

async fn tell(api: &HaApi, ask: &UpdateAsk, outcome: &Result<UpdateReport, NotUpdated>) {
    let (data, message) = match outcome {
        Ok(r) => (
            json!({"target": ask.target, "installed": r.installed, "run_id": r.run_id,
                   "verified": r.verified, "stopped_at": r.stopped_at, "error": r.error,
                   "entity_id": r.entity.as_ref().map(|e| &e.entity_id),
                   "version": r.version_now, "message": r.message()}),
            (!r.installed).then(|| r.message()),
        ),
        Err(e) => (
            json!({"target": ask.target, "installed": false, "error": e.to_string()}),
            Some(format!("Did not update {}: {e}", ask.target)),
        ),
    };
    if let Err(e) = api.fire_event("lifeboat_update_result", &data).await {
        tracing::warn!("telling Home Assistant how the update went: {e}");
    }
    if let Some(message) = message
        && let Err(e) = api
            .notify_persistent(
                "lifeboat_update",
                "Lifeboat: update not installed",
                &message,
            )
            .await
    {
        tracing::warn!("notifying Home Assistant: {e}");
    }
}
