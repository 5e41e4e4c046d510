//! Restore into Home Assistant, or a restore drill, from the Copies page: a page that says what
//! will happen and asks for the key that opens the copy (the passphrase of a key sealed here, or
//! the private key pasted from the kit), then a job that streams the copy into Home Assistant's
//! backup list — or, for a drill, reads, decrypts and opens it to the end without handing it over.
//! A key that does not open this copy is refused before anything is read.

use super::sealing::{SealError, unseal};
use super::{At, Live, PageError, local};
use crate::crypto::identity::{IdentityError, KeyPair};
use crate::crypto::recipient_fingerprint;
use crate::destinations::Manifest;
use crate::destinations::manifest::made_at;
use crate::history::RunReadiness;
use crate::human;
use crate::jobs::TriggerError;
use crate::jobs::{Job, RestoreJob};
use crate::secret::Secret;
use crate::web::frame::{Frame, Section, back_to};
use crate::web::ingress::Ingress;
use crate::web::{AppState, Services};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Template, WebTemplate)]
#[template(path = "restore.html")]
pub struct RestorePage {
    pub frame: Frame,
    pub destination: String,
    pub copy_id: String,
    pub name: String,
    pub made: String,
    pub size: String,
    /// What Home Assistant will ask for when restoring, in words.
    pub ha_key: String,
    /// Why neither a restore nor a drill can be done from here, when they cannot.
    pub cannot: Option<String>,
    /// Why only the drill can be done from here (no Home Assistant to restore into).
    pub drill_only: Option<String>,
    pub has_sealed: bool,
    pub action: String,
    pub back_href: String,
    pub error: Option<String>,
    /// What a restore will need, from the run that made the copy.
    pub readiness: Option<RunReadiness>,
    /// The counts from the manifest, when the history has no report for it.
    pub readiness_counts: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct RestoreForm {
    #[serde(default)]
    passphrase: Option<Secret>,
    #[serde(default)]
    identity: Option<Secret>,
    /// `restore` (default) or `drill`: read as a [`RestoreMode`].
    #[serde(default)]
    mode: Option<String>,
}

/// What the form asks for: the copy restored into Home Assistant, or only drilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode {
    /// Streamed into Home Assistant's backup list.
    Restore,
    /// Read, decrypted and opened to the end, then thrown away.
    Drill,
}

impl RestoreMode {
    /// The mode a form's `mode` field names (`restore` when it names none); `None` for anything
    /// else.
    pub fn parse(field: Option<&str>) -> Option<Self> {
        match field {
            None | Some("restore") => Some(Self::Restore),
            Some("drill") => Some(Self::Drill),
            Some(_) => None,
        }
    }
}

/// Why the key the form gives cannot open the copy, in words for the form.
#[derive(Debug, thiserror::Error)]
pub enum KeyRefused {
    #[error(transparent)]
    Unsealed(#[from] SealError),
    #[error("{0}")]
    NotAKey(#[from] IdentityError),
    #[error("Give the passphrase of the key kept here, or paste the private key from your kit.")]
    NoneGiven,
    #[error("That key does not open this copy: it is locked to {}.", .0.join(", "))]
    Wrong(Vec<String>),
}

async fn page(
    state: &AppState,
    ingress: &Ingress,
    s: &Services,
    destination: &str,
    m: &Manifest,
    error: Option<String>,
) -> Response {
    let frame = Frame::new(
        state,
        ingress,
        Section::Copies,
        "Restore into Home Assistant",
    );
    let in_vault = s
        .keys
        .ha_key_list()
        .iter()
        .any(|k| Some(&k.fingerprint) == m.ha_key_fingerprint.as_ref());
    let ha_key = match (&m.ha_key_fingerprint, m.backup.protected) {
        (_, false) => "None: this backup is not protected by Home Assistant.".to_owned(),
        (Some(fp), true) if in_vault => format!(
            "Home Assistant will ask for the backup key {fp}; it is in the vault and in your printed kit."
        ),
        (Some(fp), true) => format!(
            "Home Assistant will ask for the backup key {fp}, which is not in the vault: find it in Home Assistant's emergency kit."
        ),
        (None, true) => "Home Assistant will ask for the backup key this backup was made with; Lifeboat does not know which it is.".to_owned(),
    };
    let cannot = m.encryption.passphrase.then(|| {
        "This copy is encrypted with the options' passphrase: restore it with `lifeboat restore` \
         or `age -d`, which ask for it."
            .to_owned()
    });
    let drill_only = s.restore_into.is_none().then(|| {
        "Lifeboat backs up a folder here, not a Home Assistant it can reach, so it cannot restore \
         into one: the drill below proves the copy would restore. To restore, use `lifeboat \
         restore --into core:http://…` or `lifeboat recover` (see the kit)."
            .to_owned()
    });
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let readiness = match s.history.readiness_of_copy(destination, &m.copy_id).await {
        Ok(found) => found.map(|(_, r)| r),
        Err(e) => {
            tracing::warn!("reading the readiness report of {}: {e}", m.copy_id);
            None
        }
    };
    let copy_path = format!("/copies/{destination}/{}", m.copy_id);
    let page = RestorePage {
        action: frame.href(&format!("{copy_path}/restore")),
        back_href: frame.href(&format!("/copies?destination={destination}")),
        frame,
        destination: destination.to_owned(),
        copy_id: m.copy_id.clone(),
        name: m.backup.name.clone(),
        made: local(made_at(m), s.tz),
        size: human::size(m.plain.size),
        ha_key,
        cannot,
        drill_only,
        has_sealed: s.keys.has_sealed(),
        error,
        readiness,
        readiness_counts: m.readiness.map(|d| d.describe()),
    };
    (status, page).into_response()
}

/// `GET /copies/{destination}/{copy}/restore`.
pub async fn ask(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Path((destination, copy)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Copies);
    let (d, m) = super::copies::find(&at, &s, &destination, &copy).await?;
    Ok(page(&state, &ingress, &s, &d.name, &m, None).await)
}

/// The private keys the form gives, checked against the copy's lock.
async fn identities(
    s: &Services,
    m: &Manifest,
    form: RestoreForm,
) -> Result<Vec<KeyPair>, KeyRefused> {
    let pairs = match (
        form.passphrase.filter(|p| !p.is_empty()),
        form.identity.filter(|p| !p.expose().trim().is_empty()),
    ) {
        (Some(p), _) => unseal(&s.keys, p).await?,
        (None, Some(text)) => vec![KeyPair::find_in(text.expose())?],
        (None, None) => return Err(KeyRefused::NoneGiven),
    };
    let opens = pairs.iter().any(|p| {
        m.encryption
            .recipients
            .contains(&recipient_fingerprint(&p.recipient()))
    });
    if opens {
        Ok(pairs)
    } else {
        Err(KeyRefused::Wrong(m.encryption.recipients.clone()))
    }
}

/// `POST /copies/{destination}/{copy}/restore`.
pub async fn start(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Path((destination, copy)): Path<(String, String)>,
    Form(form): Form<RestoreForm>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Copies);
    let (d, m) = super::copies::find(&at, &s, &destination, &copy).await?;
    let refuse = |why: String| page(&state, &ingress, &s, &d.name, &m, Some(why));
    let Some(mode) = RestoreMode::parse(form.mode.as_deref()) else {
        let why = "The form asked for neither a restore nor a drill.";
        return Ok(refuse(why.into()).await);
    };
    let into = match mode {
        RestoreMode::Drill => None,
        RestoreMode::Restore => s.restore_into.clone(),
    };
    if m.encryption.passphrase || (mode == RestoreMode::Restore && into.is_none()) {
        let why = "This copy cannot be restored from here (see above).";
        return Ok(refuse(why.into()).await);
    }
    let pairs = match identities(&s, &m, form).await {
        Ok(p) => p,
        Err(e) => return Ok(refuse(e.to_string()).await),
    };
    let job = Job::Restore(RestoreJob {
        destination: d.name.clone(),
        copy_id: m.copy_id.clone(),
        identities: pairs.iter().map(|p| p.identity().clone()).collect(),
        into,
    });
    let notice = match (s.triggers.submit(job), mode) {
        (Ok(()), RestoreMode::Drill) => "drilling",
        (Ok(()), RestoreMode::Restore) => "restoring",
        (Err(TriggerError::Queued), _) => "busy",
        (Err(TriggerError::Stopped), _) => "stopping",
    };
    Ok(back_to(&ingress.prefix, "/", notice))
}

#[cfg(test)]
mod tests {
    use super::RestoreMode;

    #[test]
    fn the_form_names_a_restore_or_a_drill_and_nothing_else() {
        assert_eq!(RestoreMode::parse(None), Some(RestoreMode::Restore));
        assert_eq!(
            RestoreMode::parse(Some("restore")),
            Some(RestoreMode::Restore)
        );
        assert_eq!(RestoreMode::parse(Some("drill")), Some(RestoreMode::Drill));
        for bad in ["", "Drill", "delete", "drill "] {
            assert_eq!(RestoreMode::parse(Some(bad)), None, "{bad:?}");
        }
    }
}
