//! Home Assistant's update entities, over the websocket: which updates wait ([`list`]), what each
//! one updates (Core, the OS, the Supervisor, an add-on, or something an integration provides,
//! read from the entity registry: the Supervisor integration names its entities'
//! `unique_id`s `home_assistant_core_version_latest`, `<addon slug>_version_latest`…), and
//! installing one with the `update.install` service ([`install`]), followed to its end — across
//! Home Assistant's own restart when the update is Core's.
//!
//! Facts from Home Assistant 2025.4.4 (`tests/data/transcripts/ws-updates-2025.4.4.json`): the
//! service call answers only when the install has finished; an entity without the install feature
//! is refused with `service_validation_error`, one with nothing to install with
//! `home_assistant_error` "No update available for …"; an entity that does not exist is **not**
//! refused (the call succeeds and does nothing), so the entity is looked up first.

use super::partial::Partial;
use super::websocket::{WsClient, WsError};
use crate::secret::Secret;
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;
use url::Url;

/// `UpdateEntityFeature.INSTALL`.
const FEATURE_INSTALL: u64 = 1;

/// Why an update cannot be looked up or installed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Ws(#[from] WsError),
    #[error("Home Assistant has no update entity or add-on {target:?}; the updates it knows: {}", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    Unknown { target: String, known: Vec<String> },
    #[error("{entity} has no update waiting (installed: {installed})")]
    NothingToInstall { entity: String, installed: String },
    #[error("{entity} cannot be installed from Home Assistant (its integration offers no install)")]
    NotInstallable { entity: String },
    #[error("{entity} is being installed already")]
    InProgress { entity: String },
    #[error("Home Assistant could not install {entity}: {message}")]
    InstallFailed { entity: String, message: String },
    #[error(
        "{entity} was still not at {expected} {waited:?} after the install was asked for \
         (installed: {installed})"
    )]
    NotFinished {
        entity: String,
        expected: String,
        installed: String,
        waited: Duration,
    },
}

/// What an update entity updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "slug")]
pub enum Updates {
    Core,
    Os,
    Supervisor,
    /// An add-on, by its slug.
    Addon(String),
    /// Something an integration provides (device firmware, HACS…).
    Other,
}

impl Updates {
    /// From the entity's registry entry (`platform`, `unique_id`).
    fn from_registry(entry: &Value) -> Self {
        if entry["platform"] != "hassio" {
            return Self::Other;
        }
        match entry["unique_id"].as_str().unwrap_or_default() {
            "home_assistant_core_version_latest" => Self::Core,
            "home_assistant_os_version_latest" => Self::Os,
            "home_assistant_supervisor_version_latest" => Self::Supervisor,
            id => id
                .strip_suffix("_version_latest")
                .filter(|slug| !slug.is_empty() && !slug.starts_with("home_assistant_"))
                .map_or(Self::Other, |slug| Self::Addon(slug.to_owned())),
        }
    }
}

/// One `update.*` entity as Home Assistant shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateEntity {
    pub entity_id: String,
    /// Its friendly name, or the entity id.
    pub name: String,
    /// The software's title, when the integration gives one.
    pub title: Option<String>,
    pub installed: Option<String>,
    pub latest: Option<String>,
    /// The state is `on`: a newer version waits.
    pub available: bool,
    pub in_progress: bool,
    /// The integration can install it.
    pub installable: bool,
    pub updates: Updates,
}

impl UpdateEntity {
    /// From a state object (`get_states`); `None` for anything not `update.*`.
    fn from_state(state: &Value) -> Option<Self> {
        let entity_id = state["entity_id"].as_str()?;
        if !entity_id.starts_with("update.") {
            return None;
        }
        let a = &state["attributes"];
        let text = |k: &str| a[k].as_str().map(str::to_owned);
        Some(Self {
            entity_id: entity_id.to_owned(),
            name: text("friendly_name").unwrap_or_else(|| entity_id.to_owned()),
            title: text("title"),
            installed: text("installed_version"),
            latest: text("latest_version"),
            available: state["state"] == "on",
            // A number (a percentage) in older releases, a boolean now.
            in_progress: a["in_progress"] == true || a["in_progress"].as_f64().is_some(),
            installable: a["supported_features"].as_u64().unwrap_or(0) & FEATURE_INSTALL != 0,
            updates: Updates::Other,
        })
    }

    /// What a backup before this update must hold: the add-on alone for an add-on (as Home
    /// Assistant's own pre-update backup does), everything otherwise (`None`: a full backup).
    pub fn backup_parts(&self) -> Option<Partial> {
        match &self.updates {
            Updates::Addon(slug) => Some(Partial {
                homeassistant: false,
                addons: vec![slug.clone()],
                folders: Vec::new(),
            }),
            _ => None,
        }
    }

    /// "Mosquitto broker 6.4.0 → 6.5.0".
    pub fn label(&self) -> String {
        format!(
            "{} {} → {}",
            self.name,
            self.installed.as_deref().unwrap_or("?"),
            self.latest.as_deref().unwrap_or("?")
        )
    }

    /// Whether `target` (an entity id or an add-on slug) names this entity.
    fn named(&self, target: &str) -> bool {
        self.entity_id == target || self.updates == Updates::Addon(target.to_owned())
    }

    /// Refuses what cannot be installed now.
    ///
    /// # Errors
    /// [`UpdateError::NothingToInstall`], [`UpdateError::NotInstallable`] or
    /// [`UpdateError::InProgress`].
    pub fn check_installable(&self) -> Result<(), UpdateError> {
        let entity = self.entity_id.clone();
        if self.in_progress {
            return Err(UpdateError::InProgress { entity });
        }
        if !self.available {
            return Err(UpdateError::NothingToInstall {
                entity,
                installed: self.installed.clone().unwrap_or_else(|| "unknown".into()),
            });
        }
        if !self.installable {
            return Err(UpdateError::NotInstallable { entity });
        }
        Ok(())
    }
}

/// Where Home Assistant's websocket is, and how long to wait for things.
#[derive(Clone)]
pub struct UpdateClient {
    pub url: Url,
    pub token: Secret,
    /// Any one answer.
    pub answer: Duration,
    /// The longest an install may take, Home Assistant's restart included.
    pub install: Duration,
    /// Between looks at the entity while following an install Home Assistant restarted for.
    pub poll: Duration,
}

impl UpdateClient {
    /// With the usual patience: an answer within a minute, an install within an hour.
    pub fn new(url: Url, token: Secret) -> Self {
        Self {
            url,
            token,
            answer: Duration::from_secs(60),
            install: Duration::from_secs(3600),
            poll: Duration::from_secs(5),
        }
    }

    async fn connect(&self) -> Result<WsClient, WsError> {
        WsClient::connect(&self.url, &self.token, self.answer).await
    }

    /// Every update entity, with what each updates.
    ///
    /// # Errors
    /// [`UpdateError::Ws`].
    pub async fn list(&self) -> Result<Vec<UpdateEntity>, UpdateError> {
        let mut ws = self.connect().await?;
        list(&mut ws).await
    }

    /// The entity `target` names: an `update.*` entity id, or an add-on's slug.
    ///
    /// # Errors
    /// [`UpdateError::Unknown`] naming the updates there are, or [`UpdateError::Ws`].
    pub async fn find(&self, target: &str) -> Result<UpdateEntity, UpdateError> {
        let all = self.list().await?;
        let target = target.trim();
        all.iter()
            .find(|e| e.named(target))
            .cloned()
            .ok_or_else(|| UpdateError::Unknown {
                target: target.to_owned(),
                known: all.iter().map(|e| e.entity_id.clone()).collect(),
            })
    }

    /// The entity's state now, or `None` when Home Assistant no longer has it.
    async fn look(&self, entity_id: &str) -> Result<Option<UpdateEntity>, WsError> {
        let mut ws = self.connect().await?;
        Ok(states(&mut ws)
            .await?
            .into_iter()
            .find(|e| e.entity_id == entity_id))
    }

    /// Installs `entity`'s latest version with `update.install` — without Home Assistant's own
    /// `backup` flag: the backup that counts was made already — and follows it until the entity
    /// shows the new version. When the connection drops (Home Assistant restarts for a Core
    /// update), it waits for Home Assistant to come back and reads the entity again.
    ///
    /// # Errors
    /// [`UpdateError::InstallFailed`] with Home Assistant's reason, [`UpdateError::NotFinished`]
    /// when the new version did not show in time.
    pub async fn install(&self, entity: &UpdateEntity) -> Result<UpdateEntity, UpdateError> {
        let expected = entity.latest.clone().unwrap_or_default();
        let started = tokio::time::Instant::now();
        let mut ws = self.connect().await?;
        let call = json!({"type": "call_service", "domain": "update", "service": "install",
            "target": {"entity_id": entity.entity_id}, "service_data": {}});
        match ws.call_within(call, self.install).await {
            Ok(_) => {}
            Err(WsError::Command { message, .. }) => {
                return Err(UpdateError::InstallFailed {
                    entity: entity.entity_id.clone(),
                    message,
                });
            }
            // Home Assistant went away mid-install (a Core update restarts it): follow below.
            Err(e) if e.is_retryable() => {
                tracing::info!("the connection ended during the install ({e}); following it");
            }
            Err(e) => return Err(e.into()),
        }
        drop(ws);
        let mut last = entity.installed.clone().unwrap_or_default();
        loop {
            match self.look(&entity.entity_id).await {
                Ok(Some(now)) => {
                    if now.installed.as_deref() == Some(expected.as_str()) && !now.in_progress {
                        return Ok(now);
                    }
                    last = now.installed.unwrap_or_default();
                }
                Ok(None) => {}
                Err(e) if e.is_retryable() => {}
                Err(e) => return Err(e.into()),
            }
            if started.elapsed() >= self.install {
                return Err(UpdateError::NotFinished {
                    entity: entity.entity_id.clone(),
                    expected,
                    installed: last,
                    waited: self.install,
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

/// Every update entity Home Assistant has, with what each updates (one registry lookup each).
///
/// # Errors
/// [`UpdateError::Ws`].
pub async fn list(ws: &mut WsClient) -> Result<Vec<UpdateEntity>, UpdateError> {
    let mut found = states(ws).await?;
    for e in &mut found {
        match ws
            .call(json!({"type": "config/entity_registry/get", "entity_id": e.entity_id}))
            .await
        {
            Ok(entry) => e.updates = Updates::from_registry(&entry),
            // An entity without a unique id has no registry entry: it is not the Supervisor's.
            Err(WsError::Command { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    found.sort_by(|a, b| a.entity_id.cmp(&b.entity_id));
    Ok(found)
}

/// The `update.*` entities' states, without what each updates (that takes the registry).
async fn states(ws: &mut WsClient) -> Result<Vec<UpdateEntity>, WsError> {
    let states = ws.call(json!({"type": "get_states"})).await?;
    Ok(states
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(UpdateEntity::from_state)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_entity_updates_comes_from_the_supervisors_unique_ids() {
        let of = |platform: &str, id: &str| {
            Updates::from_registry(&json!({"platform": platform, "unique_id": id}))
        };
        assert_eq!(
            of("hassio", "home_assistant_core_version_latest"),
            Updates::Core
        );
        assert_eq!(
            of("hassio", "home_assistant_os_version_latest"),
            Updates::Os
        );
        assert_eq!(
            of("hassio", "home_assistant_supervisor_version_latest"),
            Updates::Supervisor
        );
        assert_eq!(
            of("hassio", "core_mosquitto_version_latest"),
            Updates::Addon("core_mosquitto".into())
        );
        assert_eq!(of("hassio", "home_assistant_host_foo"), Updates::Other);
        assert_eq!(of("demo", "core_mosquitto_version_latest"), Updates::Other);
        assert_eq!(of("hassio", "_version_latest"), Updates::Other);
    }

    #[test]
    fn an_add_on_update_backs_up_the_add_on_alone_and_anything_else_everything() {
        let mut e = UpdateEntity {
            entity_id: "update.mosquitto_broker_update".into(),
            name: "Mosquitto broker".into(),
            title: None,
            installed: Some("6.4.0".into()),
            latest: Some("6.5.0".into()),
            available: true,
            in_progress: false,
            installable: true,
            updates: Updates::Addon("core_mosquitto".into()),
        };
        let p = e.backup_parts().unwrap();
        assert!(!p.homeassistant);
        assert_eq!(p.addons, ["core_mosquitto"]);
        assert!(e.named("core_mosquitto") && e.named("update.mosquitto_broker_update"));
        assert_eq!(e.label(), "Mosquitto broker 6.4.0 → 6.5.0");
        e.updates = Updates::Core;
        assert!(e.backup_parts().is_none());
        assert!(e.check_installable().is_ok());
        e.available = false;
        assert!(matches!(
            e.check_installable(),
            Err(UpdateError::NothingToInstall { .. })
        ));
    }
}
